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
