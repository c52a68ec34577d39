#pragma once
// Sidekiq's own config file (config/sidekiq.yml, or -C FILE) may set the
// shutdown timeout as :timeout:. quiesce has to know it: a TERM timed for a
// 25 s timeout to a Sidekiq that waits 60 lets the orchestrator's SIGKILL
// take the jobs. The file is YAML run through ERB: the YAML is read here
// with libyaml (yaml_document.hpp), the ERB only by Ruby (erb_evaluator.hpp);
// a timeout quiesce cannot read is reported as such rather than guessed.
#include <cstdint>
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
  // What Sidekiq would use, when the file sets it to a number: at most
  // kMaxSidekiqTimeoutSeconds (a longer one, even .inf, reads as that); a
  // negative one as 0 (Sidekiq's deadline has passed at once).
  std::optional<double> seconds;
  // Set, but not to a number: a string ('30'), nil, a symbol. Sidekiq keeps
  // it as it is, and its TERM path (clock + timeout) then raises: it exits
  // without requeueing what runs.
  bool not_a_number = false;
  // quiesce cannot tell: ERB where the value is, YAML that libyaml refuses,
  // or merge keys too tangled to follow.
  bool unreadable = false;
  bool has_erb = false;  // the file holds ERB tags: only Ruby knows what it says
  std::string key;       // where the value was found: ":timeout" or "production: :timeout"
  std::string written;   // the value as written, for the warnings
  std::string problem;   // why it is unreadable
};

// Sidekiq's rules (cli.rb parse_config, 6.4 to 8.1): the YAML as Psych loads
// it (anchors, aliases, merge keys), keys symbolized (`timeout:` and
// `:timeout:` are one key), and the section named after the environment
// merged over the top level.
TimeoutInFile timeout_in_sidekiq_yml(std::string_view text, std::string_view environment);

// All of the above for a command: the file it would read and what that file
// says, or nullopt when the command runs no Sidekiq (and `any_command` is
// false) or there is no file. Relative paths are taken from working_dir
// (a process's /proc/<pid>/cwd) when it is not empty.
struct SidekiqFileTimeout {
  std::string path;         // as Sidekiq names it
  std::string read_from;    // the path quiesce read (under /proc/<pid>/cwd)
  std::string environment;  // the section that counted
  TimeoutInFile timeout;
};
std::optional<SidekiqFileTimeout> sidekiq_file_timeout(
    const std::vector<std::string>& command, const std::function<const char*(const char*)>& getenv,
    const std::string& working_dir = "", bool any_command = false);

// The timeout a file gives, in whole milliseconds (what quiesce counts
// with): the number, 0 when it is set but not a number (see README: TERM as
// late as the budget allows, since that TERM loses the jobs anyway), nullopt
// when unset or unreadable.
std::optional<std::int64_t> timeout_millis(const TimeoutInFile& timeout);

// The startup warning for a timeout that is set but not a number, naming
// the file and the key.
std::string not_a_number_warning(const std::string& path, const TimeoutInFile& timeout);

}  // namespace quiesce
