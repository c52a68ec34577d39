"""quiesce exits with the main child's status: codes pass through, death by
signal N is 128+N, -e maps codes to 0, and a command that cannot be run is
127 or 126 with one line saying why."""

import os
import signal
import subprocess
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import (TempDir, command, exit_status, helper, is_tini, run, skip_unless_quiesce,
                     write_file)

# Signals a process can die of (default action terminate or core).
DEADLY = [
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGILL, signal.SIGTRAP,
    signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGKILL, signal.SIGUSR1,
    signal.SIGSEGV, signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM, signal.SIGTERM,
    signal.SIGXCPU, signal.SIGXFSZ, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO,
    signal.SIGPWR, signal.SIGSYS, signal.SIGRTMIN, signal.SIGRTMAX,
]


def exit_of(child_args, *, flags=(), pid1=True, env=None):
    code, _, stderr = run([*flags, "--", helper("exitwith"), *child_args], pid1=pid1, env=env)
    return code, stderr


def in_parallel(fn, items):
    # Two at a time: the machine has two cores and each run is mostly waiting.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(fn, items))


class ExitCodes(unittest.TestCase):
    def test_every_code_passes_through_as_pid1(self):
        results = in_parallel(lambda c: (c, exit_of([str(c)])), range(256))
        wrong = [(c, got, err) for c, (got, err) in results if got != c]
        self.assertEqual(wrong, [], "(code, quiesce's status, stderr) where they differ")

    def test_codes_pass_through_as_subreaper(self):
        for code in (0, 1, 2, 42, 126, 127, 128, 143, 255):
            self.assertEqual(exit_of([str(code)], pid1=False)[0], code)

    def test_death_by_signal_is_128_plus_n(self):
        results = in_parallel(lambda s: (s, exit_of(["-s", str(int(s))])), DEADLY)
        wrong = [(s.name if hasattr(s, "name") else int(s), got, err)
                 for s, (got, err) in results if got != 128 + s]
        self.assertEqual(wrong, [], "(signal, quiesce's status, stderr) where not 128+N")

    def test_death_by_signal_as_subreaper(self):
        for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV):
            self.assertEqual(exit_of(["-s", str(int(sig))], pid1=False)[0], 128 + sig)


@skip_unless_quiesce
class ClosedStandardDescriptors(unittest.TestCase):
    # Started with stdin, stdout and stderr closed, quiesce still runs the
    # child, logs nowhere, and passes the code on; the child finds them open.
    CHILD = "if [ -e /proc/self/fd/0 ] && [ -e /proc/self/fd/2 ]; then exit 3; fi; exit 9"

    def status(self, pid1):
        argv = command(["-vvv", "--", "sh", "-c", self.CHILD], pid1)
        closed = ["sh", "-c", 'exec "$@" <&- >&- 2>&-', "sh", *argv]
        return exit_status(subprocess.run(closed, timeout=60).returncode)

    def test_as_pid1(self):
        self.assertEqual(self.status(pid1=True), 3)

    def test_as_subreaper(self):
        self.assertEqual(self.status(pid1=False), 3)


class RemapExit(unittest.TestCase):
    def test_e_maps_each_named_code_to_zero(self):
        flags = ["-e", "3", "-e", "7"]
        self.assertEqual(exit_of(["3"], flags=flags)[0], 0)
        self.assertEqual(exit_of(["7"], flags=flags)[0], 0)
        self.assertEqual(exit_of(["5"], flags=flags)[0], 5)
        self.assertEqual(exit_of(["0"], flags=flags)[0], 0)

    @skip_unless_quiesce
    def test_long_flag(self):
        self.assertEqual(exit_of(["9"], flags=["--remap-exit", "9"])[0], 0)

    @skip_unless_quiesce
    def test_env_list(self):
        env = {"QUIESCE_REMAP_EXIT": "3,7"}
        self.assertEqual(exit_of(["3"], env=env)[0], 0)
        self.assertEqual(exit_of(["7"], env=env)[0], 0)
        self.assertEqual(exit_of(["4"], env=env)[0], 4)


@skip_unless_quiesce
class TiniEnvironment(unittest.TestCase):
    def test_tini_verbosity_turns_on_debug_logs(self):
        quiet = run(["--log-format", "json", "--", helper("exitwith"), "0"])
        loud = run(["--log-format", "json", "--", helper("exitwith"), "0"],
                   env={"TINI_VERBOSITY": "3"})
        self.assertEqual((quiet[0], loud[0]), (0, 0))
        self.assertNotIn('"spawned"', quiet[2])
        self.assertIn('"spawned"', loud[2])


class ExecFailure(unittest.TestCase):
    def check(self, cmd, expected, pid1=True):
        code, stdout, stderr = run(["--", cmd], pid1=pid1)
        lines = [line for line in stderr.splitlines() if line.strip()]
        self.assertEqual(code, expected, stderr)
        self.assertEqual(len(lines), 1, f"want one line saying why, got: {stderr!r}")
        if not is_tini():
            self.assertIn(os.path.basename(cmd), lines[0])

    def test_missing_path_is_127(self):
        self.check("/nonexistent/quiesce-test-command", 127)

    def test_command_not_on_path_is_127(self):
        self.check("quiesce-test-no-such-command", 127)

    def test_not_executable_file_is_126(self):
        with TempDir() as tmp:
            self.check(write_file(tmp, "script.sh", "#!/bin/sh\nexit 0\n", mode=0o644), 126)

    def test_directory_is_126(self):
        with TempDir() as tmp:
            self.check(tmp, 126)

    def test_as_subreaper(self):
        self.check("/nonexistent/quiesce-test-command", 127, pid1=False)
        with TempDir() as tmp:
            self.check(tmp, 126, pid1=False)


if __name__ == "__main__":
    unittest.main()
