#include "quiesce/procfs/process_state.hpp"

#include <unistd.h>

#include <charconv>

#include "quiesce/procfs/file_text.hpp"
#include "quiesce/procfs/process_table.hpp"

namespace quiesce {

std::optional<long long> parse_statm_rss_kib(const std::string& statm, long page_size) {
  auto space = statm.find(' ');
  if (space == std::string::npos || page_size <= 0) return std::nullopt;
  long long pages = 0;
  const char* begin = statm.data() + space + 1;
  const char* end = statm.data() + statm.size();
  auto [ptr, ec] = std::from_chars(begin, end, pages);
  if (ec != std::errc() || ptr == begin || pages < 0) return std::nullopt;
  // Resident pages are bounded by physical memory: no overflow below 2^53 KiB.
  return pages * (page_size / 1024);
}

std::optional<ProcessState> read_process_state(pid_t pid, const std::string& proc_root) {
  if (pid <= 0) return std::nullopt;
  std::string dir = proc_root + "/" + std::to_string(pid);
  auto stat = read_file_head(dir + "/stat", 4096);
  if (!stat) return std::nullopt;
  auto fields = parse_stat(*stat);
  if (!fields) return std::nullopt;
  ProcessState s;
  s.state = fields->state;
  if (auto statm = read_file_head(dir + "/statm", 256)) {
    s.rss_kib = parse_statm_rss_kib(*statm, sysconf(_SC_PAGESIZE));
  }
  return s;
}

}  // namespace quiesce
