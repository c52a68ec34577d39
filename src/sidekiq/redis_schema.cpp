#include "quiesce/sidekiq/redis_schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <variant>

#include "quiesce/procfs/process_table.hpp"

namespace quiesce::sidekiq {
namespace {

using json = nlohmann::json;

// Text of a bulk or status reply; nothing for nil, integers, arrays, errors.
std::optional<std::string_view> text_of(const redis::Reply& reply) {
  if (reply.type == redis::Reply::Type::String || reply.type == redis::Reply::Type::Status) {
    return std::string_view(reply.str);
  }
  return std::nullopt;
}

std::optional<double> to_double(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<long long> to_integer(std::string_view text) {
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Sidekiq writes epoch seconds; a value this large can only be
// milliseconds (year 5138 in seconds), so accept that spelling too. Anything
// else (negative, zero, beyond year 5138 even in milliseconds) is no time:
// a beat from the far future would pass for every later one.
std::optional<double> epoch_seconds(double value) {
  if (value > 1e11) value /= 1000.0;
  if (!(value > 0 && value <= 1e11)) return std::nullopt;
  return value;
}

std::optional<double> json_number(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number()) {
    double value = it->get<double>();
    return std::isfinite(value) ? std::optional<double>(value) : std::nullopt;
  }
  if (it->is_string()) return to_double(it->get_ref<const std::string&>());
  return std::nullopt;
}

std::string json_string(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An array reply's element, or nothing when the shape is wrong.
const redis::Reply* element(const redis::Reply& reply, std::size_t index) {
  if (reply.type != redis::Reply::Type::Array || index >= reply.elements.size()) return nullptr;
  return &reply.elements[index];
}

std::optional<double> beat_of(const redis::Reply* reply) {
  if (!reply) return std::nullopt;
  auto text = text_of(*reply);
  if (!text) return std::nullopt;
  auto value = to_double(*text);
  if (!value) return std::nullopt;
  return epoch_seconds(*value);
}

// Sidekiq's JSON nests a few levels (a job's args may add some). A deeper
// one is hostile: 200,000 levels take 400 KB, and nlohmann-json's copies,
// comparisons and dumps recurse once per level.
constexpr std::size_t kMaxJsonDepth = 64;

// Whether the arrays and objects of `text` nest no deeper than kMaxJsonDepth,
// brackets inside strings not counted. Checked before parsing, so nothing
// deep is ever built.
bool json_depth_within_limit(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Parsed JSON from Redis; discarded when it does not parse or nests too deep.
json parse_json(std::string_view text) {
  if (!json_depth_within_limit(text)) return json(json::value_t::discarded);
  return json::parse(text, nullptr, false);
}

std::string too_deep(const char* what) {
  return fmt::format("{} nested deeper than {} levels", what, kMaxJsonDepth);
}

// The job inside a work entry: a JSON string (6, 7) or already an object.
// A string is parsed into `parsed`; the job is never copied. nullptr when
// the payload nests too deep to be read.
const json* job_of(const json& entry, json& parsed) {
  static const json kNoJob = json::object();
  auto it = entry.find("payload");
  if (it == entry.end()) return &kNoJob;
  if (it->is_object()) return &*it;
  if (!it->is_string()) return &kNoJob;
  const std::string& text = it->get_ref<const std::string&>();
  if (!json_depth_within_limit(text)) return nullptr;
  parsed = json::parse(text, nullptr, false);
  return parsed.is_object() ? &parsed : &kNoJob;
}

// A work entry's job, or why the entry cannot be read. With `payload`, the
// job JSON as Sidekiq stored it (a string in every version; an object is
// written back out).
std::variant<RunningJob, std::string> running_job(std::string_view value,
                                                  std::string* payload = nullptr) {
  if (!json_depth_within_limit(value)) return too_deep("entry");
  json entry = json::parse(value, nullptr, false);
  if (!entry.is_object()) return std::string("entry is not a JSON object");
  json parsed;
  const json* job = job_of(entry, parsed);
  if (!job) return too_deep("payload");
  if (payload) {
    auto it = entry.find("payload");
    if (it != entry.end() && it->is_string()) {
      *payload = it->get<std::string>();
    } else if (it != entry.end() && it->is_object()) {
      *payload = it->dump();
    }
  }
  RunningJob running;
  // ActiveJob runs every job as one wrapper class and names the real one
  // in "wrapped".
  running.job_class = json_string(*job, "wrapped");
  if (running.job_class.empty()) running.job_class = json_string(*job, "class");
  running.jid = json_string(*job, "jid");
  running.queue = json_string(entry, "queue");
  if (running.queue.empty()) running.queue = json_string(*job, "queue");
  auto run_at = json_number(entry, "run_at");
  running.run_at = run_at ? epoch_seconds(*run_at).value_or(0) : 0;
  return running;
}

// Words separated by single spaces, as the title shows a tag.
std::string single_spaced(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) break;
    if (!out.empty()) out += ' ';
    out.append(text.substr(start, i - start));
  }
  return out;
}

// The title and the identity describe one process only when they show the
// same tag and the same total concurrency: info.concurrency up to 8.1.1,
// the hash's own concurrency field from 8.1.2. Either missing proves
// nothing.
bool agrees_with_title(const json& info, const redis::Reply* hash_concurrency,
                       const TitleReading& title) {
  if (auto tag = info.find("tag"); tag != info.end() && tag->is_string()) {
    if (single_spaced(tag->get_ref<const std::string&>()) != title.tag) return false;
  }
  std::optional<double> concurrency = json_number(info, "concurrency");
  if (hash_concurrency) {
    if (auto text = text_of(*hash_concurrency)) {
      if (auto value = to_double(*text)) concurrency = value;
    }
  }
  return !concurrency || *concurrency == title.concurrency;
}

// "6.4.1" < "6.4.2"; "7.0.0.beta1" compares by its numbers.
bool version_before(std::string_view version, std::initializer_list<int> than) {
  std::size_t i = 0;
  for (int want : than) {
    int have = 0;
    auto [end, ec] = std::from_chars(version.data() + i, version.data() + version.size(), have);
    if (ec != std::errc{}) return false;
    if (have != want) return have < want;
    i = static_cast<std::size_t>(end - version.data());
    if (i < version.size() && version[i] == '.') ++i;
    if (i >= version.size()) return false;
  }
  return false;
}

}  // namespace

std::optional<Identity> parse_identity(std::string_view identity) {
  auto last = identity.rfind(':');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  // The host part may be empty: DYNO="" (Ruby's `||` keeps an empty string).
  auto middle = identity.rfind(':', last - 1);
  if (middle == std::string_view::npos) return std::nullopt;
  Identity parsed;
  parsed.hostname = std::string(identity.substr(0, middle));
  parsed.nonce = std::string(identity.substr(last + 1));
  auto pid = to_integer(identity.substr(middle + 1, last - middle - 1));
  if (parsed.nonce.empty() || !pid || *pid <= 0 || *pid > 0x7fffffff) return std::nullopt;
  parsed.pid = static_cast<pid_t>(*pid);
  return parsed;
}

redis::Command members_command() {
  return {"SMEMBERS", "processes"};
}

std::vector<std::string> parse_members(const redis::Reply& reply) {
  std::vector<std::string> members;
  if (reply.type != redis::Reply::Type::Array) return members;
  for (const redis::Reply& e : reply.elements) {
    if (auto text = text_of(e)) members.emplace_back(*text);
  }
  return members;
}

std::vector<std::string> candidate_identities(const std::vector<std::string>& members,
                                              std::string_view hostname,
                                              const std::vector<pid_t>& live_pids) {
  std::vector<std::string> found;
  for (const std::string& member : members) {
    auto id = parse_identity(member);
    if (!id || id->hostname != hostname) continue;
    if (std::find(live_pids.begin(), live_pids.end(), id->pid) == live_pids.end()) continue;
    if (std::find(found.begin(), found.end(), member) == found.end()) found.push_back(member);
  }
  return found;
}

redis::Command identity_info_command(const std::string& identity) {
  return {"HMGET", identity, "info", "beat", "concurrency"};
}

std::optional<FoundProcess> accept_identity(const std::string& identity,
                                            const redis::Reply& info_reply,
                                            WallSeconds process_started, WallSeconds now) {
  return accept_identity(identity, info_reply, LocalProcess{process_started, std::nullopt}, now);
}

std::optional<FoundProcess> accept_identity(const std::string& identity,
                                            const redis::Reply& info_reply,
                                            const LocalProcess& process, WallSeconds now) {
  const WallSeconds process_started = process.started;
  auto id = parse_identity(identity);
  const redis::Reply* info_field = element(info_reply, 0);
  if (!id || !info_field) return std::nullopt;
  auto info_text = text_of(*info_field);
  if (!info_text) return std::nullopt;
  json info = parse_json(*info_text);
  if (!info.is_object()) return std::nullopt;
  auto started_at = json_number(info, "started_at");
  if (started_at) started_at = epoch_seconds(*started_at);
  if (!started_at || *started_at < process_started - kStartTimeSlackSeconds) {
    return std::nullopt;
  }
  // info repeats the pid; a disagreement means the key is not what it says.
  if (auto pid = json_number(info, "pid"); pid && *pid != id->pid) return std::nullopt;
  auto beat = beat_of(element(info_reply, 1));
  if (!beat || std::abs(now - *beat) > kBeatFreshSeconds) return std::nullopt;
  if (process.title && !agrees_with_title(info, element(info_reply, 2), *process.title)) {
    return std::nullopt;
  }
  FoundProcess found{id->pid, FoundBy::Redis, identity};
  auto embedded = info.find("embedded");
  found.embedded = embedded != info.end() && embedded->is_boolean() && embedded->get<bool>();
  found.version = json_string(info, "version");  // 7.0+
  if (found.version.empty() && process.title) found.version = process.title->version;
  return found;
}

std::vector<FoundProcess> one_identity_each(const std::vector<FoundProcess>& accepted,
                                            std::vector<pid_t>* ambiguous) {
  std::vector<FoundProcess> chosen;
  for (const FoundProcess& f : accepted) {
    auto same_pid = [&](const FoundProcess& o) { return o.pid == f.pid; };
    auto count = std::count_if(accepted.begin(), accepted.end(), [&](const FoundProcess& o) {
      return o.pid == f.pid && o.identity != f.identity;
    });
    if (count == 0) {
      if (std::none_of(chosen.begin(), chosen.end(), same_pid)) chosen.push_back(f);
    } else if (ambiguous &&
               std::find(ambiguous->begin(), ambiguous->end(), f.pid) == ambiguous->end()) {
      ambiguous->push_back(f.pid);
    }
  }
  return chosen;
}

JobThreadsInfo job_threads_info(const redis::Reply& info_reply) {
  JobThreadsInfo found;
  const redis::Reply* info_field = element(info_reply, 0);
  auto info_text = info_field ? text_of(*info_field) : std::nullopt;
  if (!info_text) return found;
  json info = parse_json(*info_text);
  if (!info.is_object()) return found;
  auto count = [](std::optional<double> n) -> std::optional<int> {
    if (!n || *n < 1 || *n > 1'000'000 || *n != std::floor(*n)) return std::nullopt;
    return static_cast<int>(*n);
  };
  if (auto capsules = info.find("capsules"); capsules != info.end() && capsules->is_object()) {
    int total = 0;
    bool all_counted = true;
    for (const auto& [name, capsule] : capsules->items()) {
      found.capsules.push_back(name);
      auto n = capsule.is_object() ? count(json_number(capsule, "concurrency")) : std::nullopt;
      all_counted = all_counted && n;
      if (n) total += *n;
    }
    if (all_counted && total > 0) found.concurrency = total;
  }
  if (!found.concurrency) found.concurrency = count(json_number(info, "concurrency"));
  // 8.1.2+ keeps it beside info in the hash (identity_info_command reads it).
  const redis::Reply* field = element(info_reply, 2);
  auto hash_text = field ? text_of(*field) : std::nullopt;
  if (!found.concurrency && hash_text) found.concurrency = count(to_double(*hash_text));
  return found;
}

redis::Command heartbeat_command(const std::string& identity) {
  return {"HMGET", identity, "beat", "quiet", "busy"};
}

std::vector<redis::Command> work_commands(const std::string& identity, std::string_view version) {
  if (version.empty()) {
    return {{"HGETALL", identity + ":work"}, {"HGETALL", identity + ":workers"}};
  }
  if (version_before(version, {6, 4, 2})) return {{"HGETALL", identity + ":workers"}};
  return {{"HGETALL", identity + ":work"}};
}

std::optional<HeartbeatReading> parse_heartbeat(const std::string& identity,
                                                const redis::Reply& reply) {
  auto beat = beat_of(element(reply, 0));
  const redis::Reply* quiet = element(reply, 1);
  const redis::Reply* busy_field = element(reply, 2);
  if (!beat || !quiet || !busy_field) return std::nullopt;
  // A busy count that cannot be read must not pass for zero.
  std::optional<long long> busy;
  if (busy_field->type == redis::Reply::Type::Integer) {
    busy = busy_field->integer;
  } else if (auto text = text_of(*busy_field)) {
    busy = to_integer(*text);
  }
  if (!busy || *busy < 0 || *busy > 1'000'000) return std::nullopt;
  HeartbeatReading reading;
  reading.identity = identity;
  reading.beat = *beat;
  // Anything but "true" reads as not quiet: the cautious side.
  auto quiet_text = text_of(*quiet);
  reading.quiet = quiet_text && *quiet_text == "true";
  reading.busy = static_cast<int>(*busy);
  return reading;
}

namespace {

// Hands each value of a work hash (HGETALL: thread id, JSON, ...) to take,
// which keeps it or says why not; what is not kept is named in skipped.
template <class Take>
void each_work_value(const redis::Reply& hgetall, std::vector<std::string>* skipped, Take take) {
  if (hgetall.type != redis::Reply::Type::Array) return;
  for (std::size_t i = 1; i < hgetall.elements.size(); i += 2) {
    auto value = text_of(hgetall.elements[i]);
    if (!value) continue;
    std::optional<std::string> refused = take(*value);
    if (!refused || !skipped) continue;
    // The field is a thread id; whatever else it holds goes to a log line.
    std::string field(text_of(hgetall.elements[i - 1]).value_or("?").substr(0, 64));
    for (char& c : field) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    skipped->push_back(field + ": " + *refused);
  }
}

}  // namespace

std::vector<RunningJob> parse_work(const redis::Reply& hgetall, std::vector<std::string>* skipped) {
  std::vector<RunningJob> jobs;
  each_work_value(hgetall, skipped, [&](std::string_view value) -> std::optional<std::string> {
    auto job = running_job(value);
    if (auto* read = std::get_if<RunningJob>(&job)) {
      jobs.push_back(std::move(*read));
      return std::nullopt;
    }
    return std::get<std::string>(std::move(job));
  });
  return jobs;
}

std::vector<HeldJob> parse_held_jobs(const redis::Reply& hgetall,
                                     std::vector<std::string>* skipped) {
  std::vector<HeldJob> jobs;
  each_work_value(hgetall, skipped, [&](std::string_view value) -> std::optional<std::string> {
    std::string payload;
    auto job = running_job(value, &payload);
    if (auto* read = std::get_if<RunningJob>(&job)) {
      jobs.push_back(HeldJob{std::move(read->job_class), std::move(read->jid),
                             std::move(read->queue), std::move(payload), read->run_at});
      return std::nullopt;
    }
    return std::get<std::string>(std::move(job));
  });
  return jobs;
}

IdentityCandidate identity_candidate(const std::string& identity, const redis::Reply& info_reply) {
  IdentityCandidate candidate{identity, std::nullopt, beat_of(element(info_reply, 1))};
  const redis::Reply* info_field = element(info_reply, 0);
  auto info_text = info_field ? text_of(*info_field) : std::nullopt;
  if (!info_text) return candidate;
  json info = parse_json(*info_text);
  if (!info.is_object()) return candidate;
  if (auto started_at = json_number(info, "started_at")) {
    candidate.started_at = epoch_seconds(*started_at);
  }
  return candidate;
}

namespace {

// KEYS: processes, queues, <id>:work, <id>:workers, super_processes.
// ARGV: identity, hostname, pid, then queue name and payload per job.
// Reliable fetches, by the keys they keep per process: Sidekiq Pro's
// super_fetch registers the identity in super_processes and keeps its
// private queues as queue:sq|<identity>|<queue>; gitlab-sidekiq-fetcher
// keeps a heartbeat key and working:queue:<queue>:<identity> (older
// releases: :<hostname>:<pid>).
constexpr const char* kRequeueScript = R"lua(
local id, host, pid = ARGV[1], ARGV[2], ARGV[3]
if redis.call('SISMEMBER', KEYS[1], id) == 0 then return {'gone', ''} end
if redis.call('SISMEMBER', KEYS[5], id) == 1 then return {'reliable', KEYS[5]} end
local beats = {'reliable-fetcher-heartbeat-' .. (string.gsub(id, ':', '-')),
               'reliable-fetcher-heartbeat-' .. host .. '-' .. pid}
for _, key in ipairs(beats) do
  if redis.call('EXISTS', key) == 1 then return {'reliable', key} end
end
for i = 4, #ARGV, 2 do
  local q = ARGV[i]
  local held = {'queue:sq|' .. id .. '|' .. q, 'working:queue:' .. q .. ':' .. id,
                'working:queue:' .. q .. ':' .. host .. ':' .. pid}
  for _, key in ipairs(held) do
    if redis.call('EXISTS', key) == 1 then return {'reliable', key} end
  end
end
for i = 4, #ARGV, 2 do
  redis.call('RPUSH', 'queue:' .. ARGV[i], ARGV[i + 1])
  redis.call('SADD', KEYS[2], ARGV[i])
end
redis.call('SREM', KEYS[1], id)
redis.call('DEL', KEYS[3], KEYS[4])
return {'pushed', tostring((#ARGV - 3) / 2)}
)lua";

}  // namespace

redis::Command requeue_command(const std::string& identity, const std::vector<HeldJob>& jobs) {
  auto parsed = parse_identity(identity);
  redis::Command command{"EVAL",
                         kRequeueScript,
                         "5",
                         "processes",
                         "queues",
                         identity + ":work",
                         identity + ":workers",
                         "super_processes",
                         identity,
                         parsed ? parsed->hostname : std::string(),
                         parsed ? std::to_string(parsed->pid) : std::string()};
  for (const HeldJob& job : jobs) {
    command.push_back(job.queue);
    command.push_back(job.payload);
  }
  return command;
}

RequeueReply parse_requeue_reply(const redis::Reply& reply) {
  if (reply.is_error()) return {RecoveryStatus::Failed, reply.str};
  const redis::Reply* what = element(reply, 0);
  const redis::Reply* detail = element(reply, 1);
  auto what_text = what ? text_of(*what) : std::nullopt;
  std::string detail_text(detail ? text_of(*detail).value_or("") : "");
  if (what_text == "gone") return {RecoveryStatus::SelfRequeued, ""};
  if (what_text == "reliable") return {RecoveryStatus::ReliableFetch, detail_text};
  if (what_text == "pushed") {
    return {detail_text == "0" ? RecoveryStatus::NothingRunning : RecoveryStatus::Requeued, ""};
  }
  return {RecoveryStatus::Failed, "unexpected reply to the requeue script"};
}

std::vector<InFlightJob> in_flight(const std::vector<RunningJob>& jobs, WallSeconds now) {
  std::vector<InFlightJob> result;
  result.reserve(jobs.size());
  for (const RunningJob& job : jobs) {
    double running = job.run_at > 0 ? std::max(0.0, now - job.run_at) : 0.0;
    result.push_back(InFlightJob{job.job_class, job.jid, job.queue, running});
  }
  return result;
}

bool WorkCache::needs_refresh(const std::string& identity, WallSeconds beat) const {
  auto it = entries_.find(identity);
  return it == entries_.end() || it->second.beat != beat || !it->second.complete;
}

void WorkCache::store(const std::string& identity, WallSeconds beat, std::vector<RunningJob> jobs,
                      int busy) {
  bool complete = !(jobs.empty() && busy > 0);
  entries_[identity] = Entry{beat, std::move(jobs), complete};
}

std::vector<InFlightJob> WorkCache::jobs(const std::string& identity, WallSeconds now) const {
  auto it = entries_.find(identity);
  return it == entries_.end() ? std::vector<InFlightJob>{} : in_flight(it->second.jobs, now);
}

}  // namespace quiesce::sidekiq
