#pragma once
// The stop's arithmetic, in one place: when TERM and SIGKILL come after the
// orchestrator's SIGTERM, and whether the budget leaves any room to drain.
// The config warning, check-config and the stop machine all ask this.
#include "quiesce/core/time.hpp"

namespace quiesce {

struct StopBudget {
  Duration stop_timeout;     // B: SIGTERM to the orchestrator's SIGKILL
  Duration sidekiq_timeout;  // T: Sidekiq's wait between TERM and its own requeue
  Duration shutdown_margin;  // M: room to requeue and exit after T
};

struct StopPlan {
  Duration term_after;         // TERM at the latest, from the SIGTERM; never after kill_after
  Duration kill_after;         // quiesce's own SIGKILL, ahead of the orchestrator's
  bool room_to_drain = false;  // B - T - M > 0: a drain can end before TERM is due
  bool kill_early = false;     // B too short to keep the usual second before B
};

// TERM at B - T - M (or at once when that is not positive); SIGKILL at
// B - 1 s, so that quiesce, not the orchestrator, reaps and reports; half the
// budget when B is too short for that second.
StopPlan plan_stop(const StopBudget& budget);

}  // namespace quiesce
