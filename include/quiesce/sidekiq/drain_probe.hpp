#pragma once
// The effect side of watching Sidekiq drain: reads /proc and sends the
// commands sidekiq/redis_schema.hpp builds, on the libuv loop. What it hands back
// is data for the pure stop sequence; it never signals anything itself.
#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "quiesce/core/defaults.hpp"
#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/log_line.hpp"
#include "quiesce/core/time.hpp"
#include "quiesce/procfs/process_table.hpp"
#include "quiesce/redis/client.hpp"
#include "quiesce/sidekiq/redis_schema.hpp"
#include "quiesce/uv/alive.hpp"
#include "quiesce/uv/deferred.hpp"
#include "quiesce/uv/timer.hpp"

namespace quiesce {

struct ProbeOptions {
  std::string hostname;  // DYNO, else gethostname(): the hostname part of identities
  Duration poll_interval = defaults::kPollInterval;
};

class DrainProbe {
 public:
  using LogFn = std::function<void(LogLine)>;
  using FoundFn = std::function<void(std::vector<FoundProcess>)>;
  using ReadingsFn = std::function<void(std::vector<ProcessReading>)>;

  // client may be null: then only process titles are read.
  DrainProbe(uv_loop_t* loop, redis::Client* client, ProbeOptions options, LogFn log,
             std::function<WallSeconds()> wall_clock);
  ~DrainProbe();
  DrainProbe(const DrainProbe&) = delete;
  DrainProbe& operator=(const DrainProbe&) = delete;

  // root's descendants whose title reads as a Sidekiq worker; synchronous.
  std::vector<FoundProcess> find_by_title(pid_t root);
  // root's descendants with a live identity in Redis. done runs once, never
  // from inside this call; with an empty list on any Redis failure.
  void find_in_redis(pid_t root, FoundFn done);
  // Starts (or replaces) polling: one on_readings call per poll with one
  // reading per target, in the targets' order. The Redis part of a poll
  // that has not answered by the next poll is left out rather than waited
  // for, and no second round trip starts while one is in flight.
  void watch(std::vector<FoundProcess> targets, ReadingsFn on_readings);
  // No callbacks of any kind after this (until the next find/watch).
  void stop();
  // Releases the uv handles; the probe is unusable afterwards.
  void close();

 private:
  struct Target {
    FoundProcess found;
    std::optional<WallSeconds> started;  // nullopt: already gone at watch()
  };
  struct PendingPoll {
    std::uint64_t seq = 0;
    std::vector<ProcessReading> readings;
  };
  using Heartbeats = std::vector<std::optional<HeartbeatReading>>;

  void poll();
  ProcessReading local_reading(const Target& target) const;
  void start_heartbeats(std::uint64_t seq, std::vector<std::string> identities);
  void on_heartbeats(std::uint64_t seq, std::vector<std::string> identities,
                     redis::PipelineResult result);
  void fetch_work(std::uint64_t seq, std::vector<std::string> identities, Heartbeats beats,
                  std::vector<std::size_t> stale);
  void finish_poll(std::uint64_t seq, const std::vector<std::string>& identities,
                   const Heartbeats& beats);
  void deliver(std::vector<ProcessReading> readings);
  void discover(std::vector<pid_t> pids, std::vector<sidekiq::LocalProcess> locals, FoundFn done);
  void log_ambiguous(pid_t pid, const std::vector<FoundProcess>& accepted);
  std::string version_of(const std::string& identity) const;
  void log_redis_failure(const std::string& during, const std::string& error);
  std::vector<ProcessInfo> live_descendants(pid_t root) const;
  std::optional<ProcessInfo> read_target(pid_t pid) const;
  void note_procfs(const std::string& problem) const;
  // Wraps a Redis callback so it is dropped once this probe is gone or
  // stopped, and, for a poll, once watch() has replaced the targets it was
  // for. Discovery outlives watch(): finding more processes is what makes
  // the caller watch anew.
  enum class Scope { Discovery, Poll };
  std::function<void(redis::PipelineResult)> guarded(Scope scope,
                                                     std::function<void(redis::PipelineResult)> fn);

  redis::Client* client_;
  ProbeOptions options_;
  LogFn log_;
  // The last problem reading /proc that was said ("" when none): a broken
  // /proc is said once, not at every poll.
  mutable std::string procfs_problem_;
  std::function<WallSeconds()> wall_clock_;

  uv::TimerHandle poll_timer_;
  uv::Deferred deferred_;

  std::vector<Target> targets_;
  ReadingsFn on_readings_;
  std::uint64_t generation_ = 0;       // bumped by watch() and stop()
  std::uint64_t stop_generation_ = 0;  // bumped by stop() only
  std::uint64_t poll_seq_ = 0;
  int redis_outstanding_ = 0;
  std::optional<PendingPoll> pending_;
  sidekiq::WorkCache work_;
  std::set<pid_t> ambiguous_logged_;  // said once per process
  uv::AliveToken alive_;
};

}  // namespace quiesce
