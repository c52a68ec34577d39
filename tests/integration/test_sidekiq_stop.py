"""The Sidekiq stop, end to end: quiesce as the real PID 1 of a PID/UTS
namespace, the real Sidekiq, a real redis-server, an ECS-style stop
(SIGTERM, a budget B, SIGKILL).

The Sidekiq is QUIESCE_SIDEKIQ_MAJOR's (sidekiq_harness): the host's 6.4.1
by default, 7.3 or 8.1 inside a Debian root from scripts/roots, where only
the static quiesce runs.

Every bound is derived from Sidekiq's heartbeat HB (5 s in 6.x, 10 s from
7.0), since the drain shows only at a heartbeat. Budgets are small so the
suite stays fast: B = 4 + 2 HB (14 s on 6.x, 24 s on 7 and 8), Sidekiq -t 3,
margin 2 s, so quiesce's TERM deadline is t0 + B - 5 and its SIGKILL t0 +
B - 1.25 (a Redis round trip before B - 1, to put back the jobs it cuts
off: test_job_recovery). Every scenario runs in its own Redis and namespace; they run a few at
a time and each test waits for its own.
"""

import json
import os
import shlex
import unittest
from typing import Optional
from concurrent.futures import ThreadPoolExecutor

import sidekiq_harness as h

HB = h.HEARTBEAT_S
B = 4 + 2 * HB
T = 3
M = 2.0
TERM_DEADLINE = B - T - M
# A loaded 2-core machine delays every step a little; bounds get this much
# room on top of what the design promises.
SLACK = 3.0

# Every short job ends, and its drain shows at the next heartbeat, well
# before the TERM deadline (4 + HB < B - T - M).
SHORT = [1.0, 1.5, 2.0, 3.0, 4.0]
# Longer than T, ends well before B - M, and still running at Sidekiq's
# second heartbeat (its first comes as it boots, before the jobs start), so
# it shows in the work hash: 7 s on 6.x, 12 s on 7 and 8.
MEDIUM = HB + 2
# Still running at the first heartbeat after TSTP, so quiesce can only name
# it by reading Redis; ends before the TERM deadline: 6 s on 6.x, 11 s on 7+.
MID = HB + 1
# The drain shows only at the heartbeat after the last job ends, up to HB
# later. For "drained" to beat the TERM deadline with a MEDIUM job, the
# medium scenarios (and the others asserting "drained" with a job past HB)
# get a larger budget: B_MEDIUM - T - M = MEDIUM + HB + 3.
B_MEDIUM = 10 + 2 * HB
LONG = 6 * HB  # longer than every budget
# Two Sidekiq processes of 5 threads: 8 jobs enqueued once both are up put
# at least 3 on each. Every short job outlasts the wait for the last job to
# start and ends before the TERM deadline; LONG is requeued.
SWARM_SHORT = [2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0]
SWARM_CONCURRENCY = 5


def scenario(budget_s: float = B, **kwargs) -> h.StopScenario:
    return h.StopScenario(budget_s=budget_s, sidekiq_timeout_s=T, margin_s=M, **kwargs)


