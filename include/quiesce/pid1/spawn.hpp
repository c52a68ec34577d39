#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace quiesce {

// Starts the command in its own process group, in the terminal's foreground
// when there is one, with default signal dispositions and an empty signal
// mask. The caller must have blocked every signal first (see supervisor.cpp):
// that is what lets the child reset its handlers before any can run.
// When exec fails the child reports the reason on stderr and exits 127 (not
// found) or 126 (found but not executable), as shells do.
// Returns the child's pid, or -1 with errno set when fork itself failed.
pid_t spawn_child(const std::vector<std::string>& command);

}  // namespace quiesce
