#pragma once
// Sidekiq rewrites its process title at every heartbeat (launcher.rb
// PROCTITLES): "sidekiq <version> <tag> [<busy> of <concurrency> busy]",
// plus " stopping" once quiet. Reading it needs no Redis.
#include <optional>
#include <string_view>

#include "quiesce/core/drain_reading.hpp"

namespace quiesce {

// cmdline as read from /proc/<pid>/cmdline: NULs count as spaces. Anything
// that is not a Sidekiq worker's title (a launcher command line such as
// "bundle exec sidekiq -t 5", "sidekiqswarm -e production") yields nullopt.
std::optional<TitleReading> parse_sidekiq_title(std::string_view cmdline);

}  // namespace quiesce
