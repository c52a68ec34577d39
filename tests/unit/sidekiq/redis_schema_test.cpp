#include "quiesce/sidekiq/redis_schema.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

namespace sk = quiesce::sidekiq;
using quiesce::FoundBy;
using quiesce::redis::Command;
using quiesce::redis::Reply;

namespace {

Reply str(std::string s) {
  Reply r;
  r.type = Reply::Type::String;
  r.str = std::move(s);
  return r;
}
Reply nil() {
  return Reply{};
}
Reply integer(long long v) {
  Reply r;
  r.type = Reply::Type::Integer;
  r.integer = v;
  return r;
}
Reply error(std::string s) {
  Reply r;
  r.type = Reply::Type::Error;
  r.str = std::move(s);
  return r;
}
Reply array(std::vector<Reply> elements) {
  Reply r;
  r.type = Reply::Type::Array;
  r.elements = std::move(elements);
  return r;
}

constexpr double kNow = 1700000100.0;
constexpr double kStarted = 1700000000.0;  // process start from /proc

// As launcher.rb's to_json writes it.
std::string info_json(double started_at, int pid = 42) {
  return R"({"hostname":"web-1","started_at":)" + std::to_string(started_at) + R"(,"pid":)" +
         std::to_string(pid) +
         R"(,"tag":"app","concurrency":10,"queues":["default"],"labels":[],"identity":"web-1:)" +
         std::to_string(pid) + R"(:0123456789ab"})";
}

// As Sidekiq.dump_json({queue:, payload: jobstr, run_at:}) writes it.
std::string work_json(const std::string& klass, const std::string& jid, double run_at) {
  return R"({"queue":"default","payload":"{\"retry\":true,\"queue\":\"default\",\"class\":\")" +
         klass + R"(\",\"args\":[1],\"jid\":\")" + jid +
         R"(\",\"created_at\":1700000000.5,\"enqueued_at\":1700000000.5}","run_at":)" +
         std::to_string(static_cast<long long>(run_at)) + "}";
}

}  // namespace

TEST_CASE("identity: parsed from the right, hostname may hold colons") {
  auto id = sk::parse_identity("web-1:42:0123456789ab");
  REQUIRE(id);
  CHECK(id->hostname == "web-1");
  CHECK(id->pid == 42);
  CHECK(id->nonce == "0123456789ab");

  auto odd = sk::parse_identity("dyno:worker.1:7:abcdef012345");
  REQUIRE(odd);
  CHECK(odd->hostname == "dyno:worker.1");
  CHECK(odd->pid == 7);

  CHECK_FALSE(sk::parse_identity(""));
  CHECK_FALSE(sk::parse_identity("web-1:42"));
  CHECK_FALSE(sk::parse_identity("web-1:x:abc"));
  CHECK_FALSE(sk::parse_identity("web-1:-3:abc"));
  CHECK_FALSE(sk::parse_identity("web-1:42:"));
  // DYNO="": Sidekiq names itself with an empty host part.
  auto empty_host = sk::parse_identity(":42:abc");
  REQUIRE(empty_host);
  CHECK(empty_host->hostname.empty());
  CHECK(empty_host->pid == 42);
  CHECK_FALSE(sk::parse_identity("::abc"));
  CHECK_FALSE(sk::parse_identity("web-1:99999999999:abc"));
}

TEST_CASE("discovery: commands and candidate filter") {
  CHECK(sk::members_command() == Command{"SMEMBERS", "processes"});
  CHECK(sk::identity_info_command("h:1:n") ==
        Command{"HMGET", "h:1:n", "info", "beat", "concurrency"});

  Reply members = array({str("web-1:42:0123456789ab"), str("web-2:42:0123456789ab"),
                         str("web-1:43:aaaaaaaaaaaa"), str("web-1:99:bbbbbbbbbbbb"), str("garbage"),
                         integer(5), nil(), str("web-1:42:0123456789ab")});
  auto list = sk::parse_members(members);
  CHECK(list.size() == 6);
  auto candidates = sk::candidate_identities(list, "web-1", {42, 43});
  CHECK(candidates == std::vector<std::string>{"web-1:42:0123456789ab", "web-1:43:aaaaaaaaaaaa"});

  CHECK(sk::parse_members(nil()).empty());
  CHECK(sk::parse_members(error("ERR wrong")).empty());
  CHECK(sk::parse_members(str("web-1:42:0123456789ab")).empty());
  CHECK(sk::candidate_identities(list, "web-1", {}).empty());

  // An empty host (DYNO="") matches only an empty host.
  auto dyno = sk::parse_members(array({str(":42:0123456789ab"), str("web-1:42:aaaaaaaaaaaa")}));
  CHECK(sk::candidate_identities(dyno, "", {42}) == std::vector<std::string>{":42:0123456789ab"});
}