SCENARIOS = {
    "short": scenario(durations=SHORT),
    "medium": scenario(B_MEDIUM, durations=[MEDIUM]),
    "medium_tini": scenario(B_MEDIUM, init="tini", durations=[MEDIUM]),
    # With B the same job may end after the last heartbeat before the
    # deadline: TERM goes at the deadline and Sidekiq still lets it finish.
    "medium_tight": scenario(durations=[MEDIUM]),
    "long": scenario(durations=[LONG]),
    # quiesce reads -t out of the shell string too.
    "wrapper": scenario(durations=[MEDIUM, LONG], wrapper=True),
    "wrapper_tini": scenario(init="tini", durations=[MEDIUM], wrapper=True),
    "redis_hung": scenario(durations=[1.5, MID, LONG], quiesce_redis="hung"),
    "redis_down": scenario(durations=[1.5, MID, LONG], quiesce_redis="down"),
    # quiesce's Redis goes bad 3 s into the drain; Sidekiq's own stays up.
    "redis_gone_mid_drain": scenario(durations=[1.5, MID, LONG], quiesce_redis="proxy",
                                     redis_fault="close"),
    "redis_garbage_mid_drain": scenario(durations=[1.5, MID, LONG], quiesce_redis="proxy",
                                        redis_fault="garbage"),
    "redis_hung_mid_drain": scenario(durations=[1.5, MID, LONG], quiesce_redis="proxy",
                                     redis_fault="hang"),
    # The MID job is still running at the first heartbeat after TSTP, so
    # quiesce can only name it by reading Redis (over TLS here).
    "tls": scenario(B_MEDIUM, durations=[1.0, MID], quiesce_redis="tls"),
    # quiesce talks to Redis through a counting proxy.
    "load": scenario(B_MEDIUM, durations=[1.0, MID], quiesce_redis="proxy"),
    # Sidekiq's timeout only in its config file's production section.
    "config_file": scenario(durations=[MEDIUM, LONG], timeout_in_config_file=True),
    # sh -c "cd DIR && RAILS_ENV=production exec sidekiq": T only in
    # DIR/config/sidekiq.yml, through a merge key; Redis named by REDIS_PROVIDER.
    "sidekiqs_directory": scenario(durations=[MEDIUM, LONG], timeout_in_sidekiqs_directory=True,
                                   quiesce_redis="proxy", redis_via_provider=True),
    # production's :timeout: set with ERB: Ruby evaluates it in the background.
    "erb": scenario(durations=[MEDIUM, LONG], timeout_by_erb=True),
    # Every small pid inside the namespace, the real Sidekiq's included.
    "stale": scenario(durations=[1.0, 2.5], stale_pids=range(1, 40)),
    # sidekiqswarm's shape: sh -c 'sidekiq … & sidekiq … & wait'.
    "swarm": scenario(durations=SWARM_SHORT + [LONG], processes=2,
                      concurrency=SWARM_CONCURRENCY, enqueue_after_boot=True),
}



def respawning(rt: h.Runtime, workdir, argv: list) -> list:
    """A supervisor-like wrapper that starts Sidekiq again once after it
    exits, and that traps TERM (so only the second Sidekiq's own TERM ends
    the stop)."""
    one = shlex.join(argv)
    return ["sh", "-c", f"trap 'echo wrapper-got-term' TERM; {one}; echo respawning; {one}; "
            "echo after-sidekiq"]


def embedded_app(rt: h.Runtime, workdir, argv: list) -> list:
    """Sidekiq embedded in a plain Ruby process, as inside Puma."""
    return ["ruby", f"{os.path.dirname(rt.app)}/embedded.rb"]


def web_ui_quiet(client: h.Resp):
    """The Web UI's quiet button: LPUSH <identity>-signals TSTP, which
    Sidekiq pops at its next heartbeat and sends to itself."""
    for identity in client.command("SMEMBERS", "processes") or []:
        client.command("LPUSH", f"{identity}-signals", "TSTP")
        client.command("EXPIRE", f"{identity}-signals", 60)


def work_key_state(client: h.Resp) -> dict:
    """Right before the SIGTERM: each identity's work key, present or not."""
    h.wait_for(lambda: client.command("SMEMBERS", "processes"), 3 * HB, "the first heartbeat")
    return {identity: bool(client.command("EXISTS", f"{identity}:work"))
            for identity in client.command("SMEMBERS", "processes") or []}


