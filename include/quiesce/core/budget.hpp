#pragma once
// The stop's arithmetic, in one place: when TERM and SIGKILL come after the
// orchestrator's SIGTERM, and whether the budget leaves any room to drain.
// The config warning, check-config and the stop machine all ask this.
#include <optional>

#include "quiesce/core/time.hpp"

namespace quiesce {

struct StopBudget {
  Duration stop_timeout;     // B: SIGTERM to the orchestrator's SIGKILL
  Duration sidekiq_timeout;  // T: Sidekiq's wait between TERM and its own requeue
  Duration shutdown_margin;  // M: room to requeue and exit after T
  // Redis's command timeout when the jobs of a Sidekiq still running at the
  // kill are put back (stop.recover_jobs); nothing when they are not.
  std::optional<Duration> recovery_round_trip;
};

struct StopPlan {
  Duration term_after;         // TERM at the latest, from the SIGTERM; never after kill_after
  Duration kill_after;         // quiesce's own SIGKILL, ahead of the orchestrator's
  bool room_to_drain = false;  // B - T - M > 0: a drain can end before TERM is due
  bool kill_early = false;     // B too short to keep the usual second before B
  // With recovery: the work hashes are read once more this long after the
  // SIGTERM (one round trip before the kill), and the jobs put back must be
  // in Redis by recover_until.
  std::optional<Duration> read_after;
  Duration recover_until{0};
  bool kill_moved = false;  // the kill comes more than the usual second before B
};

// TERM at B - T - M (or at once when that is not positive); SIGKILL at
// B - 1 s, so that quiesce, not the orchestrator, reaps and reports; half the
// budget when B is too short for that second. With recovery the SIGKILL moves
// to B - max(1 s, round trip + 250 ms), so that one more round trip, the one
// that puts the jobs back, ends before B.
StopPlan plan_stop(const StopBudget& budget);

// How long putting back the jobs of a Sidekiq that died on its own may take:
// a connect, then the identity, its info, its work hash and the push.
Duration recovery_limit(Duration connect_timeout, Duration command_timeout);

}  // namespace quiesce
