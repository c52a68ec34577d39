#pragma once
// Putting back the jobs a Sidekiq process was running when it died without
// requeueing them itself (quiesce's SIGKILL at the end of the budget, the
// OOM killer, a crash). The decisions are here; sidekiq/job_recovery.cpp
// reads Redis and sends what sidekiq/redis_schema.hpp builds.
//
// What Sidekiq leaves behind: its work hash (<identity>:work, :workers in
// 6.4.1), rewritten at every heartbeat, holds each running job's queue and
// its payload exactly as it was fetched. Pushed back to the right end of
// its queue, the job is the next one fetched, as Sidekiq's own requeue does.
#include <optional>
#include <string>
#include <vector>

#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce {

// One entry of a work hash, with what is needed to push it back.
struct HeldJob {
  std::string job_class;
  std::string jid;
  std::string queue;    // the name, without "queue:"
  std::string payload;  // the job JSON, byte for byte as Sidekiq fetched it
  WallSeconds run_at = 0;
};

// Jobs that can be pushed back: each needs a queue and a payload, and a jid
// seen twice (two entries for one job) is pushed once. The rest is named in
// `unpushable` (class and jid), never dropped silently.
std::vector<HeldJob> jobs_to_push(const std::vector<HeldJob>& held,
                                  std::vector<std::string>* unpushable = nullptr);

InFlightJob in_flight_job(const HeldJob& job, WallSeconds now);

// Whether a process that ended with this waitpid status left its jobs
// behind: only a death by a signal Sidekiq does not trap (KILL, SEGV, ABRT,
// BUS, USR1 ...). A Sidekiq that exited on its own ran its shutdown, which
// pushed back what was unfinished (or found nothing to).
bool left_jobs_behind(int wait_status);

// An identity in `processes` with this container's hostname and the dead
// pid, as read back from its `info`.
struct IdentityCandidate {
  std::string identity;
  std::optional<WallSeconds> started_at;
  std::optional<WallSeconds> beat;
};

// The identity of the process that died: started after quiesce did (an
// older one with the same hostname and pid is a previous container's), and
// of those the one that started last.
std::optional<std::string> choose_identity(const std::vector<IdentityCandidate>& candidates,
                                           WallSeconds quiesce_started);

// What came of one recovery.
enum class RecoveryStatus {
  Requeued,        // every job in `jobs` is back in its queue
  NothingRunning,  // the work hash was empty or gone
  SelfRequeued,    // Sidekiq had removed itself from `processes`: it ran its own shutdown
  ReliableFetch,   // super_fetch or a working queue holds the jobs: left to it
  NoIdentity,      // no identity in Redis for that pid
  Failed,          // Redis failed or timed out: `jobs` were not put back
};

struct RecoveryOutcome {
  RecoveryStatus status = RecoveryStatus::Failed;
  std::string identity;
  std::vector<InFlightJob> jobs;  // put back, or that could not be
  std::string detail;             // the error, or which reliable fetch
};

}  // namespace quiesce
