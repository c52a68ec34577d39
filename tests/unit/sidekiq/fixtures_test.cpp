// The readers against what the real Sidekiq 6.4.1, 7.3.2 and 8.1.7 wrote,
// captured by tests/fixtures/capture: no invented shapes.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "quiesce/sidekiq/redis_schema.hpp"
#include "quiesce/sidekiq/title.hpp"

namespace sk = quiesce::sidekiq;
using json = nlohmann::json;
using quiesce::redis::Reply;

namespace {

const char* const kVersions[] = {"6.4.1", "7.3.2", "8.1.7"};

json fixture(const std::string& version, const std::string& state) {
  std::ifstream in(std::string(QUIESCE_SOURCE_DIR) + "/tests/fixtures/sidekiq-" + version + "/" +
                   state + ".json");
  if (!in) return json();  // a state the version does not have (6.x: no capsules)
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

Reply str(const std::string& s) {
  Reply r;
  r.type = Reply::Type::String;
  r.str = s;
  return r;
}

// HMGET <identity> fields...: the strings as Redis holds them, nil if absent.
Reply hmget(const json& hash, std::vector<std::string> fields) {
  Reply r;
  r.type = Reply::Type::Array;
  for (const auto& f : fields) {
    r.elements.push_back(hash.contains(f) ? str(hash[f].get<std::string>()) : Reply{});
  }
  return r;
}

Reply hgetall(const json& hash) {
  Reply r;
  if (hash.is_null()) {
    r.type = Reply::Type::Array;  // HGETALL of a missing key: an empty array
    return r;
  }
  r.type = Reply::Type::Array;
  for (const auto& [k, v] : hash.items()) {
    r.elements.push_back(str(k));
    r.elements.push_back(str(v.get<std::string>()));
  }
  return r;
}

double beat_of(const json& f) {
  return std::stod(f["identity_hash"]["beat"].get<std::string>());
}

json info_of(const json& f) {
  return json::parse(f["identity_hash"]["info"].get<std::string>());
}

// The process as /proc shows it, started a moment before Sidekiq's started_at.
sk::LocalProcess local(const json& f) {
  return sk::LocalProcess{info_of(f)["started_at"].get<double>() - 0.5,
                          quiesce::parse_sidekiq_title(f["cmdline"].get<std::string>())};
}

std::optional<quiesce::FoundProcess> accept(const json& f, const sk::LocalProcess& process) {
  auto reply = hmget(f["identity_hash"], {"info", "beat", "concurrency"});
  return sk::accept_identity(f["identity"].get<std::string>(), reply, process, beat_of(f) + 1);
}

}  // namespace

TEST_CASE("fixtures: the title, the identity and the heartbeat of a busy process agree") {
  for (const char* version : kVersions) {
    for (const char* state : {"busy", "capsules-busy", "proctitle-busy"}) {
      json f = fixture(version, state);
      if (f.is_null()) continue;
      CAPTURE(version);
      CAPTURE(state);
      const json& hash = f["identity_hash"];
      int busy = std::stoi(hash["busy"].get<std::string>());
      auto title = quiesce::parse_sidekiq_title(f["cmdline"].get<std::string>());
      REQUIRE(title);
      CHECK(title->version == version);
      CHECK(title->busy == busy);
      CHECK_FALSE(title->stopping);
      json info = info_of(f);
      CHECK(title->tag == info["tag"].get<std::string>());
      // 8.1 moved concurrency out of info into the hash; the title's is the
      // total across capsules either way.
      if (std::string(version) == "8.1.7") {
        CHECK_FALSE(info.contains("concurrency"));
        CHECK(title->concurrency == std::stoi(hash["concurrency"].get<std::string>()));
        int total = 0;
        for (const auto& [name, capsule] : info["capsules"].items()) {
          total += capsule["concurrency"].get<int>();
        }
        CHECK(title->concurrency == total);
      } else {
        CHECK(title->concurrency == info["concurrency"].get<int>());
      }

      auto found = accept(f, local(f));
      REQUIRE(found);
      CHECK(found->identity == f["identity"].get<std::string>());
      CHECK_FALSE(found->embedded);
      CHECK(found->version == version);  // info.version from 7.0, the title's before

      auto beat = sk::parse_heartbeat(found->identity, hmget(hash, {"beat", "quiet", "busy"}));
      REQUIRE(beat);
      CHECK(beat->busy == busy);
      CHECK_FALSE(beat->quiet);

      // The version picks the one key this Sidekiq writes.
      auto commands = sk::work_commands(found->identity, found->version);
      REQUIRE(commands.size() == 1);
      CHECK(commands[0][1] == f["work_key"].get<std::string>());
      std::vector<std::string> skipped;
      auto jobs = sk::parse_work(hgetall(f["work_hash"]), &skipped);
      CHECK(skipped.empty());
      REQUIRE(static_cast<int>(jobs.size()) == busy);
      for (const auto& job : jobs) {
        CHECK(job.job_class == "SleepJob");
        CHECK(job.jid.size() == 24);
        CHECK(job.run_at > 1.7e9);
        CHECK(job.run_at < 1e10);  // seconds in every version
      }
    }
  }
}

TEST_CASE("fixtures: 8.x payloads carry integer milliseconds, 6.x and 7.x float seconds") {
  for (const char* version : kVersions) {
    CAPTURE(version);
    json f = fixture(version, "busy");
    for (const auto& [thread, entry] : f["work_hash"].items()) {
      json job = json::parse(json::parse(entry.get<std::string>())["payload"].get<std::string>());
      if (std::string(version) == "8.1.7") {
        CHECK(job["created_at"].is_number_integer());
        CHECK(job["created_at"].get<double>() > 1e12);
      } else {
        CHECK(job["created_at"].is_number_float());
        CHECK(job["created_at"].get<double>() < 1e10);
      }
    }
  }
}

TEST_CASE("fixtures: quiet after TSTP, in Redis and in the title") {
  for (const char* version : kVersions) {
    CAPTURE(version);
    for (const char* state : {"quiet", "proctitle-quiet"}) {
      json f = fixture(version, state);
      REQUIRE_FALSE(f.is_null());
      auto beat = sk::parse_heartbeat("x", hmget(f["identity_hash"], {"beat", "quiet", "busy"}));
      REQUIRE(beat);
      CHECK(beat->quiet);
      auto title = quiesce::parse_sidekiq_title(f["cmdline"].get<std::string>());
      REQUIRE(title);
      CHECK(title->stopping);
      CHECK(title->busy == beat->busy);
    }
  }
}

TEST_CASE("fixtures: the work key is absent while idle from 7.3 on") {
  for (const char* version : {"7.3.2", "8.1.7"}) {
    CAPTURE(version);
    json f = fixture(version, "idle");
    CHECK(f["work_hash"].is_null());
    CHECK(sk::parse_work(hgetall(f["work_hash"])).empty());
    auto beat = sk::parse_heartbeat("x", hmget(f["identity_hash"], {"beat", "quiet", "busy"}));
    REQUIRE(beat);
    CHECK(beat->busy == 0);
    // Idle and empty: nothing to read again before the next beat.
    sk::WorkCache cache;
    cache.store("x", beat->beat, {}, beat->busy);
    CHECK_FALSE(cache.needs_refresh("x", beat->beat));
  }
}

TEST_CASE("fixtures: an embedded Sidekiq has no title and says embedded in info") {
  for (const char* version : {"7.3.2", "8.1.7"}) {
    CAPTURE(version);
    json f = fixture(version, "embedded-busy");
    REQUIRE_FALSE(f.is_null());
    CHECK_FALSE(quiesce::parse_sidekiq_title(f["cmdline"].get<std::string>()));
    auto found = accept(f, local(f));
    REQUIRE(found);
    CHECK(found->embedded);
    CHECK(found->version == version);
  }
}

TEST_CASE("fixtures: another container's identity with the same host and pid is told apart") {
  for (const char* version : kVersions) {
    CAPTURE(version);
    json f = fixture(version, "busy");
    auto mine = local(f);
    REQUIRE(mine.title);
    // Another tag in the title: not this process.
    auto other_tag = mine;
    other_tag.title->tag = "other";
    CHECK_FALSE(accept(f, other_tag));
    // Another concurrency.
    auto other_concurrency = mine;
    other_concurrency.title->concurrency += 1;
    CHECK_FALSE(accept(f, other_concurrency));
    // Started after that identity's Sidekiq started: not this process.
    auto later = mine;
    later.started += 30;
    CHECK_FALSE(accept(f, later));
    // Without a title (still booting), tag and concurrency prove nothing.
    auto untitled = mine;
    untitled.title.reset();
    CHECK(accept(f, untitled));
  }
}
