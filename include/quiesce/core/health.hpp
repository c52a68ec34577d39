#pragma once
// `quiesce health`'s verdict, from what the effect side read just now (or,
// with Redis slow, its last reading). Pure: the unit tests drive every rule.
//
// Live: the main child runs, and every Sidekiq process can still run jobs:
// not frozen (SIGSTOP), its job threads alive (Sidekiq's heartbeat thread
// keeps beating when every job thread has died, its issue 3263), and its
// heartbeat younger than max_age. While Redis does not answer, heartbeats
// are not judged: Sidekiq cannot beat without Redis either, and restarting
// every worker of a fleet because Redis is down makes the outage worse.
// Ready: live, not quiet, not stopping, and Sidekiq found when the command
// runs one (a worker still booting is not ready).
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quiesce/core/time.hpp"

namespace quiesce {

struct HealthProcess {
  pid_t pid = 0;
  bool frozen = false;             // /proc state T: stopped by a signal
  std::optional<double> beat_age;  // seconds; nullopt: no heartbeat read
  std::optional<int> job_threads;  // nullopt: threads not readable
  bool quiet = false;              // its heartbeat or title says so
  Duration max_age{30'000};        // for its major (health_max_age_for)
};

struct HealthInput {
  bool want_ready = false;
  bool main_running = true;
  bool quieting = false;  // `quiesce quiet` or a TSTP to quiesce
  bool stopping = false;  // the orchestrator's stop is under way
  bool sidekiq_expected = false;
  bool redis_used = false;      // quiesce talks to Redis at all
  bool redis_answered = false;  // this reading reached Redis
  // With Redis silent: how old the last heartbeats read are, if any were.
  std::optional<double> last_reading_age;
  std::vector<HealthProcess> processes;
};

struct HealthVerdict {
  bool ok = false;
  std::string reason;  // one line, for the exit-1 case and for status
};

HealthVerdict judge_health(const HealthInput& input);

// Three heartbeats of the major in `version` ("6.4.1": 5 s each; 7.0 on:
// 10 s), or configured when non-zero.
Duration health_max_age_for(std::string_view version, Duration configured);

}  // namespace quiesce