# More jobs, queues and shapes, each scenario short: what 7.x and 8.x add.
if h.SIDEKIQ_MAJOR >= 7:
    SCENARIOS.update({
        # Sidekiq inside another server: never a TSTP, even with drain always.
        "embedded": scenario(durations=[4.0], processes=0, command=embedded_app,
                             quiesce_args=["--drain", "always"]),
        # Two capsules: 3 threads on default, 2 on "second"; MID jobs on both.
        "capsules": scenario(B_MEDIUM, durations=[1.0, MID, MID + 0.5], concurrency=3,
                             env={"QTEST_SECOND_CAPSULE": "2"},
                             job_shapes={MID + 0.5: ("second", None)}),
        # A word after the title's brackets, an ActiveJob-shaped job, and the
        # Web UI's quiet button pressed during the drain.
        "extras": scenario(B_MEDIUM, durations=[1.0, MID],
                           env={"QTEST_PROCTITLE_WORD": "extra"},
                           job_shapes={MID: (h.QUEUE, "WelcomeMailerJob")},
                           during_stop=web_ui_quiet, during_stop_after_s=1.0),
        # Idle at the SIGTERM: 7.3+ leaves the work key absent.
        "idle": scenario(durations=[], before_stop=work_key_state),
    })

SCENARIOS.update({
    # A supervisor starts Sidekiq again after the TERM.
    "respawn": scenario(B_MEDIUM, durations=[1.0], command=respawning),
    # DYNO="": Sidekiq's identities have an empty host part.
    "dyno_empty": scenario(B_MEDIUM, durations=[1.0, MID], env={"DYNO": ""}),
})

# Two containers of one pod: the busy one's job outlasts the idle one's
# drain by more than a heartbeat plus slack, and ends before the TERM
# deadline with a heartbeat to spare.
POD_JOB = HB + 6
POD_B = POD_JOB + HB + T + M + SLACK + 2

_pool = None
_futures = {}


def setUpModule():
    global _pool
    quiesce = os.environ.get("QUIESCE_BIN") or h.quiesce_binary()
    # Sidekiq jobs mostly sleep; a few stops at a time keep the CPU bursts of
    # Ruby booting from piling up on two cores.
    _pool = ThreadPoolExecutor(max_workers=int(os.environ.get("SIDEKIQ_STOP_JOBS", "4")))
    # SIDEKIQ_STOP_ONLY=a,b runs those scenarios only (the others' tests fail).
    only = set(filter(None, os.environ.get("SIDEKIQ_STOP_ONLY", "").split(",")))
    for name, sc in SCENARIOS.items():
        if not only or name in only:
            _futures[name] = _pool.submit(h.run_stop, sc, quiesce)
    if not only or "pod" in only:
        _futures["pod"] = _pool.submit(h.run_pod, POD_JOB, POD_B, T, M, quiesce)


def tearDownModule():
    _pool.shutdown(wait=True)


def result(name: str) -> h.StopResult:
    if name not in _futures:
        raise unittest.SkipTest(f"scenario {name} left out by SIDEKIQ_STOP_ONLY")
    return _futures[name].result()


class StopAssertions(unittest.TestCase):
    """What the stop tests check, shared by the classes below (no tests)."""

    def assertCleanQuiesceStop(self, r: h.StopResult, exit_code: Optional[int] = 0):
        """What every stop under quiesce must show: nothing lost, out before
        the orchestrator's SIGKILL, no SIGKILL of its own, the child's status."""
        info = r.describe()
        self.assertEqual(r.count("lost"), 0, f"jobs lost\n{info}")
        self.assertEqual(r.count("queued"), 0, f"a job never started\n{info}")
        self.assertFalse(r.killed_by_harness, f"the orchestrator had to SIGKILL\n{info}")
        self.assertLess(r.stop_s, r.scenario.budget_s, info)
        self.assertEqual(r.event("kill_sent"), [], f"quiesce had to SIGKILL\n{info}")
        self.assertTrue(r.event("tstp_sent"), f"no tstp_sent\n{info}")
        if exit_code is None:
            return
        self.assertEqual(r.exit_status, exit_code, info)
        exits = r.event("exit")
        self.assertTrue(exits and exits[-1].get("code") == exit_code,
                        f"no exit event with code {exit_code}\n{info}")

    def assertJobSeenInRedis(self, r: h.StopResult, seconds: float):
        """A running job's jid appears in quiesce's drain progress: it can
        only come from the heartbeat's work hash in Redis."""
        jid = next(j.jid for j in r.jobs.values() if j.seconds == seconds)
        progress = json.dumps(r.event("drain_progress"))
        self.assertIn(jid, progress, f"the running job never showed in drain_progress\n"
                      + r.describe())

    def term_reasons(self, r: h.StopResult) -> list:
        return [e.get("reason") for e in r.event("term_sent")]

    def assertExitSoonAfterLastJob(self, r: h.StopResult):
        gap = r.exit_after_last_end_s()
        self.assertIsNotNone(gap, r.describe())
        # The drain shows at the next heartbeat (HB), then TERM, then
        # Sidekiq's own exit (about a second).
        self.assertLess(gap, HB + 1 + SLACK,
                        f"exit {gap:.2f}s after the last job ended\n{r.describe()}")


