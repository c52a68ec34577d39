#include "quiesce/procfs/threads.hpp"

#include <dirent.h>

#include <charconv>

#include "quiesce/procfs/file_text.hpp"

namespace quiesce {
namespace {

// comm is TASK_COMM_LEN (16) bytes with its NUL; the newline makes 16.
constexpr std::size_t kMaxComm = 64;

std::optional<pid_t> parse_tid(std::string_view name) {
  pid_t tid = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), tid);
  if (ec != std::errc{} || end != name.data() + name.size() || tid <= 0) return std::nullopt;
  return tid;
}

}  // namespace

std::optional<std::vector<ThreadName>> read_thread_names(pid_t pid, const std::string& proc_root) {
  if (pid <= 0) return std::nullopt;
  const std::string dir = proc_root + "/" + std::to_string(pid) + "/task";
  DIR* tasks = opendir(dir.c_str());
  if (!tasks) return std::nullopt;
  std::vector<ThreadName> threads;
  while (dirent* entry = readdir(tasks)) {
    auto tid = parse_tid(entry->d_name);
    if (!tid) continue;
    // A thread that ended between readdir and this read is gone: left out.
    auto comm = read_file_text(dir + "/" + entry->d_name + "/comm", kMaxComm);
    if (!comm) continue;
    if (!comm->empty() && comm->back() == '\n') comm->pop_back();
    threads.push_back(ThreadName{*tid, std::move(*comm)});
  }
  closedir(tasks);
  return threads;
}

}  // namespace quiesce
