#include "quiesce/sidekiq/observer.hpp"

#include <algorithm>

namespace quiesce {

SidekiqObserver::SidekiqObserver(uv_loop_t* loop, redis::Client* client, ProbeOptions options,
                                 LogFn log, std::function<WallSeconds()> wall_clock)
    : client_(client),
      wall_clock_(std::move(wall_clock)),
      probe_(loop, client, std::move(options), std::move(log), wall_clock_),
      limit_(loop, "a status look's limit") {}

SidekiqObserver::~SidekiqObserver() {
  close();
}

void SidekiqObserver::close() {
  probe_.close();
  limit_.close();
  waiting_.clear();
  looking_ = false;
}

void SidekiqObserver::look(pid_t root, Duration limit, Done done) {
  waiting_.push_back(std::move(done));
  if (looking_) return;
  looking_ = true;
  root_ = root;
  ++look_seq_;
  current_ = Observation{};
  current_.redis_used = client_ != nullptr;
  targets_ = probe_.find_by_title(root);
  if (limit_) limit_->start(limit, [this] { give_up(); });
  if (!client_) return read(targets_);
  // A PING first: it tells an unreachable Redis from one that knows no
  // Sidekiq here, which discovery alone cannot.
  auto alive = alive_.witness();
  std::uint64_t seq = look_seq_;
  client_->pipeline({{"PING"}}, [this, alive, seq](redis::PipelineResult result) {
    if (alive.gone() || seq != look_seq_ || !looking_) return;
    after_ping(std::move(result));
  });
}

void SidekiqObserver::after_ping(redis::PipelineResult result) {
  if (!redis::replies_of(result, 1)) {
    current_.redis_error = redis::failure_of(result);
    return read(targets_);
  }
  current_.redis_answered = true;
  auto alive = alive_.witness();
  std::uint64_t seq = look_seq_;
  probe_.find_in_redis(root_, [this, alive, seq](std::vector<FoundProcess> found) {
    if (alive.gone() || seq != look_seq_ || !looking_) return;
    // Redis names the identity and version; a title-only one stays as is.
    for (FoundProcess& f : found) {
      auto same = std::find_if(targets_.begin(), targets_.end(),
                               [&](const FoundProcess& t) { return t.pid == f.pid; });
      if (same != targets_.end()) {
        *same = f;
      } else {
        targets_.push_back(f);
      }
    }
    read(targets_);
  });
}

void SidekiqObserver::read(std::vector<FoundProcess> targets) {
  targets_ = std::move(targets);
  auto alive = alive_.witness();
  std::uint64_t seq = look_seq_;
  // The probe's first poll runs at once; it answers when Redis has, or at
  // the next poll without it.
  probe_.watch(targets_, [this, alive, seq](std::vector<ProcessReading> readings) {
    if (alive.gone() || seq != look_seq_ || !looking_) return;
    finish(std::move(readings));
  });
}

// The limit came first: what /proc says now, and no Redis.
void SidekiqObserver::give_up() {
  if (!looking_) return;
  probe_.stop();
  if (current_.redis_used && current_.redis_error.empty()) {
    current_.redis_error = "no answer within the limit";
  }
  current_.redis_answered = false;
  // Only titles: the Redis-found identities would make the probe wait for
  // Redis again.
  std::vector<FoundProcess> local;
  for (const FoundProcess& f : targets_) local.push_back({f.pid, f.by, {}, f.embedded, f.version});
  auto alive = alive_.witness();
  std::uint64_t seq = look_seq_;
  probe_.watch(local, [this, alive, seq](std::vector<ProcessReading> readings) {
    if (alive.gone() || seq != look_seq_ || !looking_) return;
    finish(std::move(readings));
  });
}

void SidekiqObserver::finish(std::vector<ProcessReading> readings) {
  probe_.stop();
  if (limit_) limit_->stop();
  current_.at = wall_clock_();
  bool any_beat = false;
  for (std::size_t i = 0; i < readings.size() && i < targets_.size(); ++i) {
    ObservedProcess p{targets_[i], std::move(readings[i]), read_process_state(targets_[i].pid)};
    any_beat = any_beat || p.reading.heartbeat.has_value();
    current_.processes.push_back(std::move(p));
  }
  // Redis silent: the heartbeats of the last look that had them, said as old.
  if (!current_.redis_answered && last_with_redis_) {
    current_.heartbeat_age_from_earlier = current_.at - last_with_redis_->at;
    for (ObservedProcess& p : current_.processes) {
      for (const ObservedProcess& before : last_with_redis_->processes) {
        if (before.found.pid == p.found.pid && before.reading.heartbeat && !p.reading.heartbeat) {
          p.reading.heartbeat = before.reading.heartbeat;
          if (p.found.identity.empty()) p.found.identity = before.found.identity;
          if (p.found.version.empty()) p.found.version = before.found.version;
        }
      }
    }
  }
  if (current_.redis_answered && any_beat) last_with_redis_ = current_;
  looking_ = false;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  Observation done = current_;
  for (auto& fn : waiting) fn(done);
}

}  // namespace quiesce
