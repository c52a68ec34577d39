// The supervisor's three pieces of its own logic, apart from libuv: events
// handled one at a time, the exception firewall, and the filter for
// quiesce's own SIGPIPE.
#include "quiesce/pid1/event_queue.hpp"

#include <doctest/doctest.h>
#include <signal.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "quiesce/pid1/signal_source.hpp"
#include "quiesce/uv/fault.hpp"

using namespace quiesce;

namespace {

int signo_of(const Event& e) {
  return std::get<ev::SignalReceived>(e).signo;
}

ev::SignalReceived sig(int signo) {
  return {Instant{0}, 0, signo};
}

struct Faults {
  std::vector<std::string> seen;
  Faults() {
    uv::set_fault_reporter([this](std::string_view where, std::string_view what) {
      seen.push_back(std::string(where) + ": " + std::string(what));
    });
  }
  ~Faults() { uv::set_fault_reporter(nullptr); }
};

}  // namespace

TEST_CASE("an event posted while one is handled waits until that one is done") {
  std::vector<std::string> trace;
  EventQueue* self = nullptr;
  EventQueue queue([&](const Event& e) {
    int s = signo_of(e);
    trace.push_back("begin " + std::to_string(s));
    if (s == SIGTERM) {
      self->post(sig(SIGUSR1));
      self->post(sig(SIGUSR2));
    }
    trace.push_back("end " + std::to_string(s));
  });
  self = &queue;
  queue.post(sig(SIGTERM));
  CHECK(trace ==
        std::vector<std::string>{"begin 15", "end 15", "begin 10", "end 10", "begin 12", "end 12"});
}

// Records what it handles; on SIGTERM it posts SIGUSR1, then does `then`.
struct Recorder {
  std::vector<int> handled;
  std::function<void(EventQueue&)> then;
  EventQueue queue{[this](const Event& e) {
    handled.push_back(signo_of(e));
    if (signo_of(e) != SIGTERM) return;
    queue.post(sig(SIGUSR1));
    if (then) then(queue);
  }};
};

TEST_CASE("nothing is handled once the queue is closed, not even what was waiting") {
  Recorder r;
  r.then = [](EventQueue& q) { q.close(); };  // the machine said exit
  r.queue.post(sig(SIGTERM));
  r.queue.post(sig(SIGHUP));
  CHECK(r.handled == std::vector<int>{SIGTERM});
  CHECK(r.queue.closed());
}

TEST_CASE("a handler that throws is reported and the queue goes on") {
  Faults faults;
  Recorder r;
  r.then = [](EventQueue&) { throw std::runtime_error("/proc vanished"); };
  CHECK_NOTHROW(r.queue.post(sig(SIGTERM)));
  CHECK(r.handled == std::vector<int>{SIGTERM, SIGUSR1});
  REQUIRE(faults.seen.size() == 1);
  CHECK(faults.seen[0] == "handling an event: /proc vanished");
}

TEST_CASE("the firewall catches what is not a std::exception too") {
  Faults faults;
  CHECK_NOTHROW(uv::guard("a test", [] { throw 42; }));
  REQUIRE(faults.seen.size() == 1);
  CHECK(faults.seen[0].starts_with("a test: "));
  uv::guard("a test", [] {});
  CHECK(faults.seen.size() == 1);  // nothing thrown, nothing reported
}

TEST_CASE("only quiesce's own SIGPIPE is kept from the workload") {
  CHECK(is_own_sigpipe(SIGPIPE, 1, 1));
  CHECK_FALSE(is_own_sigpipe(SIGPIPE, 42, 1));  // from outside: forwarded
  CHECK_FALSE(is_own_sigpipe(SIGTERM, 1, 1));   // any other signal from itself: forwarded
}
