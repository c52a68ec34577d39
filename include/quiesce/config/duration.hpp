#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "quiesce/core/time.hpp"

namespace quiesce {

// Reads "30" (seconds), "30s", "1m30s", "500ms", "2h". Config files, flags and
// environment variables all go through this one parser so they agree.
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace quiesce
