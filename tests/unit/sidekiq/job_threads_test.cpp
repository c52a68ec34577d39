#include "quiesce/sidekiq/job_threads.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "named_thread.hpp"
#include "quiesce/sidekiq/redis_schema.hpp"

using quiesce::is_job_thread_name;
using quiesce::read_job_threads;
namespace sk = quiesce::sidekiq;

namespace {

nlohmann::json fixture(const std::string& version, const std::string& state) {
  auto path = std::filesystem::path(QUIESCE_SOURCE_DIR) / "tests" / "fixtures" /
              ("sidekiq-" + version) / (state + ".json");
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// HMGET <id> info beat, as the real Sidekiq's hash answers it.
quiesce::redis::Reply info_reply(const nlohmann::json& captured) {
  quiesce::redis::Reply info;
  info.type = quiesce::redis::Reply::Type::String;
  info.str = captured["identity_hash"]["info"].get<std::string>();
  quiesce::redis::Reply beat = info;
  beat.str = captured["identity_hash"]["beat"].get<std::string>();
  quiesce::redis::Reply reply;
  reply.type = quiesce::redis::Reply::Type::Array;
  reply.elements = {info, beat};
  return reply;
}

// The names each captured process had, as job threads or not.
int job_threads_in(const nlohmann::json& captured, const std::vector<std::string>& capsules) {
  int n = 0;
  for (const auto& [name, count] : captured["threads"].items()) {
    if (is_job_thread_name(name, capsules)) n += count.get<int>();
  }
  return n;
}

}  // namespace

TEST_CASE("job thread names: 6.x processor, 7+ sidekiq.<capsule>/processor cut at 15 bytes") {
  CHECK(is_job_thread_name("processor", {}));
  CHECK_FALSE(is_job_thread_name("heartbeat", {}));
  CHECK_FALSE(is_job_thread_name("scheduler", {}));
  CHECK_FALSE(is_job_thread_name("sidekiq", {}));  // the main thread, named by $0
  CHECK(is_job_thread_name("sidekiq.default", {}));
  CHECK(is_job_thread_name("sidekiq.second/", {}));
  CHECK_FALSE(is_job_thread_name("sidekiq.heartbe", {}));
  CHECK_FALSE(is_job_thread_name("sidekiq.schedul", {}));
  CHECK_FALSE(is_job_thread_name("sidekiq.", {}));
  CHECK_FALSE(is_job_thread_name("ruby", {}));

  // With the capsule names from Redis, only theirs.
  std::vector<std::string> capsules{"default", "second", "x"};
  CHECK(is_job_thread_name("sidekiq.default", capsules));
  CHECK(is_job_thread_name("sidekiq.second/", capsules));
  CHECK(is_job_thread_name("sidekiq.x/proce", capsules));
  CHECK_FALSE(is_job_thread_name("sidekiq.other/p", capsules));
  CHECK_FALSE(is_job_thread_name("sidekiq.x", capsules));
}

TEST_CASE("job threads in what the real Sidekiq 6.4.1, 7.3.2 and 8.1.7 showed") {
  // capture: -c 5 busy; two capsules of 3 and 2; quiet with 3 left.
  CHECK(job_threads_in(fixture("6.4.1", "busy"), {}) == 5);
  CHECK(job_threads_in(fixture("6.4.1", "quiet"), {}) == 3);
  CHECK(job_threads_in(fixture("7.3.2", "capsules-busy"), {}) == 5);
  CHECK(job_threads_in(fixture("7.3.2", "embedded-busy"), {}) == 2);
  CHECK(job_threads_in(fixture("8.1.7", "quiet"), {}) == 3);

  auto eight = fixture("8.1.7", "capsules-busy");
  auto info = sk::job_threads_info(info_reply(eight));
  CHECK(info.concurrency == 5);
  CHECK(info.capsules == std::vector<std::string>{"default", "second"});
  CHECK(job_threads_in(eight, info.capsules) == 5);

  // 6.x and 7.x: concurrency in info, no capsule names.
  auto six = sk::job_threads_info(info_reply(fixture("6.4.1", "busy")));
  CHECK(six.concurrency == 5);
  CHECK(six.capsules.empty());
  auto seven = sk::job_threads_info(info_reply(fixture("7.3.2", "capsules-busy")));
  CHECK(seven.concurrency == 5);
  CHECK(seven.capsules.empty());
}

TEST_CASE("job_threads_info: nothing guessed from a broken info") {
  quiesce::redis::Reply reply;
  CHECK_FALSE(sk::job_threads_info(reply).concurrency);
  reply.type = quiesce::redis::Reply::Type::Array;
  quiesce::redis::Reply info;
  info.type = quiesce::redis::Reply::Type::String;
  for (const char* text :
       {"not json", R"({"concurrency":0})", R"({"concurrency":-3})", R"({"concurrency":2.5})",
        R"({"concurrency":"many"})", R"({"capsules":{"default":{"concurrency":"x"}}})"}) {
    info.str = text;
    reply.elements = {info};
    CHECK_FALSE(sk::job_threads_info(reply).concurrency);
  }
  info.str = R"({"capsules":{"a":{"concurrency":2},"b":{"concurrency":3}},"concurrency":9})";
  reply.elements = {info};
  CHECK(sk::job_threads_info(reply).concurrency == 5);
}

TEST_CASE("read_job_threads: a thread named as Sidekiq names a job thread reads as one") {
  quiesce::testing::NamedThread worker("processor");
  auto reading = read_job_threads(getpid(), {});
  REQUIRE(reading);
  CHECK(reading->job_threads() == 1);
  bool found = false;
  for (const auto& t : reading->threads) found = found || (t.tid == worker.tid() && t.job);
  CHECK(found);
  CHECK_FALSE(read_job_threads(0, {}));
}
