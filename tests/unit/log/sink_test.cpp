#include "quiesce/log/sink.hpp"

#include <doctest/doctest.h>

using namespace quiesce;

TEST_CASE("log lines: text for people, one JSON object per line for CloudWatch") {
  auto line = make_log(Level::Warn, "term_sent", "TERM sent", {{"pids", {3, 4}}});
  auto text = LogSink::render_text(line, "T");
  CHECK(text == "quiesce T warn  term_sent: TERM sent\n");
  auto json = nlohmann::json::parse(LogSink::render_json(line, "T"));
  CHECK(json["event"] == "term_sent");
  CHECK(json["level"] == "warn");
  CHECK(json["msg"] == "TERM sent");
  CHECK(json["pids"][1] == 4);
  CHECK(json["time"] == "T");
}

TEST_CASE("bytes that are not UTF-8 do not break a JSON line") {
  auto line = make_log(Level::Info, "x", std::string("title \xff\xfe"));
  auto rendered = LogSink::render_json(line, "T");
  CHECK(rendered.back() == '\n');
  CHECK_NOTHROW(nlohmann::json::parse(rendered));
}

TEST_CASE("verbosity filters by level") {
  LogSink quiet(LogFormat::Text, 1);
  CHECK(quiet.enabled(Level::Error));
  CHECK(quiet.enabled(Level::Warn));
  CHECK_FALSE(quiet.enabled(Level::Info));
  LogSink loud(LogFormat::Text, 3);
  CHECK(loud.enabled(Level::Debug));
  CHECK_FALSE(loud.enabled(Level::Trace));
}
