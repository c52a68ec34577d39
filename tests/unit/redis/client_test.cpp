#include "quiesce/redis/client.hpp"

#include <doctest/doctest.h>

#include "redis_test_support.hpp"

using namespace redis_test;
using quiesce::redis::Client;
using quiesce::redis::ClientOptions;
using quiesce::redis::Reply;

namespace {

ClientOptions options_for(const std::string& text) {
  ClientOptions options;
  options.url = url(text);
  options.connect_timeout = 5000ms;
  options.command_timeout = 5000ms;
  return options;
}

std::string local(int port, const std::string& userinfo = "", int db = 0) {
  return "redis://" + userinfo + "localhost:" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace

TEST_CASE("redis client: pipelined round trip against redis-server") {
  TempDir dir;
  int port = free_port();
  RedisServer server(dir, {"--port", std::to_string(port)}, port);
  Loop loop;
  LogCapture logs;
  Client client(loop.get(), options_for(local(port)), logs.fn());
  CHECK_FALSE(logs.any("redis_connected"));  // no connection before the first request

  Outcome out = roundtrip(loop, client,
                          {{"SET", "greeting", "hello\r\nworld"},
                           {"GET", "greeting"},
                           {"GET", "missing"},
                           {"LPUSH", "greeting", "x"},
                           {"INCRBY", "counter", "41"},
                           {"MGET", "greeting", "missing"}});
  REQUIRE_MESSAGE(out.ok(), out.error());
  const auto& r = out.replies();
  REQUIRE(r.size() == 6);
  CHECK(r[0].type == Reply::Type::Status);
  CHECK(r[0].str == "OK");
  CHECK(r[1].type == Reply::Type::String);
  CHECK(r[1].str == "hello\r\nworld");
  CHECK(r[2].is_nil());
  // An error reply belongs to its command; the pipeline itself succeeded.
  CHECK(r[3].is_error());
  CHECK(r[3].str.starts_with("WRONGTYPE"));
  CHECK(r[4].type == Reply::Type::Integer);
  CHECK(r[4].integer == 41);
  REQUIRE(r[5].type == Reply::Type::Array);
  REQUIRE(r[5].elements.size() == 2);
  CHECK(r[5].elements[0].str == "hello\r\nworld");
  CHECK(r[5].elements[1].is_nil());
  CHECK(out.calls == 1);
  CHECK(logs.any("redis_connected"));
  // Connected and idle: nothing is due, so nothing may wake the loop.
  CHECK(active_timers(loop.get()) == 0);

  Outcome again = roundtrip(loop, client, {{"GET", "counter"}});
  REQUIRE_MESSAGE(again.ok(), again.error());
  CHECK(again.replies().at(0).str == "41");
  Outcome empty = roundtrip(loop, client, {});
  CHECK(empty.ok());
  close_client(loop, client);
  Outcome closed = roundtrip(loop, client, {{"PING"}});
  CHECK(closed.error() == "redis: client closed");
}

TEST_CASE("redis client: connect() logs the outcome") {
  TempDir dir;
  int port = free_port();
  RedisServer server(dir, {"--port", std::to_string(port)}, port);
  Loop loop;
  LogCapture logs;
  Client client(loop.get(), options_for(local(port)), logs.fn());
  client.connect();
  CHECK(loop.run_until([&] { return logs.any("redis_connected"); }));

  LogCapture refused_logs;
  Client refused(loop.get(), options_for(local(free_port())), refused_logs.fn());
  refused.connect();
  CHECK(loop.run_until([&] { return refused_logs.any("redis_error"); }));
  CHECK(refused_logs.mentions("connection refused"));
  close_client(loop, client);
  close_client(loop, refused);
}

TEST_CASE("redis client: requirepass, right and wrong password") {
  TempDir dir;
  int port = free_port();
  const std::string password = "s3cret-pass";
  RedisServer server(dir, {"--port", std::to_string(port), "--requirepass", password}, port);
  Loop loop;

  LogCapture good_logs;
  Client good(loop.get(), options_for(local(port, ":" + password + "@")), good_logs.fn());
  Outcome ok = roundtrip(loop, good, {{"PING"}});
  REQUIRE_MESSAGE(ok.ok(), ok.error());
  CHECK(ok.replies().at(0).str == "PONG");

  Client named(loop.get(), options_for(local(port, "default:" + password + "@")), nullptr);
  Outcome named_ok = roundtrip(loop, named, {{"PING"}});
  CHECK_MESSAGE(named_ok.ok(), named_ok.error());

  LogCapture bad_logs;
  Client bad(loop.get(), options_for(local(port, ":wrong-guess@")), bad_logs.fn());
  Outcome denied = roundtrip(loop, bad, {{"PING"}});
  CHECK_FALSE(denied.ok());
  CHECK_MESSAGE(denied.error().starts_with("redis: authentication failed: WRONGPASS"),
                denied.error());
  CHECK_FALSE(bad_logs.any("redis_connected"));
  CHECK(bad_logs.any("redis_error"));
  for (const auto* logs : {&good_logs, &bad_logs}) {
    CHECK_FALSE(logs->mentions(password));
    CHECK_FALSE(logs->mentions("wrong-guess"));
  }
  CHECK(denied.error().find("wrong-guess") == std::string::npos);
  CHECK(bad_logs.mentions("authentication failed"));

  // Without a password the command itself is refused: a reply, not a failure.
  Client anonymous(loop.get(), options_for(local(port)), nullptr);
  Outcome noauth = roundtrip(loop, anonymous, {{"PING"}});
  REQUIRE_MESSAGE(noauth.ok(), noauth.error());
  CHECK(noauth.replies().at(0).is_error());
  CHECK(noauth.replies().at(0).str.starts_with("NOAUTH"));

  for (Client* client : {&good, &named, &bad, &anonymous}) close_client(loop, *client);
}

TEST_CASE("redis client: unix socket and db select") {
  TempDir dir;
  std::string socket = dir.file("redis.sock");
  RedisServer server(dir, {"--port", "0", "--unixsocket", socket, "--unixsocketperm", "700"}, 0,
                     socket);
  Loop loop;
  Client db3(loop.get(), options_for("unix://" + socket + "?db=3"), nullptr);
  Outcome set = roundtrip(loop, db3, {{"SET", "where", "db3"}, {"GET", "where"}});
  REQUIRE_MESSAGE(set.ok(), set.error());
  CHECK(set.replies().at(1).str == "db3");

  Client db0(loop.get(), options_for("unix://" + socket), nullptr);
  Outcome other = roundtrip(loop, db0, {{"GET", "where"}});
  REQUIRE_MESSAGE(other.ok(), other.error());
  CHECK(other.replies().at(0).is_nil());

  LogCapture logs;
  Client out_of_range(loop.get(), options_for("unix://" + socket + "?db=99"), logs.fn());
  Outcome select = roundtrip(loop, out_of_range, {{"PING"}});
  CHECK_MESSAGE(select.error().starts_with("redis: SELECT 99 failed: ERR"), select.error());

  Client missing(loop.get(), options_for("unix://" + dir.file("nope.sock")), nullptr);
  Outcome nope = roundtrip(loop, missing, {{"PING"}});
  CHECK_MESSAGE(nope.error().find("no such file or directory") != std::string::npos, nope.error());

  for (Client* client : {&db3, &db0, &out_of_range, &missing}) close_client(loop, *client);
}

TEST_CASE("redis client: db select over tcp") {
  TempDir dir;
  int port = free_port();
  RedisServer server(dir, {"--port", std::to_string(port)}, port);
  Loop loop;
  Client db5(loop.get(), options_for(local(port, "", 5)), nullptr);
  Outcome set = roundtrip(loop, db5, {{"SET", "k", "five"}});
  REQUIRE_MESSAGE(set.ok(), set.error());
  Client db0(loop.get(), options_for(local(port)), nullptr);
  Outcome get0 = roundtrip(loop, db0, {{"GET", "k"}});
  REQUIRE_MESSAGE(get0.ok(), get0.error());
  CHECK(get0.replies().at(0).is_nil());
  Outcome get5 = roundtrip(loop, db5, {{"GET", "k"}});
  REQUIRE_MESSAGE(get5.ok(), get5.error());
  CHECK(get5.replies().at(0).str == "five");
  close_client(loop, db5);
  close_client(loop, db0);
}

TEST_CASE("redis client: a name that does not resolve fails cleanly") {
  Loop loop;
  ClientOptions options = options_for("redis://no-such-host.invalid:6379/0");
  LogCapture logs;
  Client client(loop.get(), options, logs.fn());
  Outcome out = roundtrip(loop, client, {{"PING"}});
  CHECK_FALSE(out.ok());
  CHECK_MESSAGE(out.error().starts_with("redis: "), out.error());
  CHECK(logs.any("redis_error"));
  close_client(loop, client);
}
