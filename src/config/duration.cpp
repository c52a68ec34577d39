#include "quiesce/config/duration.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <limits>

namespace quiesce {
namespace {

constexpr std::int64_t kMaxMillis = kMaxDuration.count();

std::optional<std::int64_t> unit_millis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text, bool* too_long) {
  bool ignored = false;
  if (!too_long) too_long = &ignored;
  *too_long = false;
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  bool bare_number_only = true;
  while (i < text.size()) {
    std::size_t start = i;
    std::int64_t value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      value = value * 10 + (text[i] - '0');
      if (value > kMaxMillis) {
        *too_long = true;
        return std::nullopt;
      }
      ++i;
    }
    if (i == start) return std::nullopt;  // a unit with no number, or a sign
    std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      // Only a lone number means seconds: "1m30" is more likely a typo.
      if (i != text.size() || !bare_number_only || start != 0) return std::nullopt;
      unit = "s";
    }
    bare_number_only = false;
    auto scale = unit_millis(unit);
    if (!scale) return std::nullopt;
    total += value * *scale;
    if (total > kMaxMillis) {
      *too_long = true;
      return std::nullopt;
    }
  }
  return Duration{total};
}

}  // namespace quiesce
