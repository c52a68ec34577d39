#include "quiesce/log/sink.hpp"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <ctime>

#include "quiesce/core/enum_names.hpp"
#include "quiesce/log/fact_words.hpp"

namespace quiesce {
namespace {

std::string_view level_name(Level level) {
  static constexpr auto kNames =
      std::to_array<std::string_view>({"error", "warn", "info", "debug", "trace"});
  static_assert(static_cast<std::size_t>(Level::Trace) + 1 == kNames.size());
  return enum_name(level, kNames);
}

std::string utc_timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

}  // namespace

LogSink::LogSink(LogFormat format, int verbosity, std::FILE* out)
    : format_(format), verbosity_(verbosity), out_(out) {}

std::string LogSink::render_text(const LogLine& line, const std::string& timestamp) {
  return fmt::format("quiesce {} {:<5} {}: {}\n", timestamp, level_name(line.level), line.event,
                     line.message);
}

std::string LogSink::render_json(const LogLine& line, const std::string& timestamp) {
  nlohmann::json j = line.fields.is_object() ? line.fields : nlohmann::json::object();
  j["time"] = timestamp;
  j["level"] = level_name(line.level);
  j["event"] = line.event;
  j["msg"] = line.message;
  // Replace, not throw, on bytes that are not UTF-8 (a process title can hold any).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void LogSink::write(const LogLine& line) const {
  if (!enabled(line.level)) return;
  auto ts = utc_timestamp();
  auto text = format_ == LogFormat::Json ? render_json(line, ts) : render_text(line, ts);
  // One write per line, so lines from quiesce and its child never interleave mid-line.
  // A line that cannot be written (the reader of the pipe is gone, the disk
  // is full) has nowhere else to be said: it is dropped, and the stream's
  // error cleared so the next line is tried.
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0) {
    std::clearerr(out_);
  }
}

void LogSink::tell(const Fact& fact) const {
  if (enabled(level_of(fact))) write(word(fact));
}

}  // namespace quiesce
