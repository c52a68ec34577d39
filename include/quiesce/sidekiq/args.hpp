#pragma once
// What a command line says about Sidekiq before it runs: whether it starts
// Sidekiq at all, the shutdown timeout given with -t, and where its config
// file and environment come from (cli.rb).
#include <optional>
#include <string>
#include <vector>

namespace quiesce {

// True when a word of the command (or of the script of `sh -c "..."`) is a
// program named sidekiq or sidekiqswarm, e.g. ["bundle","exec","sidekiq"].
bool command_runs_sidekiq(const std::vector<std::string>& argv);

// The longest Sidekiq timeout quiesce counts with: ten years, the longest
// duration it reads anywhere. Sidekiq takes a longer one (any Integer, any
// Float in its config file); under any stop budget it means the same: no
// room to drain.
inline constexpr int kMaxSidekiqTimeoutSeconds = 10 * 365 * 24 * 3600;

// Seconds from -t N, -tN, --timeout N, --timeout=N (and what Ruby's
// OptionParser also takes: "-vt 40", "--time 40") after the sidekiq word;
// the last one wins, as in OptionParser. nullopt when absent, or when the
// value would make Sidekiq refuse to start (not an Integer(), or <= 0). A
// value beyond kMaxSidekiqTimeoutSeconds, however long, reads as that.
std::optional<int> sidekiq_timeout_from_argv(const std::vector<std::string>& argv);

// The options that decide which config file Sidekiq reads, and which
// environment's section of it: -C/--config, -r/--require, -e/--environment.
struct SidekiqFileOptions {
  std::optional<std::string> config_file;
  std::optional<std::string> require;
  std::optional<std::string> environment;
};
std::optional<SidekiqFileOptions> sidekiq_file_options(const std::vector<std::string>& argv);

}  // namespace quiesce
