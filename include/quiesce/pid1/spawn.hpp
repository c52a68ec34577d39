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

// Starts one of quiesce's own helpers (Ruby evaluating sidekiq.yml's ERB):
// argv[0] is a path, run in dir with exactly env, stdout on stdout_fd,
// stdin and stderr on /dev/null, its own process group, signals reset as
// for the main child. It is quiesce's child, so the reaper sees its exit.
// Returns its pid, or -1 with errno set when fork failed.
pid_t spawn_helper(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::string& dir, int stdout_fd);

}  // namespace quiesce
