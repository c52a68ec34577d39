#include "quiesce/core/time.hpp"

#include <fmt/format.h>

namespace quiesce {

std::string format_duration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 1000 != 0) return fmt::format("{}ms", ms);
  std::int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) out += fmt::format("{}h", s / 3600), s %= 3600;
  if (s >= 60) out += fmt::format("{}m", s / 60), s %= 60;
  if (s > 0) out += fmt::format("{}s", s);
  return out;
}

std::string format_seconds(Duration d) {
  return fmt::format("{:.1f}", seconds(d));
}

}  // namespace quiesce
