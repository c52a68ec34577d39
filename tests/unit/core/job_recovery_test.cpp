// Putting back a dead Sidekiq's jobs: the budget, the policy and the stop
// machine's part, with a fake clock.
#include "quiesce/core/job_recovery.hpp"

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>

#include "machine_driver.hpp"
#include "quiesce/core/budget.hpp"
#include "quiesce/core/stop_machine.hpp"

using namespace quiesce;

namespace {

constexpr pid_t kMain = 10;
constexpr pid_t kSidekiq = 11;
constexpr WallSeconds kWallT0 = 1'700'000'000.0;

MachineConfig recovering_config() {
  MachineConfig c;
  c.stop_timeout = Duration{30'000};
  c.sidekiq_timeout = Duration{25'000};
  c.shutdown_margin = Duration{5'000};
  c.command_runs_sidekiq = true;
  c.recover_jobs = true;
  c.recover_after_death = true;
  c.redis_connect_timeout = Duration{2'000};
  c.redis_command_timeout = Duration{1'000};
  return c;
}

struct Harness : testing::MachineDriver {
  explicit Harness(MachineConfig c = recovering_config()) : MachineDriver(std::move(c)) {
    step(ev::Started{Instant{0}, kMain});
  }
  std::optional<Instant> armed(TimerId id) const {
    for (const auto& a : all<act::ArmTimer>()) {
      if (a.id == id) return a.at;
    }
    return std::nullopt;
  }
  bool exited() const { return !all<act::Exit>().empty(); }
  bool killed() const {
    auto s = all<act::Signal>();
    return std::any_of(s.begin(), s.end(), [](const act::Signal& x) { return x.signo == SIGKILL; });
  }
  // A stop at t0 = 1000 ms with Sidekiq found in Redis, a job named by its
  // heartbeat.
  void stop_with_sidekiq() {
    step(ev::SignalReceived{Instant{1'000}, kWallT0, SIGTERM});
    step(ev::SidekiqsFound{Instant{1'000}, {{kSidekiq, FoundBy::Redis, "host:11:abc"}}});
    ProcessReading r;
    r.pid = kSidekiq;
    r.heartbeat = HeartbeatReading{"host:11:abc", kWallT0 + 1, false, 1, {}};
    r.heartbeat->jobs = {InFlightJob{"LongJob", "jid1", "default", 20.0}};
    step(ev::Readings{Instant{2'000}, {r}});
  }
};

HeldJob held(std::string klass, std::string jid, std::string queue, std::string payload) {
  return HeldJob{std::move(klass), std::move(jid), std::move(queue), std::move(payload), kWallT0};
}

}  // namespace

TEST_CASE("budget: with recovery the kill moves to B - max(1s, round trip + 250ms)") {
  StopBudget plain{Duration{30'000}, Duration{10'000}, Duration{5'000}, std::nullopt};
  auto p = plan_stop(plain);
  CHECK(p.kill_after == Duration{29'000});
  CHECK_FALSE(p.read_after);
  CHECK_FALSE(p.kill_moved);

  StopBudget with{Duration{30'000}, Duration{10'000}, Duration{5'000}, Duration{1'000}};
  auto r = plan_stop(with);
  CHECK(r.kill_after == Duration{28'750});
  REQUIRE(r.read_after);
  CHECK(*r.read_after == Duration{27'750});                 // one round trip before the kill
  CHECK(r.recover_until > r.kill_after + Duration{1'000});  // room for the push
  CHECK(r.recover_until < Duration{30'000});                // before the orchestrator's SIGKILL
  CHECK(r.kill_moved);

  // A short command timeout keeps the usual second.
  auto s = plan_stop({Duration{30'000}, Duration{10'000}, Duration{5'000}, Duration{300}});
  CHECK(s.kill_after == Duration{29'000});
  CHECK(*s.read_after == Duration{28'700});
  CHECK_FALSE(s.kill_moved);

  // Too short a budget: half of it, and the read as early as it must be.
  auto t = plan_stop({Duration{2'000}, Duration{0}, Duration{0}, Duration{1'000}});
  CHECK(t.kill_early);
  CHECK(t.kill_after == Duration{1'000});
  CHECK(*t.read_after == Duration{0});
  CHECK(t.recover_until < Duration{2'000});
}

TEST_CASE("policy: what is pushed, which deaths left jobs behind, which identity") {
  std::vector<std::string> unpushable;
  auto push = jobs_to_push({held("A", "j1", "default", "{}"), held("A", "j1", "default", "{}"),
                            held("B", "j2", "", "{}"), held("C", "j3", "low", "")},
                           &unpushable);
  REQUIRE(push.size() == 1);
  CHECK(push[0].jid == "j1");
  CHECK(unpushable == std::vector<std::string>{"B j2", "C j3"});

  CHECK(left_jobs_behind(SIGKILL));
  CHECK(left_jobs_behind(SIGSEGV));
  CHECK(left_jobs_behind(SIGABRT));
  CHECK_FALSE(left_jobs_behind(SIGPIPE));  // a shell helper, never Sidekiq
  CHECK_FALSE(left_jobs_behind(SIGTERM));  // Sidekiq traps it
  CHECK_FALSE(left_jobs_behind(0));        // exited 0: its own shutdown ran
  CHECK_FALSE(left_jobs_behind(1 << 8));   // exited 1

  std::vector<IdentityCandidate> c{{"h:5:old", kWallT0 - 100, kWallT0},
                                   {"h:5:new", kWallT0 + 10, kWallT0 + 20},
                                   {"h:5:none", std::nullopt, kWallT0 + 20}};
  CHECK(choose_identity(c, kWallT0) == "h:5:new");
  CHECK_FALSE(choose_identity({c[0]}, kWallT0));  // a previous container's
  CHECK_FALSE(choose_identity({}, kWallT0));
}

TEST_CASE("stop: the work is read before the kill, the jobs put back after it, then exit") {
  Harness h;
  h.step(ev::SignalReceived{Instant{1'000}, kWallT0, SIGTERM});
  REQUIRE(h.armed(TimerId::LastRead));
  CHECK(*h.armed(TimerId::LastRead) == Instant{1'000 + 27'750});
  CHECK(*h.armed(TimerId::Kill) == Instant{1'000 + 28'750});
  h.step(ev::SidekiqsFound{Instant{1'000}, {{kSidekiq, FoundBy::Redis, "host:11:abc"}}});
  auto plan = h.told<fact::StopPlanned>();
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].recover_jobs);

  h.step(ev::TimerFired{Instant{28'750}, TimerId::LastRead});
  auto reads = h.all<act::ReadWork>();
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].targets.at(0).identity == "host:11:abc");

  h.step(ev::TimerFired{Instant{29'750}, TimerId::Kill});
  CHECK(h.killed());
  auto recover = h.all<act::RecoverJobs>();
  REQUIRE(recover.size() == 1);
  CHECK(recover[0].pid == kSidekiq);
  CHECK(recover[0].identity == "host:11:abc");
  CHECK_FALSE(h.exited());  // not before the jobs are back
  REQUIRE(h.armed(TimerId::Recovery));
  CHECK(*h.armed(TimerId::Recovery) < Instant{1'000 + 30'000});

  // The SIGKILLed Sidekiq is reaped: no second recovery.
  h.step(ev::Reaped{Instant{29'760}, {{kMain, SIGKILL}}, false});
  CHECK(h.all<act::RecoverJobs>().empty());
  CHECK_FALSE(h.exited());

  RecoveryOutcome done{RecoveryStatus::Requeued,
                       "host:11:abc",
                       {InFlightJob{"LongJob", "jid1", "default", 28.0}},
                       ""};
  h.step(ev::JobsRecovered{Instant{29'800}, kSidekiq, done});
  auto requeued = h.told<fact::JobRequeued>();
  REQUIRE(requeued.size() == 1);
  CHECK(requeued[0].job.jid == "jid1");
  REQUIRE(h.exited());
  CHECK(h.all<act::Exit>()[0].code == 128 + SIGKILL);
}

TEST_CASE("stop: Redis hung at the deadline: the kill on time, the failure names the jobs") {
  Harness h;
  h.stop_with_sidekiq();
  h.step(ev::TimerFired{Instant{28'750}, TimerId::LastRead});
  h.step(ev::TimerFired{Instant{29'750}, TimerId::Kill});  // no answer to the read: kill anyway
  CHECK(h.killed());
  Instant limit = *h.armed(TimerId::Recovery);
  h.step(ev::TimerFired{limit, TimerId::Recovery});
  auto failed = h.told<fact::RecoveryFailed>();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].identity == "host:11:abc");
  REQUIRE(failed[0].jobs.size() == 1);
  CHECK(failed[0].jobs[0].jid == "jid1");
  CHECK(h.exited());
  // A late answer changes nothing.
  h.step(ev::JobsRecovered{limit + Duration{10}, kSidekiq, {}});
  CHECK(h.last.empty());
}

TEST_CASE("stop: a Sidekiq that exits on its own after its TERM is not recovered") {
  Harness h;
  h.stop_with_sidekiq();
  h.step(ev::TimerFired{Instant{3'000}, TimerId::Term});
  h.step(ev::Reaped{Instant{5'000}, {{kMain, 0}}, false});
  CHECK(h.all<act::RecoverJobs>().empty());
  CHECK(h.exited());
}

TEST_CASE("death outside a stop: recovered at once, the exit waits, OOM named") {
  Harness h;
  h.step(ev::Reaped{Instant{50'000}, {{kMain, SIGKILL}}, false, true});
  auto recover = h.all<act::RecoverJobs>();
  REQUIRE(recover.size() == 1);
  CHECK(recover[0].pid == kMain);
  CHECK(recover[0].identity.empty());  // looked up by hostname and pid
  CHECK(h.told<fact::OomKilled>().size() == 1);
  CHECK_FALSE(h.exited());
  REQUIRE(h.armed(TimerId::Recovery));
  CHECK(*h.armed(TimerId::Recovery) == Instant{50'000 + 2'000 + 4 * 1'000 + 250});

  h.step(ev::JobsRecovered{
      Instant{50'100},
      kMain,
      {RecoveryStatus::Requeued,
       "host:10:abc",
       {InFlightJob{"A", "j1", "default", 12}, InFlightJob{"B", "j2", "default", 11}},
       ""}});
  CHECK(h.told<fact::JobRequeued>().size() == 2);
  REQUIRE(h.exited());
  CHECK(h.all<act::Exit>()[0].code == 128 + SIGKILL);  // the child's status passed through
}

TEST_CASE("death outside a stop: a clean exit, recovery off, or a non-Sidekiq container: none") {
  {
    Harness h;
    h.step(ev::Reaped{Instant{50'000}, {{kMain, 0}}, false});
    CHECK(h.all<act::RecoverJobs>().empty());
    CHECK(h.exited());
  }
  {
    auto c = recovering_config();
    c.recover_jobs = false;
    Harness h(c);
    h.step(ev::Reaped{Instant{50'000}, {{kMain, SIGKILL}}, false, true});
    CHECK(h.all<act::RecoverJobs>().empty());
    CHECK(h.told<fact::OomKilled>().size() == 1);
    CHECK(h.exited());
  }
  {
    auto c = recovering_config();
    c.recover_after_death = false;
    Harness h(c);
    h.step(ev::Reaped{Instant{50'000}, {{kMain, SIGSEGV}}, false});
    CHECK(h.all<act::RecoverJobs>().empty());
  }
}

TEST_CASE("death during a drain: recovered at once, bounded by the budget") {
  Harness h;
  h.stop_with_sidekiq();
  h.step(ev::Reaped{Instant{29'000}, {{kSidekiq, SIGABRT}}, true});
  auto recover = h.all<act::RecoverJobs>();
  REQUIRE(recover.size() == 1);
  CHECK(recover[0].identity == "host:11:abc");
  CHECK(*h.armed(TimerId::Recovery) < Instant{1'000 + 30'000});
  h.step(ev::JobsRecovered{Instant{29'100},
                           kSidekiq,
                           {RecoveryStatus::ReliableFetch, "host:11:abc", {}, "super_processes"}});
  auto skipped = h.told<fact::RecoveryNotNeeded>();
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].status == RecoveryStatus::ReliableFetch);
}
