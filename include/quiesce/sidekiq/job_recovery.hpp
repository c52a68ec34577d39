#pragma once
// The effect side of putting back the jobs of a dead Sidekiq: reads its work
// hash and sends the atomic requeue that sidekiq/redis_schema.hpp builds.
// What to push and when is decided in core/ (job_recovery.hpp, the stop
// machine); the deadlines are the machine's timers, so a Redis that hangs
// delays nothing but its own answer.
#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/job_recovery.hpp"
#include "quiesce/core/log_line.hpp"
#include "quiesce/redis/client.hpp"
#include "quiesce/uv/alive.hpp"

namespace quiesce {

class JobRecovery {
 public:
  using LogFn = std::function<void(LogLine)>;
  using Done = std::function<void(RecoveryOutcome)>;

  // hostname: the hostname part of this container's identities.
  // quiesce_started: identities older than this are a previous container's.
  JobRecovery(redis::Client* client, std::string hostname, WallSeconds quiesce_started,
              std::function<WallSeconds()> wall_clock, LogFn log);
  JobRecovery(const JobRecovery&) = delete;
  JobRecovery& operator=(const JobRecovery&) = delete;

  // Reads the work hashes of these processes now (one round trip) and keeps
  // them for recover(): the last reading before a kill.
  void read_ahead(const std::vector<FoundProcess>& targets);
  // Puts back the jobs of the dead process `pid`; identity empty: looked up
  // by hostname and pid in `processes`. `done` runs once, from the loop,
  // unless close() came first.
  void recover(pid_t pid, const std::string& identity, Done done);
  // No callbacks after this.
  void close() { alive_ = uv::AliveToken(); }

 private:
  struct Read {
    bool finished = false;
    std::string error;  // empty: the jobs were read
    std::vector<HeldJob> jobs;
    std::vector<std::function<void()>> waiting;
  };

  void read(const std::string& identity);
  void with_identity(pid_t pid, Done done);
  void push(const std::string& identity, Done done);
  std::function<void(redis::PipelineResult)> guarded(std::function<void(redis::PipelineResult)> fn);

  redis::Client* client_;
  std::string hostname_;
  WallSeconds quiesce_started_;
  std::function<WallSeconds()> wall_clock_;
  LogFn log_;
  std::map<std::string, Read> reads_;  // by identity
  uv::AliveToken alive_;
};

}  // namespace quiesce
