#pragma once
// Sidekiq's own config file (config/sidekiq.yml, or -C FILE) may set the
// shutdown timeout as :timeout:. quiesce has to know it: a TERM timed for a
// 25 s timeout to a Sidekiq that waits 60 lets the orchestrator's SIGKILL
// take the jobs. The file is YAML run through ERB, which only Ruby reads in
// full; the shapes people write are read here, and a timeout set any other
// way is reported as unreadable rather than guessed.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quiesce/sidekiq/args.hpp"

namespace quiesce {

// The file Sidekiq reads: -C FILE, else sidekiq.yml or sidekiq.yml.erb in the
// config directory of -r DIR (when DIR is a directory) or of the working
// directory (cli.rb setup_options). `is_file` and `is_dir` are asked about
// candidate paths.
std::optional<std::string> sidekiq_config_path(
    const SidekiqFileOptions& options, const std::function<bool(const std::string&)>& is_file,
    const std::function<bool(const std::string&)>& is_dir);

// Sidekiq's environment: -e, else APP_ENV, RAILS_ENV, RACK_ENV (set, even
// if empty), else "development" (cli.rb set_environment).
std::string sidekiq_environment(const SidekiqFileOptions& options,
                                const std::function<const char*(const char*)>& getenv);

struct TimeoutInFile {
  // What Sidekiq would use, when the file sets it: at most
  // kMaxSidekiqTimeoutSeconds (a longer one, even 1e300 or .inf, reads as that).
  std::optional<double> seconds;
  bool unreadable = false;  // set, but not as a plain number (ERB, say)
};

// `timeout:` or `:timeout:` at the top level, overridden by the same key in
// the section named after the environment, which cli.rb merges over the top.
TimeoutInFile timeout_in_sidekiq_yml(std::string_view text, std::string_view environment);

// All of the above for a command: the file it would read and what that file
// says, or nullopt when the command runs no Sidekiq or there is no file.
struct SidekiqFileTimeout {
  std::string path;
  TimeoutInFile timeout;
};
std::optional<SidekiqFileTimeout> sidekiq_file_timeout(
    const std::vector<std::string>& command, const std::function<const char*(const char*)>& getenv);

}  // namespace quiesce
