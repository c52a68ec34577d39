#pragma once
// What the outside world tells the stop sequence about one Sidekiq process.
// Produced by the probes (Redis heartbeat data, /proc titles), consumed by
// the pure state machine. Every field is optional because every source can
// be missing, stale or broken.
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
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
  TitleReading() = default;
  TitleReading(std::string version_, int busy_, int concurrency_, bool stopping_,
               std::string tag_ = {})
      : version(std::move(version_)),
        busy(busy_),
        concurrency(concurrency_),
        stopping(stopping_),
        tag(std::move(tag_)) {}

  std::string version;
  int busy = 0;
  int concurrency = 0;
  bool stopping = false;
  std::string tag;  // the words between the version and the brackets; often empty
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
  FoundProcess() = default;
  FoundProcess(pid_t pid_, FoundBy by_, std::string identity_ = {}, bool embedded_ = false,
               std::string version_ = {})
      : pid(pid_),
        by(by_),
        identity(std::move(identity_)),
        embedded(embedded_),
        version(std::move(version_)) {}

  pid_t pid = 0;
  FoundBy by = FoundBy::Title;
  std::string identity;  // when found in Redis
  // info.embedded (7.0+): Sidekiq runs inside another server (Puma) and
  // traps no signals, so a TSTP would stop the whole process.
  bool embedded = false;
  std::string version;  // info.version (7.0+), else the title's; may be empty
};

}  // namespace quiesce
