"""Zombie reaping: orphans re-parented to quiesce are collected, as PID 1 of
a namespace and as a subreaper outside one, and quiesce still exits with the
main child's status."""

import unittest

from harness import Quiesce, helper, is_tini, run, skip_unless_quiesce, wait_until


def zombies(q):
    return [pid for pid, (_, state, _) in q.processes().items() if state == "Z"]


class Orphans(unittest.TestCase):
    def burst(self, count, pid1, flags=()):
        """Runs `orphans count 7` under quiesce; asserts that every orphan is
        reaped while the main child still runs, then that quiesce exits 7."""
        with Quiesce([*flags, "--", helper("orphans"), str(count), "7"], pid1=pid1) as q:
            q.wait_line(rf"^orphans done {count}$", timeout=180)
            # Every orphan reaped: only the main child is left, and alive.
            wait_until(lambda: len(q.processes()) == 1, "every orphan to be reaped", timeout=60)
            self.assertEqual([(comm, state) for comm, state, _ in q.processes().values()],
                             [("orphans", "S")])
            self.assertEqual(zombies(q), [])
            q.send("quit\n")
            self.assertEqual(q.wait(), 7, q.output())
            return q

    def test_ten_thousand_orphans_as_pid1(self):
        self.burst(10000, pid1=True)

    def test_orphans_as_subreaper(self):
        q = self.burst(300, pid1=False,
                       flags=() if is_tini() else ("-w", "--log-format", "json"))
        if not is_tini():
            # The grandchildren, and nothing else, were reaped by quiesce
            # itself (not by some reaper further up).
            reaped = {event.get("pid") for event in q.events("reaped")}
            self.assertEqual(len(reaped), 300, q.output())


@skip_unless_quiesce
class Subreaper(unittest.TestCase):
    def test_registers_itself_when_not_pid1(self):
        code, _, stderr = run(["-v", "--", helper("exitwith"), "0"], pid1=False)
        self.assertEqual(code, 0, stderr)
        self.assertIn("subreaper", stderr.lower())

    def test_says_nothing_by_default(self):
        code, _, stderr = run(["--", helper("exitwith"), "0"], pid1=False)
        self.assertEqual((code, stderr), (0, ""))


if __name__ == "__main__":
    unittest.main()
