#pragma once
// What status and health show of a process beyond the table: its scheduler
// state (R, S, D, T for stopped, Z) and its resident memory.
#include <sys/types.h>

#include <optional>
#include <string>

namespace quiesce {

struct ProcessState {
  char state = '?';
  std::optional<long long> rss_kib;  // nullopt: statm unreadable
  bool stopped() const { return state == 'T' || state == 't'; }
};

std::optional<ProcessState> read_process_state(pid_t pid, const std::string& proc_root = "/proc");

// /proc/<pid>/statm's second field (resident pages) in KiB; exposed for tests.
std::optional<long long> parse_statm_rss_kib(const std::string& statm, long page_size);

}  // namespace quiesce
