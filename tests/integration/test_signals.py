"""Signal forwarding: every forwardable signal sent to quiesce reaches the
child exactly once (and, with -g, every process of the child's group), both
as PID 1 of a namespace and as a subreaper; --rewrite maps one signal to
another."""

import signal
import unittest

from harness import (FORWARDED, TIMEOUT, TempDir, Quiesce, helper, skip_unless_quiesce,
                     write_file)


def received(lines, role):
    """The signal numbers `role` echoed, in order."""
    out = []
    for line in lines:
        words = line.split()
        if len(words) == 2 and words[0] == role and words[1].isdigit():
            out.append(int(words[1]))
    return out


class Echo:
    """sigecho under quiesce: send signals, await each echo, then check the
    whole record once the child has reported everything still pending."""

    def __init__(self, q, group):
        self.q = q
        self.roles = ["child", "grandchild"] if group else ["child"]
        for role in self.roles:
            q.wait_line(rf"^{role} ready ")

    def send(self, sent, expected=None, timeout=TIMEOUT):
        """Signals quiesce with `sent` and awaits `expected` (default: the
        same signal) at every role. A miss is not raised here: finish()
        reports every signal that went missing at once."""
        start = len(self.q.lines())
        self.q.signal(sent)
        try:
            for role in self.roles:
                self.q.wait_line(rf"^{role} {int(expected or sent)}$", after=start,
                                 timeout=timeout)
        except AssertionError:
            pass

    def finish(self, testcase, expected):
        self.q.send("quit\n")
        self.q.wait_line(r"^child bye$")
        testcase.assertEqual(self.q.wait(), 0, self.q.output())
        for role in self.roles:
            testcase.assertIn(f"{role} bye", self.q.lines(), self.q.output())
            testcase.assertEqual(received(self.q.lines(), role), [int(s) for s in expected],
                                 f"signals seen by {role}" + self.q.output())


class ForwardEverySignal(unittest.TestCase):
    def check(self, pid1, group):
        flags = ["--drain", "never"] + (["-g"] if group else [])
        args = [*flags, "--", helper("sigecho")] + (["--group"] if group else [])
        with Quiesce(args, pid1=pid1) as q:
            echo = Echo(q, group)
            expected = []
            for i, sig in enumerate(FORWARDED):
                # One missing signal should not cost the whole run its deadline.
                echo.send(sig, timeout=min(TIMEOUT, 10))
                expected.append(sig)
                if i == len(FORWARDED) // 2:
                    # quiesce's own signal: must not be passed on. The echoes
                    # still to come give a wrong forward time to show up.
                    q.signal(signal.SIGCHLD)
            echo.finish(self, expected)

    def test_child_as_pid1(self):
        self.check(pid1=True, group=False)

    def test_process_group_as_pid1(self):
        self.check(pid1=True, group=True)

    def test_child_as_subreaper(self):
        self.check(pid1=False, group=False)

    def test_process_group_as_subreaper(self):
        self.check(pid1=False, group=True)

    def test_without_g_only_the_child_gets_it(self):
        with Quiesce(["--drain", "never", "--", helper("sigecho"), "--group"]) as q:
            echo = Echo(q, group=True)
            start = len(q.lines())
            q.signal(signal.SIGUSR1)
            q.wait_line(r"^child 10$", after=start)
            q.send("quit\n")
            q.wait_line(r"^grandchild bye$")
            q.wait_line(r"^child bye$")
            self.assertEqual(q.wait(), 0, q.output())
            self.assertEqual(received(q.lines(), "grandchild"), [], q.output())
            self.assertEqual(received(q.lines(), "child"), [signal.SIGUSR1], q.output())

    def test_tini_kill_process_group_env_means_g(self):
        with Quiesce(["--drain", "never", "--", helper("sigecho"), "--group"],
                     env={"TINI_KILL_PROCESS_GROUP": "1"}) as q:
            echo = Echo(q, group=True)
            echo.send(signal.SIGUSR2)
            echo.finish(self, [signal.SIGUSR2])


@skip_unless_quiesce
class Rewrite(unittest.TestCase):
    def check(self, args, env, mapping, untouched):
        with Quiesce([*args, "--drain", "never", "--", helper("sigecho")], env=env) as q:
            echo = Echo(q, group=False)
            expected = []
            for sent, forwarded in mapping:
                echo.send(sent, forwarded)
                expected.append(forwarded)
            echo.send(untouched)
            expected.append(untouched)
            echo.finish(self, expected)

    def test_flag(self):
        self.check(["--rewrite", "USR1:TERM"], None, [(signal.SIGUSR1, signal.SIGTERM)],
                   signal.SIGUSR2)

    def test_flag_repeated_with_numbers_and_sig_prefix(self):
        self.check(["--rewrite", "SIGUSR1:15", "--rewrite", "1:SIGQUIT"], None,
                   [(signal.SIGUSR1, signal.SIGTERM), (signal.SIGHUP, signal.SIGQUIT)],
                   signal.SIGUSR2)

    def test_env(self):
        self.check([], {"QUIESCE_REWRITE": "USR1:TERM,HUP:QUIT"},
                   [(signal.SIGUSR1, signal.SIGTERM), (signal.SIGHUP, signal.SIGQUIT)],
                   signal.SIGINT)

    def test_config_table(self):
        with TempDir() as tmp:
            config = write_file(tmp, "quiesce.toml", '[signals]\nrewrite = { USR2 = "INT" }\n')
            self.check(["--config", config], None, [(signal.SIGUSR2, signal.SIGINT)],
                       signal.SIGUSR1)


if __name__ == "__main__":
    unittest.main()
