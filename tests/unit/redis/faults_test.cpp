#include <doctest/doctest.h>

#include <random>

#include "quiesce/redis/client.hpp"
#include "redis_test_support.hpp"

using namespace redis_test;
using quiesce::Level;
using quiesce::LogLine;
using quiesce::redis::Client;
using quiesce::redis::ClientOptions;

namespace {

// A server on the test's own loop that accepts and then either never says a
// word or answers every request with `reply`.
class FakeServer {
 public:
  FakeServer(uv_loop_t* loop, std::string reply) : reply_(std::move(reply)) {
    uv_tcp_init(loop, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, on_connection) == 0);
    int len = sizeof addr;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~FakeServer() { REQUIRE(open_ == 0); }

  int port() const { return port_; }
  int accepted() const { return accepted_; }

  void close(Loop& loop) {
    for (uv_tcp_t* peer : peers_) close_handle(peer);
    close_handle(&listener_);
    CHECK(loop.run_until([&] { return open_ == 0; }));
  }

 private:
  struct Write {
    uv_write_t req;
    std::string bytes;
  };

  void close_handle(uv_tcp_t* handle) {
    auto* h = reinterpret_cast<uv_handle_t*>(handle);
    if (uv_is_closing(h)) return;
    ++open_;
    h->data = this;
    uv_close(h, [](uv_handle_t* closed) {
      auto* self = static_cast<FakeServer*>(closed->data);
      --self->open_;
      if (closed != reinterpret_cast<uv_handle_t*>(&self->listener_)) {
        delete reinterpret_cast<uv_tcp_t*>(closed);
      }
    });
  }

  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<FakeServer*>(server->data);
    if (status < 0) return;
    auto* peer = new uv_tcp_t;
    uv_tcp_init(server->loop, peer);
    peer->data = self;
    self->peers_.push_back(peer);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(peer)) != 0) return;
    ++self->accepted_;
    if (self->reply_.empty()) return;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(peer),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          *buf = uv_buf_init(static_cast<FakeServer*>(h->data)->buffer_, sizeof buffer_);
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
          auto* self = static_cast<FakeServer*>(stream->data);
          if (nread <= 0) {
            uv_read_stop(stream);
            return;
          }
          auto* write = new Write{{}, self->reply_};
          write->req.data = write;
          uv_buf_t buf = uv_buf_init(write->bytes.data(), write->bytes.size());
          uv_write(&write->req, stream, &buf, 1,
                   [](uv_write_t* req, int) { delete static_cast<Write*>(req->data); });
        });
  }

  uv_tcp_t listener_{};
  std::vector<uv_tcp_t*> peers_;
  std::string reply_;
  int port_ = 0;
  int accepted_ = 0;
  int open_ = 0;
  char buffer_[4096];
};

ClientOptions fast_options(int port, const std::string& userinfo = "") {
  ClientOptions options;
  options.url = url("redis://" + userinfo + "127.0.0.1:" + std::to_string(port) + "/0");
  options.connect_timeout = 400ms;
  options.command_timeout = 300ms;
  options.backoff_initial = 100ms;
  options.backoff_max = 400ms;
  return options;
}

// Retries (driven by a uv timer, not by sleeping) until a pipeline succeeds.
Outcome until_success(Loop& loop, Client& client, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  for (;;) {
    Outcome out = roundtrip(loop, client, {{"PING"}});
    if (out.ok() || Clock::now() > deadline) return out;
    bool waited = false;
    uv_timer_t pause;
    uv_timer_init(loop.get(), &pause);
    pause.data = &waited;
    uv_timer_start(
        &pause, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 50, 0);
    loop.run_until([&] { return waited; });
    uv_close(reinterpret_cast<uv_handle_t*>(&pause), nullptr);
    uv_run(loop.get(), UV_RUN_NOWAIT);
  }
}

}  // namespace

