#include "quiesce/core/budget.hpp"

#include <algorithm>

namespace quiesce {
namespace {

// The orchestrator's SIGKILL takes everything at B; quiesce's own, a second
// earlier, leaves it the time to log what happened and exit with a status.
constexpr Duration kKillBeforeBudget{1'000};

}  // namespace

StopPlan plan_stop(const StopBudget& b) {
  StopPlan plan;
  plan.kill_early = b.stop_timeout <= 2 * kKillBeforeBudget;
  plan.kill_after = plan.kill_early ? b.stop_timeout / 2 : b.stop_timeout - kKillBeforeBudget;
  Duration room = b.stop_timeout - b.sidekiq_timeout - b.shutdown_margin;
  plan.room_to_drain = room > Duration{0};
  // A TERM after the SIGKILL would never let Sidekiq requeue: it is sent by
  // the kill at the latest.
  plan.term_after = std::clamp(room, Duration{0}, plan.kill_after);
  return plan;
}

}  // namespace quiesce
