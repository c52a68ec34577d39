#include "quiesce/sidekiq/drain_probe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "quiesce/procfs/process_table.hpp"
#include "quiesce/sidekiq/job_threads.hpp"
#include "quiesce/sidekiq/title.hpp"

namespace quiesce {

std::vector<ProcessInfo> DrainProbe::live_descendants(pid_t root) const {
  std::string problem;
  auto under = descendants_of(root, scan_processes("/proc", &problem));
  note_procfs(problem);
  std::erase_if(under, [](const ProcessInfo& p) { return p.zombie; });
  return under;
}

std::optional<ProcessInfo> DrainProbe::read_target(pid_t pid) const {
  std::string problem;
  auto info = read_process(pid, "/proc", &problem);
  note_procfs(problem);
  return info;
}

// Said when it starts and when it changes, not at every poll.
void DrainProbe::note_procfs(const std::string& problem) const {
  if (problem == procfs_problem_) return;
  procfs_problem_ = problem;
  if (!problem.empty() && log_) {
    log_(make_log(Level::Error, "procfs_failed", "reading /proc: " + problem,
                  {{"problem", problem}}));
  }
}

DrainProbe::DrainProbe(uv_loop_t* loop, redis::Client* client, ProbeOptions options, LogFn log,
                       std::function<WallSeconds()> wall_clock)
    : client_(client),
      options_(std::move(options)),
      log_(std::move(log)),
      wall_clock_(std::move(wall_clock)),
      poll_timer_(loop, "the drain poll"),
      deferred_(loop, "a Sidekiq lookup") {}

DrainProbe::~DrainProbe() {
  close();
}

std::vector<FoundProcess> DrainProbe::find_by_title(pid_t root) {
  std::vector<FoundProcess> found;
  for (const ProcessInfo& p : live_descendants(root)) {
    if (parse_sidekiq_title(p.cmdline)) found.push_back(FoundProcess{p.pid, FoundBy::Title, {}});
  }
  return found;
}

void DrainProbe::find_in_redis(pid_t root, FoundFn done) {
  std::vector<pid_t> pids;
  std::vector<sidekiq::LocalProcess> locals;
  if (client_) {
    for (const ProcessInfo& p : live_descendants(root)) {
      pids.push_back(p.pid);
      locals.push_back(sidekiq::LocalProcess{p.started, parse_sidekiq_title(p.cmdline)});
    }
  }
  if (pids.empty()) {
    deferred_.post([done = std::move(done)] { done({}); });
    return;
  }
  discover(std::move(pids), std::move(locals), std::move(done));
}

void DrainProbe::discover(std::vector<pid_t> pids, std::vector<sidekiq::LocalProcess> locals,
                          FoundFn done) {
  auto on_members = [this, pids, locals, done](redis::PipelineResult result) {
    const redis::Replies* replies = redis::replies_of(result, 1);
    if (!replies) {
      log_redis_failure("discovery", redis::failure_of(result));
      return done({});
    }
    auto candidates = sidekiq::candidate_identities(sidekiq::parse_members((*replies)[0]),
                                                    options_.hostname, pids);
    if (candidates.empty()) return done({});
    std::vector<redis::Command> commands;
    for (const std::string& id : candidates) commands.push_back(sidekiq::identity_info_command(id));
    auto on_infos = [this, pids, locals, done, candidates](redis::PipelineResult infos) {
      const redis::Replies* replies = redis::replies_of(infos, candidates.size());
      if (!replies) {
        log_redis_failure("discovery", redis::failure_of(infos));
        return done({});
      }
      std::vector<FoundProcess> accepted;
      const WallSeconds now = wall_clock_();
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        auto id = sidekiq::parse_identity(candidates[i]);
        auto at = id ? std::find(pids.begin(), pids.end(), id->pid) : pids.end();
        if (at == pids.end()) continue;
        auto one =
            sidekiq::accept_identity(candidates[i], (*replies)[i], locals[at - pids.begin()], now);
        if (one) {
          threads_info_[candidates[i]] = sidekiq::job_threads_info((*replies)[i]);
          accepted.push_back(std::move(*one));
        }
      }
      std::vector<pid_t> ambiguous;
      auto found = sidekiq::one_identity_each(accepted, &ambiguous);
      for (pid_t pid : ambiguous) log_ambiguous(pid, accepted);
      done(std::move(found));
    };
    client_->pipeline(std::move(commands), guarded(Scope::Discovery, std::move(on_infos)));
  };
  client_->pipeline({sidekiq::members_command()}, guarded(Scope::Discovery, std::move(on_members)));
}

