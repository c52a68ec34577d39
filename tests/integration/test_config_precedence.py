"""Where each setting comes from: flag over environment over config file
over default, read back through `quiesce check-config`, which prints every
key with its value and its source."""

import os
import re
import unittest

from harness import TempDir, run, skip_unless_quiesce, write_file

LINE = re.compile(r"^(\S+)\s+=\s+(.*?)\s+#\s+(\w+)")


def check_config(args=(), env=None):
    """key -> (value, source) as `quiesce check-config` reports them."""
    code, stdout, stderr = run(["check-config", *args], env=env)
    if code != 0:
        raise AssertionError(f"check-config exited {code}: {stderr}")
    table = {}
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match and not line.startswith("#"):
            key, value, source = match.groups()
            table[key] = (value.strip('"'), source)
    return table


@skip_unless_quiesce
class Precedence(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.tmp = self._tmp.__enter__()
        self.addCleanup(self._tmp.__exit__, None, None, None)
        self.file = write_file(self.tmp, "quiesce.toml", "\n".join([
            'exit_grace = "11s"',
            'verbosity = 3',
            'log_format = "json"',
            'process_group = true',
            'remap_exit = [3, 7]',
            '[stop]',
            'drain = "always"',
            'stop_timeout = "45s"',
            '[signals]',
            'rewrite = { USR1 = "TERM" }',
            '',
        ]))

    def assertSource(self, table, key, value, source):
        self.assertIn(key, table, f"check-config does not list {key}")
        self.assertEqual(table[key], (value, source), key)

    @unittest.skipIf(os.path.exists("/etc/quiesce.toml"), "a system config file exists")
    def test_defaults(self):
        table = check_config()
        self.assertSource(table, "exit_grace", "30s", "default")
        self.assertSource(table, "verbosity", "1", "default")
        self.assertSource(table, "log_format", "text", "default")
        self.assertSource(table, "process_group", "false", "default")
        self.assertSource(table, "subreaper", "false", "default")
        self.assertSource(table, "stop.drain", "auto", "default")
        self.assertSource(table, "stop.stop_timeout", "30s", "default")
        self.assertSource(table, "redis.url", "redis://localhost:6379/0", "default")

    def test_file_over_default(self):
        table = check_config(["--config", self.file])
        self.assertSource(table, "exit_grace", "11s", "file")
        self.assertSource(table, "verbosity", "3", "file")
        self.assertSource(table, "log_format", "json", "file")
        self.assertSource(table, "process_group", "true", "file")
        self.assertSource(table, "stop.drain", "always", "file")
        self.assertSource(table, "stop.stop_timeout", "45s", "file")
        self.assertEqual(table["remap_exit"][1], "file")
        self.assertEqual(table["signals.rewrite"][1], "file")
        self.assertSource(table, "stop.poll_interval", "500ms", "default")

    def test_config_file_from_env(self):
        table = check_config(env={"QUIESCE_CONFIG": self.file})
        self.assertSource(table, "exit_grace", "11s", "file")

    def test_env_over_file(self):
        env = {"QUIESCE_EXIT_GRACE": "12s", "QUIESCE_VERBOSITY": "0",
               "QUIESCE_DRAIN": "never", "QUIESCE_PROCESS_GROUP": "false"}
        table = check_config(["--config", self.file], env=env)
        self.assertSource(table, "exit_grace", "12s", "env")
        self.assertSource(table, "verbosity", "0", "env")
        self.assertSource(table, "stop.drain", "never", "env")
        self.assertSource(table, "process_group", "false", "env")
        self.assertSource(table, "log_format", "json", "file")

    def test_flag_over_env_over_file(self):
        env = {"QUIESCE_EXIT_GRACE": "12s", "QUIESCE_DRAIN": "never",
               "QUIESCE_LOG_FORMAT": "text", "QUIESCE_STOP_TIMEOUT": "50s"}
        flags = ["--config", self.file, "--exit-grace", "13s", "--drain", "auto",
                 "--log-format", "json", "--verbosity", "4"]
        table = check_config(flags, env=env)
        self.assertSource(table, "exit_grace", "13s", "flag")
        self.assertSource(table, "stop.drain", "auto", "flag")
        self.assertSource(table, "log_format", "json", "flag")
        self.assertSource(table, "verbosity", "4", "flag")
        self.assertSource(table, "stop.stop_timeout", "50s", "env")
        self.assertSource(table, "process_group", "true", "file")

    def test_short_flags(self):
        table = check_config(["--config", self.file, "-vv", "-s", "-w"])
        self.assertSource(table, "verbosity", "3", "flag")
        self.assertSource(table, "subreaper", "true", "flag")
        self.assertSource(table, "warn_on_reap", "true", "flag")

    def test_tini_variables(self):
        env = {"TINI_SUBREAPER": "1", "TINI_KILL_PROCESS_GROUP": "1", "TINI_VERBOSITY": "3"}
        table = check_config(env=env)
        self.assertSource(table, "subreaper", "true", "env")
        self.assertSource(table, "process_group", "true", "env")
        self.assertSource(table, "verbosity", "3", "env")

    def test_flag_over_tini_variable(self):
        table = check_config(["--verbosity", "0"], env={"TINI_VERBOSITY": "3"})
        self.assertSource(table, "verbosity", "0", "flag")

    def test_redis_url_from_env(self):
        table = check_config(env={"REDIS_URL": "redis://127.0.0.1:7001/2"})
        self.assertSource(table, "redis.url", "redis://127.0.0.1:7001/2", "env")
        table = check_config(env={"REDIS_URL": "redis://127.0.0.1:7001/2",
                                  "QUIESCE_REDIS_URL": "redis://127.0.0.1:7002/3"})
        self.assertSource(table, "redis.url", "redis://127.0.0.1:7002/3", "env")

    def test_booleans_in_every_spelling(self):
        for word, value in [("true", "true"), ("1", "true"), ("yes", "true"), ("on", "true"),
                            ("false", "false"), ("0", "false"), ("no", "false"),
                            ("off", "false")]:
            table = check_config(env={"QUIESCE_WARN_ON_REAP": word})
            self.assertSource(table, "warn_on_reap", value, "env")


if __name__ == "__main__":
    unittest.main()
