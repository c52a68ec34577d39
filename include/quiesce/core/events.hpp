#pragma once
// What happens to quiesce, as the stop machine hears it. Time arrives inside
// each event: the machine has no clock of its own.
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/job_recovery.hpp"
#include "quiesce/core/modes.hpp"
#include "quiesce/core/time.hpp"
#include "quiesce/core/timers.hpp"

namespace quiesce::ev {

struct Started {
  Instant now;
  pid_t main_pid = 0;
};
struct SignalReceived {
  Instant now;
  WallSeconds wall = 0;
  int signo = 0;
};
struct Reaped {
  Instant now;
  std::vector<std::pair<pid_t, int>> exited;  // pid, waitpid status
  bool others_remain = false;                 // quiesce still has descendants
  bool oom_kill = false;  // the cgroup's OOM kill count rose: the SIGKILLed ones were its victims
};
struct TimerFired {
  Instant now;
  TimerId id = TimerId::Term;
};
// An answer to FindSidekiqs: from /proc at once, later from Redis.
struct SidekiqsFound {
  Instant now;
  std::vector<FoundProcess> found;
  // No other answer to this search follows: false for the /proc answer
  // while Redis is still being asked.
  bool complete = true;
};
struct Readings {
  Instant now;
  std::vector<ProcessReading> readings;
};
// What a Sidekiq's own config file says its timeout is, read from its
// working directory with its environment (or, for pid 0, the file read at
// startup once Ruby has evaluated its ERB).
// Every ReadSidekiqTimeout is answered at once, with nullopt when nothing
// could be read; Ruby's reading of ERB may answer again later.
struct SidekiqTimeoutRead {
  Instant now;
  pid_t pid = 0;
  std::optional<Duration> timeout;
  std::string source;  // ":timeout in /app/config/sidekiq.yml (pid 12's working directory)"
};

// An operator asked for Sidekiq to stop taking work now, without a stop:
// `quiesce quiet` on the control socket, or a TSTP sent to quiesce itself.
// exit_when_drained: once drained, TERM and exit (the container is replaced
// without one job cut off).
struct QuietRequested {
  Instant now;
  WallSeconds wall = 0;
  bool exit_when_drained = false;
  QuietSource source = QuietSource::Command;
};

// `quiesce restart`: quiet, drain up to restart_grace, TERM, start the
// command again in place.
struct RestartRequested {
  Instant now;
  WallSeconds wall = 0;
};
// The answer to act::Respawn: the new main child, or why there is none.
struct Respawned {
  Instant now;
  pid_t pid = 0;  // <= 0: the command could not be started again
  std::string error;
};

// The answer to RecoverJobs.
struct JobsRecovered {
  Instant now;
  pid_t pid = 0;
  RecoveryOutcome outcome;
};

}  // namespace quiesce::ev

namespace quiesce {
using Event =
    std::variant<ev::Started, ev::SignalReceived, ev::Reaped, ev::TimerFired, ev::SidekiqsFound,
                 ev::Readings, ev::JobsRecovered, ev::SidekiqTimeoutRead, ev::QuietRequested,
                 ev::RestartRequested, ev::Respawned>;
}
