#pragma once
// "Will this container's stop drain?", asked by the config's warnings, the
// stop machine and the supervisor alike.
#include "quiesce/core/modes.hpp"

namespace quiesce {

// True when a stop drains even if no Sidekiq title or identity is found: the
// main child is then drained as Sidekiq. In auto mode that needs a command
// that runs `sidekiq` (sidekiq/args.hpp decides).
constexpr bool drains_main_child(DrainMode mode, bool command_runs_sidekiq) {
  return mode == DrainMode::Always || (mode == DrainMode::Auto && command_runs_sidekiq);
}

}  // namespace quiesce

namespace quiesce {

// True when a stop may drain at all: in auto mode a Sidekiq found by its
// title or identity is drained even when the command does not name it.
constexpr bool could_drain(DrainMode mode) {
  return mode != DrainMode::Never;
}

// Whether quiesce connects to Redis when it starts, so that a wrong URL or
// password shows in the first seconds of the container, not at 3 a.m.
// during a stop: when the stop will drain, or the operator said where Redis
// is. Never in never mode, which reads no Redis at all.
constexpr bool connects_redis_at_start(DrainMode mode, bool command_runs_sidekiq,
                                       bool redis_url_given) {
  return mode != DrainMode::Never &&
         (drains_main_child(mode, command_runs_sidekiq) || redis_url_given);
}

}  // namespace quiesce
