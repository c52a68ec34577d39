#include "quiesce/core/thread_rule.hpp"

#include "quiesce/core/enum_names.hpp"

namespace quiesce {

std::string_view drain_rule_name(DrainRule rule) {
  static constexpr auto kNames =
      std::to_array<std::string_view>({"exited", "heartbeat", "title", "threads"});
  static_assert(static_cast<std::size_t>(DrainRule::Threads) + 1 == kNames.size());
  return enum_name(rule, kNames);
}

std::string_view thread_rule_off_name(ThreadRuleOff why) {
  static constexpr auto kNames = std::to_array<std::string_view>(
      {"found_after_tstp", "no_thread_view", "no_job_threads", "too_many", "new_job_thread"});
  static_assert(static_cast<std::size_t>(ThreadRuleOff::NewJobThread) + 1 == kNames.size());
  return enum_name(why, kNames);
}

JobThreadWatch::JobThreadWatch(bool eligible) {
  if (!eligible) turn_off(ThreadRuleOff::FoundAfterTstp);
}

void JobThreadWatch::turn_off(ThreadRuleOff why) {
  state_ = State::Off;
  off_ = why;
}

void JobThreadWatch::observe(const std::optional<ThreadsReading>& reading,
                             std::optional<int> concurrency) {
  if (state_ == State::Off) return;
  // The concurrency never changes while a process runs; the first one
  // known (the title's, else Redis's) is kept.
  if (!concurrency_ && concurrency && *concurrency > 0) concurrency_ = concurrency;
  if (state_ == State::Waiting) {
    // A set taken later than the TSTP could miss a thread that still runs
    // a job, so a first reading without a view ends the rule for good.
    if (!reading) return turn_off(ThreadRuleOff::NoThreadView);
    for (const ThreadSeen& t : reading->threads) {
      if (t.job) at_tstp_.insert(t.tid);
    }
    if (at_tstp_.empty()) return turn_off(ThreadRuleOff::NoJobThreads);
    alive_ = static_cast<int>(at_tstp_.size());
    state_ = State::Watching;
    return check_plausible();
  }
  check_plausible();
  if (state_ == State::Off || !reading) return;
  int alive = 0;
  for (const ThreadSeen& t : reading->threads) {
    // Alive by its tid, whatever it is called now: a name read differently
    // later never makes a thread count as gone.
    if (at_tstp_.count(t.tid)) {
      ++alive;
    } else if (t.job) {
      return turn_off(ThreadRuleOff::NewJobThread);
    }
  }
  alive_ = alive;
}

void JobThreadWatch::check_plausible() {
  if (plausible_ || state_ != State::Watching || !concurrency_) return;
  if (static_cast<int>(at_tstp_.size()) > *concurrency_) return turn_off(ThreadRuleOff::TooMany);
  plausible_ = true;
}

bool JobThreadWatch::drained() const {
  return state_ == State::Watching && plausible_ && alive_ == 0;
}

}  // namespace quiesce
