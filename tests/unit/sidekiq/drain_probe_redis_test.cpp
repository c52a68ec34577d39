// DrainProbe against a real redis-server on a free loopback port and a real
// Sidekiq 6.4.1 running tests/sidekiq_app.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "quiesce/redis/client.hpp"
#include "quiesce/sidekiq/drain_probe.hpp"
#include "redis_test_support.hpp"

using namespace quiesce;

namespace {

const std::filesystem::path kApp =
    std::filesystem::path(QUIESCE_SOURCE_DIR) / "tests" / "sidekiq_app";

pid_t spawn(std::vector<std::string> argv, std::vector<std::string> env = {}) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    for (auto& e : env) putenv(e.data());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

void finish(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGCONT);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

bool eventually(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  return done();
}

WallSeconds wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

struct Fixture {
  int port = redis_test::free_port();
  pid_t redis = spawn({"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--loglevel", "warning"});
  std::string url = "redis://127.0.0.1:" + std::to_string(port) + "/0";
  pid_t sidekiq = -1;
  ~Fixture() {
    finish(sidekiq);
    finish(redis);
  }
  // Calls of one command since the last CONFIG RESETSTAT.
  long calls(const std::string& command) {
    std::string cmd = "redis-cli -p " + std::to_string(port) + " INFO commandstats";
    FILE* out = popen(cmd.c_str(), "r");
    std::string text;
    char buf[4096];
    while (out && fgets(buf, sizeof buf, out)) text += buf;
    if (out) pclose(out);
    auto at = text.find("cmdstat_" + command + ":calls=");
    if (at == std::string::npos) return 0;
    return std::atol(text.c_str() + at + command.size() + 15);
  }
  int cli(const std::string& args) {
    std::string cmd = "redis-cli -p " + std::to_string(port) + " " + args + " >/dev/null";
    return std::system(cmd.c_str());
  }
};

}  // namespace

