#include "quiesce/procfs/process_table.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <string.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <map>
#include <set>
#include <sstream>

#include "quiesce/procfs/file_text.hpp"

namespace quiesce {
namespace {

// /proc/stat has a line per CPU and an "intr" line of a count per
// interrupt: tens of KB on a large machine, btime after them.
constexpr std::size_t kMaxProcStat = 4 << 20;
// /proc/<pid>/stat: a comm of at most 64 bytes and 50 numbers.
constexpr std::size_t kMaxPidStat = 64 << 10;
// A title is short; a cmdline can be megabytes, and only its head matters.
constexpr std::size_t kMaxCmdline = 64 << 10;

// "btime <seconds since the epoch>" in /proc/stat.
std::optional<long long> boot_time(const std::string& proc_root) {
  auto text = read_file_text(proc_root + "/stat", kMaxProcStat);
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("btime ")) {
      long long value = 0;
      const char* begin = line.data() + 6;
      auto [end, ec] = std::from_chars(begin, line.data() + line.size(), value);
      if (ec == std::errc{} && end != begin) return value;
    }
  }
  return std::nullopt;
}

std::optional<pid_t> parse_pid(std::string_view name) {
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec != std::errc{} || end != name.data() + name.size() || pid <= 0) return std::nullopt;
  return pid;
}

std::optional<ProcessInfo> read_one(pid_t pid, const std::string& proc_root, long long btime,
                                    long ticks_per_second) {
  const std::string dir = proc_root + "/" + std::to_string(pid);
  auto stat_text = read_file_text(dir + "/stat", kMaxPidStat);
  if (!stat_text) return std::nullopt;
  auto stat = parse_stat(*stat_text);
  if (!stat) return std::nullopt;
  auto cmdline = read_file_head(dir + "/cmdline", kMaxCmdline);
  if (!cmdline) return std::nullopt;
  ProcessInfo info;
  info.pid = pid;
  info.ppid = stat->ppid;
  info.started = static_cast<double>(btime) +
                 static_cast<double>(stat->start_ticks) / static_cast<double>(ticks_per_second);
  info.cmdline = std::move(*cmdline);
  info.zombie = stat->state == 'Z' || stat->state == 'X';
  return info;
}

// Clock ticks per second for /proc's start times. sysconf cannot fail for
// _SC_CLK_TCK on Linux; were it to, the kernel's USER_HZ, 100 on every
// architecture, is what /proc counts in, and the failure is said.
long clock_ticks(std::string* problem) {
  errno = 0;
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks > 0) return ticks;
  if (problem) {
    *problem = fmt::format("sysconf(_SC_CLK_TCK) failed ({}): counting 100 ticks a second",
                           errno ? strerror(errno) : "no value");
  }
  return 100;
}

void say(std::string* problem, std::string what) {
  if (problem && problem->empty()) *problem = std::move(what);
}

}  // namespace

std::optional<StatFields> parse_stat(const std::string& stat) {
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  // After ") ": field 3 (state), 4 (ppid), ... 22 (starttime).
  std::istringstream rest(stat.substr(close + 1));
  StatFields fields;
  std::string word;
  if (!(rest >> fields.state)) return std::nullopt;
  long long ppid = 0;
  if (!(rest >> ppid)) return std::nullopt;
  fields.ppid = static_cast<pid_t>(ppid);
  for (int field = 5; field < 22; ++field) {
    if (!(rest >> word)) return std::nullopt;
  }
  if (!(rest >> word)) return std::nullopt;
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), fields.start_ticks);
  if (ec != std::errc{} || end != word.data() + word.size()) return std::nullopt;
  return fields;
}

std::vector<ProcessInfo> scan_processes(const std::string& proc_root, std::string* problem) {
  if (problem) problem->clear();
  std::vector<ProcessInfo> table;
  auto btime = boot_time(proc_root);
  if (!btime) {
    say(problem, fmt::format("no boot time (btime) in {}/stat", proc_root));
    return table;
  }
  DIR* dir = opendir(proc_root.c_str());
  if (!dir) {
    say(problem, fmt::format("cannot list {}: {}", proc_root, strerror(errno)));
    return table;
  }
  const long ticks = clock_ticks(problem);
  for (;;) {
    errno = 0;
    dirent* entry = readdir(dir);
    if (!entry) {
      if (errno != 0) say(problem, fmt::format("listing {}: {}", proc_root, strerror(errno)));
      break;
    }
    auto pid = parse_pid(entry->d_name);
    if (!pid) continue;
    if (auto info = read_one(*pid, proc_root, *btime, ticks)) table.push_back(std::move(*info));
  }
  if (closedir(dir) != 0) {
    say(problem, fmt::format("closing the listing of {}: {}", proc_root, strerror(errno)));
  }
  return table;
}

std::vector<ProcessInfo> descendants_of(pid_t root, const std::vector<ProcessInfo>& table) {
  std::multimap<pid_t, const ProcessInfo*> children;
  for (const ProcessInfo& p : table) children.emplace(p.ppid, &p);
  std::vector<ProcessInfo> found;
  std::vector<pid_t> frontier{root};
  // A table read while pids are reused could in theory hold a cycle.
  std::set<pid_t> seen{root};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      if (!seen.insert(it->second->pid).second) continue;
      found.push_back(*it->second);
      frontier.push_back(it->second->pid);
    }
  }
  return found;
}

std::optional<ProcessInfo> read_process(pid_t pid, const std::string& proc_root,
                                        std::string* problem) {
  if (problem) problem->clear();
  auto btime = boot_time(proc_root);
  if (!btime) say(problem, fmt::format("no boot time (btime) in {}/stat", proc_root));
  if (!btime || pid <= 0) return std::nullopt;
  return read_one(pid, proc_root, *btime, clock_ticks(problem));
}

}  // namespace quiesce