void DrainProbe::watch(std::vector<FoundProcess> targets, ReadingsFn on_readings) {
  ++generation_;
  pending_.reset();
  work_.clear();
  targets_.clear();
  for (FoundProcess& found : targets) {
    auto info = read_target(found.pid);
    std::optional<WallSeconds> started;
    if (info && !info->zombie) started = info->started;
    if (found.version.empty() && info) {
      if (auto title = parse_sidekiq_title(info->cmdline)) found.version = title->version;
    }
    targets_.push_back(Target{std::move(found), started});
  }
  on_readings_ = std::move(on_readings);
  if (!poll_timer_) return;
  poll_timer_->start_repeating(Duration{0}, options_.poll_interval, [this] { poll(); });
}

void DrainProbe::stop() {
  ++generation_;
  ++stop_generation_;
  pending_.reset();
  on_readings_ = nullptr;
  deferred_.clear();
  if (poll_timer_) poll_timer_->stop();
}

void DrainProbe::close() {
  stop();
  poll_timer_.close();
  deferred_.close();
}

void DrainProbe::poll() {
  // The previous poll's Redis part is late: its /proc part goes out alone.
  if (pending_) {
    auto late = std::move(pending_->readings);
    pending_.reset();
    deliver(std::move(late));
  }
  std::vector<ProcessReading> readings;
  std::vector<std::string> identities;
  for (const Target& target : targets_) {
    readings.push_back(local_reading(target));
    if (readings.back().alive && !target.found.identity.empty()) {
      identities.push_back(target.found.identity);
    }
  }
  if (!client_ || identities.empty() || redis_outstanding_ > 0) {
    deliver(std::move(readings));
    return;
  }
  pending_ = PendingPoll{++poll_seq_, std::move(readings)};
  start_heartbeats(poll_seq_, std::move(identities));
}

ProcessReading DrainProbe::local_reading(const Target& target) const {
  ProcessReading reading;
  reading.pid = target.found.pid;
  auto info = target.started ? read_target(target.found.pid) : std::nullopt;
  reading.alive =
      info && !info->zombie && std::abs(info->started - *target.started) <= kStartTimeSlackSeconds;
  if (reading.alive) {
    reading.title = parse_sidekiq_title(info->cmdline);
    static const sidekiq::JobThreadsInfo kUnknown;
    auto from_redis = threads_info_.find(target.found.identity);
    const auto& known = from_redis == threads_info_.end() ? kUnknown : from_redis->second;
    reading.threads = read_job_threads(target.found.pid, known.capsules);
    if (reading.threads) reading.threads->concurrency = known.concurrency;
  }
  return reading;
}

void DrainProbe::start_heartbeats(std::uint64_t seq, std::vector<std::string> identities) {
  std::vector<redis::Command> commands;
  for (const std::string& id : identities) commands.push_back(sidekiq::heartbeat_command(id));
  client_->pipeline(
      std::move(commands),
      guarded(Scope::Poll, [this, seq, identities](redis::PipelineResult result) mutable {
        on_heartbeats(seq, std::move(identities), std::move(result));
      }));
}

void DrainProbe::on_heartbeats(std::uint64_t seq, std::vector<std::string> identities,
                               redis::PipelineResult result) {
  Heartbeats beats(identities.size());
  const redis::Replies* replies = redis::replies_of(result, identities.size());
  if (!replies) log_redis_failure("poll", redis::failure_of(result));
  std::vector<std::size_t> stale;
  for (std::size_t i = 0; replies && i < identities.size(); ++i) {
    beats[i] = sidekiq::parse_heartbeat(identities[i], (*replies)[i]);
    if (beats[i] && work_.needs_refresh(identities[i], beats[i]->beat)) stale.push_back(i);
  }
  if (stale.empty()) return finish_poll(seq, identities, beats);
  fetch_work(seq, std::move(identities), std::move(beats), std::move(stale));
}

