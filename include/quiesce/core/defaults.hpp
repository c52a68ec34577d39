#pragma once
// Every default, written once. The config's defaults layer, the usage text
// and the parts that run without a config (tests, tools) all read these.
#include <string_view>

#include "quiesce/core/modes.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce::defaults {

inline constexpr int kVerbosity = 1;  // tini's: errors and warnings
inline constexpr LogFormat kLogFormat = LogFormat::Text;
inline constexpr Duration kExitGrace{30'000};

inline constexpr DrainMode kDrain = DrainMode::Auto;
inline constexpr Duration kStopTimeout{30'000};     // ECS stopTimeout, Kubernetes' grace period
inline constexpr Duration kSidekiqTimeout{25'000};  // Sidekiq's own -t default
inline constexpr Duration kShutdownMargin{5'000};
inline constexpr Duration kPollInterval{500};
inline constexpr bool kRecoverJobs = true;
// A process is also drained once the job threads it had at TSTP are gone.
inline constexpr bool kThreadRule = true;
// A TSTP sent to quiesce itself quiets Sidekiq, as `quiesce quiet` does.
inline constexpr OnTstp kOnTstp = OnTstp::Quiet;
// How long `quiesce restart` lets running jobs finish before the TERM.
inline constexpr Duration kRestartGrace{60'000};

inline constexpr std::string_view kRedisUrl = "redis://localhost:6379/0";  // Sidekiq's own
inline constexpr Duration kRedisConnectTimeout{2'000};
inline constexpr Duration kRedisCommandTimeout{1'000};
inline constexpr Duration kRedisBackoffInitial{250};  // after a failed connect; doubles per failure
inline constexpr Duration kRedisBackoffMax{5'000};

inline constexpr std::string_view kConfigFile = "/etc/quiesce.toml";

}  // namespace quiesce::defaults