class QuiesceStop(StopAssertions):
    # 1
    def test_short_jobs_finish_and_exit_follows_the_drain(self):
        r = result("short")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), len(SHORT), r.describe())
        self.assertEqual(self.term_reasons(r), ["drained"], r.describe())
        found = r.event("sidekiq_found")
        self.assertTrue(found and found[0].get("pids"), r.describe())
        self.assertExitSoonAfterLastJob(r)

    # 2
    def test_job_longer_than_sidekiq_timeout_finishes(self):
        r = result("medium")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "finished"}, r.describe())
        self.assertEqual(self.term_reasons(r), ["drained"], r.describe())
        self.assertExitSoonAfterLastJob(r)
        self.assertJobSeenInRedis(r, MEDIUM)

    def test_job_longer_than_sidekiq_timeout_finishes_with_a_tight_budget(self):
        r = result("medium_tight")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "finished"}, r.describe())
        self.assertIn(self.term_reasons(r), (["drained"], ["deadline"]), r.describe())

    def test_same_job_under_tini_is_cut_off_at_sidekiq_timeout(self):
        r = result("medium_tini")
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "requeued"}, r.describe())
        self.assertFalse(r.killed_by_harness, r.describe())
        # TERM at t0, Sidekiq gives up at T and requeues.
        self.assertGreaterEqual(r.stop_s, T - 0.5, r.describe())
        self.assertLess(r.stop_s, T + 3 + SLACK, r.describe())

    # 3
    def test_job_longer_than_budget_is_requeued_before_the_kill(self):
        r = result("long")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.outcomes_by_seconds(), {LONG: "requeued"}, r.describe())
        self.assertEqual(self.term_reasons(r), ["deadline"], r.describe())
        # TERM no earlier than planned: the job had every second it could get.
        self.assertGreaterEqual(r.stop_s, TERM_DEADLINE, r.describe())
        plans = r.event("stop_plan")
        self.assertTrue(plans, r.describe())
        self.assertAlmostEqual(float(plans[0]["term_in_s"]), TERM_DEADLINE, delta=0.6,
                               msg=r.describe())

    def test_timeout_read_from_sidekiqs_config_file(self):
        r = result("config_file")
        self.assertCleanQuiesceStop(r)
        # Read as T from production's section: TERM at B - T - M, where the
        # top level's 99 or the default 25 would leave no room to drain.
        plans = r.event("stop_plan")
        self.assertTrue(plans, r.describe())
        self.assertAlmostEqual(float(plans[0]["term_in_s"]), TERM_DEADLINE, delta=0.6,
                               msg=r.describe())
        # Sidekiq itself used 3 s: the long job was requeued within the budget.
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "finished", LONG: "requeued"},
                         r.describe())

    def test_timeout_read_in_sidekiqs_own_directory_and_environment(self):
        r = result("sidekiqs_directory")
        self.assertCleanQuiesceStop(r)
        # Read where quiesce stands, T is the default 25: no room to drain.
        # Read in Sidekiq's directory, with its RAILS_ENV, through the merge
        # key: T, and TERM at B - T - M, so the MEDIUM job (longer than T)
        # only finishes if the stop was planned again.
        changed = r.event("sidekiq_timeout_changed")
        self.assertTrue(changed, r.describe())
        self.assertAlmostEqual(float(changed[0]["to_s"]), T, delta=0.01, msg=r.describe())
        self.assertIn("working directory", changed[0]["source"], r.describe())
        self.assertAlmostEqual(float(changed[0]["term_at_s"]), TERM_DEADLINE, delta=0.01,
                               msg=r.describe())
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "finished", LONG: "requeued"},
                         r.describe())
        term = [e for e in r.event("term_sent") if e.get("reason") in ("deadline", "drained")]
        self.assertTrue(term, r.describe())
        # quiesce found Redis through REDIS_PROVIDER (the proxy's URL is
        # nowhere else): its commands went through, and it named the job.
        self.assertGreater(r.quiesce_commands or 0, 0, r.describe())
        self.assertJobSeenInRedis(r, MEDIUM)

    def test_timeout_set_by_erb_is_evaluated_by_ruby(self):
        r = result("erb")
        self.assertCleanQuiesceStop(r)
        changed = r.event("sidekiq_timeout_changed")
        self.assertTrue(changed, r.describe())
        self.assertAlmostEqual(float(changed[0]["to_s"]), T, delta=0.01, msg=r.describe())
        self.assertIn("evaluated by ruby", changed[0]["source"], r.describe())
        warnings = [e for e in r.event("config_warning") if "ERB" in json.dumps(e)]
        self.assertEqual(warnings, [], r.describe())
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "finished", LONG: "requeued"},
                         r.describe())

    # 4
    def test_shell_wrapper_medium_finishes_long_requeued(self):
        r = result("wrapper")
        self.assertCleanQuiesceStop(r, exit_code=None)
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "finished", LONG: "requeued"},
                         r.describe())
        self.assertEqual(self.term_reasons(r), ["deadline"], r.describe())

    def test_shell_wrapper_runs_on_after_sidekiq(self):
        # The stop is Sidekiq's: the shell around it is not signalled, runs
        # what follows Sidekiq and its status is the container's.
        r = result("wrapper")
        self.assertIn("after-sidekiq status=0", r.stdout,
                      "the shell did not run past Sidekiq\n" + r.describe())
        self.assertEqual(r.exit_status, 0, r.describe())

    def test_shell_wrapper_under_tini_loses_the_job(self):
        # The baseline the wrapper test is measured against: tini's TERM kills
        # the shell, tini exits, the kernel SIGKILLs Sidekiq mid-job.
        r = result("wrapper_tini")
        self.assertEqual(r.outcomes_by_seconds(), {MEDIUM: "lost"}, r.describe())

    # 5
    def assertStopWithoutRedis(self, r: h.StopResult):
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.outcomes_by_seconds(),
                         {1.5: "finished", MID: "finished", LONG: "requeued"}, r.describe())
        self.assertTrue(r.event("redis_error"), f"no redis_error logged\n{r.describe()}")

    def test_redis_hung_stop_within_budget(self):
        self.assertStopWithoutRedis(result("redis_hung"))

    def test_redis_down_stop_within_budget(self):
        self.assertStopWithoutRedis(result("redis_down"))

    def assertRedisLostMidDrain(self, r: h.StopResult):
        self.assertStopWithoutRedis(r)
        # Said as a warning, and once: the drain polls twice a second and
        # every poll fails the same way.
        warnings = [e for e in r.event("redis_error") if e.get("level") == "warn"]
        self.assertTrue(warnings, f"no warning about Redis\n{r.describe()}")
        self.assertLessEqual(len(warnings), 2, r.describe())

    def test_redis_gone_mid_drain(self):
        self.assertRedisLostMidDrain(result("redis_gone_mid_drain"))

    def test_redis_answering_garbage_mid_drain(self):
        self.assertRedisLostMidDrain(result("redis_garbage_mid_drain"))

    def test_redis_hung_mid_drain(self):
        self.assertRedisLostMidDrain(result("redis_hung_mid_drain"))

    # 6
    def test_redis_over_tls(self):
        r = result("tls")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), 2, r.describe())
        self.assertTrue(r.event("redis_connected"), r.describe())
        self.assertEqual(r.event("redis_error"), [], r.describe())
        self.assertEqual(self.term_reasons(r), ["drained"], r.describe())
        self.assertExitSoonAfterLastJob(r)
        self.assertJobSeenInRedis(r, MID)

    def test_redis_load_during_the_drain(self):
        r = result("load")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), 2, r.describe())
        self.assertIsNotNone(r.quiesce_commands)
        rate = r.quiesce_commands / r.stop_s / max(r.sidekiq_processes, 1)
        self.assertGreater(r.quiesce_commands, 0, "quiesce never read Redis\n" + r.describe())
        self.assertLessEqual(rate, 4.0, f"{r.quiesce_commands} commands in {r.stop_s:.1f}s\n"
                             + r.describe())

    # 7
    def test_stale_identities_are_ignored(self):
        r = result("stale")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), 2, r.describe())
        self.assertEqual(self.term_reasons(r), ["drained"], r.describe())
        self.assertExitSoonAfterLastJob(r)

    # 8
    def test_two_sidekiq_processes_under_one_shell(self):
        r = result("swarm")
        info = r.describe()
        self.assertEqual(r.sidekiq_processes, 2, info)
        # Both were busy when the stop began: the jobs name the pids that ran them.
        t0 = r.exit_wall - r.stop_s
        busy_pids = {j.pid for j in r.jobs.values() if j.running_at(t0)}
        self.assertEqual(len(busy_pids), 2, f"busy at SIGTERM: {busy_pids}\n{info}")

        found = {p for e in r.event("sidekiq_found") for p in e.get("pids", [])}
        tstp = {p for e in r.event("tstp_sent") for p in e.get("pids", [])}
        self.assertEqual(found, busy_pids, f"sidekiq_found names {found}\n{info}")
        self.assertEqual(tstp, busy_pids, f"tstp_sent names {tstp}\n{info}")

        self.assertCleanQuiesceStop(r, exit_code=None)
        expected = {s: "finished" for s in SWARM_SHORT}
        expected[LONG] = "requeued"
        self.assertEqual(r.outcomes_by_seconds(), expected, info)
        # After the deadline's TERM to both, only the shell may get one, once
        # both are gone.
        reasons = self.term_reasons(r)
        self.assertEqual(reasons[:1], ["deadline"], info)
        self.assertLessEqual(set(reasons[1:]), {"forward"}, info)

        # Jobs in drain_progress can only come from the heartbeats' work hashes.
        with_jobs = [e for e in r.event("drain_progress") if e.get("jobs")]
        self.assertTrue(with_jobs, f"no drain_progress named a job\n{info}")
        long_jid = next(j.jid for j in r.jobs.values() if j.seconds == LONG)
        self.assertIn(long_jid, json.dumps(with_jobs), info)

        # The shell's wait returns once both are gone, and it runs on.
        self.assertIn("after-sidekiq", r.stdout, "the shell did not run past wait\n" + info)
        self.assertEqual(r.exit_status, 0, info)

    # Case 4: a Sidekiq started during the stop is looked for until it ends.
    def test_sidekiq_started_again_after_term_gets_term(self):
        r = result("respawn")
        info = r.describe()
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), 1, info)
        self.assertIn("respawning", r.stdout, info)
        self.assertIn("after-sidekiq", r.stdout, info)
        late = [e for e in r.event("term_sent") if "late-found" in json.dumps(e)]
        self.assertTrue(late, f"the second Sidekiq never got its TERM\n{info}")

    # Case 6
    def test_empty_dyno_names_sidekiq_with_an_empty_host(self):
        r = result("dyno_empty")
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), 2, r.describe())
        self.assertEqual(self.term_reasons(r), ["drained"], r.describe())
        self.assertJobSeenInRedis(r, MID)


