// Quiet on demand (`quiesce quiet`, a TSTP sent to quiesce) driven with a
// fake clock: the stop's drain without its deadlines, and what follows it.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>

#include "machine_driver.hpp"
#include "quiesce/core/stop_machine.hpp"

using namespace quiesce;

namespace {

constexpr pid_t kMain = 10;
constexpr pid_t kSidekiq = 11;
constexpr WallSeconds kWall = 1'700'000'000.0;

MachineConfig config_for_quiet() {
  MachineConfig c;
  c.stop_timeout = Duration{30'000};
  c.sidekiq_timeout = Duration{10'000};
  c.shutdown_margin = Duration{5'000};
  c.command_runs_sidekiq = true;
  c.thread_rule = false;
  return c;
}

struct Quiet : testing::MachineDriver {
  explicit Quiet(MachineConfig c = config_for_quiet()) : MachineDriver(std::move(c)) {
    step(ev::Started{Instant{0}, kMain});
  }
  void quiet(std::int64_t at, bool exit_when_drained = false) {
    step(ev::QuietRequested{Instant{at}, kWall + at / 1000.0, exit_when_drained,
                            QuietSource::Command});
  }
  void found_sidekiq(std::int64_t at) {
    step(ev::SidekiqsFound{Instant{at}, {FoundProcess{kSidekiq, FoundBy::Title}}, true});
  }
  void beat(std::int64_t at, int busy) {
    ProcessReading r;
    r.pid = kSidekiq;
    r.heartbeat = HeartbeatReading{"h:11:x", kWall + at / 1000.0, true, busy, {}};
    step(ev::Readings{Instant{at}, {r}});
  }
  std::vector<pid_t> sent(int signo) const {
    for (const auto& s : all<act::Signal>()) {
      if (s.signo == signo) return s.pids;
    }
    return {};
  }
  bool armed(TimerId id) const {
    auto timers = all<act::ArmTimer>();
    return std::any_of(timers.begin(), timers.end(),
                       [&](const act::ArmTimer& t) { return t.id == id; });
  }
};

}  // namespace

TEST_CASE("quiet: TSTP to Sidekiq, no deadline armed, and idle once drained") {
  Quiet q;
  q.quiet(1'000);
  CHECK(q.machine.phase() == StopMachine::Phase::Quieting);
  CHECK(q.told<fact::QuietStarted>().size() == 1);
  CHECK(q.all<act::FindSidekiqs>().size() == 1);
  CHECK_FALSE(q.armed(TimerId::Term));
  CHECK_FALSE(q.armed(TimerId::Kill));

  q.found_sidekiq(1'001);
  CHECK(q.sent(SIGTSTP) == std::vector<pid_t>{kSidekiq});
  CHECK(q.told<fact::StopPlanned>().empty());
  CHECK(q.all<act::Watch>().size() == 1);

  q.beat(3'000, 2);
  CHECK(q.told<fact::QuietDrained>().empty());
  q.beat(8'000, 0);
  auto drained = q.told<fact::QuietDrained>();
  REQUIRE(drained.size() == 1);
  CHECK(drained[0].took == Duration{7'000});
  CHECK_FALSE(drained[0].exiting);
  // Nothing is signalled and the polling stops: Sidekiq stays up, idle.
  CHECK(q.all<act::Signal>().empty());
  CHECK(q.all<act::StopWatching>().size() == 1);
  CHECK(q.machine.phase() == StopMachine::Phase::Quieting);
  CHECK(q.machine.view().quiet_drained);
}

TEST_CASE("quiet --exit-when-drained: TERM once drained, then exit with the child's code") {
  Quiet q;
  q.quiet(0, true);
  q.found_sidekiq(1);
  q.beat(20'000, 0);
  CHECK(q.sent(SIGTERM) == std::vector<pid_t>{kSidekiq});
  CHECK(q.told<fact::QuietDrained>().at(0).exiting);
  auto term = q.told<fact::TermSent>();
  REQUIRE(term.size() == 1);
  CHECK(term[0].reason == TermReason::Drained);
  // Bounded as a stop is: should Sidekiq hang in its shutdown, the budget's
  // SIGKILL ends it.
  auto kill = q.all<act::ArmTimer>();
  REQUIRE(kill.size() == 1);
  CHECK(kill[0].id == TimerId::Kill);
  CHECK(kill[0].at == Instant{20'000 + 29'000});
  q.step(ev::Reaped{Instant{21'000}, {{kSidekiq, 0}}, true});
  q.step(ev::Reaped{Instant{21'001}, {{kMain, 0}}, false});
  REQUIRE(q.all<act::Exit>().size() == 1);
  CHECK(q.all<act::Exit>()[0].code == 0);
}

TEST_CASE("exit-when-drained asked after the quiet drained: TERM at once") {
  Quiet q;
  q.quiet(0);
  q.found_sidekiq(1);
  q.beat(5'000, 0);
  CHECK(q.sent(SIGTERM).empty());
  q.quiet(9'000, true);
  CHECK(q.sent(SIGTERM) == std::vector<pid_t>{kSidekiq});
  CHECK(q.machine.phase() == StopMachine::Phase::Terminating);
}

TEST_CASE("a TSTP sent to quiesce quiets; with on_tstp forward it is passed on") {
  Quiet q;
  q.step(ev::SignalReceived{Instant{5}, kWall, SIGTSTP});
  CHECK(q.machine.phase() == StopMachine::Phase::Quieting);
  auto started = q.told<fact::QuietStarted>();
  REQUIRE(started.size() == 1);
  CHECK(started[0].source == QuietSource::Signal);
  CHECK(q.all<act::Signal>().empty());  // not forwarded: a shell wrapper would stop

  auto c = config_for_quiet();
  c.on_tstp = OnTstp::Forward;
  Quiet f(c);
  f.step(ev::SignalReceived{Instant{5}, kWall, SIGTSTP});
  CHECK(f.machine.phase() == StopMachine::Phase::Running);
  REQUIRE(f.all<act::Signal>().size() == 1);
  CHECK(f.all<act::Signal>()[0].signo == SIGTSTP);

  c.on_tstp = OnTstp::Quiet;
  c.drain = DrainMode::Never;  // no Sidekiq handling at all: tini's behaviour
  Quiet n(c);
  n.step(ev::SignalReceived{Instant{5}, kWall, SIGTSTP});
  CHECK(n.machine.phase() == StopMachine::Phase::Running);
  CHECK(n.all<act::Signal>().size() == 1);
}

TEST_CASE("quiet with no Sidekiq found: nothing signalled, back to running") {
  auto c = config_for_quiet();
  c.command_runs_sidekiq = false;
  Quiet q(c);
  q.quiet(0);
  q.step(ev::SidekiqsFound{Instant{1}, {}, true});
  CHECK(q.told<fact::NothingToQuiet>().size() == 1);
  CHECK(q.all<act::Signal>().empty());
  CHECK(q.machine.phase() == StopMachine::Phase::Running);
  // A SIGTERM later is an ordinary stop.
  q.step(ev::SignalReceived{Instant{10}, kWall, SIGTERM});
  CHECK(q.machine.phase() == StopMachine::Phase::Finding);
}

TEST_CASE("quiet asked during a stop is refused; a second one during a quiet changes nothing") {
  Quiet q;
  q.step(ev::SignalReceived{Instant{0}, kWall, SIGTERM});
  q.quiet(5);
  CHECK(q.told<fact::QuietRefused>().size() == 1);
  CHECK(q.machine.phase() == StopMachine::Phase::Finding);

  Quiet again;
  again.quiet(0);
  again.quiet(10);
  CHECK(again.last.empty());
}

TEST_CASE("SIGTERM during a drained quiet: TERM at once, the stop's budget bounds the rest") {
  Quiet q;
  q.quiet(0);
  q.found_sidekiq(1);
  q.beat(4'000, 0);
  q.step(ev::SignalReceived{Instant{60'000}, kWall + 60, SIGTERM});
  CHECK(q.told<fact::StopPlanned>().size() == 1);
  CHECK(q.sent(SIGTERM) == std::vector<pid_t>{kSidekiq});
  auto term = q.told<fact::TermSent>();
  REQUIRE(term.size() == 1);
  CHECK(term[0].reason == TermReason::Drained);
  CHECK(q.machine.kill_deadline() == Instant{60'000 + 29'000});
}

TEST_CASE("SIGTERM during a quiet still draining: the drain goes on under the stop's deadlines") {
  Quiet q;
  q.quiet(0);
  q.found_sidekiq(1);
  q.beat(2'000, 3);
  q.step(ev::SignalReceived{Instant{3'000}, kWall + 3, SIGTERM});
  CHECK(q.machine.phase() == StopMachine::Phase::Draining);
  CHECK(q.sent(SIGTERM).empty());
  CHECK(q.all<act::Watch>().size() == 1);  // watched again under the stop
  // B - T - M after the SIGTERM.
  CHECK(q.machine.term_deadline() == Instant{3'000 + 15'000});
  q.beat(6'000, 0);
  CHECK(q.sent(SIGTERM) == std::vector<pid_t>{kSidekiq});
  CHECK(q.machine.phase() == StopMachine::Phase::Terminating);
}

TEST_CASE("restart: quiet, TERM once drained, then the command starts again") {
  Quiet q;
  q.step(ev::RestartRequested{Instant{0}, kWall});
  CHECK(q.told<fact::RestartStarted>().size() == 1);
  REQUIRE(q.all<act::ArmTimer>().size() == 1);
  CHECK(q.all<act::ArmTimer>()[0].id == TimerId::RestartGrace);
  CHECK(q.all<act::ArmTimer>()[0].at == Instant{60'000});
  q.found_sidekiq(1);
  CHECK(q.sent(SIGTSTP) == std::vector<pid_t>{kSidekiq});
  q.beat(5'000, 0);
  CHECK(q.sent(SIGTERM) == std::vector<pid_t>{kSidekiq});
  // Sidekiq's timeout and the margin to requeue; then it is killed.
  CHECK(q.machine.kill_deadline() == Instant{5'000 + 10'000 + 5'000});
  q.step(ev::Reaped{Instant{6'000}, {{kSidekiq, 0}}, true});
  q.step(ev::Reaped{Instant{6'001}, {{kMain, 0}}, false});
  CHECK(q.all<act::Exit>().empty());
  CHECK(q.all<act::Respawn>().size() == 1);
  CHECK(q.machine.phase() == StopMachine::Phase::Respawning);
  q.step(ev::Respawned{Instant{6'002}, 20, ""});
  auto done = q.told<fact::RestartDone>();
  REQUIRE(done.size() == 1);
  CHECK(done[0].pid == 20);
  CHECK(q.machine.phase() == StopMachine::Phase::Running);
  CHECK(q.machine.view().restarts == 1);
  CHECK(q.machine.view().main_pid == 20);
  // The new command is the one a SIGTERM now stops, and its exit ends quiesce.
  q.step(ev::SignalReceived{Instant{7'000}, kWall + 7, SIGTERM});
  CHECK(q.machine.phase() == StopMachine::Phase::Finding);
  q.step(ev::Reaped{Instant{8'000}, {{20, 0}}, false});
  REQUIRE(q.all<act::Exit>().size() == 1);
}

TEST_CASE("restart: out of grace the TERM goes anyway, and a hung Sidekiq is killed") {
  Quiet q;
  q.step(ev::RestartRequested{Instant{0}, kWall});
  q.found_sidekiq(1);
  q.beat(5'000, 3);
  q.step(ev::TimerFired{Instant{60'000}, TimerId::RestartGrace});
  CHECK(q.sent(SIGTERM) == std::vector<pid_t>{kSidekiq});
  CHECK(q.told<fact::TermSent>().at(0).reason == TermReason::Deadline);
  q.step(ev::TimerFired{Instant{75'000}, TimerId::Kill});
  auto kill = q.told<fact::KillSent>();
  REQUIRE(kill.size() == 1);
  CHECK(kill[0].why == KillReason::Restart);
  CHECK(q.all<act::Exit>().empty());
}

TEST_CASE("restarts in quick succession back off; a stop signal while waiting exits") {
  Quiet q;
  auto restart_at = [&](std::int64_t t, pid_t main, pid_t next) {
    q.step(ev::RestartRequested{Instant{t}, kWall});
    q.step(ev::SidekiqsFound{Instant{t + 1}, {}, true});  // nothing found: TERM the command
    CHECK(q.sent(SIGTERM) == std::vector<pid_t>{main});
    q.step(ev::Reaped{Instant{t + 2}, {{main, 0}}, false});
    auto scheduled = q.told<fact::RespawnScheduled>();
    REQUIRE(scheduled.size() == 1);
    if (next) q.step(ev::Respawned{Instant{t + 3}, next, ""});
    return scheduled[0].delay;
  };
  auto c = config_for_quiet();
  c.command_runs_sidekiq = false;
  q = Quiet(c);
  CHECK(restart_at(0, kMain, 20) == Duration{0});
  CHECK(restart_at(10'000, 20, 0) == Duration{1'000});
  CHECK(q.all<act::ArmTimer>().at(0).id == TimerId::Respawn);
  q.step(ev::TimerFired{Instant{11'002}, TimerId::Respawn});
  CHECK(q.all<act::Respawn>().size() == 1);
  q.step(ev::Respawned{Instant{11'003}, 21, ""});
  CHECK(restart_at(20'000, 21, 0) == Duration{2'000});
  q.step(ev::SignalReceived{Instant{20'100}, kWall, SIGTERM});
  REQUIRE(q.all<act::Exit>().size() == 1);
  CHECK(q.all<act::Exit>()[0].code == 0);
}

TEST_CASE("restart refused during a stop; a SIGTERM during a restart makes it a stop") {
  Quiet q;
  q.step(ev::SignalReceived{Instant{0}, kWall, SIGTERM});
  q.step(ev::RestartRequested{Instant{1}, kWall});
  CHECK(q.told<fact::QuietRefused>().size() == 1);

  Quiet r;
  r.step(ev::RestartRequested{Instant{0}, kWall});
  r.found_sidekiq(1);
  r.step(ev::SignalReceived{Instant{100}, kWall, SIGTERM});
  CHECK(r.told<fact::RestartFailed>().size() == 1);
  CHECK(r.machine.phase() == StopMachine::Phase::Draining);
  r.step(ev::Reaped{Instant{200}, {{kSidekiq, 0}, {kMain, 0}}, false});
  CHECK(r.all<act::Exit>().size() == 1);  // exits: no respawn after a real stop
  CHECK(r.all<act::Respawn>().empty());
}