TEST_CASE("discovery: two live identities for one process are none") {
  quiesce::FoundProcess a{42, FoundBy::Redis, "web-1:42:aaaaaaaaaaaa"};
  quiesce::FoundProcess b{42, FoundBy::Redis, "web-1:42:bbbbbbbbbbbb"};
  quiesce::FoundProcess c{43, FoundBy::Redis, "web-1:43:cccccccccccc"};
  std::vector<pid_t> ambiguous;
  auto chosen = sk::one_identity_each({a, c, b}, &ambiguous);
  REQUIRE(chosen.size() == 1);
  CHECK(chosen[0].identity == c.identity);
  CHECK(ambiguous == std::vector<pid_t>{42});
  // The same identity twice is one.
  CHECK(sk::one_identity_each({a, a}).size() == 1);
}

TEST_CASE("discovery: the title must agree with the identity (tag, concurrency)") {
  const std::string id = "web-1:42:0123456789ab";
  Reply reply = array({str(info_json(kStarted + 3)), str("1700000095")});
  quiesce::TitleReading title{"6.4.1", 1, 10, false, "app"};
  CHECK(sk::accept_identity(id, reply, sk::LocalProcess{kStarted, title}, kNow));
  auto other_tag = title;
  other_tag.tag = "";
  CHECK_FALSE(sk::accept_identity(id, reply, sk::LocalProcess{kStarted, other_tag}, kNow));
  auto other_concurrency = title;
  other_concurrency.concurrency = 5;
  CHECK_FALSE(sk::accept_identity(id, reply, sk::LocalProcess{kStarted, other_concurrency}, kNow));
  // 8.1.2+: concurrency is the hash's own field, not info's.
  Reply eight = array({str(R"({"hostname":"web-1","started_at":1700000003.0,"pid":42,"tag":"app",)"
                           R"("identity":"web-1:42:0123456789ab","version":"8.1.7"})"),
                       str("1700000095"), str("5")});
  CHECK(sk::accept_identity(id, eight, sk::LocalProcess{kStarted, other_concurrency}, kNow));
  CHECK_FALSE(sk::accept_identity(id, eight, sk::LocalProcess{kStarted, title}, kNow));
  auto found = sk::accept_identity(id, eight, sk::LocalProcess{kStarted, other_concurrency}, kNow);
  REQUIRE(found);
  CHECK(found->version == "8.1.7");
  CHECK_FALSE(found->embedded);
  // 6.x writes no version: the title's stands in.
  auto six = sk::accept_identity(id, reply, sk::LocalProcess{kStarted, title}, kNow);
  REQUIRE(six);
  CHECK(six->version == "6.4.1");
}

TEST_CASE("discovery: accepts a live identity of this process") {
  Reply reply = array({str(info_json(kStarted + 3.25)), str("1700000095.123456")});
  auto found = sk::accept_identity("web-1:42:0123456789ab", reply, kStarted, kNow);
  REQUIRE(found);
  CHECK(found->pid == 42);
  CHECK(found->by == FoundBy::Redis);
  CHECK(found->identity == "web-1:42:0123456789ab");

  // started_at a little before the /proc start: rounding, still accepted.
  Reply early = array({str(info_json(kStarted - 1.5)), str("1700000095.1")});
  CHECK(sk::accept_identity("web-1:42:0123456789ab", early, kStarted, kNow));
}

