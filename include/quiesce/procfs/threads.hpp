#pragma once
// A process's threads as /proc/<pid>/task shows them, each with the name
// the kernel keeps for it (comm: at most 15 bytes, set by the thread itself
// or inherited from the thread that created it). Threads come and go while
// this is read; one that ends mid-read simply is not in the result.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace quiesce {

struct ThreadName {
  pid_t tid = 0;
  std::string comm;  // without the kernel's trailing newline
};

// nullopt when /proc/<pid>/task cannot be opened (the process is gone, or
// /proc is not mounted).
std::optional<std::vector<ThreadName>> read_thread_names(pid_t pid,
                                                         const std::string& proc_root = "/proc");

}  // namespace quiesce
