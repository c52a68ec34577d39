"""Jobs that Sidekiq could not put back, put back by quiesce (stop.recover_jobs):
quiesce as the real PID 1, the real Sidekiq of QUIESCE_SIDEKIQ_MAJOR (the
host's 6.4.1, or 7.3/8.1 in a root with the static quiesce), a real
redis-server.

- Sidekiq's timeout hidden from quiesce: an entrypoint script runs
  `exec sidekiq -t 12`, quiesce is told only the budget (B = 10 s), so it
  assumes 25 s and sends TERM at once; Sidekiq would wait 12 s and the
  orchestrator's SIGKILL would take the job. quiesce reads the work hash,
  SIGKILLs at B - 1.25 s and pushes the job back.
- Sidekiq SIGKILLed from outside (as the OOM killer does) while two jobs
  run that started a heartbeat or more earlier: both pushed back at once,
  137 passed through.
- A normal stop where Sidekiq requeues by itself: nothing pushed twice.
- Redis hung at the deadline: quiesce's SIGKILL and exit still come
  before B, and the failure names the job.

Each job waits for the heartbeat that writes it into the work hash (what
quiesce reads), so every bound comes from the heartbeat HB with slack.
"""

import os
import signal
import unittest
from concurrent.futures import ThreadPoolExecutor

import sidekiq_harness as h

HB = h.HEARTBEAT_S
B = 10.0  # the orchestrator's budget, all quiesce is told
HIDDEN_T = 12  # Sidekiq's own -t, hidden in the entrypoint script: longer than B
# Started before the SIGTERM, still running at B even after waiting up to a
# heartbeat for the work hash to show it.
HIDDEN_JOB = B + HB + 5
LONG = 6 * HB


RUNS = {
    "hidden_timeout": lambda: h.run_recovery([HIDDEN_JOB], budget_s=B, hidden_timeout_s=HIDDEN_T),
    "killed_outside": lambda: h.run_recovery([LONG, LONG], budget_s=B, kill_sidekiq=True),
    "self_requeue": lambda: h.run_stop(h.StopScenario(budget_s=4 + 2 * HB, sidekiq_timeout_s=3,
                                                      margin_s=2.0, durations=[LONG])),
    "redis_hung": lambda: h.run_recovery([HIDDEN_JOB], budget_s=B, hidden_timeout_s=HIDDEN_T,
                                         hang_redis=True),
}

_pool = None
_futures = {}


def setUpModule():
    global _pool
    _pool = ThreadPoolExecutor(max_workers=int(os.environ.get("SIDEKIQ_STOP_JOBS", "4")))
    for name, run in RUNS.items():
        _futures[name] = _pool.submit(run)


def tearDownModule():
    _pool.shutdown(wait=True)


def requeued_jids(r) -> set:
    return {e.get("jid") for e in r.event("job_requeued")}


class JobRecovery(unittest.TestCase):
    def test_hidden_timeout_job_requeued_before_budget(self):
        r = _futures["hidden_timeout"].result()
        msg = r.describe()
        self.assertFalse(r.killed_by_harness, msg)  # out before B
        self.assertLess(r.stop_s, B, msg)
        self.assertEqual(r.exit_status, 128 + signal.SIGKILL, msg)
        (job,) = r.jobs.values()
        self.assertEqual(job.outcome, "requeued", msg)
        self.assertEqual(job.queued, 1, msg)
        self.assertEqual(requeued_jids(r), {job.jid}, msg)
        plan = r.event("stop_plan")
        self.assertTrue(plan and plan[0].get("recover_jobs"), msg)
        self.assertIn("before the budget", plan[0]["msg"], msg)

    def test_killed_outside_a_stop_both_jobs_requeued(self):
        r = _futures["killed_outside"].result()
        msg = r.describe()
        self.assertEqual(r.exit_status, 128 + signal.SIGKILL, msg)
        self.assertEqual(sorted(j.outcome for j in r.jobs.values()), ["requeued", "requeued"], msg)
        self.assertEqual([j.queued for j in r.jobs.values()], [1, 1], msg)
        self.assertEqual(requeued_jids(r), set(r.jobs), msg)
        for e in r.event("job_requeued"):
            self.assertEqual(e.get("class"), "SleepJob", msg)
            self.assertGreaterEqual(e.get("running_s", 0), 0, msg)

    def test_normal_stop_nothing_pushed_twice(self):
        r = _futures["self_requeue"].result()
        msg = r.describe()
        self.assertFalse(r.killed_by_harness, msg)
        (job,) = r.jobs.values()
        self.assertEqual(job.outcome, "requeued", msg)  # by Sidekiq itself
        self.assertEqual(job.queued, 1, msg)
        self.assertEqual(r.event("job_requeued"), [], msg)
        self.assertEqual(r.event("kill_sent"), [], msg)

    def test_redis_hung_at_deadline_kill_on_time_failure_named(self):
        r = _futures["redis_hung"].result()
        msg = r.describe()
        self.assertFalse(r.killed_by_harness, msg)
        self.assertLess(r.stop_s, B, msg)
        self.assertEqual(r.exit_status, 128 + signal.SIGKILL, msg)
        (job,) = r.jobs.values()
        failed = r.event("recovery_failed")
        self.assertTrue(failed, msg)
        self.assertEqual(failed[0].get("level"), "error", msg)
        self.assertIn(job.jid, [j.get("jid") for j in failed[0].get("jobs", [])], msg)
        self.assertEqual(r.event("job_requeued"), [], msg)


if __name__ == "__main__":
    unittest.main()
