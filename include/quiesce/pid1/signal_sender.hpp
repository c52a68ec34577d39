#pragma once
// Carries a Signal action out: the machine names whom, this finds the pids.
#include <sys/types.h>

#include <string>
#include <vector>

#include "quiesce/core/stop_machine.hpp"

namespace quiesce {

struct SendReport {
  std::vector<pid_t> delivered;       // only when asked for: it may cost a /proc scan
  std::vector<std::string> failures;  // "pid 12: No such process"
};

SendReport send_signal(const act::Signal& action, pid_t main_pid, bool list_delivered);

}  // namespace quiesce
