#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "quiesce/core/time.hpp"

namespace quiesce {

// The longest duration read: ten years, far beyond any stop budget, and small
// enough that deadline arithmetic on int64 milliseconds never overflows.
inline constexpr Duration kMaxDuration{10LL * 365 * 24 * 3600 * 1000};

// Reads "30" (seconds), "30s", "1m30s", "500ms", "2h". Config files, flags and
// environment variables all go through this one parser so they agree. A
// duration beyond kMaxDuration is none; `too_long`, when given, says so.
std::optional<Duration> parse_duration(std::string_view text, bool* too_long = nullptr);

}  // namespace quiesce
