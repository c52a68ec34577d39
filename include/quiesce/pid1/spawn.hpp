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
// The child reports on stderr when it cannot take its own process group or
// the terminal (it runs anyway). Returns the child's pid, or -1 with errno
// set when fork itself failed; *group_error is the errno of the parent's own
// setpgid of the child when that failed for a reason other than the child
// having got there first, else 0.
pid_t spawn_child(const std::vector<std::string>& command, int* group_error);

// Starts one of quiesce's own helpers (Ruby evaluating sidekiq.yml's ERB):
// argv[0] is a path, run in dir with exactly env, stdout on stdout_fd,
// stdin and stderr on /dev/null, its own process group, signals reset as
// for the main child. It is quiesce's child, so the reaper sees its exit.
// Returns its pid, or -1 with errno set when fork failed.
// With stderr_too, stderr goes where stdout does; a name without a slash
// is looked for on quiesce's PATH.
pid_t spawn_helper(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::string& dir, int stdout_fd, bool stderr_too = false);

}  // namespace quiesce