TEST_CASE("discovery: rejects stale, dead and malformed identities") {
  const std::string id = "web-1:42:0123456789ab";
  // A previous container's process with the same hostname and pid.
  CHECK_FALSE(sk::accept_identity(id, array({str(info_json(kStarted - 600)), str("1700000095")}),
                                  kStarted, kNow));
  // Beat too old: killed, keys not yet expired.
  CHECK_FALSE(sk::accept_identity(id, array({str(info_json(kStarted + 1)), str("1700000030")}),
                                  kStarted, kNow));
  // info's pid disagrees with the identity.
  CHECK_FALSE(sk::accept_identity(id, array({str(info_json(kStarted + 1, 43)), str("1700000095")}),
                                  kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(id, array({nil(), nil()}), kStarted, kNow));
  CHECK_FALSE(
      sk::accept_identity(id, array({str("{not json"), str("1700000095")}), kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(id, array({str("[1,2]"), str("1700000095")}), kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(id, array({str(R"({"started_at":"soon"})"), str("1700000095")}),
                                  kStarted, kNow));
  CHECK_FALSE(
      sk::accept_identity(id, array({str(R"({"pid":42})"), str("1700000095")}), kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(id, array({str(info_json(kStarted + 1)), str("yesterday")}),
                                  kStarted, kNow));
  CHECK_FALSE(
      sk::accept_identity(id, array({str(info_json(kStarted + 1)), str("nan")}), kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(id, array({str(info_json(kStarted + 1))}), kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(id, error("WRONGTYPE Operation against a key"), kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(id, nil(), kStarted, kNow));
  CHECK_FALSE(sk::accept_identity(
      "nonsense", array({str(info_json(kStarted + 1)), str("1700000095")}), kStarted, kNow));
}

TEST_CASE("polling: heartbeat command and parsing") {
  CHECK(sk::heartbeat_command("h:1:n") == Command{"HMGET", "h:1:n", "beat", "quiet", "busy"});
  // Version unknown: both keys.
  auto work = sk::work_commands("h:1:n");
  REQUIRE(work.size() == 2);
  CHECK(work[0] == Command{"HGETALL", "h:1:n:work"});
  CHECK(work[1] == Command{"HGETALL", "h:1:n:workers"});
  // <id>:workers up to 6.4.1, <id>:work from 6.4.2.
  CHECK(sk::work_commands("h:1:n", "6.4.1") == std::vector<Command>{{"HGETALL", "h:1:n:workers"}});
  CHECK(sk::work_commands("h:1:n", "6.0.0") == std::vector<Command>{{"HGETALL", "h:1:n:workers"}});
  CHECK(sk::work_commands("h:1:n", "6.4.2") == std::vector<Command>{{"HGETALL", "h:1:n:work"}});
  CHECK(sk::work_commands("h:1:n", "7.3.2") == std::vector<Command>{{"HGETALL", "h:1:n:work"}});
  CHECK(sk::work_commands("h:1:n", "8.0.0.rc1") == std::vector<Command>{{"HGETALL", "h:1:n:work"}});

  auto r = sk::parse_heartbeat("h:1:n", array({str("1700000095.5"), str("true"), str("3")}));
  REQUIRE(r);
  CHECK(r->identity == "h:1:n");
  CHECK(r->beat == doctest::Approx(1700000095.5));
  CHECK(r->quiet);
  CHECK(r->busy == 3);
  CHECK(r->jobs.empty());

  auto loud = sk::parse_heartbeat("h:1:n", array({str("1700000095"), str("false"), str("0")}));
  REQUIRE(loud);
  CHECK_FALSE(loud->quiet);
  CHECK(loud->busy == 0);

  // Quiet unreadable: not quiet (the cautious reading).
  auto odd = sk::parse_heartbeat("h:1:n", array({str("1700000095"), nil(), integer(2)}));
  REQUIRE(odd);
  CHECK_FALSE(odd->quiet);
  CHECK(odd->busy == 2);
}

TEST_CASE("polling: garbage heartbeats give no reading") {
  CHECK_FALSE(sk::parse_heartbeat("i", nil()));
  CHECK_FALSE(sk::parse_heartbeat("i", error("ERR connection lost")));
  CHECK_FALSE(sk::parse_heartbeat("i", str("1700000095")));
  CHECK_FALSE(sk::parse_heartbeat("i", array({})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({nil(), nil(), nil()})));  // key expired
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("soon"), str("true"), str("0")})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("inf"), str("true"), str("0")})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true")})));
  // A busy count that cannot be read must never look like zero.
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"), str("")})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"), str("many")})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"), str("-1")})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"), nil()})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"), array({str("1")})})));
}

