// The control socket end to end: the server on a libuv loop, the blocking
// client (or a raw socket, for clients that misbehave) against it. Every
// wait is on an event: the client's read of the answer, or the loop run
// until a condition holds.
#include "quiesce/control/server.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "quiesce/control/client.hpp"
#include "quiesce/uv/fault.hpp"
#include "redis_test_support.hpp"

using quiesce::control_error_reply;
using quiesce::control_exchange;
using quiesce::control_peer_allowed;
using quiesce::ControlRequest;
using quiesce::ControlServer;
using quiesce::Duration;
using redis_test::Clock;
using redis_test::LogCapture;
using redis_test::Loop;
using redis_test::TempDir;
using namespace std::chrono_literals;

namespace {

using Lines = std::vector<std::string>;

// What the handler saw, written on the loop's thread.
struct Calls {
  std::mutex m;
  std::vector<ControlRequest> requests;
  void add(const ControlRequest& r) {
    std::lock_guard lock(m);
    requests.push_back(r);
  }
  std::size_t count() {
    std::lock_guard lock(m);
    return requests.size();
  }
};

// The server on its own loop in a thread, so the blocking client can run in
// the test's. stop() closes the server from the loop's thread and waits for
// the loop to run out of handles.
class ServerThread {
 public:
  explicit ServerThread(ControlServer::Handler handler)
      : server_(loop_.get(), std::move(handler), logs_.fn()) {}
  ~ServerThread() { stop(); }

