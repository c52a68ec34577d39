#include "quiesce/sidekiq/drain_probe.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "quiesce/sidekiq/title.hpp"

using namespace quiesce;

namespace {

// A ruby process whose title looks like a Sidekiq worker's; USR1 makes it
// quiet, as TSTP makes Sidekiq.
const char* kFakeWorker =
    "$0 = 'sidekiq 6.4.1 app [2 of 5 busy]'; "
    "trap('USR1') { $0 = 'sidekiq 6.4.1 app [0 of 5 busy] stopping' }; "
    "sleep";

struct Child {
  pid_t pid = -1;
  explicit Child(const char* script) {
    pid = fork();
    if (pid == 0) {
      execlp("ruby", "ruby", "-e", script, static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Child() { finish(); }
  void finish() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
};

std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Polls for a condition on /proc; the generous deadline only bounds a hang.
bool eventually(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

WallSeconds wall_now() {
  return static_cast<WallSeconds>(std::time(nullptr));
}

// Runs the loop until done() holds or a generous deadline passes.
bool run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
  }
  return done();
}

// Keeps uv_run(ONCE) from blocking forever when nothing else is active.
struct Ticker {
  uv_timer_t timer;
  explicit Ticker(uv_loop_t* loop) {
    uv_timer_init(loop, &timer);
    uv_timer_start(
        &timer, [](uv_timer_t*) {}, 50, 50);
  }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }
};

void drain_loop(uv_loop_t* loop) {
  while (uv_run(loop, UV_RUN_NOWAIT) != 0) {
  }
}

}  // namespace

TEST_CASE("drain probe: titles of a real child, quiet, then gone") {
  Child worker(kFakeWorker);
  REQUIRE(worker.pid > 0);
  REQUIRE(eventually([&] { return parse_sidekiq_title(cmdline_of(worker.pid)).has_value(); }));

  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<LogLine> logs;
  auto* probe = new DrainProbe(
      &loop, nullptr, ProbeOptions{"host", Duration{50}},
      [&](LogLine l) { logs.push_back(std::move(l)); }, wall_now);

  auto found = probe->find_by_title(getpid());
  REQUIRE(found.size() == 1);
  CHECK(found[0].pid == worker.pid);
  CHECK(found[0].by == FoundBy::Title);
  CHECK(found[0].identity.empty());
  CHECK(probe->find_by_title(worker.pid).empty());

  std::vector<std::vector<ProcessReading>> polls;
  FoundProcess missing{999999, FoundBy::MainChild, {}};
  probe->watch({found[0], missing}, [&](std::vector<ProcessReading> r) { polls.push_back(r); });

  auto last_title = [&]() -> std::optional<TitleReading> {
    if (polls.empty()) return std::nullopt;
    return polls.back()[0].title;
  };
  REQUIRE(run_until(&loop, [&] { return last_title().has_value(); }));
  for (const auto& poll : polls) {
    REQUIRE(poll.size() == 2);
    CHECK(poll[0].pid == worker.pid);
    CHECK(poll[1].pid == 999999);
    CHECK_FALSE(poll[1].alive);
    CHECK_FALSE(poll[0].heartbeat);
  }
  CHECK(polls.back()[0].alive);
  CHECK(last_title()->busy == 2);
  CHECK(last_title()->concurrency == 5);
  CHECK_FALSE(last_title()->stopping);

  kill(worker.pid, SIGUSR1);
  REQUIRE(run_until(&loop, [&] { return last_title() && last_title()->stopping; }));
  CHECK(last_title()->busy == 0);

  // Dead but not reaped (as a grandchild under a shell would be): not alive.
  kill(worker.pid, SIGKILL);
  REQUIRE(run_until(&loop, [&] { return !polls.back()[0].alive; }));
  CHECK_FALSE(polls.back()[0].title);
  CHECK(waitpid(worker.pid, nullptr, WNOHANG) == worker.pid);
  worker.pid = -1;

  // After stop, the timer is quiet: no more polls, however long the loop runs.
  probe->stop();
  const std::size_t count = polls.size();
  Ticker ticker(&loop);
  int ticks = 0;
  uv_timer_t counter;
  uv_timer_init(&loop, &counter);
  counter.data = &ticks;
  uv_timer_start(
      &counter, [](uv_timer_t* t) { ++*static_cast<int*>(t->data); }, 60, 60);
  REQUIRE(run_until(&loop, [&] { return ticks >= 5; }));
  CHECK(polls.size() == count);
  uv_close(reinterpret_cast<uv_handle_t*>(&counter), nullptr);
  ticker.close();
  probe->close();
  delete probe;
  drain_loop(&loop);
  CHECK(uv_loop_close(&loop) == 0);
  CHECK(logs.empty());
}

TEST_CASE("drain probe: a live process that is not Sidekiq has no title") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    DrainProbe probe(&loop, nullptr, ProbeOptions{"host", Duration{50}}, nullptr, wall_now);
    std::vector<ProcessReading> last;
    probe.watch({FoundProcess{getpid(), FoundBy::MainChild, {}}},
                [&](std::vector<ProcessReading> r) { last = r; });
    REQUIRE(run_until(&loop, [&] { return !last.empty(); }));
    REQUIRE(last.size() == 1);
    CHECK(last[0].alive);
    CHECK_FALSE(last[0].title);
    CHECK_FALSE(last[0].heartbeat);
    probe.close();
  }
  drain_loop(&loop);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("drain probe: without a Redis client, discovery answers empty, later") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    DrainProbe probe(&loop, nullptr, ProbeOptions{"host", Duration{50}}, nullptr, wall_now);
    bool called = false;
    std::vector<FoundProcess> result{FoundProcess{}};
    probe.find_in_redis(getpid(), [&](std::vector<FoundProcess> found) {
      called = true;
      result = std::move(found);
    });
    CHECK_FALSE(called);
    REQUIRE(run_until(&loop, [&] { return called; }));
    CHECK(result.empty());

    // stop() cancels an answer not yet given.
    bool late = false;
    probe.find_in_redis(getpid(), [&](std::vector<FoundProcess>) { late = true; });
    probe.stop();
    drain_loop(&loop);
    CHECK_FALSE(late);
    probe.close();
  }
  drain_loop(&loop);
  CHECK(uv_loop_close(&loop) == 0);
}