TEST_CASE("polling: work hash with double-encoded payloads (6.x, 7.x)") {
  Reply hash = array({str("2p1"), str(work_json("HardJob", "abc123", kNow - 12)), str("2p5"),
                      str(work_json("EasyJob", "def456", kNow - 1))});
  auto jobs = sk::parse_work(hash);
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].job_class == "HardJob");
  CHECK(jobs[0].jid == "abc123");
  CHECK(jobs[0].queue == "default");
  auto flying = sk::in_flight(jobs, kNow);
  REQUIRE(flying.size() == 2);
  CHECK(flying[0].running_seconds == doctest::Approx(12));
  CHECK(flying[1].job_class == "EasyJob");
  CHECK(flying[1].running_seconds == doctest::Approx(1));
}

TEST_CASE("polling: work hash with the payload already a hash, ActiveJob wrapper") {
  Reply hash = array(
      {str("t1"),
       str(R"({"queue":"mail","payload":{"class":"Sidekiq::ActiveJob::Wrapper","wrapped":"MailJob","jid":"j1"},"run_at":1700000090})")});
  auto jobs = sk::parse_work(hash);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].job_class == "MailJob");
  CHECK(jobs[0].jid == "j1");
  CHECK(jobs[0].queue == "mail");
  CHECK(sk::in_flight(jobs, kNow)[0].running_seconds == doctest::Approx(10));
}

TEST_CASE("polling: garbage in the work hash") {
  CHECK(sk::parse_work(nil()).empty());
  CHECK(sk::parse_work(error("WRONGTYPE")).empty());
  CHECK(sk::parse_work(str("x")).empty());
  CHECK(sk::parse_work(array({})).empty());
  Reply hash = array({str("t1"), str("{broken"), str("t2"), integer(7), str("t3"), str("[1]"),
                      str("t4"), str(R"({"queue":"q","payload":"{also broken","run_at":"x"})"),
                      str("t5"), str(R"({"payload":42})"), str("dangling")});
  auto jobs = sk::parse_work(hash);
  // t4 and t5 are running jobs we know little about; the rest are not jobs.
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].queue == "q");
  CHECK(jobs[0].job_class.empty());
  auto flying = sk::in_flight(jobs, kNow);
  CHECK(flying[0].running_seconds == 0);
  // A run_at in the future (clock step) is not negative time.
  std::vector<sk::RunningJob> future{{"C", "j", "q", kNow + 50}};
  CHECK(sk::in_flight(future, kNow)[0].running_seconds == 0);
}

TEST_CASE("polling: the work cache asks again only when the beat moves") {
  sk::WorkCache cache;
  CHECK(cache.needs_refresh("a", 100.0));
  cache.store("a", 100.0, {{"C", "j", "q", 90.0}});
  CHECK_FALSE(cache.needs_refresh("a", 100.0));
  CHECK(cache.needs_refresh("a", 105.0));
  CHECK(cache.needs_refresh("b", 100.0));
  auto jobs = cache.jobs("a", 103.0);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].running_seconds == doctest::Approx(13));
  CHECK(cache.jobs("b", 103.0).empty());
  cache.clear();
  CHECK(cache.needs_refresh("a", 100.0));

  // Read between 6.4.2-7.2's DEL and HSETs: empty while the beat says busy.
  // Read again at the next poll, not a beat later.
  cache.store("a", 100.0, {}, 3);
  CHECK(cache.needs_refresh("a", 100.0));
  cache.store("a", 100.0, {{"C", "j", "q", 90.0}}, 3);
  CHECK_FALSE(cache.needs_refresh("a", 100.0));
  // Empty and idle is an answer.
  cache.store("b", 100.0, {}, 0);
  CHECK_FALSE(cache.needs_refresh("b", 100.0));
}

