#pragma once
// Real servers for the Redis client tests: redis-server processes on free
// loopback ports, openssl-made certificates, and a loop driver that waits for
// events rather than sleeping.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "quiesce/redis/client.hpp"

extern char** environ;

namespace redis_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Writes to a socket the server closed raise SIGPIPE; a handler (unlike
// SIG_IGN) is reset by exec, so spawned servers keep the default.
inline void tolerate_sigpipe() {
  static bool done = [] {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    sigaction(SIGPIPE, &action, nullptr);
    return true;
  }();
  (void)done;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "quiesce-redis-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Racy in theory (another process may take the port before we use it), but
// the kernel hands out ephemeral ports in rotation, so in practice it holds.
inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// Timers are the only way an idle client could wake the loop.
inline int active_timers(uv_loop_t* loop) {
  int count = 0;
  uv_walk(
      loop,
      [](uv_handle_t* handle, void* arg) {
        if (handle->type == UV_TIMER && uv_is_active(handle)) ++*static_cast<int*>(arg);
      },
      &count);
  return count;
}

inline bool accepts_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

inline bool accepts_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

inline pid_t spawn(const std::vector<std::string>& args, const std::string& output) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(rc == 0, "cannot run " << args[0] << ": " << std::strerror(rc));
  return pid;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs a program to completion (bounded) and returns its exit status.
inline int run_program(const std::vector<std::string>& args, const std::string& output) {
  pid_t pid = spawn(args, output);
  auto deadline = Clock::now() + 60s;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One redis-server on loopback, stopped when this goes out of scope.
class RedisServer {
 public:
  RedisServer(const TempDir& dir, std::vector<std::string> extra, int probe_port,
              std::string probe_socket = {})
      : log_(dir.file("redis-" + std::to_string(counter()++) + ".log")) {
    std::vector<std::string> args = {
        "redis-server", "--bind",     "127.0.0.1", "--save",          "",
        "--appendonly", "no",         "--dir",     dir.path.string(), "--daemonize",
        "no",           "--loglevel", "warning"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = spawn(args, log_);
    auto deadline = Clock::now() + 20s;
    for (;;) {
      if (probe_socket.empty() ? accepts_tcp(probe_port) : accepts_unix(probe_socket)) break;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("redis-server exited at start: " << slurp(log_));
      }
      if (Clock::now() > deadline) FAIL("redis-server did not start: " << slurp(log_));
      std::this_thread::sleep_for(20ms);
    }
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    auto deadline = Clock::now() + 10s;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string log_;
  pid_t pid_ = -1;
};

// A loop per test; at the end every handle the client opened must be closed.
class Loop {
 public:
  Loop() {
    tolerate_sigpipe();
    REQUIRE(uv_loop_init(&loop_) == 0);
  }
  ~Loop() {
    // Runs whatever close callbacks are still due, then the loop must be empty.
    for (int i = 0; i < 100 && uv_loop_alive(&loop_); ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    int rc = uv_loop_close(&loop_);
    CHECK_MESSAGE(rc == 0, "handles left open on the loop");
    if (rc != 0) {
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
    }
  }
  uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done()` holds, at most `limit` (a uv timer wakes the
  // loop then). Returns whether `done()` held.
  template <typename Pred>
  bool run_until(Pred done, std::chrono::milliseconds limit = 15s) {
    struct State {
      Pred& done;
      bool expired = false;
    } state{done};
    uv_timer_t failsafe;
    uv_timer_init(&loop_, &failsafe);
    failsafe.data = &state;
    uv_timer_start(
        &failsafe, [](uv_timer_t* t) { static_cast<State*>(t->data)->expired = true; },
        static_cast<uint64_t>(limit.count()), 0);
    // UV_RUN_ONCE polls even when a timer already did the work, so the
    // condition is checked right before each poll, and uv_stop skips it.
    uv_prepare_t check;
    uv_prepare_init(&loop_, &check);
    check.data = &state;
    uv_prepare_start(&check, [](uv_prepare_t* p) {
      auto* s = static_cast<State*>(p->data);
      if (s->done() || s->expired) uv_stop(p->loop);
    });
    while (!done() && !state.expired) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&failsafe), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }

 private:
  uv_loop_t loop_{};
};

// Collects every log line so tests can check what was said (and not said).
struct LogCapture {
  std::vector<quiesce::LogLine> lines;
  quiesce::redis::Client::LogFn fn() {
    return [this](quiesce::LogLine line) { lines.push_back(std::move(line)); };
  }
  bool any(const std::string& event) const {
    for (const auto& line : lines) {
      if (line.event == event) return true;
    }
    return false;
  }
  bool mentions(const std::string& text) const {
    for (const auto& line : lines) {
      if (line.message.find(text) != std::string::npos) return true;
      if (line.fields.dump().find(text) != std::string::npos) return true;
    }
    return false;
  }
};

inline quiesce::redis::Url url(const std::string& text) {
  auto parsed = quiesce::redis::parse_url(text);
  REQUIRE_MESSAGE(std::holds_alternative<quiesce::redis::Url>(parsed), text);
  return std::get<quiesce::redis::Url>(parsed);
}

struct Outcome {
  std::optional<quiesce::redis::PipelineResult> result;
  int calls = 0;
  Clock::duration elapsed{};

  bool ok() const { return result && std::holds_alternative<quiesce::redis::Replies>(*result); }
  const quiesce::redis::Replies& replies() const {
    return std::get<quiesce::redis::Replies>(*result);
  }
  std::string error() const {
    if (!result) return "(no result)";
    if (auto* e = std::get_if<std::string>(&*result)) return *e;
    return "(no error)";
  }
};

inline void send(quiesce::redis::Client& client, std::vector<quiesce::redis::Command> commands,
                 Outcome& outcome) {
  auto start = Clock::now();
  client.pipeline(std::move(commands), [&outcome, start](quiesce::redis::PipelineResult result) {
    ++outcome.calls;
    outcome.elapsed = Clock::now() - start;
    outcome.result = std::move(result);
  });
}

// Sends one pipeline and runs the loop until it answers.
inline Outcome roundtrip(Loop& loop, quiesce::redis::Client& client,
                         std::vector<quiesce::redis::Command> commands) {
  Outcome outcome;
  send(client, std::move(commands), outcome);
  REQUIRE_MESSAGE(loop.run_until([&] { return outcome.calls > 0; }), "pipeline never answered");
  return outcome;
}

// Closes the client and waits for libuv to release its handles.
inline void close_client(Loop& loop, quiesce::redis::Client& client) {
  bool closed = false;
  client.close([&] { closed = true; });
  CHECK(loop.run_until([&] { return closed; }));
}

}  // namespace redis_test
