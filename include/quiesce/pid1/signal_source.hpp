#pragma once
// Which signals read from the signalfd are the workload's business.
#include <sys/types.h>

#include <csignal>

namespace quiesce {

// A Redis peer that hangs up raises PIPE in quiesce itself, sent by quiesce's
// own pid, and the write reports EPIPE anyway: that one is not forwarded.
// A PIPE from anyone else is passed on like every other signal.
constexpr bool is_own_sigpipe(int signo, pid_t sender, pid_t self) {
  return signo == SIGPIPE && sender == self;
}

}  // namespace quiesce
