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

#include "quiesce/core/defaults.hpp"
#include "quiesce/core/modes.hpp"
#include "quiesce/core/stop_machine.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce {

// Every option, by the name it has in the TOML file (key_name).
enum class Key {
  Subreaper,
  ProcessGroup,
  RemapExit,
  ParentDeathSignal,
  Verbosity,
  WarnOnReap,
  LogFormat,
  ExitGrace,
  SignalsRewrite,
  StopDrain,
  StopTimeout,
  SidekiqTimeout,
  ShutdownMargin,
  PollInterval,
  RecoverJobs,
  ThreadRule,
  RedisUrl,
  RedisCaFile,
  RedisTlsVerify,
  RedisConnectTimeout,
  RedisCommandTimeout,
  OnTstp,
  ControlSocket,
  HealthMaxAge,
  RestartGrace,
  OnDrained,
  HttpListen,
};

// As in the TOML file, sections dotted: "stop.stop_timeout".
std::string_view key_name(Key key);

struct Origin {
  enum class Layer { Default, File, Env, Flag, Command } layer = Layer::Default;
  std::string detail;  // "QUIESCE_STOP_TIMEOUT", "--stop-timeout", "/etc/quiesce.toml:4"
};

std::string_view layer_name(Origin::Layer layer);

struct Config {
  // PID 1 core (tini's flags)
  bool subreaper = false;
  bool process_group = false;
  std::set<int> remap_exit;
  int parent_death_signal = 0;           // 0: none
  int verbosity = defaults::kVerbosity;  // 0 error, 1 warn, 2 info, 3 debug, 4 trace
  bool warn_on_reap = false;
  LogFormat log_format = defaults::kLogFormat;
  Duration exit_grace = defaults::kExitGrace;
  std::map<int, int> rewrite;  // forward key as value

  // The Sidekiq stop
  DrainMode drain = defaults::kDrain;
  Duration stop_timeout = defaults::kStopTimeout;
  Duration sidekiq_timeout = defaults::kSidekiqTimeout;
  Duration shutdown_margin = defaults::kShutdownMargin;
  Duration poll_interval = defaults::kPollInterval;
  bool recover_jobs = defaults::kRecoverJobs;  // put back what a killed Sidekiq was running
  bool thread_rule = defaults::kThreadRule;    // drained once the job threads seen at TSTP are gone

  // Redis
  std::string redis_url{defaults::kRedisUrl};
  std::string redis_ca_file;
  bool redis_tls_verify = true;
  Duration redis_connect_timeout = defaults::kRedisConnectTimeout;
  Duration redis_command_timeout = defaults::kRedisCommandTimeout;

  // Operating
  OnTstp on_tstp = defaults::kOnTstp;
  std::string control_socket;  // "": the default rule (control/socket_path.hpp)
  Duration health_max_age{0};
  Duration restart_grace = defaults::kRestartGrace;
  std::vector<std::string> on_drained;  // argv run once a quiet has drained; empty: none
  std::string http_listen;              // "": no HTTP probes  // 0:
                                        // three heartbeats of Sidekiq's major

  std::vector<std::string> command;
  bool command_runs_sidekiq = false;  // sidekiq/args.hpp's reading of the command
  bool redis_url_given = false;       // set by the file, the environment or a flag
  // Sidekiq's timeout came from its config file or the default, so the file
  // Sidekiq really reads (its own directory and environment) may correct it.
  bool sidekiq_timeout_learnable = true;
  std::string sidekiq_yml_erb;        // the config file Sidekiq reads, when it holds ERB
  std::string sidekiq_environment;    // the section of it that counts (-e, RAILS_ENV ...)
  std::string config_file;            // the file read, if any
  std::map<Key, Origin> origins;      // the keys set by anything but the defaults
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

// The stop machine's share of the settings.
MachineConfig machine_config(const Config& config);

}  // namespace quiesce