TEST_CASE("redis client: a hung server times out and the next pipeline reconnects") {
  Loop loop;
  FakeServer hung(loop.get(), "");
  LogCapture logs;
  Client client(loop.get(), fast_options(hung.port()), logs.fn());

  Outcome first = roundtrip(loop, client, {{"PING"}});
  CHECK_FALSE(first.ok());
  CHECK_MESSAGE(first.error().find("timed out after 300 ms") != std::string::npos, first.error());
  CHECK(first.elapsed >= 250ms);
  CHECK(first.elapsed < 300ms + 5s);
  CHECK(first.calls == 1);
  CHECK(logs.any("redis_error"));

  // Dropped, so the next pipeline opens a fresh connection right away.
  Outcome second = roundtrip(loop, client, {{"PING"}});
  CHECK_MESSAGE(second.error().find("timed out") != std::string::npos, second.error());
  CHECK(hung.accepted() == 2);
  CHECK(active_timers(loop.get()) == 0);

  close_client(loop, client);
  hung.close(loop);
}

TEST_CASE("redis client: a hung server during AUTH fails the connect within connect_timeout") {
  Loop loop;
  FakeServer hung(loop.get(), "");
  Client client(loop.get(), fast_options(hung.port(), ":pw-hung@"), nullptr);
  Outcome out = roundtrip(loop, client, {{"PING"}});
  CHECK_MESSAGE(out.error().find("timed out after 400 ms (waiting for the AUTH/SELECT reply)") !=
                    std::string::npos,
                out.error());
  CHECK(out.elapsed < 400ms + 5s);
  CHECK(out.error().find("pw-hung") == std::string::npos);
  close_client(loop, client);
  hung.close(loop);
}

TEST_CASE("redis client: garbage from the server fails cleanly") {
  Loop loop;
  std::mt19937 random(42);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(random() & 0xff);
  const std::vector<std::string> replies = {"this is not resp\r\n", noise, "*-5\r\n",
                                            "$999999999999\r\n", "*677777702\r\n"};
  for (const std::string& reply : replies) {
    FakeServer garbage(loop.get(), reply);
    Client client(loop.get(), fast_options(garbage.port()), nullptr);
    Outcome out = roundtrip(loop, client, {{"PING"}, {"PING"}, {"PING"}});
    CHECK_FALSE(out.ok());
    CHECK(out.error().starts_with("redis: "));
    CHECK(out.calls == 1);
    CHECK(out.elapsed < 300ms + 5s);
    if (reply == replies[0] || reply == replies[4]) {
      CHECK(out.error().find("protocol error") != std::string::npos);
    }
    close_client(loop, client);
    garbage.close(loop);
  }
}

TEST_CASE("redis client: a server that keeps failing after connecting is reported once") {
  Loop loop;
  FakeServer garbage(loop.get(), "this is not resp\r\n");
  LogCapture logs;
  Client client(loop.get(), fast_options(garbage.port()), logs.fn());
  // The drain polls twice a second: every poll reconnects and fails alike.
  for (int i = 0; i < 4; ++i) CHECK_FALSE(roundtrip(loop, client, {{"PING"}}).ok());
  CHECK(garbage.accepted() == 4);
  auto at = [&](const std::string& event, Level level) {
    return std::count_if(logs.lines.begin(), logs.lines.end(),
                         [&](const LogLine& l) { return l.event == event && l.level == level; });
  };
  CHECK(at("redis_error", Level::Warn) == 1);
  CHECK(at("redis_error", Level::Debug) == 3);
  CHECK(at("redis_connected", Level::Info) == 1);
  CHECK(at("redis_connected", Level::Debug) == 3);
  close_client(loop, client);
  garbage.close(loop);
}

