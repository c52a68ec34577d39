#pragma once
// The timeout a running Sidekiq really has, read from where it stands:
// `sh -c "cd /app && exec sidekiq"` reads /app/config/sidekiq.yml, not the
// file in quiesce's working directory, and takes its section from its own
// RAILS_ENV. Read from /proc/<pid>/cwd, /proc/<pid>/cmdline and
// /proc/<pid>/environ.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "quiesce/sidekiq/config_file.hpp"

namespace quiesce {

struct ProcessTimeout {
  std::string working_dir;                 // /proc/<pid>/cwd
  std::vector<std::string> env;            // its environment, KEY=VALUE
  std::optional<int> argv_timeout;         // -t on its own command line
  std::optional<SidekiqFileTimeout> file;  // its config file, read from its directory
};

// nullopt when the process cannot be read (gone, or not ours to read).
// Once booted, Sidekiq's command line is its title; the command quiesce
// started (`command`) then stands in for its options.
std::optional<ProcessTimeout> read_process_timeout(pid_t pid,
                                                   const std::vector<std::string>& command,
                                                   const std::string& proc_root = "/proc");

// NUL-separated words (cmdline, environ).
std::vector<std::string> split_nul(const std::string& raw);

}  // namespace quiesce
