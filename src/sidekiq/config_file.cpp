#include "quiesce/sidekiq/config_file.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "quiesce/procfs/file_text.hpp"

namespace quiesce {
namespace {

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

// A YAML key as Sidekiq sees it once symbolized: ":timeout", "timeout" and
// "'timeout'" are the same key.
std::string_view key_name(std::string_view key) {
  key = unquote(trim(key));
  if (!key.empty() && key.front() == ':') key.remove_prefix(1);
  return unquote(key);
}

// A plain YAML number: 25, 25.5, "25"; beyond kMaxSidekiqTimeoutSeconds
// (1e300, 1e999 which strtod makes infinite), that.
std::optional<double> plain_number(std::string_view value) {
  value = unquote(trim(value));
  if (value.empty()) return std::nullopt;
  std::string text(value);
  char* end = nullptr;
  double seconds = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isdigit(static_cast<unsigned char>(text[0]))) {
    return std::nullopt;
  }
  if (std::isnan(seconds)) return std::nullopt;
  return std::min(seconds, static_cast<double>(kMaxSidekiqTimeoutSeconds));
}

struct Line {
  std::size_t indent = 0;
  std::string_view key;
  std::string_view value;
};

// One `key: value` line, comments dropped; nullopt for anything else.
std::optional<Line> parse_line(std::string_view raw) {
  if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
  Line line;
  while (line.indent < raw.size() && raw[line.indent] == ' ') ++line.indent;
  std::string_view body = raw.substr(line.indent);
  if (body.empty() || body.front() == '#' || body.front() == '-') return std::nullopt;
  if (auto hash = body.find(" #"); hash != std::string_view::npos) body = body.substr(0, hash);
  // A symbol key starts with ':' (":timeout: 25"), a quoted one may hold
  // one (\":timeout\": 25): the separator comes after either.
  std::size_t from = body.front() == ':' ? 1 : 0;
  if (body.front() == '"' || body.front() == '\'') {
    auto closing = body.find(body.front(), 1);
    if (closing == std::string_view::npos) return std::nullopt;
    from = closing + 1;
  }
  auto colon = body.find(':', from);
  if (colon == std::string_view::npos) return std::nullopt;
  line.key = key_name(body.substr(0, colon));
  line.value = trim(body.substr(colon + 1));
  return line;
}

void take(TimeoutInFile& into, std::string_view value) {
  into.seconds = plain_number(value);
  into.unreadable = !into.seconds;
}

}  // namespace

std::optional<std::string> sidekiq_config_path(
    const SidekiqFileOptions& options, const std::function<bool(const std::string&)>& is_file,
    const std::function<bool(const std::string&)>& is_dir) {
  if (options.config_file) return *options.config_file;
  std::string dir = options.require && is_dir(*options.require) ? *options.require : ".";
  for (const char* name : {"sidekiq.yml", "sidekiq.yml.erb"}) {
    std::string path = dir + "/config/" + name;
    if (is_file(path)) return path;
  }
  return std::nullopt;
}

std::string sidekiq_environment(const SidekiqFileOptions& options,
                                const std::function<const char*(const char*)>& getenv) {
  if (options.environment) return *options.environment;
  for (const char* name : {"APP_ENV", "RAILS_ENV", "RACK_ENV"}) {
    // Ruby's `||` takes an empty string as set, so does this.
    if (const char* value = getenv(name)) return value;
  }
  return "development";
}

TimeoutInFile timeout_in_sidekiq_yml(std::string_view text, std::string_view environment) {
  TimeoutInFile top;
  TimeoutInFile in_environment;
  bool in_section = false;
  std::size_t child_indent = 0;
  while (!text.empty()) {
    auto newline = text.find('\n');
    std::string_view raw = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    auto line = parse_line(raw);
    if (!line) continue;
    if (line->indent == 0) {
      in_section = line->value.empty() && line->key == environment;
      child_indent = 0;
      if (line->key == "timeout") take(top, line->value);
      continue;
    }
    if (!in_section) continue;
    if (child_indent == 0) child_indent = line->indent;
    if (line->indent == child_indent && line->key == "timeout") take(in_environment, line->value);
  }
  return in_environment.seconds || in_environment.unreadable ? in_environment : top;
}

std::optional<SidekiqFileTimeout> sidekiq_file_timeout(
    const std::vector<std::string>& command,
    const std::function<const char*(const char*)>& getenv) {
  auto options = sidekiq_file_options(command);
  if (!options) return std::nullopt;
  auto is_file = [](const std::string& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec);
  };
  auto is_dir = [](const std::string& p) {
    std::error_code ec;
    return std::filesystem::is_directory(p, ec);
  };
  auto path = sidekiq_config_path(*options, is_file, is_dir);
  if (!path) return std::nullopt;
  // Real ones are a few KB. Not a regular file (-C /dev/zero, a FIFO) or
  // longer: not read, as if missing.
  constexpr std::size_t kMaxSidekiqYml = 1 << 20;
  auto text = read_file_text(*path, kMaxSidekiqYml);
  if (!text) return std::nullopt;  // Sidekiq itself will say the file is missing
  return SidekiqFileTimeout{*path,
                            timeout_in_sidekiq_yml(*text, sidekiq_environment(*options, getenv))};
}

}  // namespace quiesce
