#pragma once
// Where LogLines become bytes: one line each on stderr, as text for people or
// JSON for CloudWatch, filtered by verbosity.
#include <cstdio>

#include "quiesce/core/facts.hpp"
#include "quiesce/core/log_line.hpp"
#include "quiesce/core/modes.hpp"

namespace quiesce {

class LogSink {
 public:
  LogSink(LogFormat format, int verbosity, std::FILE* out = stderr);
  void write(const LogLine& line) const;
  // A fact is worded only when its level is wanted.
  void tell(const Fact& fact) const;
  bool enabled(Level level) const { return static_cast<int>(level) <= verbosity_; }

  // Rendering, separate from writing so tests can read it.
  static std::string render_text(const LogLine& line, const std::string& timestamp);
  static std::string render_json(const LogLine& line, const std::string& timestamp);

 private:
  LogFormat format_;
  int verbosity_;
  std::FILE* out_;
};

}  // namespace quiesce
