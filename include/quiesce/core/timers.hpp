#pragma once
// The stop machine's timers. The effect side keeps one timer per entry of
// kTimers, so the list and the enum must agree (checked below).
#include <array>
#include <cstddef>

namespace quiesce {

// LastRead: the work hashes read once more before the kill; Recovery: the
// limit on putting jobs back before quiesce exits.
// RestartGrace: how long a restart lets jobs finish; Respawn: the back-off
// before starting the command again.
enum class TimerId { Term, Kill, Grace, Wrapper, LastRead, Recovery, RestartGrace, Respawn };

inline constexpr std::array kTimers = {TimerId::Term,         TimerId::Kill,     TimerId::Grace,
                                       TimerId::Wrapper,      TimerId::LastRead, TimerId::Recovery,
                                       TimerId::RestartGrace, TimerId::Respawn};

constexpr std::size_t timer_index(TimerId id) {
  return static_cast<std::size_t>(id);
}

constexpr bool listed_in_order() {
  for (std::size_t i = 0; i < kTimers.size(); ++i) {
    if (timer_index(kTimers[i]) != i) return false;
  }
  return true;
}
// A TimerId appended after Recovery must be listed too: the supervisor keeps
// kTimers.size() timers, indexed by timer_index.
static_assert(listed_in_order() && timer_index(TimerId::Respawn) + 1 == kTimers.size(),
              "kTimers lists every TimerId, in order");

}  // namespace quiesce
