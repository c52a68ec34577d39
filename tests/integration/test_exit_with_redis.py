"""quiesce leaves with its child's status whatever its Redis connection is
doing at that moment: connected and idle, waiting on a reply that never comes,
or refused. A SIGTERM in a container that runs no Sidekiq starts a search in
Redis and is then forwarded; the child dies of it while that search may still
be in flight, and tearing the client down must not crash the exit.
"""

import signal
import tempfile
import unittest
from pathlib import Path

import sidekiq_harness as sh
from harness import Quiesce, skip_unless_quiesce

CRASH_MARKS = ("Assertion", "Segmentation", "AddressSanitizer", "runtime error", "LeakSanitizer")


@skip_unless_quiesce
class ExitWithRedis(unittest.TestCase):
    def stop_with(self, url, *, await_connected):
        args = ["--log-format", "json", "-v", "--redis-url", url, "--", "sleep", "300"]
        with Quiesce(args, pid1=True) as q:
            q.wait_event("spawned")
            if await_connected:
                q.wait_event("redis_connected")
            q.signal(signal.SIGTERM)
            status = q.wait()
            stderr = "\n".join(q.lines("stderr"))
            self.assertEqual(status, 128 + signal.SIGTERM, q.output())
            for mark in CRASH_MARKS:
                self.assertNotIn(mark, stderr, q.output())
            self.assertTrue(q.events("no_sidekiq"), q.output())
            exits = q.events("exit")
            self.assertEqual([e.get("code") for e in exits], [128 + signal.SIGTERM], q.output())

    def test_connected_redis(self):
        with tempfile.TemporaryDirectory() as tmp:
            redis = sh.RedisServer(Path(tmp))
            try:
                self.stop_with(redis.url, await_connected=True)
            finally:
                redis.stop()

    def test_redis_that_never_answers(self):
        # The search in Redis is still waiting for its reply when the child dies.
        hung = sh.HungRedis()
        try:
            self.stop_with(hung.url, await_connected=False)
        finally:
            hung.stop()

    def test_redis_refusing_connections(self):
        self.stop_with(f"redis://127.0.0.1:{sh.free_port()}/0", await_connected=False)


if __name__ == "__main__":
    unittest.main()