class TwoContainersOfOnePod(unittest.TestCase):
    # Case 5
    def test_same_host_and_pid_each_judges_its_own_drain(self):
        r = result("pod")
        info = r.describe()
        # The case itself: one host name and one pid for both identities.
        prefixes = {i.rsplit(":", 1)[0] for i in r.identities}
        self.assertEqual(len(r.identities), 2, info)
        self.assertEqual(len(prefixes), 1, f"not the same host and pid\n{info}")
        busy, idle = r.members["busy"], r.members["idle"]
        for m in (busy, idle):
            self.assertFalse(m.killed_by_harness, info)
            self.assertEqual(m.event("kill_sent"), [], info)
            self.assertEqual(m.exit_status, 0, info)
            self.assertEqual([e.get("reason") for e in m.event("term_sent")], ["drained"], info)
        # The busy one waited for its job, which finished.
        job = next(iter(r.jobs.values()))
        self.assertEqual(job.outcome, "finished", info)
        self.assertGreater(busy.exit_wall, job.finished_at, info)
        # The idle one left at its first beat after TSTP, long before the job's end.
        self.assertLess(idle.stop_s, HB + 1 + SLACK, info)
        self.assertLess(idle.exit_wall, job.finished_at, info)


@unittest.skipUnless(h.SIDEKIQ_MAJOR >= 7, "Sidekiq 7 and 8 only")
class Sidekiq7And8(StopAssertions):
    # Case 2
    def test_embedded_sidekiq_gets_no_tstp_and_the_server_its_term(self):
        r = result("embedded")
        info = r.describe()
        self.assertEqual(r.event("tstp_sent"), [], info)
        embedded = r.event("sidekiq_embedded")
        self.assertEqual(len(embedded), 1, info)
        self.assertEqual(r.event("sidekiq_fallback"), [], info)
        # The server exits only on its TERM, once its Sidekiq has stopped:
        # the job finished, exit 0, long before the budget.
        self.assertEqual(r.outcomes_by_seconds(), {4.0: "finished"}, info)
        self.assertLess(r.stop_s, 4.0 + SLACK, info)
        self.assertFalse(r.killed_by_harness, info)
        self.assertEqual(r.event("kill_sent"), [], info)
        self.assertEqual(r.exit_status, 0, info)

    def test_two_capsules_busy_summed(self):
        r = result("capsules")
        info = r.describe()
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), 3, info)
        self.assertEqual(self.term_reasons(r), ["drained"], info)
        # Both MID jobs, one per capsule, run at the first beat after TSTP.
        busy = [e.get("busy") for e in r.event("drain_progress")]
        self.assertTrue(busy and 2 <= max(busy) <= 3, f"busy {busy}\n{info}")
        self.assertJobSeenInRedis(r, MID)
        self.assertJobSeenInRedis(r, MID + 0.5)

    def test_title_word_activejob_and_web_ui_quiet(self):
        r = result("extras")
        info = r.describe()
        self.assertCleanQuiesceStop(r)
        self.assertEqual(r.count("finished"), 2, info)
        self.assertEqual(self.term_reasons(r), ["drained"], info)
        found = r.event("sidekiq_found")
        self.assertTrue(found and found[0].get("by") == ["title"], info)
        mid = next(j.jid for j in r.jobs.values() if j.seconds == MID)
        named = {j.get("class") for e in r.event("drain_progress") for j in e.get("jobs", [])
                 if j.get("jid") == mid}
        self.assertEqual(named, {"WelcomeMailerJob"}, info)
        self.assertExitSoonAfterLastJob(r)

    def test_idle_with_no_work_key(self):
        r = result("idle")
        info = r.describe()
        self.assertEqual(list(r.before_stop.values()), [False], info)
        self.assertCleanQuiesceStop(r)
        self.assertEqual(self.term_reasons(r), ["drained"], info)
        self.assertEqual(r.event("redis_entry_skipped"), [], info)
        # Drained at the first beat after TSTP.
        self.assertLess(r.stop_s, HB + 1 + SLACK, info)


if __name__ == "__main__":
    unittest.main()
