#include "quiesce/core/budget.hpp"

#include <algorithm>

namespace quiesce {
namespace {

// The orchestrator's SIGKILL takes everything at B; quiesce's own, a second
// earlier, leaves it the time to log what happened and exit with a status.
constexpr Duration kKillBeforeBudget{1'000};
// After the round trip that puts the jobs back: time to log and exit.
constexpr Duration kAfterRecovery{250};
// The stop machine's own limit on that round trip sits between the client's
// timeout (kill + round trip) and B.
constexpr Duration kRecoveryBackstop{125};

}  // namespace

StopPlan plan_stop(const StopBudget& b) {
  StopPlan plan;
  Duration lead = kKillBeforeBudget;
  if (b.recovery_round_trip) lead = std::max(lead, *b.recovery_round_trip + kAfterRecovery);
  plan.kill_early = b.stop_timeout <= 2 * lead;
  plan.kill_after = plan.kill_early ? b.stop_timeout / 2 : b.stop_timeout - lead;
  plan.kill_moved = !plan.kill_early && lead > kKillBeforeBudget;
  Duration room = b.stop_timeout - b.sidekiq_timeout - b.shutdown_margin;
  plan.room_to_drain = room > Duration{0};
  // A TERM after the SIGKILL would never let Sidekiq requeue: it is sent by
  // the kill at the latest.
  plan.term_after = std::clamp(room, Duration{0}, plan.kill_after);
  if (b.recovery_round_trip) {
    plan.read_after = std::max(Duration{0}, plan.kill_after - *b.recovery_round_trip);
    Duration after_kill = b.stop_timeout - plan.kill_after;
    plan.recover_until = plan.kill_after + std::max(after_kill - kRecoveryBackstop, after_kill / 2);
  } else {
    plan.recover_until = plan.kill_after;
  }
  return plan;
}

Duration recovery_limit(Duration connect_timeout, Duration command_timeout) {
  return connect_timeout + 4 * command_timeout + kAfterRecovery;
}

}  // namespace quiesce
