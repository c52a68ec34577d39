#pragma once
// A log line is data until the edge of the program prints it: the effect
// side builds LogLines (log/fact_words.hpp words the stop machine's facts as
// them), and log/sink.hpp renders them as text or JSON.
#include <nlohmann/json.hpp>
#include <string>

namespace quiesce {

enum class Level { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 };

struct LogLine {
  Level level = Level::Info;
  std::string event;    // stable machine-readable name, e.g. "term_sent"
  std::string message;  // one human sentence
  nlohmann::json fields = nlohmann::json::object();  // extra structured data
};

inline LogLine make_log(Level level, std::string event, std::string message,
                        nlohmann::json fields = nlohmann::json::object()) {
  return LogLine{level, std::move(event), std::move(message), std::move(fields)};
}

}  // namespace quiesce
