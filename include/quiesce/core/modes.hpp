#pragma once
// Choices an operator makes that the pure parts act on.

namespace quiesce {

// auto: the Sidekiq stop when Sidekiq is found; always: also the main child
// when nothing else is; never: forward SIGTERM as tini would.
enum class DrainMode { Auto, Always, Never };

enum class LogFormat { Text, Json };

}  // namespace quiesce

namespace quiesce {

// What a TSTP sent to quiesce itself (`docker kill -s TSTP`) does: quiet, as
// `quiesce quiet` would, or forward it as tini would.
enum class OnTstp { Quiet, Forward };

// Who asked for a quiet.
enum class QuietSource { Command, Signal };

}  // namespace quiesce
