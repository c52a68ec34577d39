"""Where Sidekiq's timeout T comes from, and what quiesce says at startup
when it cannot know it, with the real Sidekiq (6.4.1, the host's) under
quiesce as PID 1: a timeout written as a string, a command that does not
name sidekiq, REDIS_PROVIDER. The stops that prove a re-read T (Sidekiq's
own directory, ERB) are in test_sidekiq_stop."""

import os
import signal
import unittest
from pathlib import Path

import sidekiq_harness as sh
from harness import Quiesce, TempDir, run, skip_unless_quiesce, write_file

# Sidekiq boots in a second or two, on a loaded machine in more.
BOOT_S = 60


@skip_unless_quiesce
class TimeoutSources(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.tmp = Path(self._tmp.__enter__())
        self.addCleanup(self._tmp.__exit__, None, None, None)
        self.redis = sh.RedisServer(self.tmp)
        self.addCleanup(self.redis.stop)
        self.env = {"REDIS_URL": self.redis.url}

    def run_until_booted(self, args, env=None):
        """quiesce as PID 1 running args until Sidekiq says it is processing,
        then a stop; returns the quiesce handle for its logs."""
        q = Quiesce(["-v", "--log-format", "json", "--stop-timeout", "8", "--", *args],
                    env={**self.env, **(env or {})}, cwd=str(self.tmp))
        self.addCleanup(q.close)
        # Up once its first heartbeat is in Redis (its title is set by then).
        sh.wait_for(lambda: self.redis.client.command("SCARD", "processes") >= 1, BOOT_S,
                    "Sidekiq's first heartbeat" + q.output())
        q.signal(signal.SIGTERM)
        q.wait_event("exit", timeout=40)
        return q

    def test_quoted_timeout_is_warned_about_loudly_and_never_read_as_a_number(self):
        yml = write_file(self.tmp, "sidekiq.yml", "production:\n  :timeout: '30'\n")
        args = ["sidekiq", "-r", str(sh.APP), "-e", "production", "-C", yml, "-c", "2"]
        q = self.run_until_booted(args)
        warnings = [w["msg"] for w in q.events("config_warning")]
        quoted = [w for w in warnings if "not a number" in w]
        # Said at startup, and again once the running Sidekiq's file is read.
        self.assertGreaterEqual(len(quoted), 1, q.output())
        self.assertIn(yml, quoted[0])
        self.assertIn("production: :timeout", quoted[0])
        self.assertIn("WITHOUT REQUEUEING", quoted[0])
        self.assertEqual({e["level"] for e in q.events("config_warning") if "not a number" in
                          e["msg"]}, {"warn"})
        # What the warning says of Sidekiq is true: its TERM path raised, and
        # it exited with 1 instead of 0.
        self.assertEqual(q.events("exit")[-1]["code"], 1, q.output())
        # check-config says what quiesce counts with, and from where.
        code, out, err = run(["check-config", "--", *args], env=self.env)
        self.assertEqual(code, 0, err)
        line = next(l for l in out.splitlines() if l.startswith("stop.sidekiq_timeout"))
        self.assertIn('"0s"', line)
        self.assertIn(f"production: :timeout in {yml}, not a number", line)

    def test_command_without_the_word_sidekiq_warns_that_t_is_assumed(self):
        worker = write_file(self.tmp, "worker",
                            f"#!/bin/sh\nexec sidekiq -r {sh.APP} -c 2 -q {sh.QUEUE}\n", 0o755)
        q = self.run_until_booted([worker])
        warnings = [w["msg"] for w in q.events("config_warning")]
        assumed = [w for w in warnings if "names no sidekiq" in w]
        self.assertEqual(len(assumed), 1, q.output())
        for way in ("--sidekiq-timeout", "QUIESCE_SIDEKIQ_TIMEOUT", "[stop] sidekiq_timeout",
                    "assumes 25s"):
            self.assertIn(way, assumed[0])
        # Found by its title all the same, and stopped as Sidekiq: with the
        # assumed T there is no room to drain, so its TERM goes at once, alone.
        self.assertTrue(q.events("sidekiq_found"), q.output())
        [term] = q.events("term_sent")
        found = q.events("sidekiq_found")[0]["pids"]
        self.assertEqual((term["reason"], term["pids"]), ("no_room", found), q.output())
        # Set outright, nothing is said.
        code, out, err = run(["check-config", "--sidekiq-timeout", "8", "--", worker],
                             env=self.env)
        self.assertEqual(code, 0, err)
        self.assertNotIn("names no sidekiq", out)

    def test_redis_provider_names_the_variable_holding_the_url(self):
        env = {"REDIS_PROVIDER": "QTEST_REDIS", "QTEST_REDIS": self.redis.url,
               "REDIS_URL": "redis://127.0.0.1:1/0"}
        code, out, err = run(["check-config", "--", "sidekiq"], env=env)
        self.assertEqual(code, 0, err)
        line = next(l for l in out.splitlines() if l.startswith("redis.url"))
        self.assertIn(self.redis.url, line)
        self.assertIn("env QTEST_REDIS (named by REDIS_PROVIDER)", line)
        code, out, err = run(["check-config", "--", "sidekiq"],
                             env={**env, "QUIESCE_REDIS_URL": "redis://127.0.0.1:2/0"})
        self.assertIn("QUIESCE_REDIS_URL", next(l for l in out.splitlines()
                                                if l.startswith("redis.url")))


if __name__ == "__main__":
    unittest.main()
