"""Bad input is one line on stderr naming the problem and exit status 2,
before anything is spawned: the would-be command creates a marker file if
it ever runs."""

import os
import unittest

from harness import TempDir, run, skip_unless_quiesce, write_file


@skip_unless_quiesce
class BadInput(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.tmp = self._tmp.__enter__()
        self.addCleanup(self._tmp.__exit__, None, None, None)
        self.marker = os.path.join(self.tmp, "spawned")

    def config(self, text):
        return write_file(self.tmp, "quiesce.toml", text)

    def rejects(self, args, *, names, env=None, with_command=True, pid1=False):
        """Runs quiesce with `args` (and a marker-making command); asserts
        status 2, exactly one line on stderr mentioning each of `names`
        (case-insensitively), and that nothing ran."""
        command = ["--", "sh", "-c", f"touch '{self.marker}'"] if with_command else []
        code, stdout, stderr = run([*args, *command], env=env, pid1=pid1)
        lines = [line for line in stderr.splitlines() if line.strip()]
        self.assertEqual(code, 2, f"stderr: {stderr!r}")
        self.assertEqual(len(lines), 1, f"want exactly one line, got: {stderr!r}")
        for name in names:
            self.assertIn(name.lower(), lines[0].lower())
        self.assertFalse(os.path.exists(self.marker), "the command was spawned")
        return lines[0]

    def test_unknown_flag(self):
        self.rejects(["--no-such-flag"], names=["--no-such-flag"])

    def test_unknown_short_flag(self):
        self.rejects(["-Q"], names=["-Q"])

    def test_unknown_config_key_names_key_and_line(self):
        config = self.config('verbosity = 2\n\nno_such_key = 1\n')
        line = self.rejects(["--config", config], names=["no_such_key"])
        self.assertRegex(line, r"\b3\b", "the key's line number")

    def test_unknown_key_in_a_section(self):
        config = self.config('[stop]\ndrain = "never"\nno_such_key = "x"\n')
        line = self.rejects(["--config", config], names=["no_such_key"])
        self.assertRegex(line, r"\b3\b", "the key's line number")

    def test_bad_config_value_names_key_and_line(self):
        config = self.config('\nexit_grace = "soon"\n')
        line = self.rejects(["--config", config], names=["exit_grace"])
        self.assertRegex(line, r"\b2\b", "the key's line number")

    def test_config_that_is_not_toml(self):
        config = self.config('verbosity = 2\nthis is not toml\n')
        line = self.rejects(["--config", config], names=[])
        self.assertRegex(line, r"\b2\b", "the bad line's number")

    def test_missing_config_file(self):
        self.rejects(["--config", os.path.join(self.tmp, "absent.toml")], names=["absent.toml"])

    def test_bad_duration(self):
        self.rejects(["--exit-grace", "12parsecs"], names=["12parsecs"])

    def test_negative_duration(self):
        self.rejects(["--stop-timeout", "-5s"], names=["-5s"])

    def test_bad_signal_name_in_rewrite(self):
        self.rejects(["--rewrite", "USR1:NOPE"], names=["NOPE"])

    def test_bad_parent_death_signal(self):
        self.rejects(["-p", "SIGNOPE"], names=["SIGNOPE"])

    def test_bad_log_format(self):
        self.rejects(["--log-format", "xml"], names=["xml"])

    def test_bad_drain_mode(self):
        self.rejects(["--drain", "sometimes"], names=["sometimes"])

    def test_bad_exit_code_to_remap(self):
        self.rejects(["-e", "banana"], names=["banana"])

    def test_exit_code_out_of_range(self):
        self.rejects(["-e", "256"], names=["256"])

    def test_bad_env_duration(self):
        self.rejects([], names=["QUIESCE_EXIT_GRACE"], env={"QUIESCE_EXIT_GRACE": "forever"})

    def test_bad_env_boolean(self):
        self.rejects([], names=["QUIESCE_PROCESS_GROUP"], env={"QUIESCE_PROCESS_GROUP": "maybe"})

    def test_bad_tini_verbosity(self):
        self.rejects([], names=["TINI_VERBOSITY"], env={"TINI_VERBOSITY": "loud"})

    def test_missing_command(self):
        self.rejects(["--drain", "never"], names=["command"], with_command=False)

    def test_missing_command_after_double_dash(self):
        self.rejects(["--drain", "never", "--"], names=["command"], with_command=False)

    def test_as_pid1_too(self):
        self.rejects(["--exit-grace", "12parsecs"], names=["12parsecs"], pid1=True)


if __name__ == "__main__":
    unittest.main()
