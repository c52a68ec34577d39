#pragma once
// The kernel's count of OOM kills in quiesce's own memory cgroup: read at
// startup and again when a child dies of SIGKILL, so that the log can say
// "killed by the OOM killer" when the container's memory limit did it.
#include <optional>
#include <string_view>

namespace quiesce {

// The number after "oom_kill " in cgroup v2's memory.events or v1's
// memory.oom_control; nothing when the line is missing or not a number.
std::optional<long long> parse_oom_kill(std::string_view text);

// The cgroup paths of /proc/self/cgroup's text: v2's "0::<path>" and v1's
// memory controller, in that order of preference, as files to read.
struct OomKillFiles {
  std::optional<std::string_view> v2_path;  // under /sys/fs/cgroup
  std::optional<std::string_view> v1_path;  // under /sys/fs/cgroup/memory
};
OomKillFiles parse_own_cgroup(std::string_view proc_self_cgroup);

// The count now, or nothing when no memory cgroup can be read (no cgroup
// mounted, or a cgroup v2 root, which has no memory.events).
std::optional<long long> read_oom_kills();

}  // namespace quiesce
