#pragma once
// What the stop machine asks the effect side to do.
#include <sys/types.h>

#include <string>
#include <variant>
#include <vector>

#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/facts.hpp"
#include "quiesce/core/time.hpp"
#include "quiesce/core/timers.hpp"

namespace quiesce::act {

struct Signal {
  enum class To { Child, ChildGroup, Pids, Descendants };
  To to = To::Child;
  std::vector<pid_t> pids;  // with To::Pids
  int signo = 0;
};
struct ArmTimer {
  TimerId id = TimerId::Term;
  Instant at;
};
struct CancelTimer {
  TimerId id = TimerId::Term;
};
// Find this container's Sidekiq processes: answer with SidekiqsFound at once
// from /proc, and again later if Redis knows more (in_redis).
struct FindSidekiqs {
  bool in_redis = true;
};
struct Watch {
  std::vector<FoundProcess> targets;
  WallSeconds since = 0;  // t0 on the wall clock
};
struct StopWatching {};
// Read these processes' work hashes now and keep them for RecoverJobs: the
// last reading before the kill.
struct ReadWork {
  std::vector<FoundProcess> targets;
};
// Put back the jobs of a Sidekiq process that is dead (or just SIGKILLed):
// from the work hash read by ReadWork when there is one, else read now.
// identity empty: found by hostname and pid in `processes`. Answer with
// JobsRecovered; the machine's Recovery timer bounds the wait.
struct RecoverJobs {
  pid_t pid = 0;
  std::string identity;
};
// Read the timeout these Sidekiq processes will really use: their config
// file in their own working directory, with their own command line and
// environment. Answered with SidekiqTimeoutRead, if at all.
struct ReadSidekiqTimeout {
  std::vector<pid_t> pids;
};
// Something worth telling the world: logs, status and metrics word it.
struct Tell {
  Fact fact;
};
// Start the command again (a restart); answered with ev::Respawned.
struct Respawn {};
struct Exit {
  int code = 0;
};

}  // namespace quiesce::act

namespace quiesce {
using Action = std::variant<act::Signal, act::ArmTimer, act::CancelTimer, act::FindSidekiqs,
                            act::Watch, act::StopWatching, act::ReadWork, act::RecoverJobs,
                            act::ReadSidekiqTimeout, act::Tell, act::Respawn, act::Exit>;
}
