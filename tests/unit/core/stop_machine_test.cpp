// The stop sequence driven through every branch with a fake clock: no
// processes, no Redis, no waiting.
#include "quiesce/core/stop_machine.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "machine_driver.hpp"
#include "quiesce/log/fact_words.hpp"

using namespace quiesce;

namespace {

constexpr pid_t kMain = 10;
constexpr WallSeconds kWallT0 = 1'700'000'000.0;

int exited_with(int code) {
  return code << 8;
}
int killed_by(int sig) {
  return sig;
}

MachineConfig sidekiq_config() {
  MachineConfig c;
  c.stop_timeout = Duration{30'000};
  c.sidekiq_timeout = Duration{10'000};
  c.shutdown_margin = Duration{5'000};
  c.command_runs_sidekiq = true;
  return c;
}

struct Harness : testing::MachineDriver {
  explicit Harness(MachineConfig c = sidekiq_config()) : MachineDriver(std::move(c)) {
    step(ev::Started{Instant{0}, kMain});
  }

  std::vector<Action>& signal(int signo, std::int64_t at_ms, WallSeconds wall = kWallT0) {
    return step(ev::SignalReceived{Instant{at_ms}, wall, signo});
  }
  std::vector<Action>& found(std::vector<FoundProcess> f, std::int64_t at_ms) {
    return step(ev::SidekiqsFound{Instant{at_ms}, std::move(f)});
  }
  std::vector<Action>& reading(std::vector<ProcessReading> r, std::int64_t at_ms) {
    return step(ev::Readings{Instant{at_ms}, std::move(r)});
  }
  std::vector<Action>& timer(TimerId id, std::int64_t at_ms) {
    return step(ev::TimerFired{Instant{at_ms}, id});
  }
  std::vector<Action>& reaped(std::vector<std::pair<pid_t, int>> exits, bool others,
                              std::int64_t at_ms) {
    return step(ev::Reaped{Instant{at_ms}, std::move(exits), others});
  }

  bool sent(int signo, act::Signal::To to) const {
    auto s = all<act::Signal>();
    return std::any_of(s.begin(), s.end(),
                       [&](const act::Signal& x) { return x.signo == signo && x.to == to; });
  }
  std::vector<pid_t> pids_sent(int signo) const {
    for (const auto& s : all<act::Signal>()) {
      if (s.signo == signo && s.to == act::Signal::To::Pids) return s.pids;
    }
    return {};
  }
  std::optional<int> exit_code() const {
    auto e = all<act::Exit>();
    if (e.empty()) return std::nullopt;
    return e.front().code;
  }
  std::vector<Fact> facts() const {
    std::vector<Fact> out;
    for (const auto& t : all<act::Tell>()) out.push_back(t.fact);
    return out;
  }
  bool logged(const std::string& event) const {
    auto all_facts = facts();
    return std::any_of(all_facts.begin(), all_facts.end(),
                       [&](const Fact& f) { return event_name(f) == event; });
  }
  std::optional<TermReason> reason_of_term() const {
    for (const auto& t : told<fact::TermSent>()) return t.reason;
    return std::nullopt;
  }
};

ProcessReading heartbeat(pid_t pid, WallSeconds beat, bool quiet, int busy) {
  ProcessReading r;
  r.pid = pid;
  r.heartbeat = HeartbeatReading{"host:" + std::to_string(pid) + ":abc", beat, quiet, busy, {}};
  return r;
}

ProcessReading title(pid_t pid, int busy, bool stopping) {
  ProcessReading r;
  r.pid = pid;
  r.title = TitleReading{"6.4.1", busy, 10, stopping};
  return r;
}

ProcessReading gone(pid_t pid) {
  ProcessReading r;
  r.pid = pid;
  r.alive = false;
  return r;
}

}  // namespace

TEST_CASE("signals other than TERM and INT are forwarded to the child, rewritten if asked") {
  auto config = sidekiq_config();
  config.rewrite[SIGUSR1] = SIGQUIT;
  config.on_tstp = OnTstp::Forward;  // tini's way: the default quiets (quiet_test.cpp)
  Harness h(config);
  h.signal(SIGHUP, 5);
  CHECK(h.sent(SIGHUP, act::Signal::To::Child));
  h.signal(SIGUSR1, 6);
  CHECK(h.sent(SIGQUIT, act::Signal::To::Child));
  CHECK_FALSE(h.sent(SIGUSR1, act::Signal::To::Child));
  h.signal(SIGTSTP, 7);
  CHECK(h.sent(SIGTSTP, act::Signal::To::Child));
  CHECK(h.machine.phase() == StopMachine::Phase::Running);
}

TEST_CASE("with -g, signals go to the child's process group") {
  auto config = sidekiq_config();
  config.process_group = true;
  Harness h(config);
  h.signal(SIGUSR2, 1);
  CHECK(h.sent(SIGUSR2, act::Signal::To::ChildGroup));
}

TEST_CASE("drain never: TERM is forwarded like any signal") {
  auto config = sidekiq_config();
  config.drain = DrainMode::Never;
  Harness h(config);
  h.signal(SIGTERM, 1);
  CHECK(h.sent(SIGTERM, act::Signal::To::Child));
  CHECK(h.all<act::FindSidekiqs>().empty());
  CHECK(h.machine.phase() == StopMachine::Phase::Running);
}

TEST_CASE("first SIGTERM: plan, timers at B-T-M and B-1s, then TSTP to the found processes") {
  Harness h;
  h.signal(SIGTERM, 1'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Finding);
  CHECK_FALSE(h.logged("stop_plan"));  // said once there is a Sidekiq to stop
  auto timers = h.all<act::ArmTimer>();
  REQUIRE(timers.size() == 2);
  CHECK(timers[0].id == TimerId::Term);
  CHECK(timers[0].at == Instant{1'000 + 15'000});
  CHECK(timers[1].id == TimerId::Kill);
  CHECK(timers[1].at == Instant{1'000 + 29'000});
  CHECK(h.all<act::FindSidekiqs>().size() == 1);
  CHECK(h.all<act::Signal>().empty());  // nothing signalled before we know whom

  h.found({{21, FoundBy::Title, ""}, {22, FoundBy::Title, ""}}, 1'010);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  CHECK(h.logged("stop_plan"));
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{21, 22});
  CHECK_FALSE(h.sent(SIGTSTP, act::Signal::To::ChildGroup));
  auto watch = h.all<act::Watch>();
  REQUIRE(watch.size() == 1);
  CHECK(watch[0].targets.size() == 2);
  CHECK(watch[0].since == kWallT0);
}

TEST_CASE("during the drain, titles are read again and Redis asked again while a name is missing") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 5);
  // Sooner than the interval: no new search.
  h.reading({title(21, 1, true)}, 1'000);
  CHECK(h.all<act::FindSidekiqs>().empty());
  // Known by its title alone (its first heartbeat had not reached Redis at
  // the SIGTERM): Redis is asked again.
  h.reading({title(21, 1, true)}, 2'600);
  auto again = h.all<act::FindSidekiqs>();
  REQUIRE(again.size() == 1);
  CHECK(again[0].in_redis);
  // Redis names it now: the watch carries the identity, no second TSTP.
  h.found({{21, FoundBy::Redis, "h:21:x"}}, 2'700);
  CHECK(h.pids_sent(SIGTSTP).empty());
  auto watch = h.all<act::Watch>();
  REQUIRE(watch.size() == 1);
  REQUIRE(watch[0].targets.size() == 1);
  CHECK(watch[0].targets[0].identity == "h:21:x");
  // Named: only the titles are looked at again.
  h.reading({title(21, 1, true)}, 5'200);
  again = h.all<act::FindSidekiqs>();
  REQUIRE(again.size() == 1);
  CHECK_FALSE(again[0].in_redis);
}

TEST_CASE("a Sidekiq whose title shows up after the SIGTERM still gets its TSTP") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 5);
  h.reading({title(21, 1, false)}, 2'600);
  REQUIRE(h.all<act::FindSidekiqs>().size() == 1);
  h.found({{21, FoundBy::Title, ""}, {23, FoundBy::Title, ""}}, 2'600);
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{23});
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
}

TEST_CASE("after TERM the search goes on: a Sidekiq started again gets TERM at once") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Redis, "h:21:x"}}, 5);
  h.timer(TimerId::Term, 15'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  // The first Sidekiq exits; its supervisor (the wrapper) starts another.
  h.reading({gone(21)}, 16'000);
  auto again = h.all<act::FindSidekiqs>();
  REQUIRE(again.size() == 1);
  CHECK_FALSE(again[0].in_redis);
  h.found({}, 16'010);  // not started again yet
  h.reading({gone(21)}, 17'600);
  CHECK(h.all<act::FindSidekiqs>().empty());  // once per interval
  h.reading({gone(21)}, 18'600);
  REQUIRE(h.all<act::FindSidekiqs>().size() == 1);
  h.found({{33, FoundBy::Title, ""}}, 18'610);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{33});
  CHECK(h.pids_sent(SIGCONT) == std::vector<pid_t>{33});
  CHECK(h.pids_sent(SIGTSTP).empty());
  auto terms = h.told<fact::TermSent>();
  REQUIRE(terms.size() == 1);
  CHECK(terms[0].target == TermTarget::LateFound);
  REQUIRE(h.all<act::Watch>().size() == 1);
  CHECK(h.all<act::Watch>()[0].targets.size() == 2);
  // Known by its title alone: Redis is asked again at the next search.
  h.reading({gone(21), title(33, 0, false)}, 21'200);
  again = h.all<act::FindSidekiqs>();
  REQUIRE(again.size() == 1);
  CHECK(again[0].in_redis);
  // It exits, the wrapper too: the stop ends with the wrapper's status.
  h.reaped({{33, exited_with(0)}, {kMain, exited_with(0)}}, false, 22'000);
  CHECK(h.exit_code() == 0);
}

TEST_CASE("no title at the SIGTERM: Redis is asked before deciding there is no Sidekiq") {
  auto config = sidekiq_config();
  config.consult_redis = true;
  Harness h(config);
  h.signal(SIGTERM, 0);
  // /proc shows no title yet; Redis has not answered.
  h.step(ev::SidekiqsFound{Instant{2}, {}, false});
  CHECK(h.machine.phase() == StopMachine::Phase::Finding);
  CHECK(h.all<act::Signal>().empty());
  CHECK_FALSE(h.logged("sidekiq_fallback"));
  // Redis names the main child: its identity is drained, not a guess.
  h.found({{kMain, FoundBy::Redis, "h:10:x"}}, 40);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{kMain});
  CHECK_FALSE(h.logged("sidekiq_fallback"));
}

TEST_CASE("no title and nothing in Redis: then the fallback decides") {
  auto config = sidekiq_config();
  config.consult_redis = true;
  Harness h(config);
  h.signal(SIGTERM, 0);
  h.step(ev::SidekiqsFound{Instant{2}, {}, false});
  h.step(ev::SidekiqsFound{Instant{30}, {}, true});
  CHECK(h.logged("sidekiq_fallback"));
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{kMain});

  // Without a Redis worth asking, the /proc answer decides at once.
  Harness plain;
  plain.signal(SIGTERM, 0);
  plain.step(ev::SidekiqsFound{Instant{2}, {}, false});
  CHECK(plain.logged("sidekiq_fallback"));
}

TEST_CASE("no room to drain while Redis is still asked: TERM waits for the answer") {
  // B - T - M <= 0: the TERM timer fires at the SIGTERM, before Redis says
  // whether a Sidekiq runs. Nothing is known to send it to yet.
  auto config = sidekiq_config();
  config.consult_redis = true;
  config.sidekiq_timeout = Duration{25'000};
  Harness h(config);
  h.signal(SIGTERM, 0);
  h.step(ev::SidekiqsFound{Instant{2}, {}, false});
  h.timer(TimerId::Term, 3);
  CHECK(h.all<act::Signal>().empty());
  CHECK(h.told<fact::TermSent>().empty());
  CHECK(h.machine.phase() == StopMachine::Phase::Finding);

  SUBCASE("Redis names nothing: the fallback decides, with no TERM to nobody") {
    h.step(ev::SidekiqsFound{Instant{1'000}, {}, true});
    CHECK(h.logged("sidekiq_fallback"));
    CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{kMain});
    for (const auto& t : h.told<fact::TermSent>()) CHECK_FALSE(t.pids.empty());
  }
  SUBCASE("Redis names a Sidekiq: it gets the TERM that is due, at once") {
    h.found({{kMain, FoundBy::Redis, "h:10:x"}}, 1'000);
    CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{kMain});
    CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  }
}

TEST_CASE("embedded Sidekiq (info.embedded): never TSTP; the stop goes to the main child") {
  auto config = sidekiq_config();
  config.consult_redis = true;
  Harness h(config);
  h.signal(SIGTERM, 0);
  h.step(ev::SidekiqsFound{Instant{2}, {}, false});
  FoundProcess puma{kMain, FoundBy::Redis, "h:10:x", true, "7.3.2"};
  h.found({puma}, 40);
  CHECK(h.pids_sent(SIGTSTP).empty());
  CHECK_FALSE(h.sent(SIGTSTP, act::Signal::To::Child));
  CHECK(h.sent(SIGTERM, act::Signal::To::Child));
  CHECK(h.machine.phase() == StopMachine::Phase::Forwarding);
  auto told = h.told<fact::EmbeddedSidekiq>();
  REQUIRE(told.size() == 1);
  CHECK(told[0].pids == std::vector<pid_t>{kMain});
  CHECK(h.all<act::CancelTimer>().size() == 2);
  CHECK_FALSE(h.logged("sidekiq_fallback"));
  CHECK_FALSE(h.logged("no_sidekiq"));
  CHECK(word(Fact{told[0]}).message.find("embedded") != std::string::npos);
  // The main child exits: quiesce exits with its status, as tini would.
  h.reaped({{kMain, exited_with(0)}}, false, 9'000);
  CHECK(h.exit_code() == 0);
}

TEST_CASE("an embedded Sidekiq beside worker processes is left out of the drain") {
  Harness h;
  h.signal(SIGTERM, 0);
  FoundProcess puma{30, FoundBy::Redis, "h:30:x", true, "8.1.7"};
  h.found({{21, FoundBy::Redis, "h:21:y"}, puma}, 5);
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{21});
  CHECK(h.logged("sidekiq_embedded"));
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  REQUIRE(h.all<act::Watch>().size() == 1);
  CHECK(h.all<act::Watch>()[0].targets.size() == 1);
  // Found again later: said once.
  h.reading({title(21, 1, true)}, 2'600);
  h.found({{21, FoundBy::Redis, "h:21:y"}, puma}, 2'610);
  CHECK_FALSE(h.logged("sidekiq_embedded"));
  CHECK(h.pids_sent(SIGTSTP).empty());
}

TEST_CASE("drained means a beat after t0 that says quiet and busy 0") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Redis, "h:21:x"}}, 5);

  // A beat from before the TSTP proves nothing, even with busy 0.
  h.reading({heartbeat(21, kWallT0 - 1, false, 0)}, 500);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  // After t0 but not yet quiet: the process may still pick up work.
  h.reading({heartbeat(21, kWallT0 + 1, false, 0)}, 1'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  // Quiet but busy.
  h.reading({heartbeat(21, kWallT0 + 2, true, 3)}, 2'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  CHECK(h.logged("drain_progress"));
  // The same beat read again is not progress: no new log line.
  h.reading({heartbeat(21, kWallT0 + 2, true, 3)}, 2'500);
  CHECK_FALSE(h.logged("drain_progress"));

  h.reading({heartbeat(21, kWallT0 + 7, true, 0)}, 7'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
  CHECK(h.pids_sent(SIGCONT) == std::vector<pid_t>{21});
  CHECK(h.reason_of_term() == TermReason::Drained);
  CHECK(h.all<act::CancelTimer>().size() == 1);
}

TEST_CASE("a title that says stopping with 0 busy is a drain too") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 5);
  h.reading({title(21, 2, false)}, 500);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  h.reading({title(21, 1, true)}, 5'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  h.reading({title(21, 0, true)}, 10'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  CHECK(h.reason_of_term() == TermReason::Drained);
}

TEST_CASE("one heartbeat, one progress line: the title waits for Redis while Redis answers") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Redis, "host:21:abc"}}, 5);
  auto both = [](WallSeconds beat, int heartbeat_busy, int title_busy) {
    ProcessReading r = heartbeat(21, beat, true, heartbeat_busy);
    r.title = title(21, title_busy, true).title;
    return r;
  };
  // Retitled at the new beat, but Redis still holds the one before the TSTP.
  h.reading({both(kWallT0 - 1, 2, 1)}, 5'000);
  CHECK_FALSE(h.logged("drain_progress"));
  // Redis has the new beat half a second later: that is the line.
  h.reading({both(kWallT0 + 5, 1, 1)}, 5'500);
  CHECK(h.logged("drain_progress"));
  h.reading({both(kWallT0 + 5, 1, 1)}, 6'000);
  CHECK_FALSE(h.logged("drain_progress"));

  // Redis goes quiet (down or hung): the title tells the progress alone.
  h.reading({title(21, 0, true)}, 10'000);
  CHECK(h.logged("drain_progress"));
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
}

TEST_CASE("every process must be drained or gone; a process that exits counts as drained") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}, {22, FoundBy::Title, ""}}, 5);
  h.reading({title(21, 0, true), title(22, 1, true)}, 5'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  h.reading({title(21, 0, true), gone(22)}, 6'000);
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  // The gone process is not signalled.
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
}

TEST_CASE("no drain in time: TERM at t0 + B - T - M, SIGKILL at t0 + B - 1s") {
  Harness h;
  h.signal(SIGTERM, 100);
  h.found({{21, FoundBy::Title, ""}}, 110);
  h.reading({title(21, 4, true)}, 10'000);
  h.timer(TimerId::Term, 15'100);
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  CHECK(h.reason_of_term() == TermReason::Deadline);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});

  // A late Term timer or reading changes nothing once TERM went out.
  h.timer(TimerId::Term, 15'200);
  CHECK(h.all<act::Signal>().empty());

  h.timer(TimerId::Kill, 29'100);
  CHECK(h.sent(SIGKILL, act::Signal::To::Descendants));
  CHECK(h.logged("kill_sent"));
  CHECK(h.exit_code() == 128 + SIGKILL);
  CHECK(h.machine.phase() == StopMachine::Phase::Exited);
  // Nothing happens after exit.
  CHECK(h.signal(SIGTERM, 29'200).empty());
}

TEST_CASE("Sidekiq exits after TERM: quiesce exits with the main child's status") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{kMain, FoundBy::Title, ""}}, 5);
  h.timer(TimerId::Term, 15'000);
  // /proc may show it gone before SIGCHLD arrives: that is no reason to TERM it again.
  h.reading({gone(kMain)}, 16'900);
  CHECK(h.all<act::Signal>().empty());
  h.reaped({{kMain, exited_with(0)}}, false, 17'000);
  CHECK(h.exit_code() == 0);
  CHECK(h.logged("stop_done"));
}

TEST_CASE("a second SIGTERM or SIGINT during the drain sends TERM at once") {
  for (int second : {SIGTERM, SIGINT}) {
    Harness h;
    h.signal(SIGINT, 0);
    h.found({{21, FoundBy::Title, ""}}, 5);
    h.signal(second, 2'000);
    CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
    CHECK(h.reason_of_term() == TermReason::SecondSignal);
    CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
    // A third is simply forwarded.
    h.signal(SIGTERM, 3'000);
    CHECK(h.sent(SIGTERM, act::Signal::To::Child));
  }
}

TEST_CASE("no room to drain (B - T - M <= 0): TERM right after the scan, without TSTP") {
  auto config = sidekiq_config();
  config.stop_timeout = Duration{30'000};
  config.sidekiq_timeout = Duration{25'000};
  config.shutdown_margin = Duration{5'000};
  Harness h(config);
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  CHECK(h.reason_of_term() == TermReason::NoRoom);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
  CHECK(h.pids_sent(SIGCONT) == std::vector<pid_t>{21});
  CHECK(h.pids_sent(SIGTSTP).empty());
  CHECK_FALSE(h.logged("tstp_sent"));
  CHECK(h.logged("stop_plan"));
  CHECK(h.logged("sidekiq_found"));
  Harness fallback(config);  // the main child drained as Sidekiq: no TSTP either
  fallback.signal(SIGTERM, 0);
  fallback.found({}, 1);
  CHECK(fallback.reason_of_term() == TermReason::NoRoom);
  CHECK(fallback.pids_sent(SIGTERM) == std::vector<pid_t>{kMain});
  CHECK(fallback.pids_sent(SIGTSTP).empty());
}

TEST_CASE("nothing found, command runs sidekiq: the main child is drained") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({}, 1);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{kMain});
  CHECK(h.logged("sidekiq_fallback"));
}

TEST_CASE("nothing found, not a Sidekiq command: TERM forwarded as tini would, no timers") {
  auto config = sidekiq_config();
  config.command_runs_sidekiq = false;
  Harness h(config);
  h.signal(SIGTERM, 0);
  h.found({}, 1);
  CHECK(h.machine.phase() == StopMachine::Phase::Forwarding);
  CHECK(h.sent(SIGTERM, act::Signal::To::Child));
  CHECK(h.all<act::CancelTimer>().size() == 2);
  CHECK(h.pids_sent(SIGTSTP).empty());
  // The timers were cancelled; if one fired anyway it does nothing.
  h.timer(TimerId::Kill, 29'000);
  CHECK(h.all<act::Signal>().empty());
}

TEST_CASE("drain always: even a non-Sidekiq command gets the stop") {
  auto config = sidekiq_config();
  config.command_runs_sidekiq = false;
  config.drain = DrainMode::Always;
  Harness h(config);
  h.signal(SIGTERM, 0);
  h.found({}, 1);
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{kMain});
}

TEST_CASE("Redis finds more: TSTP to the new ones only; after TERM, late ones get TERM") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  h.found({{21, FoundBy::Redis, "h:21:a"}, {22, FoundBy::Redis, "h:22:b"}}, 50);
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{22});
  auto watch = h.all<act::Watch>();
  REQUIRE(watch.size() == 1);
  CHECK(watch[0].targets[0].identity == "h:21:a");

  h.timer(TimerId::Term, 15'000);
  h.found({{23, FoundBy::Redis, "h:23:c"}}, 15'100);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{23});
  CHECK(h.pids_sent(SIGTSTP).empty());
}

TEST_CASE("a Redis answer after the stop ended, or with nothing new, changes nothing") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  h.found({{21, FoundBy::Title, ""}}, 60);
  CHECK(h.last.empty());
  h.timer(TimerId::Term, 15'000);
  h.reaped({{21, exited_with(0)}, {kMain, exited_with(0)}}, false, 16'000);
  REQUIRE(h.exit_code() == 0);
  REQUIRE(h.machine.phase() == StopMachine::Phase::Exited);
  CHECK(h.found({{22, FoundBy::Redis, "h:22:b"}}, 16'100).empty());
  auto plain = sidekiq_config();
  plain.command_runs_sidekiq = false;
  Harness forwarded(plain);  // a stop that ended as tini's: a late Redis answer
  forwarded.signal(SIGTERM, 0);
  forwarded.found({}, 1);
  REQUIRE(forwarded.machine.phase() == StopMachine::Phase::Forwarding);
  CHECK(forwarded.found({{21, FoundBy::Redis, "h:21:a"}}, 50).empty());
  Harness idle;  // before any stop
  CHECK(idle.found({{21, FoundBy::Redis, "h:21:a"}}, 5).empty());
}

TEST_CASE("main child exits alone: exit with its code, -e remaps, signals give 128+N") {
  Harness h;
  h.reaped({{kMain, exited_with(3)}}, false, 10);
  CHECK(h.exit_code() == 3);

  Harness k;
  k.reaped({{kMain, killed_by(SIGSEGV)}}, false, 10);
  CHECK(k.exit_code() == 128 + SIGSEGV);

  auto config = sidekiq_config();
  config.remap_exit = {143};
  Harness r(config);
  r.reaped({{kMain, killed_by(SIGTERM)}}, false, 10);
  CHECK(r.exit_code() == 0);
}

TEST_CASE("main child exits while others remain: TERM, CONT, exit_grace, then SIGKILL") {
  auto config = sidekiq_config();
  config.exit_grace = Duration{4'000};
  Harness h(config);
  h.reaped({{kMain, killed_by(SIGTERM)}}, true, 100);
  CHECK_FALSE(h.exit_code());
  CHECK(h.sent(SIGTERM, act::Signal::To::Descendants));
  CHECK(h.sent(SIGCONT, act::Signal::To::Descendants));
  auto timers = h.all<act::ArmTimer>();
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].id == TimerId::Grace);
  CHECK(timers[0].at == Instant{4'100});

  SUBCASE("the others finish in time") {
    h.reaped({{77, exited_with(0)}}, false, 2'100);
    CHECK(h.exit_code() == 143);
  }
  SUBCASE("they do not") {
    h.timer(TimerId::Grace, 4'100);
    CHECK(h.sent(SIGKILL, act::Signal::To::Descendants));
    CHECK(h.exit_code() == 143);
  }
  SUBCASE("signals now go to the survivors") {
    h.signal(SIGUSR1, 200);
    CHECK(h.sent(SIGUSR1, act::Signal::To::Descendants));
  }
}

TEST_CASE("a SIGTERM after the main child died is forwarded to the survivors, not drained") {
  Harness h;
  h.reaped({{kMain, exited_with(0)}}, true, 100);
  h.signal(SIGTERM, 200);
  CHECK(h.sent(SIGTERM, act::Signal::To::Descendants));
  CHECK(h.all<act::FindSidekiqs>().empty());
}

TEST_CASE("during a stop the budget, not exit_grace, bounds a wrapper's survivors") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  // sh -c wrapper dies; Sidekiq (21) keeps draining.
  h.reaped({{kMain, killed_by(SIGTERM)}}, true, 500);
  CHECK_FALSE(h.exit_code());
  CHECK(h.all<act::ArmTimer>().empty());
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  h.reading({title(21, 0, true)}, 5'000);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});  // the dead wrapper is not signalled
  h.reaped({{21, exited_with(0)}}, false, 6'000);
  CHECK(h.exit_code() == 143);
}

TEST_CASE("reaped orphans are logged, as warnings with -w") {
  auto config = sidekiq_config();
  config.warn_on_reap = true;
  Harness h(config);
  h.reaped({{99, exited_with(0)}}, true, 5);
  auto facts = h.facts();
  REQUIRE(facts.size() == 1);
  REQUIRE(std::holds_alternative<fact::Reaped>(facts[0]));
  CHECK(std::get<fact::Reaped>(facts[0]).pid == 99);
  CHECK(std::get<fact::Reaped>(facts[0]).warn);
  CHECK(level_of(facts[0]) == Level::Warn);
  CHECK_FALSE(h.exit_code());

  Harness quiet;  // without -w, the same reap is only for debug logs
  quiet.reaped({{99, exited_with(0)}}, true, 5);
  REQUIRE(quiet.facts().size() == 1);
  CHECK(level_of(quiet.facts()[0]) == Level::Debug);
}

TEST_CASE("a short budget still kills before it ends, and TERM never comes after the kill") {
  auto config = sidekiq_config();
  config.stop_timeout = Duration{1'000};
  config.sidekiq_timeout = Duration{0};
  config.shutdown_margin = Duration{0};
  Harness h(config);
  h.signal(SIGTERM, 0);
  CHECK(h.machine.kill_deadline() == Instant{500});
  CHECK(h.machine.term_deadline() <= h.machine.kill_deadline());
  h.found({{21, FoundBy::Title, ""}}, 1);
  h.timer(TimerId::Term, 500);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
}

TEST_CASE("drain progress names the jobs Redis reports") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Redis, "h:21:a"}}, 1);
  auto r = heartbeat(21, kWallT0 + 5, true, 1);
  r.heartbeat->jobs.push_back({"HardJob", "abc123", "critical", 42.0});
  h.reading({r}, 5'000);
  auto progress = h.told<fact::DrainProgress>();
  REQUIRE(progress.size() == 1);
  CHECK(progress[0].busy == 1);
  REQUIRE(progress[0].jobs.size() == 1);
  CHECK(progress[0].jobs[0].pid == 21);
  CHECK(progress[0].jobs[0].job.jid == "abc123");
  auto line = word(Fact{progress[0]});
  CHECK(line.event == "drain_progress");
  CHECK(line.fields["busy"] == 1);
  CHECK(line.fields["jobs"][0]["jid"] == "abc123");
  CHECK(line.message.find("HardJob") != std::string::npos);
}

TEST_CASE("a wrapper shell is left alone until Sidekiq is gone, then gets the TERM") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  h.timer(TimerId::Term, 15'000);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
  // Sidekiq, the shell's child, exits: the shell gets a moment to finish by itself...
  h.reading({gone(21)}, 17'000);
  CHECK(h.all<act::Signal>().empty());
  auto timers = h.all<act::ArmTimer>();
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].id == TimerId::Wrapper);
  CHECK(timers[0].at == Instant{18'000});
  h.reading({gone(21)}, 17'500);
  CHECK(h.all<act::ArmTimer>().empty());  // armed once
  // ...and if it has not, the orchestrator's TERM is passed on.
  h.timer(TimerId::Wrapper, 18'000);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{kMain});
  CHECK(h.pids_sent(SIGCONT) == std::vector<pid_t>{kMain});
  auto term = h.told<fact::TermSent>();
  REQUIRE(term.size() == 1);
  CHECK(term[0].target == TermTarget::Wrapper);
  CHECK(word(Fact{term[0]}).fields["reason"] == "forward");
  h.reaped({{kMain, exited_with(0)}}, false, 18'100);
  CHECK(h.exit_code() == 0);
}

TEST_CASE("a wrapper that finishes within its grace gets no TERM") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  h.timer(TimerId::Term, 15'000);
  h.reading({gone(21)}, 17'000);
  h.reaped({{kMain, exited_with(0)}}, false, 17'050);
  CHECK(h.exit_code() == 0);
  CHECK(h.all<act::Signal>().empty());
}

TEST_CASE("the shell exits by itself after Sidekiq: no TERM for it, its own status") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  h.reading({title(21, 0, true)}, 5'000);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
  h.reaped({{kMain, exited_with(0)}}, false, 6'000);
  CHECK(h.exit_code() == 0);
}

TEST_CASE("after TERM, what outlives the main child gets TERM too, and the budget bounds it") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{kMain, FoundBy::Title, ""}}, 1);
  h.timer(TimerId::Term, 15'000);
  h.reaped({{kMain, exited_with(0)}}, true, 16'000);
  CHECK(h.sent(SIGTERM, act::Signal::To::Descendants));
  CHECK(h.sent(SIGCONT, act::Signal::To::Descendants));
  CHECK(h.all<act::ArmTimer>().empty());  // no exit_grace during a stop
  CHECK_FALSE(h.exit_code());
  h.timer(TimerId::Kill, 29'000);
  CHECK(h.sent(SIGKILL, act::Signal::To::Descendants));
  CHECK(h.exit_code() == 0);
}

TEST_CASE("readings from before the TSTP are neither drain nor progress") {
  Harness h;
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 1);
  h.reading({title(21, 0, false)}, 100);  // written before TSTP: "0 busy" means nothing yet
  CHECK_FALSE(h.logged("drain_progress"));
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
}

namespace {

MachineConfig learnable_config() {
  MachineConfig c = sidekiq_config();
  c.sidekiq_timeout_learnable = true;
  c.sidekiq_timeout = Duration{25'000};  // assumed: B 60, M 5, so TERM at 30s
  c.stop_timeout = Duration{60'000};
  return c;
}

std::vector<Action>& learned(Harness& h, pid_t pid, std::int64_t timeout_ms, std::int64_t at_ms) {
  return h.step(ev::SidekiqTimeoutRead{Instant{at_ms}, pid, Duration{timeout_ms}, "test"});
}

}  // namespace

TEST_CASE("a Sidekiq found during the stop gets its own config file read, when T may be learned") {
  Harness h(learnable_config());
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 10);
  auto reads = h.all<act::ReadSidekiqTimeout>();
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].pids == std::vector<pid_t>{21});
  h.found({{21, FoundBy::Title, ""}, {22, FoundBy::Title, ""}}, 2'500);
  reads = h.all<act::ReadSidekiqTimeout>();
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].pids == std::vector<pid_t>{22});  // only the new one

  Harness fixed;  // T set by the operator or the command's -t: nothing to read
  fixed.signal(SIGTERM, 0);
  fixed.found({{21, FoundBy::Title, ""}}, 10);
  CHECK(fixed.all<act::ReadSidekiqTimeout>().empty());
  learned(fixed, 21, 8'000, 20);
  CHECK(fixed.last.empty());
  CHECK(fixed.machine.term_deadline() == Instant{15'000});
}

TEST_CASE("a longer T read from Sidekiq's own file moves the TERM earlier, the kill stays") {
  Harness h(learnable_config());
  h.signal(SIGTERM, 1'000);
  h.found({{21, FoundBy::Title, ""}}, 1'010);
  CHECK(h.machine.term_deadline() == Instant{1'000 + 30'000});
  learned(h, 21, 40'000, 1'020);
  CHECK(h.machine.term_deadline() == Instant{1'000 + 15'000});
  CHECK(h.machine.kill_deadline() == Instant{1'000 + 59'000});
  auto timers = h.all<act::ArmTimer>();
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].id == TimerId::Term);
  CHECK(timers[0].at == Instant{16'000});
  CHECK(h.logged("sidekiq_timeout_changed"));
  // Told with where it came from, and the new TERM time.
  bool said = false;
  for (const auto& a : h.last) {
    if (auto* t = std::get_if<act::Tell>(&a)) {
      if (auto* c = std::get_if<fact::SidekiqTimeoutChanged>(&t->fact)) {
        said = true;
        CHECK(c->from == Duration{25'000});
        CHECK(c->to == Duration{40'000});
        CHECK(c->source == "test");
        CHECK(c->term_at == Duration{15'000});
      }
    }
  }
  CHECK(said);
  // The same again changes nothing.
  learned(h, 21, 40'000, 1'030);
  CHECK(h.last.empty());
}

TEST_CASE("a T read late enough that its TERM is already due sends the TERM at once") {
  Harness h(learnable_config());
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 10);
  learned(h, 21, 50'000, 8'000);  // TERM due at 60 - 50 - 5 = 5s: past
  CHECK(h.machine.phase() == StopMachine::Phase::Terminating);
  CHECK(h.pids_sent(SIGTERM) == std::vector<pid_t>{21});
  // Once TERM is out, a T read later moves nothing.
  learned(h, 21, 2'000, 9'000);
  CHECK(h.all<act::Signal>().empty());
  CHECK(h.all<act::ArmTimer>().empty());
}

TEST_CASE("a shorter T read lets the drain run longer; the longest of several processes counts") {
  Harness h(learnable_config());
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}, {22, FoundBy::Title, ""}}, 10);
  learned(h, 21, 8'000, 20);
  CHECK(h.machine.term_deadline() == Instant{47'000});
  learned(h, 22, 12'000, 30);
  CHECK(h.machine.term_deadline() == Instant{43'000});
  learned(h, 21, 3'000, 40);  // 22's 12s still counts
  CHECK(h.last.empty());
  CHECK(h.machine.term_deadline() == Instant{43'000});
}

TEST_CASE("before any stop, a T from Ruby's reading of the ERB replans quietly for later") {
  Harness h(learnable_config());
  learned(h, 0, 45'000, 500);
  CHECK(h.logged("sidekiq_timeout_changed"));
  CHECK(h.all<act::ArmTimer>().empty());
  h.signal(SIGTERM, 10'000);
  CHECK(h.machine.term_deadline() == Instant{10'000 + 10'000});
  // A running Sidekiq's own file outranks the startup read.
  h.found({{21, FoundBy::Title, ""}}, 10'010);
  learned(h, 21, 20'000, 10'020);
  CHECK(h.machine.term_deadline() == Instant{10'000 + 35'000});
}

TEST_CASE("a TERM due at once waits for the answer about T, which may leave room to drain") {
  MachineConfig c = learnable_config();
  c.stop_timeout = Duration{30'000};  // 30 - 25 - 5: no room with the assumed T
  Harness h(c);
  h.signal(SIGTERM, 0);
  h.found({{21, FoundBy::Title, ""}}, 10);
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  // Neither signal yet: Sidekiq 6.4.1 can die of a TSTP with a TERM right
  // behind it, so the answer decides which one goes.
  CHECK(h.pids_sent(SIGTSTP).empty());
  CHECK(h.pids_sent(SIGTERM).empty());
  learned(h, 21, 3'000, 20);  // Sidekiq's own file: 3s, TERM at 22s
  CHECK(h.pids_sent(SIGTSTP) == std::vector<pid_t>{21});
  CHECK(h.machine.phase() == StopMachine::Phase::Draining);
  CHECK(h.machine.term_deadline() == Instant{22'000});

  Harness unread(c);
  unread.signal(SIGTERM, 0);
  unread.found({{21, FoundBy::Title, ""}}, 10);
  CHECK(unread.pids_sent(SIGTSTP).empty());
  unread.step(ev::SidekiqTimeoutRead{Instant{20}, 21, std::nullopt, ""});
  CHECK(unread.pids_sent(SIGTSTP).empty());  // the TERM goes alone
  CHECK(unread.machine.phase() == StopMachine::Phase::Terminating);
  CHECK(unread.pids_sent(SIGTERM) == std::vector<pid_t>{21});
  CHECK(unread.reason_of_term() == TermReason::NoRoom);
}
