#include "quiesce/sidekiq/process_timeout.hpp"

#include <filesystem>

#include "quiesce/procfs/file_text.hpp"
#include "quiesce/sidekiq/args.hpp"

namespace quiesce {
namespace {

// A Rails container's environment is a few KB; its command line's head is
// what holds Sidekiq's options.
constexpr std::size_t kMaxEnviron = 1 << 20;
constexpr std::size_t kMaxCmdline = 64 << 10;

}  // namespace

std::vector<std::string> split_nul(const std::string& raw) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < raw.size()) {
    auto end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    words.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

std::optional<ProcessTimeout> read_process_timeout(pid_t pid,
                                                   const std::vector<std::string>& command,
                                                   const std::string& proc_root) {
  std::string dir = proc_root + "/" + std::to_string(pid);
  ProcessTimeout t;
  t.working_dir = dir + "/cwd";
  std::error_code ec;
  if (!std::filesystem::is_directory(t.working_dir, ec)) return std::nullopt;
  auto cmdline = read_file_head(dir + "/cmdline", kMaxCmdline);
  auto environ = read_file_text(dir + "/environ", kMaxEnviron);
  if (!cmdline || !environ) return std::nullopt;
  t.env = split_nul(*environ);
  auto words = split_nul(*cmdline);
  if (!command_runs_sidekiq(words)) words = command;  // a title
  t.argv_timeout = sidekiq_timeout_from_argv(words);
  auto getenv = [&](const char* name) -> const char* {
    std::string_view wanted(name);
    for (const auto& kv : t.env) {
      if (kv.size() > wanted.size() && kv.compare(0, wanted.size(), wanted) == 0 &&
          kv[wanted.size()] == '=') {
        return kv.c_str() + wanted.size() + 1;
      }
    }
    return nullptr;
  };
  t.file = sidekiq_file_timeout(words, getenv, t.working_dir, true);
  return t;
}

}  // namespace quiesce