  std::string listen(const std::vector<std::string>& candidates) {
    return server_.listen(candidates);
  }
  void start() {
    REQUIRE(uv_async_init(loop_.get(), &stop_, on_stop) == 0);
    stop_.data = this;
    thread_ = std::thread([this] { uv_run(loop_.get(), UV_RUN_DEFAULT); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    REQUIRE(uv_async_send(&stop_) == 0);
    thread_.join();
  }
  // Read only before start() or after stop().
  const LogCapture& logs() const { return logs_; }

 private:
  static void on_stop(uv_async_t* async) {
    static_cast<ServerThread*>(async->data)->server_.close();
    uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
  }

  Loop loop_;
  LogCapture logs_;
  ControlServer server_;
  uv_async_t stop_{};
  std::thread thread_;
};

ControlRequest request(ControlRequest::Command command) {
  ControlRequest r;
  r.command = command;
  return r;
}

struct Exchange {
  bool ok = false;
  Lines lines;
  std::string error;
};

Exchange exchange(const std::vector<std::string>& candidates, const ControlRequest& r,
                  Duration timeout = Duration{10'000}) {
  Exchange out;
  out.ok = control_exchange(
      candidates, r, timeout, [&](const std::string& line) { out.lines.push_back(line); },
      &out.error);
  return out;
}

int raw_connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE_MESSAGE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                  std::strerror(errno));
  return fd;
}

void raw_send(int fd, const std::string& bytes) {
  REQUIRE(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

// Everything the server sends until it closes (EOF, or ECONNRESET when it
// closed with our bytes unread). Fails the test after `limit`.
std::string read_to_close(int fd, std::chrono::milliseconds limit = 10s) {
  std::string out;
  auto end = Clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    REQUIRE_MESSAGE(rc > 0, "the server neither answered nor closed; so far: " << out);
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      out.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    REQUIRE((n == 0 || errno == ECONNRESET));
    return out;
  }
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return st.st_mode;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

int bound_socket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// A socket file with nobody listening: what a killed quiesce leaves behind.
void leave_stale_socket(const std::string& path) {
  close(bound_socket(path));
}

// The pipes (listener and connections) still open on the loop.
int open_pipes(uv_loop_t* loop) {
  int count = 0;
  uv_walk(
      loop,
      [](uv_handle_t* h, void* arg) {
        if (h->type == UV_NAMED_PIPE && !uv_is_closing(h)) ++*static_cast<int*>(arg);
      },
      &count);
  return count;
}

ControlServer::Handler answer_ok(Calls& calls) {
  return [&calls](const ControlRequest& r, ControlServer::Reply reply) {
    calls.add(r);
    reply.send(
        R"({"ok":true,"command":")" + std::string(quiesce::control_command_name(r.command)) + "\"}",
        true);
  };
}

// The common case: a server answering every request with ok, listening on
// its one path and running.
struct Listening {
  TempDir dir;
  std::string path = dir.file("quiesce/control.sock");
  Calls calls;
  ServerThread server{answer_ok(calls)};

  Listening() {
    REQUIRE(server.listen({path}) == path);
    server.start();
  }
};

// A server on the test's own thread whose handler keeps the last request
// and its Reply, for the tests that answer late or never.
struct Keeping {
  TempDir dir;
  std::string path = dir.file("quiesce/control.sock");
  Loop loop;
  LogCapture logs;
  std::optional<ControlRequest> got;
  std::optional<ControlServer::Reply> kept;
  ControlServer server{loop.get(),
                       [this](const ControlRequest& r, ControlServer::Reply reply) {
                         got = r;
                         kept = reply;
                       },
                       logs.fn()};

  Keeping() { REQUIRE(server.listen({path}) == path); }
};

}  // namespace

TEST_CASE("control peer check: root and quiesce's own uid only") {
  CHECK(control_peer_allowed(0, 1000));
  CHECK(control_peer_allowed(1000, 1000));
  CHECK(control_peer_allowed(0, 0));
  CHECK_FALSE(control_peer_allowed(1001, 1000));
  CHECK_FALSE(control_peer_allowed(1000, 0));
  CHECK_FALSE(control_peer_allowed(65534, 1000));
}

TEST_CASE("control socket: a request reaches the handler and its answer comes back") {
  Listening l;
  auto& [dir, path, calls, server] = l;

  Exchange status = exchange({path}, request(ControlRequest::Command::Status));
  REQUIRE_MESSAGE(status.ok, status.error);
  CHECK(status.lines == Lines{R"({"ok":true,"command":"status"})"});

  ControlRequest quiet = request(ControlRequest::Command::Quiet);
  quiet.exit_when_drained = true;
  Exchange q = exchange({path}, quiet);
  REQUIRE_MESSAGE(q.ok, q.error);
  CHECK(q.lines == Lines{R"({"ok":true,"command":"quiet"})"});

  server.stop();
  CHECK(server.logs().any("control_socket"));
  CHECK(server.logs().mentions(path));
  REQUIRE(calls.count() == 2);
  CHECK(calls.requests[0].command == ControlRequest::Command::Status);
  CHECK(calls.requests[1].command == ControlRequest::Command::Quiet);
  CHECK(calls.requests[1].exit_when_drained);
  CHECK_FALSE(calls.requests[1].wait);
}

TEST_CASE("control socket: a multi-line answer arrives whole and in order") {
  TempDir dir;
  std::string path = dir.file("quiesce/control.sock");
  ServerThread server([](const ControlRequest&, ControlServer::Reply reply) {
    reply.send(R"({"progress":1})", false);
    reply.send(R"({"progress":2})", false);
    reply.send(R"({"ok":true})", true);
    reply.send(R"({"after":"last"})", false);  // the connection is finishing: dropped
  });
  REQUIRE(server.listen({path}) == path);
  server.start();
  Exchange out = exchange({path}, request(ControlRequest::Command::Quiet));
  REQUIRE_MESSAGE(out.ok, out.error);
  CHECK(out.lines == Lines{R"({"progress":1})", R"({"progress":2})", R"({"ok":true})"});
}

TEST_CASE("control socket: a malformed request gets an error and never reaches the handler") {
  Listening l;
  auto& [dir, path, calls, server] = l;

  int fd = raw_connect(path);
  raw_send(fd, "not json\n");
  CHECK(read_to_close(fd) == control_error_reply("request is not JSON") + "\n");
  close(fd);

  fd = raw_connect(path);
  raw_send(fd, "{\"command\":\"reboot\"}\n");
  std::string answer = read_to_close(fd);
  close(fd);
  REQUIRE(answer.ends_with("\n"));
  auto reply = nlohmann::json::parse(answer);
  CHECK(reply["ok"] == false);
  CHECK(reply["error"].get<std::string>().find("reboot") != std::string::npos);

  server.stop();
  CHECK(calls.count() == 0);
}

TEST_CASE("control socket: a request over 4096 bytes is refused without waiting for its end") {
  Listening l;
  auto& [dir, path, calls, server] = l;

  int fd = raw_connect(path);
  raw_send(fd, std::string(5000, 'x'));  // no newline: the server must not wait for one
  CHECK(read_to_close(fd) == control_error_reply("request longer than 4096 bytes") + "\n");
  close(fd);
  server.stop();
  CHECK(calls.count() == 0);
}

TEST_CASE("control socket: a client that sends nothing is cut off after 2 s") {
  Listening l;
  auto& [dir, path, calls, server] = l;

  auto start = Clock::now();
  int fd = raw_connect(path);
  std::string answer = read_to_close(fd);
  auto waited = Clock::now() - start;
  close(fd);
  CHECK(answer == control_error_reply("no request line within 2 s") + "\n");
  CHECK(waited >= 1900ms);
  CHECK(waited < 5s);
  server.stop();
  CHECK(calls.count() == 0);
}

TEST_CASE("control socket: a line without its newline counts once the client shuts its side") {
  Keeping k;
  auto& [dir, path, loop, logs, got, kept, server] = k;

  // `printf '{"command":"health"}' | nc -N -U ...`: EOF ends the request,
  // and the client still waits for an answer that may come later.
  int fd = raw_connect(path);
  raw_send(fd, R"({"command":"health","ready":true})");
  REQUIRE(shutdown(fd, SHUT_WR) == 0);
  REQUIRE(loop.run_until([&] { return kept.has_value(); }));
  CHECK(got->command == ControlRequest::Command::Health);
  CHECK(got->ready);
  CHECK(kept->connected());
  kept->send(R"({"ok":true})", true);
  // The loop runs the write's callback, then closes: the answer and the
  // EOF wait in the client's socket.
  CHECK(loop.run_until([&] { return open_pipes(loop.get()) == 1; }));
  std::string answer = read_to_close(fd);
  CHECK(answer == "{\"ok\":true}\n");
  close(fd);
}

TEST_CASE("control socket: folder 0700, socket 0600, and close() removes the socket") {
  TempDir dir;
  std::string folder = dir.file("quiesce");
  std::string path = folder + "/control.sock";
  Calls calls;
  ServerThread server(answer_ok(calls));
  REQUIRE(server.listen({path}) == path);
  CHECK(S_ISDIR(mode_of(folder)));
  CHECK((mode_of(folder) & 07777) == 0700);
  CHECK(S_ISSOCK(mode_of(path)));
  CHECK((mode_of(path) & 07777) == 0600);
  server.start();
  server.stop();  // closes the server on its loop
  CHECK_FALSE(exists(path));

  Exchange after = exchange({path}, request(ControlRequest::Command::Status));
  CHECK_FALSE(after.ok);
  CHECK(after.error == "no control socket at " + path + ": is quiesce running as PID 1 here?");
}

TEST_CASE("control socket: quiesce's own folder left open by someone is made private") {
  TempDir dir;
  std::string folder = dir.file("quiesce");
  REQUIRE(mkdir(folder.c_str(), 0755) == 0);
  REQUIRE(chmod(folder.c_str(), 0755) == 0);
  Calls calls;
  ServerThread server(answer_ok(calls));
  REQUIRE(server.listen({folder + "/control.sock"}) == folder + "/control.sock");
  CHECK((mode_of(folder) & 07777) == 0700);
}

TEST_CASE("control socket: a shared folder an explicit path names keeps its mode") {
  TempDir dir;
  std::string folder = dir.file("shared");
  REQUIRE(mkdir(folder.c_str(), 0755) == 0);
  REQUIRE(chmod(folder.c_str(), 01777) == 0);  // like /tmp
  Calls calls;
  ServerThread server(answer_ok(calls));
  REQUIRE(server.listen({folder + "/app.sock"}) == folder + "/app.sock");
  CHECK((mode_of(folder) & 07777) == 01777);
  CHECK((mode_of(folder + "/app.sock") & 07777) == 0600);
}

TEST_CASE("control socket: a stale socket from an earlier run is replaced") {
  TempDir dir;
  std::string folder = dir.file("quiesce");
  std::string path = folder + "/control.sock";
  REQUIRE(mkdir(folder.c_str(), 0700) == 0);
  leave_stale_socket(path);
  REQUIRE(S_ISSOCK(mode_of(path)));
  Calls calls;
  ServerThread server(answer_ok(calls));
  REQUIRE(server.listen({path}) == path);
  server.start();
  Exchange out = exchange({path}, request(ControlRequest::Command::Status));
  REQUIRE_MESSAGE(out.ok, out.error);
  CHECK(out.lines.size() == 1);
}

TEST_CASE("control socket: candidates that cannot be used fall through to the next") {
  TempDir dir;
  // Its folder would have to be made under a regular file.
  std::string blocker = dir.file("file");
  std::ofstream(blocker) << "not a folder";
  std::string under_file = blocker + "/quiesce/control.sock";
  // A regular file where the socket would go: never removed.
  std::string occupied_folder = dir.file("occupied");
  REQUIRE(mkdir(occupied_folder.c_str(), 0700) == 0);
  std::string occupied = occupied_folder + "/control.sock";
  std::ofstream(occupied) << "precious";
  // A symbolic link as the folder: refused, not followed.
  std::string real = dir.file("real");
  REQUIRE(mkdir(real.c_str(), 0700) == 0);
  std::string link = dir.file("quiesce-link");
  REQUIRE(symlink(real.c_str(), link.c_str()) == 0);
  std::string through_link = link + "/control.sock";
  std::string good = dir.file("quiesce/control.sock");

  Calls calls;
  ServerThread server(answer_ok(calls));
  CHECK(server.listen({under_file, occupied, through_link, good}) == good);
  CHECK(redis_test::slurp(occupied) == "precious");
  CHECK_FALSE(exists(real + "/control.sock"));
  int failures = 0;
  for (const auto& line : server.logs().lines) {
    if (line.event == "control_socket_failed") ++failures;
  }
  CHECK(failures == 3);
  CHECK(server.logs().mentions(under_file));
  CHECK(server.logs().mentions("is not a socket"));
  CHECK(server.logs().mentions("symbolic link"));

  // The client walks the same list and finds the one that worked.
  server.start();
  Exchange out = exchange({under_file, occupied, through_link, good},
                          request(ControlRequest::Command::Status));
  REQUIRE_MESSAGE(out.ok, out.error);
  CHECK(out.lines.size() == 1);
}

TEST_CASE("control socket: a socket another process listens on is left alone") {
  TempDir dir;
  std::string first = dir.file("quiesce/control.sock");
  std::string second = dir.file("quiesce-2/control.sock");
  REQUIRE(mkdir(dir.file("quiesce").c_str(), 0700) == 0);
  int other = bound_socket(first);
  REQUIRE(listen(other, 1) == 0);

  Calls calls;
  ServerThread server(answer_ok(calls));
  CHECK(server.listen({first, second}) == second);
  CHECK(server.logs().mentions("in use"));
  CHECK(redis_test::accepts_unix(first));
  close(other);
}

TEST_CASE("control socket: no candidate works, listen says so and returns empty") {
  TempDir dir;
  std::string blocker = dir.file("file");
  std::ofstream(blocker) << "x";
  Calls calls;
  ServerThread server(answer_ok(calls));
  CHECK(server.listen({blocker + "/a/control.sock", blocker + "/b/control.sock"}).empty());
  CHECK(server.logs().any("control_socket_unavailable"));
  CHECK_FALSE(server.logs().any("control_socket"));
}

TEST_CASE("control client: no socket anywhere, and a server that never answers") {
  TempDir dir;
  std::string a = dir.file("a.sock");
  std::string b = dir.file("b.sock");
  Exchange none = exchange({a, b}, request(ControlRequest::Command::Status));
  CHECK_FALSE(none.ok);
  CHECK(none.error ==
        "no control socket at " + a + ", " + b + ": is quiesce running as PID 1 here?");

  // Listening but never accepting: the kernel completes the connect, and
  // the answer never comes.
  int mute = socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(mute >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, b.c_str(), b.size() + 1);
  REQUIRE(bind(mute, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(mute, 4) == 0);
  auto start = Clock::now();
  Exchange silent = exchange({a, b}, request(ControlRequest::Command::Status), Duration{1000});
  auto waited = Clock::now() - start;
  close(mute);
  CHECK_FALSE(silent.ok);
  CHECK(silent.error == "no answer within 1 s");
  CHECK(waited >= 900ms);
  CHECK(silent.lines.empty());
}

TEST_CASE("control socket: a kept Reply sees the client hang up, and no timer stays armed") {
  Keeping k;
  auto& [dir, path, loop, logs, got, kept, server] = k;
  CHECK(redis_test::active_timers(loop.get()) == 0);  // idle: nothing may wake the loop

  int fd = raw_connect(path);
  raw_send(fd, "{\"command\":\"quiet\",\"wait\":true}\n");
  REQUIRE(loop.run_until([&] { return kept.has_value(); }));
  CHECK(kept->connected());
  // The request is in: its timer is gone, the kept connection arms none.
  CHECK(redis_test::active_timers(loop.get()) == 0);

  kept->send(R"({"progress":"draining"})", false);
  char line[64] = {};
  ssize_t n = recv(fd, line, sizeof line - 1, 0);
  CHECK(std::string(line, static_cast<std::size_t>(std::max<ssize_t>(0, n))) ==
        "{\"progress\":\"draining\"}\n");

  close(fd);
  CHECK(loop.run_until([&] { return !kept->connected(); }));
  CHECK(loop.run_until([&] { return open_pipes(loop.get()) == 1; }));  // the listener alone
  kept->send("{\"ok\":true}", true);                                   // to nobody: does nothing
  server.close();
  server.close();  // twice is fine
  CHECK_FALSE(exists(path));
}

TEST_CASE("control socket: a client that connects and leaves costs nothing") {
  TempDir dir;
  std::string path = dir.file("quiesce/control.sock");
  Loop loop;
  LogCapture logs;
  int calls = 0;
  ControlServer server(
      loop.get(), [&](const ControlRequest&, ControlServer::Reply) { ++calls; }, logs.fn());
  REQUIRE(server.listen({path}) == path);
  int fd = raw_connect(path);
  REQUIRE(loop.run_until([&] { return open_pipes(loop.get()) == 2; }));  // accepted
  close(fd);
  CHECK(loop.run_until([&] { return open_pipes(loop.get()) == 1; }));
  CHECK(calls == 0);
  CHECK(redis_test::active_timers(loop.get()) == 0);
}

TEST_CASE("control socket: a client that stops reading is dropped before its replies pile up") {
  Keeping k;
  auto& [dir, path, loop, logs, got, kept, server] = k;
  int fd = raw_connect(path);
  raw_send(fd, "{\"command\":\"quiet\",\"wait\":true}\n");
  REQUIRE(loop.run_until([&] { return kept.has_value(); }));

  // The client reads nothing: the kernel's buffer fills, then libuv's queue.
  std::string progress = "{\"progress\":\"" + std::string(1000, 'p') + "\"}";
  int sent = 0;
  while (kept->connected() && sent < 100'000) {
    kept->send(progress, false);
    ++sent;
  }
  CHECK_FALSE(kept->connected());
  CHECK(sent < 100'000);
  CHECK(logs.any("control_client_stuck"));
  close(fd);
}

TEST_CASE("control socket: the handler's exception is reported and the client is let go") {
  TempDir dir;
  std::string path = dir.file("quiesce/control.sock");
  std::vector<std::string> faults;
  quiesce::uv::set_fault_reporter([&](std::string_view where, std::string_view what) {
    faults.emplace_back(std::string(where) + ": " + std::string(what));
  });
  Loop loop;
  LogCapture logs;
  ControlServer server(
      loop.get(),
      [](const ControlRequest&, ControlServer::Reply) { throw std::runtime_error("boom"); },
      logs.fn());
  REQUIRE(server.listen({path}) == path);
  int fd = raw_connect(path);
  raw_send(fd, "{\"command\":\"status\"}\n");
  REQUIRE(loop.run_until([&] { return !faults.empty(); }));
  CHECK(faults.at(0).find("boom") != std::string::npos);
  CHECK(loop.run_until([&] { return open_pipes(loop.get()) == 1; }));
  quiesce::uv::set_fault_reporter({});
  close(fd);
}
