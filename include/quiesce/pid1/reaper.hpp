#pragma once
#include <sys/types.h>

#include <utility>
#include <vector>

namespace quiesce {

struct ReapResult {
  std::vector<std::pair<pid_t, int>> exited;  // pid, waitpid status
  bool children_remain = false;
  int error = 0;  // an errno from waitpid other than ECHILD
};

// Reaps every exited child. SIGCHLD coalesces, so one signal may stand for
// thousands of exits: loop until waitpid says nothing more is ready. Because
// quiesce is PID 1 or a subreaper, every orphan becomes its child, so "no
// children left" (ECHILD) means no descendants left at all.
ReapResult reap_children();

}  // namespace quiesce
