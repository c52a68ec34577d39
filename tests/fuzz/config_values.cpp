// Every value of quiesce's own settings as text (flags, environment, the
// config file all hand text over), and the command line itself: one line
// of the input per argument.
#include <string>
#include <variant>
#include <vector>

#include "fuzz_target.hpp"
#include "quiesce/config/config.hpp"
#include "quiesce/config/duration.hpp"
#include "quiesce/config/values.hpp"
#include "quiesce/core/signal_names.hpp"

QUIESCE_FUZZ_TARGET(config_values) {
  using namespace quiesce;
  std::string_view text = fuzz::text_of(data, size);

  bool too_long = false;
  if (auto d = parse_duration(text, &too_long)) {
    fuzz::require(d->count() >= 0 && *d <= kMaxDuration, "a duration within range");
    fuzz::require(parse_duration(format_duration(*d)) == *d, "a duration reads back");
    format_seconds(*d);
  }
  if (auto s = parse_signal(text)) {
    fuzz::require(parse_signal(signal_name(*s)) == *s, "a signal name reads back");
  }
  parse_bool_value(text);
  parse_duration_value(text);
  parse_positive_duration(text);
  parse_signal_value(text);
  parse_verbosity(text);
  parse_exit_codes(text);
  parse_rewrites(text);
  parse_log_format(text);
  parse_drain_mode(text);
  parse_string_value(text);

  // The same bytes as quiesce's command line, one argument a line; an
  // environment with every variable set to the first line.
  std::vector<std::string> args;
  std::size_t start = 0;
  while (start <= text.size() && args.size() < 64) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    args.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  // Files named on the command line are read: keep it to ones that exist
  // everywhere and are harmless, so a run touches nothing of the machine's.
  for (const std::string& a : args) {
    if (a.find("config") != std::string::npos || a.find('/') != std::string::npos) return 0;
  }
  std::string first = args.empty() ? std::string() : args[0];
  auto env = [&](const char* name) -> const char* {
    std::string_view n(name);
    return n.starts_with("QUIESCE_") && n != "QUIESCE_CONFIG" ? first.c_str() : nullptr;
  };
  auto loaded = load_config(args, env);
  if (auto* ok = std::get_if<Loaded>(&loaded)) describe_config(ok->config);
  return 0;
}
