#pragma once
// Sidekiq's job threads, told by the names it gives them (safe_thread):
//   6.x   "processor" (beside "heartbeat", "scheduler")
//   7.0+  "sidekiq.<capsule>/processor", cut by the kernel at 15 bytes:
//         "sidekiq.default", "sidekiq.second/" (beside "sidekiq.heartbe",
//         "sidekiq.schedul")
// A thread a job starts inherits its creator's name, so it reads as a job
// thread too: core/thread_rule.hpp treats that as a reason to stand aside.
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quiesce/core/drain_reading.hpp"

namespace quiesce {

// capsules: the names Redis gave for the process (info.capsules), empty
// when unknown; then any "sidekiq.*" name but the heartbeat's and the
// scheduler's counts.
bool is_job_thread_name(std::string_view comm, const std::vector<std::string>& capsules);

// From /proc/<pid>/task; nullopt when it cannot be read.
std::optional<ThreadsReading> read_job_threads(pid_t pid, const std::vector<std::string>& capsules,
                                               const std::string& proc_root = "/proc");

}  // namespace quiesce
