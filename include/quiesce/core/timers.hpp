#pragma once
// The stop machine's timers. The effect side keeps one timer per entry of
// kTimers, so the list and the enum must agree (checked below).
#include <array>
#include <cstddef>

namespace quiesce {

enum class TimerId { Term, Kill, Grace, Wrapper };

inline constexpr std::array kTimers = {TimerId::Term, TimerId::Kill, TimerId::Grace,
                                       TimerId::Wrapper};

constexpr std::size_t timer_index(TimerId id) {
  return static_cast<std::size_t>(id);
}

static_assert(timer_index(kTimers.back()) + 1 == kTimers.size(),
              "kTimers lists every TimerId, in order");

}  // namespace quiesce
