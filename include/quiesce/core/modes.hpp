#pragma once
// Choices an operator makes that the pure parts act on.

namespace quiesce {

// auto: the Sidekiq stop when Sidekiq is found; always: also the main child
// when nothing else is; never: forward SIGTERM as tini would.
enum class DrainMode { Auto, Always, Never };

enum class LogFormat { Text, Json };

}  // namespace quiesce