namespace {

// `{"a":{"a":...{}...}}`, `depth` objects deep.
std::string nested_object(std::size_t depth) {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += R"({"a":)";
  text += "{}";
  text.append(depth, '}');
  return text;
}

// A JSON string literal holding `text`.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

TEST_CASE("polling: a work entry nested 200,000 deep is skipped and reported, not a crash") {
  const std::string deep = nested_object(200'000);
  Reply hash =
      array({str("t1"), str(work_json("HardJob", "abc123", kNow - 12)), str("t2"),
             str(R"({"queue":"q","payload":)" + quoted(deep) + R"(,"run_at":1})"), str("t3"),
             str(R"({"queue":"q","payload":)" + deep + R"(,"run_at":1})"), str("t\n4"), str(deep)});
  std::vector<std::string> skipped;
  auto jobs = sk::parse_work(hash, &skipped);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].job_class == "HardJob");
  REQUIRE(skipped.size() == 3);
  CHECK(skipped[0] == "t2: payload nested deeper than 64 levels");
  CHECK(skipped[1] == "t3: entry nested deeper than 64 levels");
  CHECK(skipped[2] == "t?4: entry nested deeper than 64 levels");
  // What Sidekiq writes, with args a few levels deep, is still read.
  Reply fine = array({str("t1"), str(R"({"queue":"q","payload":{"class":"C","args":)" +
                                     nested_object(40) + R"(},"run_at":1})")});
  skipped.clear();
  REQUIRE(sk::parse_work(fine, &skipped).size() == 1);
  CHECK(skipped.empty());
  // Brackets inside strings do not count.
  std::string brackets(1000, '[');
  Reply in_string = array(
      {str("t1"), str(R"({"queue":"q","payload":{"class":")" + brackets + R"("},"run_at":1})")});
  REQUIRE(sk::parse_work(in_string).size() == 1);
}

TEST_CASE("discovery: identity info nested 200,000 deep is not accepted, not a crash") {
  std::string info = R"({"started_at":1700000000,"pid":42,"x":)" + nested_object(200'000) + "}";
  CHECK_FALSE(sk::accept_identity("web-1:42:0123456789ab", array({str(info), str("1700000095")}),
                                  kStarted, kNow));
}

TEST_CASE("Redis numbers: NaN, infinities, huge and negative times are no reading") {
  for (const char* beat : {"nan", "-nan", "inf", "-inf", "1e300", "-1e300", "-5", "0", "1e15",
                           "179769313486231570814527423731704356798070567525844996598917476803157"
                           "260780028538760589558632766878171540458953514382464234321326889464182"
                           "768467546703537516986049910576551282076245490090389328944075868508455"
                           "133942304583236903222948165808559332123348274797826204144723168738177"
                           "180919299881250404026184124858368"}) {
    INFO(std::string(beat));
    CHECK_FALSE(sk::parse_heartbeat("i", array({str(beat), str("true"), str("0")})));
  }
  // busy beyond any concurrency, and an integer reply of any size.
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"), str("1e3")})));
  CHECK_FALSE(sk::parse_heartbeat(
      "i", array({str("1700000095"), str("true"), str("99999999999999999999999")})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"),
                                              integer(std::numeric_limits<long long>::min())})));
  CHECK_FALSE(sk::parse_heartbeat("i", array({str("1700000095"), str("true"),
                                              integer(std::numeric_limits<long long>::max())})));
  // A run_at that is no time is unknown (0), never a job running for 1e300 s.
  for (const char* run_at : {"-1e300", "1e300", "-5", "\"nan\"", "\"-inf\""}) {
    INFO(std::string(run_at));
    Reply hash =
        array({str("t1"), str(std::string(R"({"queue":"q","payload":{"class":"C"},"run_at":)") +
                              run_at + "}")});
    auto jobs = sk::parse_work(hash);
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].run_at == 0);
    CHECK(sk::in_flight(jobs, kNow)[0].running_seconds == 0);
  }
  // A started_at that is no time does not pass for a fresh identity.
  for (const char* started : {"1e300", "-1e300", "1e999"}) {
    INFO(std::string(started));
    std::string info = std::string(R"({"started_at":)") + started + R"(,"pid":42})";
    CHECK_FALSE(sk::accept_identity("web-1:42:0123456789ab", array({str(info), str("1700000095")}),
                                    kStarted, kNow));
  }
}
