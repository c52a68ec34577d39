#pragma once
// The thread rule: a Sidekiq process that got TSTP is drained once every job
// thread it had at the TSTP is gone. After TSTP each job thread exits as its
// job ends (an idle one when its fetch times out), so this sees the drain
// within a poll, where the heartbeat rule waits for Sidekiq's next beat (5 s
// in 6.x, 10 s from 7.0).
//
// Conservative by construction: it can only make "drained" come earlier,
// and only when what it saw at the TSTP is believable. It stays silent (the
// heartbeat and title rules decide alone) when the process was found after
// the stop's TSTP (still booting: its threads may not all exist yet), when
// no job thread was seen at the TSTP, when more were seen than the process's
// concurrency (an app thread took a Sidekiq-like name), or when a thread
// with a job thread's name appears later (a job started a thread, which
// inherits its creator's name, or Sidekiq replaced a dead processor).
#include <sys/types.h>

#include <optional>
#include <set>
#include <string_view>

#include "quiesce/core/drain_reading.hpp"

namespace quiesce {

// What decided that a process was drained.
enum class DrainRule {
  Exited,     // the process is gone
  Heartbeat,  // a heartbeat after the TSTP said quiet, busy 0
  Title,      // the process title said stopping, 0 busy
  Threads,    // every job thread seen at the TSTP is gone
};
std::string_view drain_rule_name(DrainRule rule);

// Why the thread rule does not decide for a process.
enum class ThreadRuleOff {
  FoundAfterTstp,  // found while the drain ran (booting): its threads may not all exist
  NoThreadView,    // /proc/<pid>/task could not be read at the TSTP
  NoJobThreads,    // no thread with a job thread's name at the TSTP
  TooMany,         // more job threads than the process's concurrency
  NewJobThread,    // a job-thread name appeared after the TSTP
};
std::string_view thread_rule_off_name(ThreadRuleOff why);

class JobThreadWatch {
 public:
  enum class State { Waiting, Watching, Off };

  // eligible: the process got the stop's first TSTP (false: found later).
  explicit JobThreadWatch(bool eligible);

  // Each poll's view of the threads, in order; the first one is the set at
  // the TSTP. concurrency: the best known (title or Redis), if any.
  void observe(const std::optional<ThreadsReading>& reading, std::optional<int> concurrency);

  State state() const { return state_; }
  std::optional<ThreadRuleOff> off_reason() const { return off_; }
  // True once the rule may decide and no job thread seen at the TSTP is alive.
  bool drained() const;
  int at_tstp() const { return static_cast<int>(at_tstp_.size()); }
  int alive() const { return alive_; }  // of those seen at the TSTP
  std::optional<int> concurrency() const { return concurrency_; }

 private:
  void turn_off(ThreadRuleOff why);
  void check_plausible();

  State state_ = State::Waiting;
  std::optional<ThreadRuleOff> off_;
  std::set<pid_t> at_tstp_;
  int alive_ = 0;
  std::optional<int> concurrency_;
  bool plausible_ = false;  // count checked against a known concurrency
};

}  // namespace quiesce
