#pragma once
// Time as the pure parts of quiesce see it: plain numbers handed in by the
// event loop, so tests can drive every path with a fake clock.
#include <chrono>
#include <cstdint>
#include <string>

namespace quiesce {

using Duration = std::chrono::milliseconds;

// Milliseconds on the monotonic clock (uv_now). Deadlines are kept in this.
struct Instant {
  std::int64_t ms = 0;
  friend auto operator<=>(const Instant&, const Instant&) = default;
  friend Instant operator+(Instant a, Duration d) { return {a.ms + d.count()}; }
  friend Duration operator-(Instant a, Instant b) { return Duration{a.ms - b.ms}; }
};

// Seconds since the Unix epoch on the wall clock, as Sidekiq writes `beat`.
using WallSeconds = double;

inline double seconds(Duration d) {
  return static_cast<double>(d.count()) / 1000.0;
}

// The shortest form the config reads back: "1m30s", "500ms", "0s".
std::string format_duration(Duration d);

// Seconds with one decimal, for log lines: "22.5".
std::string format_seconds(Duration d);

}  // namespace quiesce
