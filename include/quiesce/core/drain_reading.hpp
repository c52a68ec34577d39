#pragma once
// What the outside world tells the stop sequence about one Sidekiq process.
// Produced by the probes (Redis heartbeat data, /proc titles), consumed by
// the pure state machine. Every field is optional because every source can
// be missing, stale or broken.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "quiesce/core/time.hpp"

namespace quiesce {

struct InFlightJob {
  std::string job_class;
  std::string jid;
  std::string queue;
  double running_seconds = 0;  // now - run_at, computed by the probe
};

// From the Redis hash <identity>: only written at a heartbeat.
struct HeartbeatReading {
  std::string identity;
  WallSeconds beat = 0;
  bool quiet = false;
  int busy = 0;
  std::vector<InFlightJob> jobs;  // from <identity>:work / :workers; may be empty
};

// From /proc/<pid>/cmdline, which Sidekiq rewrites at each heartbeat:
// "sidekiq 6.4.1 app [3 of 10 busy] stopping".
struct TitleReading {
  std::string version;
  int busy = 0;
  int concurrency = 0;
  bool stopping = false;
};

struct ProcessReading {
  pid_t pid = 0;
  // A grandchild's exit is reaped by its own parent (a shell wrapper), not by
  // quiesce, so the probe reports liveness from /proc as well.
  bool alive = true;
  std::optional<HeartbeatReading> heartbeat;
  std::optional<TitleReading> title;
};

// How a process came to be counted as one of this container's Sidekiqs.
enum class FoundBy { Redis, Title, MainChild };

struct FoundProcess {
  pid_t pid = 0;
  FoundBy by = FoundBy::Title;
  std::string identity;  // when found in Redis
};

}  // namespace quiesce
