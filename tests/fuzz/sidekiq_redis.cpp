// What Sidekiq (or anyone who can write to that Redis) left there: the
// processes set, an identity's info JSON and heartbeat, its work hash. The
// input's NUL-separated pieces become the strings of the replies.
#include <string>
#include <vector>

#include "fuzz_target.hpp"
#include "quiesce/sidekiq/redis_schema.hpp"

namespace {

using quiesce::redis::Reply;

Reply str(std::string_view s) {
  Reply r;
  r.type = Reply::Type::String;
  r.str = std::string(s);
  return r;
}

Reply array_of(const std::vector<std::string_view>& pieces) {
  Reply r;
  r.type = Reply::Type::Array;
  for (std::string_view p : pieces) {
    // "(nil)" and "(int)N" stand for the other reply types a hash may give.
    if (p == "(nil)") {
      r.elements.emplace_back();
    } else if (p.starts_with("(int)")) {
      Reply i;
      i.type = Reply::Type::Integer;
      i.integer = static_cast<long long>(p.size()) * 1000003LL - 7;
      r.elements.push_back(i);
    } else {
      r.elements.push_back(str(p));
    }
  }
  return r;
}

}  // namespace

QUIESCE_FUZZ_TARGET(sidekiq_redis) {
  namespace sk = quiesce::sidekiq;
  std::string_view text = quiesce::fuzz::text_of(data, size);
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\0', start);
    if (end == std::string_view::npos) end = text.size();
    pieces.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  constexpr double kNow = 1700000100.0;

  // The whole input as one JSON value: an info field, a work entry.
  Reply whole = array_of({text, "1700000095.5"});
  sk::accept_identity("web-1:42:0123456789ab", whole, 1700000000.0, kNow);
  std::vector<std::string> skipped;
  auto jobs = sk::parse_work(array_of({"tid", text}), &skipped);
  for (const auto& job : sk::in_flight(jobs, kNow)) {
    quiesce::fuzz::require(job.running_seconds >= 0 && job.running_seconds < 1e12,
                           "a job runs for a time");
  }

  // The pieces as the replies of every command the probe sends.
  Reply pieces_reply = array_of(pieces);
  auto members = sk::parse_members(pieces_reply);
  for (const std::string& m : members) sk::parse_identity(m);
  sk::candidate_identities(members, pieces[0], {1, 42, 7, 100});
  if (pieces.size() >= 1) sk::accept_identity(std::string(pieces[0]), pieces_reply, 1.0, kNow);
  if (auto beat = sk::parse_heartbeat("web-1:42:0123456789ab", pieces_reply)) {
    quiesce::fuzz::require(beat->busy >= 0 && beat->beat > 0 && beat->beat <= 1e11,
                           "a heartbeat within range");
  }
  sk::WorkCache cache;
  auto work = sk::parse_work(pieces_reply, &skipped);
  cache.store("i", 1.0, work);
  cache.jobs("i", kNow);
  return 0;
}
