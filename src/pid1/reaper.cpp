#include "quiesce/pid1/reaper.hpp"

#include <errno.h>
#include <sys/wait.h>

namespace quiesce {

ReapResult reap_children() {
  ReapResult result;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      result.exited.emplace_back(pid, status);
      continue;
    }
    if (pid == 0) {
      result.children_remain = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != ECHILD) {
      // Not "none left": say so, and count the children as still there,
      // so that nothing exits on a misread.
      result.error = errno;
      result.children_remain = true;
    }
    return result;
  }
}

}  // namespace quiesce
