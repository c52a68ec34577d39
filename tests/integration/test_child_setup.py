"""What the child starts with: no blocked or ignored signals (quiesce blocks
and ignores some for itself), and a process group of its own."""

import unittest

from harness import helper, run


def sigstate(pid1, flags=()):
    code, stdout, stderr = run([*flags, "--", helper("sigstate")], pid1=pid1)
    fields = dict(line.split(":", 1) for line in stdout.splitlines() if ":" in line)
    return code, {k: v.strip() for k, v in fields.items()}, stderr


class ChildSetup(unittest.TestCase):
    def check(self, pid1, flags=()):
        code, state, stderr = sigstate(pid1, flags)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(int(state["SigBlk"], 16), 0, f"blocked signals: {state['SigBlk']}")
        self.assertEqual(int(state["SigIgn"], 16), 0, f"ignored signals: {state['SigIgn']}")
        self.assertEqual(state["pgid"], state["pid"], "the child leads its own process group")
        if pid1:
            # The first process quiesce starts in a fresh namespace.
            self.assertEqual(state["pid"], "2")

    def test_as_pid1(self):
        self.check(pid1=True)

    def test_as_subreaper(self):
        self.check(pid1=False)

    def test_with_process_group_forwarding(self):
        self.check(pid1=True, flags=["-g"])


if __name__ == "__main__":
    unittest.main()