TEST_CASE("redis client: a reply after a failure says Redis answers again") {
  TempDir dir;
  int port = free_port();
  RedisServer server(dir, {"--port", std::to_string(port), "--enable-debug-command", "yes"}, port);
  Loop loop;
  LogCapture logs;
  Client client(loop.get(), fast_options(port), logs.fn());
  REQUIRE(roundtrip(loop, client, {{"PING"}}).ok());
  // Longer than the command timeout (300 ms): the client gives up on it.
  Outcome slow = roundtrip(loop, client, {{"DEBUG", "SLEEP", "1"}});
  CHECK_MESSAGE(slow.error().find("timed out") != std::string::npos, slow.error());
  CHECK_FALSE(logs.any("redis_recovered"));
  Outcome back = until_success(loop, client, 15s);
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(logs.any("redis_recovered"));
  close_client(loop, client);
}

TEST_CASE("redis client: refused, backoff, then reconnect after a restart") {
  TempDir dir;
  int port = free_port();
  Loop loop;
  LogCapture logs;
  ClientOptions options = fast_options(port);
  options.backoff_initial = 3000ms;  // long enough that the retry below is surely inside it
  options.backoff_max = 3000ms;
  Client client(loop.get(), options, logs.fn());

  Outcome refused = roundtrip(loop, client, {{"PING"}});
  CHECK_MESSAGE(refused.error().find("connection refused") != std::string::npos, refused.error());
  CHECK(logs.any("redis_error"));
  // No retry loop in the background while idle.
  CHECK(active_timers(loop.get()) == 0);

  Outcome backing_off = roundtrip(loop, client, {{"PING"}});
  CHECK_MESSAGE(backing_off.error().starts_with("redis unavailable, retrying in "),
                backing_off.error());

  {
    RedisServer server(dir, {"--port", std::to_string(port)}, port);
    Outcome up = until_success(loop, client, 15s);
    REQUIRE_MESSAGE(up.ok(), up.error());
    server.stop();
    Outcome lost = roundtrip(loop, client, {{"PING"}});
    CHECK_FALSE(lost.ok());
    CHECK(lost.calls == 1);
  }
  RedisServer restarted(dir, {"--port", std::to_string(port)}, port);
  Outcome back = until_success(loop, client, 15s);
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back.replies().at(0).str == "PONG");
  close_client(loop, client);
}

TEST_CASE("redis client: one pipeline in flight, a bounded queue, close() fails the rest") {
  Loop loop;
  FakeServer hung(loop.get(), "");
  ClientOptions options = fast_options(hung.port());
  options.command_timeout = 10s;
  options.max_queued = 2;
  LogCapture logs;
  Client client(loop.get(), options, logs.fn());

  std::vector<Outcome> outcomes(4);
  for (auto& outcome : outcomes) send(client, {{"PING"}}, outcome);
  CHECK(loop.run_until([&] { return outcomes[3].calls == 1; }));
  CHECK_MESSAGE(outcomes[3].error().find("too many requests waiting") != std::string::npos,
                outcomes[3].error());
  CHECK(loop.run_until([&] { return logs.any("redis_connected"); }));
  for (int i = 0; i < 3; ++i) CHECK(outcomes[i].calls == 0);

  bool closed = false;
  client.close([&] { closed = true; });
  CHECK(loop.run_until([&] { return closed; }));
  for (int i = 0; i < 3; ++i) {
    CHECK(outcomes[i].calls == 1);
    CHECK(outcomes[i].error() == "redis: client closed");
  }
  Outcome after;
  send(client, {{"PING"}}, after);
  CHECK(after.error() == "redis: client closed");
  hung.close(loop);
}

TEST_CASE("redis client: destroying a busy client leaves nothing behind on the loop") {
  Loop loop;
  FakeServer hung(loop.get(), "");
  Outcome outcome;
  {
    Client client(loop.get(), fast_options(hung.port()), nullptr);
    send(client, {{"PING"}}, outcome);
    CHECK(loop.run_until([&] { return hung.accepted() == 1; }));
  }
  CHECK(outcome.calls == 0);
  hung.close(loop);
}
