#pragma once
// The process table as /proc shows it. Processes come and go while it is
// read; one that vanishes mid-read simply is not in the result.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "quiesce/core/time.hpp"

namespace quiesce {

// How far a start time read here may be from the truth: /proc gives it as
// the boot time (btime, whole seconds, recomputed from the wall clock, so an
// NTP step moves it) plus clock ticks. Two readings of one process, or a
// reading and the wall-clock time the process itself wrote (Sidekiq's
// started_at), agree within this; a pid reused within it cannot be told
// apart, and that is harmless here.
inline constexpr double kStartTimeSlackSeconds = 2.0;

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  WallSeconds started = 0;  // wall-clock start, to the clock tick
  std::string cmdline;      // raw /proc/<pid>/cmdline: words separated by NULs
  bool zombie = false;      // exited, not yet reaped by its parent
};

// problem, when given, is set to what kept the table from being read whole
// (no boot time, a failed listing), else cleared: a process that vanished
// is none.
std::vector<ProcessInfo> scan_processes(const std::string& proc_root = "/proc",
                                        std::string* problem = nullptr);

// Children, grandchildren, ... of root (root itself excluded), by ppid.
std::vector<ProcessInfo> descendants_of(pid_t root, const std::vector<ProcessInfo>& table);

std::optional<ProcessInfo> read_process(pid_t pid, const std::string& proc_root = "/proc",
                                        std::string* problem = nullptr);

// /proc/<pid>/stat's text, parsed; exposed for tests. comm may hold spaces
// and parentheses, so the fields after it are found from the last ')'.
struct StatFields {
  pid_t ppid = 0;
  char state = '?';
  unsigned long long start_ticks = 0;  // field 22: clock ticks after boot
};
std::optional<StatFields> parse_stat(const std::string& stat);

}  // namespace quiesce