// The work hash is rewritten only at a beat, so it is read once per beat:
// about 2.4 commands per second per process at the default 500 ms poll.
void DrainProbe::fetch_work(std::uint64_t seq, std::vector<std::string> identities,
                            Heartbeats beats, std::vector<std::size_t> stale) {
  std::vector<redis::Command> commands;
  std::vector<std::size_t> per_identity;  // how many of the commands are each one's
  for (std::size_t i : stale) {
    auto mine = sidekiq::work_commands(identities[i], version_of(identities[i]));
    per_identity.push_back(mine.size());
    for (redis::Command& c : mine) commands.push_back(std::move(c));
  }
  const std::size_t expected = commands.size();
  auto on_work = [this, seq, identities, beats, stale, expected,
                  per_identity](redis::PipelineResult result) {
    const redis::Replies* replies = redis::replies_of(result, expected);
    if (!replies) log_redis_failure("poll", redis::failure_of(result));
    std::size_t next = 0;
    for (std::size_t k = 0; replies && k < stale.size(); ++k) {
      // With the version unknown both keys are read; only one is written.
      std::vector<std::string> skipped;
      std::vector<sidekiq::RunningJob> jobs;
      for (std::size_t n = 0; n < per_identity[k]; ++n, ++next) {
        auto some = sidekiq::parse_work((*replies)[next], &skipped);
        jobs.insert(jobs.end(), some.begin(), some.end());
      }
      for (const std::string& why : skipped) {
        if (!log_) break;
        log_(make_log(Level::Warn, "redis_entry_skipped",
                      "Sidekiq work entry of " + identities[stale[k]] + " skipped: " + why,
                      {{"identity", identities[stale[k]]}, {"problem", why}}));
      }
      work_.store(identities[stale[k]], beats[stale[k]]->beat, std::move(jobs),
                  beats[stale[k]]->busy);
    }
    finish_poll(seq, identities, beats);
  };
  client_->pipeline(std::move(commands), guarded(Scope::Poll, std::move(on_work)));
}

std::string DrainProbe::version_of(const std::string& identity) const {
  for (const Target& target : targets_) {
    if (target.found.identity == identity) return target.found.version;
  }
  return {};
}

void DrainProbe::finish_poll(std::uint64_t seq, const std::vector<std::string>& identities,
                             const Heartbeats& beats) {
  if (!pending_ || pending_->seq != seq) return;  // delivered without Redis already
  std::map<std::string, const HeartbeatReading*> by_identity;
  for (std::size_t i = 0; i < identities.size(); ++i) {
    if (beats[i]) by_identity[identities[i]] = &*beats[i];
  }
  std::vector<ProcessReading> readings = std::move(pending_->readings);
  pending_.reset();
  const WallSeconds now = wall_clock_();
  for (std::size_t i = 0; i < readings.size() && i < targets_.size(); ++i) {
    auto it = by_identity.find(targets_[i].found.identity);
    if (it == by_identity.end()) continue;
    readings[i].heartbeat = *it->second;
    readings[i].heartbeat->jobs = work_.jobs(it->first, now);
  }
  deliver(std::move(readings));
}

void DrainProbe::deliver(std::vector<ProcessReading> readings) {
  // The callback may call watch() or stop(), which replace on_readings_.
  ReadingsFn callback = on_readings_;
  if (callback) callback(std::move(readings));
}

void DrainProbe::log_ambiguous(pid_t pid, const std::vector<FoundProcess>& accepted) {
  if (!log_ || !ambiguous_logged_.insert(pid).second) return;
  std::vector<std::string> identities;
  for (const FoundProcess& f : accepted) {
    if (f.pid == pid) identities.push_back(f.identity);
  }
  log_(make_log(Level::Warn, "identity_ambiguous",
                fmt::format("Sidekiq {} matches {} live identities ({}): another container with "
                            "this host name runs a Sidekiq with the same pid; it is judged by its "
                            "title alone",
                            pid, identities.size(), fmt::join(identities, ", ")),
                {{"pid", pid}, {"identities", identities}}));
}

void DrainProbe::log_redis_failure(const std::string& during, const std::string& error) {
  // The client reports connection trouble itself; this only says what the
  // probe did without Redis.
  if (log_) {
    log_(make_log(Level::Debug, "redis_error", "Sidekiq probe continues without Redis: " + error,
                  {{"error", error}, {"during", during}}));
  }
}

std::function<void(redis::PipelineResult)> DrainProbe::guarded(
    Scope scope, std::function<void(redis::PipelineResult)> fn) {
  ++redis_outstanding_;
  auto alive = alive_.witness();
  std::uint64_t DrainProbe::*counter =
      scope == Scope::Poll ? &DrainProbe::generation_ : &DrainProbe::stop_generation_;
  std::uint64_t generation = this->*counter;
  return [this, alive, counter, generation, fn = std::move(fn)](redis::PipelineResult result) {
    if (alive.gone()) return;
    --redis_outstanding_;
    if (generation != this->*counter) return;
    fn(std::move(result));
  };
}

}  // namespace quiesce
