#include "quiesce/core/job_recovery.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <csignal>

namespace quiesce {
namespace {

// A previous container's identity can carry a started_at a little after our
// own start only through clock skew between hosts; Sidekiq writes it from
// the same clock quiesce reads.
constexpr double kStartSlackSeconds = 1.0;

}  // namespace

std::vector<HeldJob> jobs_to_push(const std::vector<HeldJob>& held,
                                  std::vector<std::string>* unpushable) {
  std::vector<HeldJob> push;
  for (const HeldJob& job : held) {
    if (job.queue.empty() || job.payload.empty()) {
      if (unpushable) {
        unpushable->push_back((job.job_class.empty() ? "?" : job.job_class) + " " +
                              (job.jid.empty() ? "?" : job.jid));
      }
      continue;
    }
    bool seen = !job.jid.empty() && std::any_of(push.begin(), push.end(),
                                                [&](const HeldJob& p) { return p.jid == job.jid; });
    if (!seen) push.push_back(job);
  }
  return push;
}

InFlightJob in_flight_job(const HeldJob& job, WallSeconds now) {
  double running = job.run_at > 0 ? std::max(0.0, now - job.run_at) : 0.0;
  return InFlightJob{job.job_class, job.jid, job.queue, running};
}

bool left_jobs_behind(int wait_status) {
  if (!WIFSIGNALED(wait_status)) return false;
  // Sidekiq traps these (and Ruby ignores SIGPIPE): a process they killed was
  // not a Sidekiq, or not one with jobs (a shell helper, a pipeline), and
  // is not worth a Redis round trip and a log line.
  switch (WTERMSIG(wait_status)) {
    case SIGTERM:
    case SIGINT:
    case SIGHUP:
    case SIGPIPE:
    case SIGTSTP:
    case SIGTTIN:
    case SIGUSR2:
      return false;
    default:
      return true;
  }
}

std::optional<std::string> choose_identity(const std::vector<IdentityCandidate>& candidates,
                                           WallSeconds quiesce_started) {
  const IdentityCandidate* best = nullptr;
  for (const IdentityCandidate& c : candidates) {
    if (!c.started_at || *c.started_at < quiesce_started - kStartSlackSeconds) continue;
    if (!best || *c.started_at > *best->started_at) best = &c;
  }
  if (!best) return std::nullopt;
  return best->identity;
}

}  // namespace quiesce
