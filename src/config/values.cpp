#include "quiesce/config/values.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include "quiesce/config/duration.hpp"
#include "quiesce/core/enum_names.hpp"
#include "quiesce/core/signal_names.hpp"
#include "quiesce/redis/url.hpp"
#include "quiesce/sidekiq/args.hpp"

namespace quiesce {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(start, end - start);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) {
      part.remove_prefix(1);
    }
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back()))) {
      part.remove_suffix(1);
    }
    parts.push_back(part);
    start = end + 1;
  }
  return parts;
}

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Parsed<bool> parse_bool_value(std::string_view text) {
  auto t = lower(text);
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  return Problem{fmt::format("'{}' is not a boolean (use true or false)", text)};
}

Parsed<Duration> parse_duration_value(std::string_view text) {
  bool too_long = false;
  if (auto d = parse_duration(text, &too_long)) return *d;
  if (too_long) {
    return Problem{
        fmt::format("'{}' is longer than 10 years ({})", text, format_duration(kMaxDuration))};
  }
  return Problem{fmt::format("'{}' is not a duration (use 30, 30s, 1m30s or 500ms)", text)};
}

Parsed<Duration> parse_positive_duration(std::string_view text) {
  auto parsed = parse_duration_value(text);
  if (auto* d = std::get_if<Duration>(&parsed); d && d->count() == 0) {
    return Problem{fmt::format("'{}' must be longer than zero", text)};
  }
  return parsed;
}

Parsed<int> parse_signal_value(std::string_view text) {
  if (text.empty()) return 0;  // none, as the default shows it
  if (auto s = parse_signal(text)) return *s;
  return Problem{fmt::format("'{}' is not a signal name or number (e.g. TERM, SIGKILL, 9)", text)};
}

Parsed<int> parse_verbosity(std::string_view text) {
  auto v = parse_int(text);
  if (!v || *v < 0 || *v > 4)
    return Problem{fmt::format("'{}' is not a verbosity from 0 to 4", text)};
  return *v;
}

Parsed<std::set<int>> parse_exit_codes(std::string_view text) {
  std::set<int> codes;
  if (text.empty()) return codes;  // `remap_exit = []`
  for (auto part : split(text, ',')) {
    auto code = parse_int(part);
    if (!code || *code < 0 || *code > 255) {
      return Problem{fmt::format("'{}' is not an exit code from 0 to 255", part)};
    }
    codes.insert(*code);
  }
  return codes;
}

Parsed<std::map<int, int>> parse_rewrites(std::string_view text) {
  std::map<int, int> map;
  if (text.empty()) return map;
  for (auto part : split(text, ',')) {
    auto colon = part.find(':');
    if (colon == std::string_view::npos) {
      return Problem{fmt::format("'{}' is not a rewrite (use FROM:TO, e.g. TERM:QUIT)", part)};
    }
    auto from = parse_signal(part.substr(0, colon));
    auto to = parse_signal(part.substr(colon + 1));
    if (!from)
      return Problem{fmt::format("'{}' is not a signal name or number", part.substr(0, colon))};
    if (!to)
      return Problem{fmt::format("'{}' is not a signal name or number", part.substr(colon + 1))};
    map[*from] = *to;
  }
  return map;
}

Parsed<LogFormat> parse_log_format(std::string_view text) {
  auto t = lower(text);
  if (t == "text") return LogFormat::Text;
  if (t == "json") return LogFormat::Json;
  return Problem{fmt::format("'{}' is not a log format (use text or json)", text)};
}

Parsed<DrainMode> parse_drain_mode(std::string_view text) {
  auto t = lower(text);
  if (t == "auto") return DrainMode::Auto;
  if (t == "always") return DrainMode::Always;
  if (t == "never") return DrainMode::Never;
  return Problem{fmt::format("'{}' is not a drain mode (use auto, always or never)", text)};
}

std::string_view drain_mode_name(DrainMode mode) {
  static constexpr auto kNames = std::to_array<std::string_view>({"auto", "always", "never"});
  static_assert(static_cast<std::size_t>(DrainMode::Never) + 1 == kNames.size());
  return enum_name(mode, kNames);
}

Parsed<OnTstp> parse_on_tstp(std::string_view text) {
  auto t = lower(text);
  if (t == "quiet") return OnTstp::Quiet;
  if (t == "forward") return OnTstp::Forward;
  return Problem{fmt::format("'{}' is not what a TSTP does (use quiet or forward)", text)};
}

std::string_view on_tstp_name(OnTstp mode) {
  return mode == OnTstp::Quiet ? "quiet" : "forward";
}

// A Unix socket's path fits in sun_path (108 bytes with its NUL); a relative
// one would depend on the directory each client runs in.
Parsed<std::string> parse_socket_path(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.front() != '/') return Problem{fmt::format("'{}' is not an absolute path", text)};
  if (text.size() > 107) return Problem{"a socket path has at most 107 bytes"};
  return std::string(text);
}

// A JSON array of strings (what a TOML array becomes, and what the flag and
// the variable take for arguments with spaces), or words split on spaces.
// No shell: one is run only if the user writes one (["sh", "-c", "..."]).
Parsed<std::vector<std::string>> parse_argv_value(std::string_view text) {
  std::vector<std::string> argv;
  auto first = text.find_first_not_of(" \t");
  if (first != std::string_view::npos && text[first] == '[') {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_array()) {
      return Problem{"not a JSON array of strings (like [\"notify\", \"--done\"])"};
    }
    for (const auto& item : doc) {
      if (!item.is_string()) return Problem{"every word of the command must be a string"};
      argv.push_back(item.get<std::string>());
    }
  } else {
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
      std::size_t start = i;
      while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
      if (i > start) argv.emplace_back(text.substr(start, i - start));
    }
  }
  if (!argv.empty() && argv[0].empty()) return Problem{"the command's first word is empty"};
  return argv;
}

// "HOST:PORT", ":PORT" or "[V6]:PORT", HOST an address (no names: PID 1
// resolves nothing before it listens).
Parsed<std::string> parse_listen_address(std::string_view text) {
  if (text.empty()) return std::string();
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Problem{fmt::format("'{}' is not HOST:PORT (like :9090 or 127.0.0.1:9090)", text)};
  }
  std::string host(text.substr(0, colon));
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return Problem{fmt::format("'{}' is not a port (1 to 65535)", port_text)};
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6) != 1) {
      return Problem{fmt::format("'{}' is not an IPv6 address", host)};
    }
  } else if (!host.empty()) {
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) != 1) {
      return Problem{fmt::format("'{}' is not an IPv4 address ([..] for IPv6)", host)};
    }
  }
  return std::string(text);
}

Parsed<std::string> parse_redis_url_value(std::string_view text) {
  auto parsed = redis::parse_url(text);
  if (auto* problem = std::get_if<std::string>(&parsed)) return Problem{*problem};
  return std::string(text);
}

Parsed<std::string> parse_string_value(std::string_view text) {
  return std::string(text);
}

std::string redact_url(const std::string& url) {
  auto parsed = redis::parse_url(url);
  if (auto* u = std::get_if<redis::Url>(&parsed)) return u->redacted();
  return "(unreadable URL)";
}

}  // namespace quiesce
