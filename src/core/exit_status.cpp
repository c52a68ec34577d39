#include "quiesce/core/exit_status.hpp"

#include <sys/wait.h>

namespace quiesce {

int exit_code_for(int wait_status, const std::set<int>& remap_to_zero) {
  int code = 1;
  if (WIFEXITED(wait_status)) {
    code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    code = 128 + WTERMSIG(wait_status);
  }
  return remap_to_zero.count(code) ? 0 : code;
}

}  // namespace quiesce
