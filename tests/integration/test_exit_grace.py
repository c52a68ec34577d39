"""After the main child exits, the processes that outlive it get TERM and
CONT and up to --exit-grace to finish; quiesce exits only after them, with
the main child's status, and SIGKILLs whoever is still there at the end.

The main child is `sh -c 'termwork MARKER; true'`: the shell must fork for
`; true`, it dies of a TERM it does not trap, and termwork is left behind.
"""

import os
import signal
import time
import unittest

from harness import TempDir, Quiesce, alive, helper, is_tini, skip_unless_quiesce


def marker_lines(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def shell_around(marker, *termwork_args):
    return ["sh", "-c", f"'{helper('termwork')}' '{marker}' {' '.join(termwork_args)}; true"]


@skip_unless_quiesce
class ExitGrace(unittest.TestCase):
    def work_is_finished(self, pid1):
        with TempDir() as tmp:
            marker = os.path.join(tmp, "marker")
            with Quiesce(["--drain", "never", "--", *shell_around(marker)], pid1=pid1) as q:
                q.wait_line(r"^termwork ready ")
                q.signal(signal.SIGTERM)
                self.assertEqual(q.wait(), 128 + signal.SIGTERM, q.output())
                # quiesce is gone: the work must already be done.
                lines = marker_lines(marker)
                self.assertIn("TERM", lines, q.output())
                self.assertIn("CONT", lines, q.output())
                self.assertEqual(lines[-1:], ["finished"], q.output())

    def test_grandchild_finishes_its_work_as_pid1(self):
        self.work_is_finished(pid1=True)

    def test_grandchild_finishes_its_work_as_subreaper(self):
        self.work_is_finished(pid1=False)

    def ignorer_is_killed(self, pid1):
        with TempDir() as tmp:
            marker = os.path.join(tmp, "marker")
            args = ["--drain", "never", "--exit-grace", "1s", "--log-format", "json", "-vv",
                    "--", *shell_around(marker, "--ignore")]
            with Quiesce(args, pid1=pid1) as q:
                _, ready = q.wait_line(r"^termwork ready (\d+)$")
                if not pid1:
                    self.addCleanup(kill_quietly, int(ready.group(1)))
                sent = time.monotonic()
                q.signal(signal.SIGTERM)
                self.assertEqual(q.wait(), 128 + signal.SIGTERM, q.output())
                self.assertGreaterEqual(time.monotonic() - sent, 0.9,
                                        "the grace period was cut short")
                self.assertTrue(q.events("kill_sent"), q.output())
                if not pid1:
                    # Outside a namespace nothing else would have killed it.
                    self.assertFalse(alive(int(ready.group(1))), "termwork survived")
                self.assertEqual(marker_lines(marker), ["ignoring"])

    def test_grandchild_ignoring_term_is_killed_after_grace_as_pid1(self):
        self.ignorer_is_killed(pid1=True)

    def test_grandchild_ignoring_term_is_killed_after_grace_as_subreaper(self):
        self.ignorer_is_killed(pid1=False)


class TiniBaseline(unittest.TestCase):
    """What the grace period is for: tini exits with the shell, and the
    namespace's end kills the grandchild mid-work."""

    @unittest.skipUnless(is_tini(), "shows tini's behaviour only")
    def test_tini_does_not_wait(self):
        with TempDir() as tmp:
            marker = os.path.join(tmp, "marker")
            with Quiesce(["--", *shell_around(marker)]) as q:
                q.wait_line(r"^termwork ready ")
                q.signal(signal.SIGTERM)
                self.assertEqual(q.wait(), 128 + signal.SIGTERM)
                self.assertNotIn("finished", marker_lines(marker))


if __name__ == "__main__":
    unittest.main()
