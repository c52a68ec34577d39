// JobRecovery and its requeue script against a real redis-server, with the
// work hashes the real Sidekiq 6.4.1, 7.3.2 and 8.1.7 wrote
// (tests/fixtures/sidekiq-*/busy.json).
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "quiesce/sidekiq/job_recovery.hpp"
#include "quiesce/sidekiq/redis_schema.hpp"
#include "redis_test_support.hpp"

using namespace redis_test;
using namespace quiesce;
using nlohmann::json;

namespace {

json fixture(const std::string& version) {
  std::ifstream in(std::string(QUIESCE_SOURCE_DIR) + "/tests/fixtures/sidekiq-" + version +
                   "/busy.json");
  return json::parse(in);
}

redis::ClientOptions options_for(int port) {
  redis::ClientOptions options;
  options.url = url("redis://127.0.0.1:" + std::to_string(port) + "/0");
  options.connect_timeout = 5000ms;
  options.command_timeout = 5000ms;
  return options;
}

redis::Replies run(Loop& loop, redis::Client& client, std::vector<redis::Command> commands) {
  Outcome out = roundtrip(loop, client, std::move(commands));
  REQUIRE_MESSAGE(out.ok(), out.error());
  return out.replies();
}

// Writes what the fixture's Sidekiq left in Redis, under this host's name
// and pid 4242 (a process that is dead).
std::string seed(Loop& loop, redis::Client& client, const json& f, const std::string& host) {
  std::string old_id = f["identity"];
  std::string identity = host + ":4242:" + old_id.substr(old_id.rfind(':') + 1);
  json info = json::parse(f["identity_hash"]["info"].get<std::string>());
  info["started_at"] = 1.0e9 + 100;  // after "quiesce started" below
  std::vector<redis::Command> commands = {
      {"SADD", "processes", identity},
      {"HSET", identity, "info", info.dump(), "beat", "1000000200.0", "busy", "3"}};
  std::string work_key = f["work_key"];
  std::string suffix = work_key.substr(work_key.rfind(':'));
  for (auto& [field, value] : f["work_hash"].items()) {
    commands.push_back({"HSET", identity + suffix, field, value.get<std::string>()});
  }
  run(loop, client, commands);
  return identity;
}

std::optional<RecoveryOutcome> recover(Loop& loop, JobRecovery& recovery, pid_t pid,
                                       const std::string& identity) {
  std::optional<RecoveryOutcome> outcome;
  recovery.recover(pid, identity, [&](RecoveryOutcome o) { outcome = std::move(o); });
  loop.run_until([&] { return outcome.has_value(); });
  return outcome;
}

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

TEST_CASE("job recovery: the payloads go back to the front of their queues, exactly, once") {
  TempDir dir;
  int port = free_port();
  RedisServer server(dir, {"--port", std::to_string(port)}, port);
  Loop loop;
  LogCapture logs;
  redis::Client client(loop.get(), options_for(port), logs.fn());
  const std::string host = hostname();
  JobRecovery recovery(
      &client, host, 1.0e9, [] { return 1.0e9 + 300; }, logs.fn());

  for (const char* version : {"6.4.1", "7.3.2", "8.1.7"}) {
    CAPTURE(version);
    json f = fixture(version);
    run(loop, client, {{"FLUSHALL"}, {"RPUSH", "queue:default", "already-waiting"}});
    std::string identity = seed(loop, client, f, host);

    // Found by hostname and pid, as after a death outside a stop.
    auto outcome = recover(loop, recovery, 4242, "");
    REQUIRE(outcome);
    CHECK(outcome->status == RecoveryStatus::Requeued);
    CHECK(outcome->identity == identity);
    CHECK(outcome->jobs.size() == f["work_hash"].size());

    auto r = run(loop, client,
                 {{"LRANGE", "queue:default", "0", "-1"},
                  {"SMEMBERS", "queues"},
                  {"SISMEMBER", "processes", identity},
                  {"EXISTS", identity + ":work", identity + ":workers"}});
    // Behind the waiting job (RPUSH: the right end is fetched first), each
    // payload byte for byte as the work hash held it.
    REQUIRE(r[0].elements.size() == 1 + f["work_hash"].size());
    CHECK(r[0].elements[0].str == "already-waiting");
    std::vector<std::string> pushed, held;
    for (std::size_t i = 1; i < r[0].elements.size(); ++i) pushed.push_back(r[0].elements[i].str);
    for (auto& [field, value] : f["work_hash"].items()) {
      held.push_back(json::parse(value.get<std::string>())["payload"].get<std::string>());
    }
    std::sort(pushed.begin(), pushed.end());
    std::sort(held.begin(), held.end());
    CHECK(pushed == held);
    REQUIRE(r[1].elements.size() == 1);
    CHECK(r[1].elements[0].str == "default");
    CHECK(r[2].integer == 0);
    CHECK(r[3].integer == 0);

    // Again: the identity is gone, so nothing is pushed twice.
    auto again = recover(loop, recovery, 4242, identity);
    REQUIRE(again);
    CHECK(again->status == RecoveryStatus::SelfRequeued);
    auto len = run(loop, client, {{"LLEN", "queue:default"}});
    CHECK(len[0].integer == static_cast<long long>(1 + f["work_hash"].size()));
  }

  SUBCASE("a reliable fetch holds the jobs: nothing pushed") {
    json f = fixture("7.3.2");
    for (std::string marker : {"super_processes", "working", "heartbeat"}) {
      CAPTURE(marker);
      run(loop, client, {{"FLUSHALL"}});
      std::string identity = seed(loop, client, f, host);
      if (marker == "super_processes") run(loop, client, {{"SADD", "super_processes", identity}});
      if (marker == "working") {
        run(loop, client, {{"LPUSH", "working:queue:default:" + identity, "{}"}});
      }
      if (marker == "heartbeat") {
        std::string key = "reliable-fetcher-heartbeat-" + identity;
        std::replace(key.begin(), key.end(), ':', '-');
        run(loop, client, {{"SET", key, "1"}});
      }
      auto outcome = recover(loop, recovery, 4242, identity);
      REQUIRE(outcome);
      CHECK(outcome->status == RecoveryStatus::ReliableFetch);
      CHECK(run(loop, client, {{"LLEN", "queue:default"}})[0].integer == 0);
    }
  }

  SUBCASE("an identity of a previous container, or none: nothing pushed") {
    run(loop, client, {{"FLUSHALL"}});
    auto none = recover(loop, recovery, 4242, "");
    REQUIRE(none);
    CHECK(none->status == RecoveryStatus::NoIdentity);
    JobRecovery later(
        &client, host, 2.0e9, [] { return 2.0e9; }, logs.fn());
    seed(loop, client, fixture("6.4.1"), host);
    auto old = recover(loop, later, 4242, "");
    REQUIRE(old);
    CHECK(old->status == RecoveryStatus::NoIdentity);
  }

  SUBCASE("read before the kill, pushed after it") {
    json f = fixture("8.1.7");
    run(loop, client, {{"FLUSHALL"}});
    std::string identity = seed(loop, client, f, host);
    recovery.read_ahead({{4242, FoundBy::Redis, identity}});
    // Sidekiq's last beat after the read rewrites nothing that matters:
    // what was read is what is pushed.
    auto outcome = recover(loop, recovery, 4242, identity);
    REQUIRE(outcome);
    CHECK(outcome->status == RecoveryStatus::Requeued);
    CHECK(run(loop, client, {{"LLEN", "queue:default"}})[0].integer ==
          static_cast<long long>(f["work_hash"].size()));
  }
  close_client(loop, client);
}
