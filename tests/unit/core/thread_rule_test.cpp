// The thread rule (core/thread_rule.hpp) on its own, then inside the stop
// machine with a fake clock: when the job threads seen at the TSTP are all
// gone the process is drained, and in every doubtful case the heartbeat
// and title rules decide alone.
#include "quiesce/core/thread_rule.hpp"

#include <doctest/doctest.h>
#include <signal.h>

#include <string>

#include "machine_driver.hpp"
#include "quiesce/core/stop_machine.hpp"
#include "quiesce/log/fact_words.hpp"

using namespace quiesce;

namespace {

constexpr pid_t kMain = 10;
constexpr WallSeconds kWallT0 = 1'700'000'000.0;

// Job threads by tid, plus Sidekiq's other threads (never job threads).
ThreadsReading threads(std::vector<pid_t> job, std::optional<int> concurrency = std::nullopt) {
  ThreadsReading r;
  r.threads.push_back({100, false});  // the main thread
  r.threads.push_back({101, false});  // heartbeat
  for (pid_t tid : job) r.threads.push_back({tid, true});
  r.concurrency = concurrency;
  return r;
}

ProcessReading with_threads(pid_t pid, std::vector<pid_t> job, int concurrency = 5,
                            int title_busy = 1) {
  ProcessReading r;
  r.pid = pid;
  r.title = TitleReading{"7.3.2", title_busy, concurrency, false};
  r.threads = threads(std::move(job));
  return r;
}

struct Machine : testing::MachineDriver {
  explicit Machine(bool thread_rule = true) : MachineDriver(config(thread_rule)) {
    step(ev::Started{Instant{0}, kMain});
  }
  static MachineConfig config(bool thread_rule) {
    MachineConfig c;
    c.stop_timeout = Duration{30'000};
    c.sidekiq_timeout = Duration{10'000};
    c.shutdown_margin = Duration{5'000};
    c.command_runs_sidekiq = true;
    c.thread_rule = thread_rule;
    return c;
  }
  void stop_with(std::vector<FoundProcess> found) {
    step(ev::SignalReceived{Instant{0}, kWallT0, SIGTERM});
    step(ev::SidekiqsFound{Instant{5}, std::move(found)});
  }
  void read(std::vector<ProcessReading> r, std::int64_t at_ms) {
    step(ev::Readings{Instant{at_ms}, std::move(r)});
  }
  bool terminating() const { return machine.phase() == StopMachine::Phase::Terminating; }
};

}  // namespace

TEST_CASE("thread rule: drained once every job thread seen at the TSTP is gone") {
  JobThreadWatch w(true);
  w.observe(threads({201, 202, 203}), 5);
  CHECK(w.state() == JobThreadWatch::State::Watching);
  CHECK(w.at_tstp() == 3);
  CHECK_FALSE(w.drained());
  w.observe(threads({202, 203}), 5);
  CHECK(w.alive() == 2);
  CHECK_FALSE(w.drained());
  w.observe(threads({}), 5);
  CHECK(w.alive() == 0);
  CHECK(w.drained());
}

TEST_CASE("thread rule: a thread counts as alive by its tid, whatever its name reads now") {
  JobThreadWatch w(true);
  w.observe(threads({201}), 5);
  ThreadsReading renamed;
  renamed.threads = {{201, false}};
  w.observe(renamed, 5);
  CHECK(w.alive() == 1);
  CHECK_FALSE(w.drained());
}

TEST_CASE("thread rule: a poll without a thread view decides nothing") {
  JobThreadWatch w(true);
  w.observe(threads({201}), 5);
  w.observe(std::nullopt, 5);
  CHECK(w.alive() == 1);
  CHECK_FALSE(w.drained());
  CHECK(w.state() == JobThreadWatch::State::Watching);
}

TEST_CASE("thread rule: stands aside for a process found after the TSTP") {
  JobThreadWatch w(false);
  CHECK(w.off_reason() == ThreadRuleOff::FoundAfterTstp);
  w.observe(threads({201}), 5);
  w.observe(threads({}), 5);
  CHECK_FALSE(w.drained());
}

TEST_CASE("thread rule: stands aside without a view or a job thread at the TSTP") {
  JobThreadWatch blind(true);
  blind.observe(std::nullopt, 5);
  CHECK(blind.off_reason() == ThreadRuleOff::NoThreadView);
  // A view that comes later is not the set at the TSTP.
  blind.observe(threads({201}), 5);
  blind.observe(threads({}), 5);
  CHECK_FALSE(blind.drained());

  JobThreadWatch none(true);
  none.observe(threads({}), 5);
  CHECK(none.off_reason() == ThreadRuleOff::NoJobThreads);
  CHECK_FALSE(none.drained());
}

TEST_CASE("thread rule: more job threads than the concurrency is an app thread's name") {
  JobThreadWatch w(true);
  w.observe(threads({201, 202, 203}), 2);
  CHECK(w.off_reason() == ThreadRuleOff::TooMany);
  w.observe(threads({}), 2);
  CHECK_FALSE(w.drained());
}

TEST_CASE("thread rule: waits for a concurrency before it decides, then checks the count") {
  JobThreadWatch w(true);
  w.observe(threads({201, 202}), std::nullopt);
  w.observe(threads({}), std::nullopt);
  CHECK(w.alive() == 0);
  CHECK_FALSE(w.drained());  // nothing yet says two threads are plausible
  w.observe(threads({}), 10);
  CHECK(w.drained());

  JobThreadWatch late(true);
  late.observe(threads({201, 202}), std::nullopt);
  late.observe(threads({}), 1);  // known only now, and too small
  CHECK(late.off_reason() == ThreadRuleOff::TooMany);
  CHECK_FALSE(late.drained());
}

TEST_CASE("thread rule: a job-thread name that appears after the TSTP ends the rule") {
  JobThreadWatch w(true);
  w.observe(threads({201, 202}), 5);
  // A job started a thread (it inherits the job thread's name) while its
  // own thread ends: the old set is gone but a job may still run.
  w.observe(threads({202, 250}), 5);
  CHECK(w.off_reason() == ThreadRuleOff::NewJobThread);
  w.observe(threads({}), 5);
  CHECK_FALSE(w.drained());
}

TEST_CASE("thread rule: names drained_by and why it stands aside") {
  CHECK(drain_rule_name(DrainRule::Threads) == "threads");
  CHECK(drain_rule_name(DrainRule::Heartbeat) == "heartbeat");
  CHECK(thread_rule_off_name(ThreadRuleOff::FoundAfterTstp) == "found_after_tstp");
  CHECK(thread_rule_off_name(ThreadRuleOff::NewJobThread) == "new_job_thread");
}

TEST_CASE("stop machine: TERM within one poll of the last job thread's end, rule named") {
  Machine m;
  m.stop_with({{21, FoundBy::Title, ""}});
  m.read({with_threads(21, {201, 202, 203})}, 10);
  m.read({with_threads(21, {203})}, 1'500);
  auto progress = m.told<fact::DrainProgress>();
  REQUIRE(progress.size() == 1);
  CHECK(progress[0].job_threads == 1);
  CHECK_FALSE(m.terminating());
  m.read({with_threads(21, {})}, 2'000);
  REQUIRE(m.terminating());
  auto term = m.told<fact::TermSent>();
  REQUIRE(term.size() == 1);
  CHECK(term[0].reason == TermReason::Drained);
  CHECK(term[0].drained_by == DrainRule::Threads);
  CHECK(term[0].at == Duration{2'000});
  auto line = word(Fact{term[0]});
  CHECK(line.message.find("drained: job threads gone") != std::string::npos);
  CHECK(line.fields["rule"] == "threads");

  // The stop's end says the same.
  m.step(ev::Reaped{Instant{2'600}, {{kMain, 0}}, false});
  auto done = m.told<fact::StopDone>();
  REQUIRE(done.size() == 1);
  CHECK(done[0].drained_by == DrainRule::Threads);
  CHECK(word(Fact{done[0]}).message.find("job threads gone") != std::string::npos);
}

TEST_CASE("stop machine: every process must be drained, by whichever rule") {
  Machine m;
  m.stop_with({{21, FoundBy::Title, ""}, {22, FoundBy::Title, ""}});
  m.read({with_threads(21, {201}), with_threads(22, {301})}, 10);
  m.read({with_threads(21, {}), with_threads(22, {301})}, 500);
  CHECK_FALSE(m.terminating());
  // 22's heartbeat after the TSTP says quiet, 0 busy: that decides last.
  ProcessReading beat = with_threads(22, {301});
  beat.heartbeat = HeartbeatReading{"h:22:x", kWallT0 + 1, true, 0, {}};
  m.read({with_threads(21, {}), beat}, 1'000);
  REQUIRE(m.terminating());
  CHECK(m.told<fact::TermSent>()[0].drained_by == DrainRule::Heartbeat);
}

TEST_CASE("stop machine: a job's own thread keeps the drain open; the heartbeat still decides") {
  Machine m;
  m.stop_with({{21, FoundBy::Title, ""}});
  m.read({with_threads(21, {201, 202})}, 10);
  m.read({with_threads(21, {202, 260})}, 500);  // 260: started by the job on 202
  auto skipped = m.told<fact::ThreadRuleSkipped>();
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].why == ThreadRuleOff::NewJobThread);
  CHECK(word(Fact{skipped[0]}).fields["why"] == "new_job_thread");
  m.read({with_threads(21, {})}, 1'000);
  CHECK_FALSE(m.terminating());
  ProcessReading beat = with_threads(21, {});
  beat.heartbeat = HeartbeatReading{"h:21:x", kWallT0 + 5, true, 0, {}};
  m.read({beat}, 5'000);
  REQUIRE(m.terminating());
  CHECK(m.told<fact::TermSent>()[0].drained_by == DrainRule::Heartbeat);
}

TEST_CASE("stop machine: an app thread with a job thread's name makes too many: no early TERM") {
  Machine m;
  m.stop_with({{21, FoundBy::Title, ""}});
  // Title: 5 threads; 6 carry a job thread's name.
  m.read({with_threads(21, {201, 202, 203, 204, 205, 299})}, 10);
  auto skipped = m.told<fact::ThreadRuleSkipped>();
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].why == ThreadRuleOff::TooMany);
  CHECK(skipped[0].at_tstp == 6);
  CHECK(skipped[0].concurrency == 5);
  m.read({with_threads(21, {})}, 1'000);
  CHECK_FALSE(m.terminating());
}

TEST_CASE("stop machine: Redis's concurrency serves when there is no title") {
  Machine m;
  m.stop_with({{21, FoundBy::Title, ""}});
  ProcessReading r;
  r.pid = 21;
  r.threads = threads({201}, 3);
  m.read({r}, 10);
  r.threads = threads({}, 3);
  m.read({r}, 500);
  CHECK(m.terminating());
}

TEST_CASE("stop machine: a process found during the drain falls back to the heartbeat") {
  Machine m;
  m.stop_with({{21, FoundBy::Title, ""}});
  m.step(ev::SidekiqsFound{Instant{3'000}, {{21, FoundBy::Title, ""}, {22, FoundBy::Title, ""}}});
  m.read({with_threads(21, {201}), with_threads(22, {301})}, 3'010);
  auto skipped = m.told<fact::ThreadRuleSkipped>();
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].pid == 22);
  CHECK(skipped[0].why == ThreadRuleOff::FoundAfterTstp);
  m.read({with_threads(21, {}), with_threads(22, {})}, 3'500);
  CHECK_FALSE(m.terminating());
}

TEST_CASE("stop machine: the main child drained without a title falls back too") {
  Machine m;
  m.step(ev::SignalReceived{Instant{0}, kWallT0, SIGTERM});
  m.step(ev::SidekiqsFound{Instant{5}, {}});
  m.read({with_threads(kMain, {201})}, 10);
  m.read({with_threads(kMain, {})}, 500);
  CHECK_FALSE(m.terminating());
}

TEST_CASE("stop machine: with thread_rule off only the heartbeat and title decide, silently") {
  Machine m(false);
  m.stop_with({{21, FoundBy::Title, ""}});
  m.read({with_threads(21, {201})}, 10);
  m.read({with_threads(21, {})}, 500);
  CHECK_FALSE(m.terminating());
  CHECK(m.told<fact::ThreadRuleSkipped>().empty());
  ProcessReading r = with_threads(21, {}, 5, 0);
  r.title->stopping = true;
  m.read({r}, 5'000);
  REQUIRE(m.terminating());
  CHECK(m.told<fact::TermSent>()[0].drained_by == DrainRule::Title);
}

TEST_CASE("drain progress says the job threads alive beside the jobs still running") {
  fact::DrainProgress p{
      Duration{2'500}, 1, {{21, InFlightJob{"SleepJob", "abc", "default", 3}}}, 2};
  auto line = word(Fact{p});
  CHECK(line.message ==
        "drain at 2.5s: 1 job still running, 2 job threads alive: SleepJob abc on default for 3s");
  CHECK(line.fields["job_threads"] == 2);
}