TEST_CASE("drain probe with real Redis and Sidekiq: discovery, drain readings, hung Redis") {
  Fixture fx;
  REQUIRE(eventually([&] { return redis_test::accepts_tcp(fx.port); }));
  const std::string host = hostname();
  const std::string redis_env = "REDIS_URL=" + fx.url;

  fx.sidekiq =
      spawn({"sidekiq", "-r", (kApp / "app.rb").string(), "-c", "3", "-t", "5"}, {redis_env});
  REQUIRE(fx.sidekiq > 0);
  // A previous container's identity with our hostname and Sidekiq's pid,
  // beating still: only started_at tells it apart.
  const std::string stale = host + ":" + std::to_string(fx.sidekiq) + ":ffffffffffff";
  const std::string now_s = std::to_string(static_cast<long long>(wall_now()));
  const std::string old_s = std::to_string(static_cast<long long>(wall_now()) - 3600);
  REQUIRE(fx.cli("SADD processes " + stale) == 0);
  REQUIRE(fx.cli("HSET " + stale + " info '{\"hostname\":\"" + host + "\",\"started_at\":" + old_s +
                 ",\"pid\":" + std::to_string(fx.sidekiq) + "}' beat " + now_s +
                 " quiet false busy 7") == 0);
  const std::string enqueue =
      redis_env + " ruby " + (kApp / "enqueue.rb").string() + " 2x60 >/dev/null";
  REQUIRE(std::system(enqueue.c_str()) == 0);

  uv_loop_t loop;
  uv_loop_init(&loop);
  auto url = std::get<redis::Url>(redis::parse_url(fx.url));
  redis::ClientOptions copts;
  copts.url = url;
  copts.command_timeout = Duration{300};
  std::vector<LogLine> logs;
  auto log = [&](LogLine l) { logs.push_back(std::move(l)); };
  auto* client = new redis::Client(&loop, copts, log);
  client->connect();
  auto* probe = new DrainProbe(&loop, client, ProbeOptions{host, Duration{100}}, log, wall_now);

  // Sidekiq's title appears at its first heartbeat; so does its identity.
  std::vector<FoundProcess> by_title;
  REQUIRE(eventually([&] {
    by_title = probe->find_by_title(getpid());
    return !by_title.empty();
  }));
  CHECK(by_title[0].pid == fx.sidekiq);

  // Ask again until the identity is in Redis (written just after the title).
  std::vector<FoundProcess> found;
  bool waiting = false;
  REQUIRE(run_until(&loop, [&] {
    if (!found.empty()) return true;
    if (!waiting) {
      waiting = true;
      probe->find_in_redis(getpid(), [&](std::vector<FoundProcess> f) {
        found = std::move(f);
        waiting = false;
      });
    }
    return false;
  }));
  REQUIRE(found.size() == 1);
  CHECK(found[0].pid == fx.sidekiq);
  CHECK(found[0].by == FoundBy::Redis);
  CHECK(found[0].identity.starts_with(host + ":" + std::to_string(fx.sidekiq) + ":"));
  CHECK(found[0].identity != stale);

  std::vector<ProcessReading> last;
  int polls = 0;
  probe->watch(found, [&](std::vector<ProcessReading> r) {
    ++polls;
    last = std::move(r);
  });
  auto heartbeat = [&]() -> const HeartbeatReading* {
    return last.empty() || !last[0].heartbeat ? nullptr : &*last[0].heartbeat;
  };
  REQUIRE(run_until(&loop, [&] { return heartbeat() && heartbeat()->busy == 2; }));
  CHECK_FALSE(heartbeat()->quiet);
  CHECK(heartbeat()->identity == found[0].identity);
  CHECK(std::abs(heartbeat()->beat - wall_now()) < 30);
  REQUIRE(heartbeat()->jobs.size() == 2);
  for (const InFlightJob& job : heartbeat()->jobs) {
    CHECK(job.job_class == "SleepJob");
    CHECK(job.queue == "default");
    CHECK(job.jid.size() == 24);
    CHECK(job.running_seconds >= 0);
    CHECK(job.running_seconds < 60);
  }
  REQUIRE(last[0].title);
  CHECK(last[0].alive);

  // TSTP: quiet at the next beat, in Redis and in the title.
  kill(fx.sidekiq, SIGTSTP);
  REQUIRE(run_until(&loop, [&] {
    return heartbeat() && heartbeat()->quiet && last[0].title && last[0].title->stopping;
  }));
  CHECK(heartbeat()->busy == 2);

  // The work hash is read once per beat, not once per poll. Sidekiq itself
  // sends neither HMGET nor HGETALL.
  REQUIRE(fx.cli("CONFIG RESETSTAT") == 0);
  const int before = polls;
  REQUIRE(run_until(&loop, [&] { return polls >= before + 20; }));
  const long hmget = fx.calls("hmget");
  const long hgetall = fx.calls("hgetall");
  CHECK(hmget >= 5);
  CHECK(hmget <= polls - before + 1);
  CHECK(hgetall <= 6);

  // A hung Redis: polls keep coming with the title, without a heartbeat.
  kill(fx.redis, SIGSTOP);
  int title_only = 0;
  REQUIRE(run_until(&loop, [&] {
    if (!last.empty() && !last[0].heartbeat && last[0].title) ++title_only;
    return title_only >= 5;
  }));
  kill(fx.redis, SIGCONT);
  REQUIRE(run_until(&loop, [&] { return heartbeat() != nullptr; }));
  CHECK(heartbeat()->quiet);

  probe->stop();
  const int count = polls;
  kill(fx.sidekiq, SIGKILL);
  waitpid(fx.sidekiq, nullptr, 0);
  fx.sidekiq = -1;
  bool closed = false;
  probe->close();
  delete probe;
  client->close([&] { closed = true; });
  REQUIRE(run_until(&loop, [&] { return closed; }));
  CHECK(polls == count);
  delete client;
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
  }
  CHECK(uv_loop_close(&loop) == 0);
}
