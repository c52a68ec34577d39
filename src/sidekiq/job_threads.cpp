#include "quiesce/sidekiq/job_threads.hpp"

#include <algorithm>
#include <array>

#include "quiesce/procfs/threads.hpp"

namespace quiesce {
namespace {

// The kernel keeps 15 bytes of a thread's name.
constexpr std::size_t kCommBytes = 15;
constexpr std::string_view kPrefix = "sidekiq.";
// Sidekiq's own threads that never run a job, as the kernel cuts them.
constexpr std::array<std::string_view, 2> kNotJobs = {"sidekiq.heartbe", "sidekiq.schedul"};

}  // namespace

bool is_job_thread_name(std::string_view comm, const std::vector<std::string>& capsules) {
  if (comm == "processor") return true;  // 6.x
  if (!comm.starts_with(kPrefix)) return false;
  if (capsules.empty()) {
    return comm.size() > kPrefix.size() &&
           std::find(kNotJobs.begin(), kNotJobs.end(), comm) == kNotJobs.end();
  }
  return std::any_of(capsules.begin(), capsules.end(), [&](const std::string& capsule) {
    std::string name = std::string(kPrefix) + capsule + "/processor";
    return comm == std::string_view(name).substr(0, kCommBytes);
  });
}

std::optional<ThreadsReading> read_job_threads(pid_t pid, const std::vector<std::string>& capsules,
                                               const std::string& proc_root) {
  auto names = read_thread_names(pid, proc_root);
  if (!names) return std::nullopt;
  ThreadsReading reading;
  reading.threads.reserve(names->size());
  for (const ThreadName& t : *names) {
    reading.threads.push_back(ThreadSeen{t.tid, is_job_thread_name(t.comm, capsules)});
  }
  return reading;
}

}  // namespace quiesce
