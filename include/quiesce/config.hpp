#pragma once
// quiesce's settings and where each came from. Layers, lowest first:
// defaults, the TOML file, the environment, the command line.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "quiesce/time.hpp"

namespace quiesce {

enum class DrainMode { Auto, Always, Never };
enum class LogFormat { Text, Json };

struct Origin {
  enum class Layer { Default, File, Env, Flag, Command } layer = Layer::Default;
  std::string detail;  // "QUIESCE_STOP_TIMEOUT", "--stop-timeout", "/etc/quiesce.toml:4"
};

struct Config {
  // PID 1 core (tini's flags)
  bool subreaper = false;
  bool process_group = false;
  std::set<int> remap_exit;
  int parent_death_signal = 0;  // 0: none
  int verbosity = 1;            // 0 error, 1 warn, 2 info, 3 debug, 4 trace
  bool warn_on_reap = false;
  LogFormat log_format = LogFormat::Text;
  Duration exit_grace{30'000};
  std::map<int, int> rewrite;  // forward key as value

  // The Sidekiq stop
  DrainMode drain = DrainMode::Auto;
  Duration stop_timeout{30'000};
  Duration sidekiq_timeout{25'000};
  Duration shutdown_margin{5'000};
  Duration poll_interval{500};

  // Redis
  std::string redis_url = "redis://localhost:6379/0";
  std::string redis_ca_file;
  bool redis_tls_verify = true;
  Duration redis_connect_timeout{2'000};
  Duration redis_command_timeout{1'000};

  std::vector<std::string> command;
  std::string config_file;  // the file read, if any
  std::map<std::string, Origin> origins;
  std::vector<std::string> warnings;  // sound but probably not what was meant
};

enum class Mode { Run, CheckConfig, Help, Version };

struct Loaded {
  Mode mode = Mode::Run;
  Config config;
};

// One line naming the key and the problem; the caller prints it and exits 2.
struct ConfigError {
  std::string message;
};

using GetEnv = std::function<const char*(const char*)>;

// args: argv without argv[0].
std::variant<Loaded, ConfigError> load_config(const std::vector<std::string>& args,
                                              const GetEnv& getenv);

// `quiesce check-config`: every key, its value and its origin.
std::string describe_config(const Config& config);

std::string usage_text();

}  // namespace quiesce
