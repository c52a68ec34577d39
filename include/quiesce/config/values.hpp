#pragma once
// One parser per kind of setting. Flags, environment variables and the config
// file all hand their values over as text, so each kind is read (and its
// errors worded) in exactly one place.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quiesce/config/config.hpp"

namespace quiesce {

struct Problem {
  std::string text;  // what is wrong with the value, e.g. "'3x' is not a duration"
};

template <typename T>
using Parsed = std::variant<T, Problem>;

Parsed<bool> parse_bool_value(std::string_view text);
Parsed<Duration> parse_duration_value(std::string_view text);
Parsed<Duration> parse_positive_duration(std::string_view text);
Parsed<int> parse_signal_value(std::string_view text);
Parsed<int> parse_verbosity(std::string_view text);
Parsed<std::set<int>> parse_exit_codes(std::string_view text);     // "143,130"
Parsed<std::map<int, int>> parse_rewrites(std::string_view text);  // "TERM:QUIT,USR1:TERM"
Parsed<LogFormat> parse_log_format(std::string_view text);
Parsed<DrainMode> parse_drain_mode(std::string_view text);
Parsed<std::string> parse_redis_url_value(std::string_view text);
Parsed<std::string> parse_string_value(std::string_view text);

std::string_view drain_mode_name(DrainMode mode);
Parsed<OnTstp> parse_on_tstp(std::string_view text);
std::string_view on_tstp_name(OnTstp mode);
Parsed<std::string> parse_socket_path(std::string_view text);
Parsed<std::vector<std::string>> parse_argv_value(std::string_view text);
Parsed<std::string> parse_listen_address(std::string_view text);
std::string redact_url(const std::string& url);

}  // namespace quiesce
