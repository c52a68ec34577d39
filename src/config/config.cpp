#include "quiesce/config/config.hpp"

#include <fmt/format.h>
#include <getopt.h>

#include <nlohmann/json.hpp>

// toml++ 3.3.0 checks its own preconditions with TOML_ASSERT_ASSUME: an
// abort in a build with assertions (a table header such as "[[[a]]]"), an
// assumption without (undefined behaviour). It marks "cannot happen" with
// TOML_UNREACHABLE, which some non-ASCII input reaches (its issues 190 and
// 295). Each becomes an exception, which apply_file reports as a TOML error,
// in every build; in toml++'s few noexcept functions it ends the program
// cleanly, never in undefined behaviour. toml_as_ascii() keeps the
// inputs known to get there away from toml++ in the first place.
namespace quiesce {
struct TomlCheckFailed {
  const char* check;
};
[[noreturn]] void toml_check_failed(const char* check) {
  throw TomlCheckFailed{check};
}
}  // namespace quiesce
#include <toml++/impl/preprocessor.h>
#undef TOML_ASSERT
#undef TOML_ASSERT_ASSUME
#undef TOML_UNREACHABLE
#define TOML_ASSERT(expr) ((expr) ? static_cast<void>(0) : ::quiesce::toml_check_failed(#expr))
#define TOML_ASSERT_ASSUME(expr) TOML_ASSERT(expr)
#define TOML_UNREACHABLE ::quiesce::toml_check_failed("unreachable")
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <stdexcept>

#include "quiesce/config/duration.hpp"
#include "quiesce/config/values.hpp"
#include "quiesce/core/budget.hpp"
#include "quiesce/core/defaults.hpp"
#include "quiesce/core/drain_policy.hpp"
#include "quiesce/core/enum_names.hpp"
#include "quiesce/core/signal_names.hpp"
#include "quiesce/procfs/file_text.hpp"
#include "quiesce/sidekiq/args.hpp"
#include "quiesce/sidekiq/config_file.hpp"
#include "quiesce/sidekiq/ruby.hpp"

namespace quiesce {
namespace {

using Layer = Origin::Layer;
// A setter reads one value in text form; it returns the problem, if any.
using Setter = std::function<std::optional<std::string>(Config&, std::string_view)>;
using Shower = std::function<std::string(const Config&)>;

struct OptionSpec {
  Key key;
  std::string_view name;  // as in the TOML file, sections dotted: "stop.stop_timeout"
  std::string long_flag;  // without the dashes; empty when there is none
  char short_flag = 0;
  bool takes_value = true;
  std::vector<std::string> env;  // highest priority first
  Setter set;
  Shower show;
};

template <typename T, typename Parse>
Setter setter(T Config::*field, Parse parse) {
  return [field, parse](Config& c, std::string_view text) -> std::optional<std::string> {
    auto parsed = parse(text);
    if (auto* problem = std::get_if<Problem>(&parsed)) return problem->text;
    c.*field = std::get<T>(parsed);
    return std::nullopt;
  };
}

Shower show_duration(Duration Config::*field) {
  return [field](const Config& c) { return fmt::format("\"{}\"", format_duration(c.*field)); };
}
Shower show_bool(bool Config::*field) {
  return [field](const Config& c) { return std::string(c.*field ? "true" : "false"); };
}
Shower show_string(std::string Config::*field) {
  return [field](const Config& c) { return fmt::format("\"{}\"", c.*field); };
}

OptionSpec switch_option(Key key, std::string_view name, std::string flag, char short_flag,
                         std::vector<std::string> env, bool Config::*field) {
  return {.key = key,
          .name = name,
          .long_flag = std::move(flag),
          .short_flag = short_flag,
          .takes_value = false,
          .env = std::move(env),
          .set = setter(field, parse_bool_value),
          .show = show_bool(field)};
}

OptionSpec duration_option(Key key, std::string_view name, std::string flag, std::string env,
                           Duration Config::*field, Parsed<Duration> (*parse)(std::string_view)) {
  return {.key = key,
          .name = name,
          .long_flag = std::move(flag),
          .env = {std::move(env)},
          .set = setter(field, parse),
          .show = show_duration(field)};
}

std::string show_rewrites(const Config& c) {
  std::vector<std::string> parts;
  for (auto [from, to] : c.rewrite) {
    parts.push_back(fmt::format("{} = \"{}\"", signal_name(from), signal_name(to)));
  }
  if (parts.empty()) return "{}";
  return fmt::format("{{ {} }}", fmt::join(parts, ", "));
}

std::vector<OptionSpec> option_specs() {
  std::vector<OptionSpec> specs;
  specs.push_back(switch_option(Key::Subreaper, "subreaper", "subreaper", 's',
                                {"QUIESCE_SUBREAPER", "TINI_SUBREAPER"}, &Config::subreaper));
  specs.push_back(switch_option(Key::ProcessGroup, "process_group", "process-group", 'g',
                                {"QUIESCE_PROCESS_GROUP", "TINI_KILL_PROCESS_GROUP"},
                                &Config::process_group));
  specs.push_back(
      {.key = Key::RemapExit,
       .name = "remap_exit",
       .long_flag = "remap-exit",
       .short_flag = 'e',
       .env = {"QUIESCE_REMAP_EXIT"},
       .set = setter(&Config::remap_exit, parse_exit_codes),
       .show = [](const Config& c) { return fmt::format("[{}]", fmt::join(c.remap_exit, ", ")); }});
  specs.push_back({.key = Key::ParentDeathSignal,
                   .name = "parent_death_signal",
                   .long_flag = "parent-death-signal",
                   .short_flag = 'p',
                   .env = {"QUIESCE_PARENT_DEATH_SIGNAL"},
                   .set = setter(&Config::parent_death_signal, parse_signal_value),
                   .show = [](const Config& c) {
                     return c.parent_death_signal
                                ? fmt::format("\"{}\"", signal_name(c.parent_death_signal))
                                : std::string("\"\"");
                   }});
  specs.push_back({.key = Key::Verbosity,
                   .name = "verbosity",
                   .long_flag = "verbosity",
                   .env = {"QUIESCE_VERBOSITY", "TINI_VERBOSITY"},
                   .set = setter(&Config::verbosity, parse_verbosity),
                   .show = [](const Config& c) { return fmt::format("{}", c.verbosity); }});
  specs.push_back(switch_option(Key::WarnOnReap, "warn_on_reap", "warn-on-reap", 'w',
                                {"QUIESCE_WARN_ON_REAP"}, &Config::warn_on_reap));
  specs.push_back({.key = Key::LogFormat,
                   .name = "log_format",
                   .long_flag = "log-format",
                   .env = {"QUIESCE_LOG_FORMAT"},
                   .set = setter(&Config::log_format, parse_log_format),
                   .show = [](const Config& c) {
                     return std::string(c.log_format == LogFormat::Json ? "\"json\"" : "\"text\"");
                   }});
  specs.push_back(duration_option(Key::ExitGrace, "exit_grace", "exit-grace", "QUIESCE_EXIT_GRACE",
                                  &Config::exit_grace, parse_duration_value));
  specs.push_back({.key = Key::SignalsRewrite,
                   .name = "signals.rewrite",
                   .long_flag = "rewrite",
                   .env = {"QUIESCE_REWRITE"},
                   .set = setter(&Config::rewrite, parse_rewrites),
                   .show = show_rewrites});
  specs.push_back(
      {.key = Key::StopDrain,
       .name = "stop.drain",
       .long_flag = "drain",
       .env = {"QUIESCE_DRAIN"},
       .set = setter(&Config::drain, parse_drain_mode),
       .show = [](const Config& c) { return fmt::format("\"{}\"", drain_mode_name(c.drain)); }});
  specs.push_back(duration_option(Key::StopTimeout, "stop.stop_timeout", "stop-timeout",
                                  "QUIESCE_STOP_TIMEOUT", &Config::stop_timeout,
                                  parse_duration_value));
  specs.push_back(duration_option(Key::SidekiqTimeout, "stop.sidekiq_timeout", "sidekiq-timeout",
                                  "QUIESCE_SIDEKIQ_TIMEOUT", &Config::sidekiq_timeout,
                                  parse_duration_value));
  specs.push_back(duration_option(Key::ShutdownMargin, "stop.shutdown_margin", "shutdown-margin",
                                  "QUIESCE_SHUTDOWN_MARGIN", &Config::shutdown_margin,
                                  parse_duration_value));
  specs.push_back(duration_option(Key::PollInterval, "stop.poll_interval", "poll-interval",
                                  "QUIESCE_POLL_INTERVAL", &Config::poll_interval,
                                  parse_positive_duration));
  specs.push_back({.key = Key::RecoverJobs,
                   .name = "stop.recover_jobs",
                   .long_flag = "recover-jobs",
                   .env = {"QUIESCE_RECOVER_JOBS"},
                   .set = setter(&Config::recover_jobs, parse_bool_value),
                   .show = show_bool(&Config::recover_jobs)});
  specs.push_back({.key = Key::ThreadRule,
                   .name = "stop.thread_rule",
                   .long_flag = "thread-rule",
                   .env = {"QUIESCE_THREAD_RULE"},
                   .set = setter(&Config::thread_rule, parse_bool_value),
                   .show = show_bool(&Config::thread_rule)});
  specs.push_back(
      {.key = Key::RedisUrl,
       .name = "redis.url",
       .long_flag = "redis-url",
       // REDIS_PROVIDER names the variable holding the URL (redis_connection.rb).
       .env = {"QUIESCE_REDIS_URL", "REDIS_PROVIDER", "REDIS_URL"},
       .set = setter(&Config::redis_url, parse_redis_url_value),
       .show = [](const Config& c) { return fmt::format("\"{}\"", redact_url(c.redis_url)); }});
  specs.push_back({.key = Key::RedisCaFile,
                   .name = "redis.ca_file",
                   .long_flag = "redis-ca-file",
                   .env = {"QUIESCE_REDIS_CA_FILE"},
                   .set = setter(&Config::redis_ca_file, parse_string_value),
                   .show = show_string(&Config::redis_ca_file)});
  specs.push_back({.key = Key::RedisTlsVerify,
                   .name = "redis.tls_verify",
                   .long_flag = "redis-tls-verify",
                   .env = {"QUIESCE_REDIS_TLS_VERIFY"},
                   .set = setter(&Config::redis_tls_verify, parse_bool_value),
                   .show = show_bool(&Config::redis_tls_verify)});
  specs.push_back(duration_option(Key::RedisConnectTimeout, "redis.connect_timeout",
                                  "redis-connect-timeout", "QUIESCE_REDIS_CONNECT_TIMEOUT",
                                  &Config::redis_connect_timeout, parse_positive_duration));
  specs.push_back(duration_option(Key::RedisCommandTimeout, "redis.command_timeout",
                                  "redis-command-timeout", "QUIESCE_REDIS_COMMAND_TIMEOUT",
                                  &Config::redis_command_timeout, parse_positive_duration));
  specs.push_back(
      {.key = Key::OnTstp,
       .name = "signals.on_tstp",
       .long_flag = "on-tstp",
       .env = {"QUIESCE_ON_TSTP"},
       .set = setter(&Config::on_tstp, parse_on_tstp),
       .show = [](const Config& c) { return fmt::format("\"{}\"", on_tstp_name(c.on_tstp)); }});
  specs.push_back({.key = Key::ControlSocket,
                   .name = "control.socket",
                   .long_flag = "control-socket",
                   .env = {"QUIESCE_CONTROL_SOCKET"},
                   .set = setter(&Config::control_socket, parse_socket_path),
                   .show = show_string(&Config::control_socket)});
  specs.push_back(duration_option(Key::RestartGrace, "control.restart_grace", "restart-grace",
                                  "QUIESCE_RESTART_GRACE", &Config::restart_grace,
                                  parse_duration_value));
  specs.push_back({.key = Key::OnDrained,
                   .name = "control.on_drained",
                   .long_flag = "on-drained",
                   .env = {"QUIESCE_ON_DRAINED"},
                   .set = setter(&Config::on_drained, parse_argv_value),
                   .show = [](const Config& c) {
                     return nlohmann::json(c.on_drained)
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
                   }});
  specs.push_back({.key = Key::HttpListen,
                   .name = "http.listen",
                   .long_flag = "http-listen",
                   .env = {"QUIESCE_HTTP_LISTEN"},
                   .set = setter(&Config::http_listen, parse_listen_address),
                   .show = show_string(&Config::http_listen)});
  specs.push_back(duration_option(Key::HealthMaxAge, "health.max_age", "health-max-age",
                                  "QUIESCE_HEALTH_MAX_AGE", &Config::health_max_age,
                                  parse_duration_value));
  return specs;
}

const std::vector<OptionSpec>& specs() {
  static const std::vector<OptionSpec> all = option_specs();
  return all;
}

const OptionSpec& spec_for(Key key) {
  for (const auto& s : specs()) {
    if (s.key == key) return s;
  }
  throw std::logic_error("an option key without a spec");
}

const OptionSpec* find_spec(std::string_view name) {
  for (const auto& s : specs()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// tini's variables are switches: set at all means on, whatever the value.
bool is_presence_switch(const OptionSpec& spec, const std::string& env_name) {
  return !spec.takes_value || (env_name.rfind("TINI_", 0) == 0 && env_name != "TINI_VERBOSITY");
}

std::optional<ConfigError> apply(Config& c, const OptionSpec& spec, std::string_view text,
                                 Origin origin, std::string_view where) {
  if (auto problem = spec.set(c, text)) {
    return ConfigError{fmt::format("quiesce: {}: {}", where, *problem)};
  }
  c.origins[spec.key] = std::move(origin);
  return std::nullopt;
}

// ---- command line ----------------------------------------------------------

struct FlagValues {
  std::vector<std::pair<const OptionSpec*, std::string>> values;  // in order given
  std::vector<std::string> remap_codes;
  std::vector<std::string> rewrites;
  int verbose_count = 0;
  std::optional<std::string> config_file;
  bool help = false;
  bool version = false;
  std::vector<std::string> command;
};

enum LongOnly { kConfig = 1000, kVersion, kHelp, kSpecBase = 2000 };

std::variant<FlagValues, ConfigError> parse_flags(const std::vector<std::string>& args) {
  std::vector<option> longopts;
  std::string shortopts = "+:hv";  // '+': stop at the command, as tini does
  for (std::size_t i = 0; i < specs().size(); ++i) {
    const auto& s = specs()[i];
    int has_arg = s.takes_value ? required_argument : no_argument;
    if (!s.long_flag.empty()) {
      longopts.push_back({s.long_flag.c_str(), has_arg, nullptr, kSpecBase + static_cast<int>(i)});
    }
    if (s.short_flag) {
      shortopts += s.short_flag;
      if (s.takes_value) shortopts += ':';
    }
  }
  longopts.push_back({"config", required_argument, nullptr, kConfig});
  longopts.push_back({"version", no_argument, nullptr, kVersion});
  longopts.push_back({"help", no_argument, nullptr, kHelp});
  longopts.push_back({nullptr, 0, nullptr, 0});

  std::vector<std::string> storage = {"quiesce"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  FlagValues out;
  optind = 0;  // glibc: 0 resets getopt's state fully
  opterr = 0;
  int argc = static_cast<int>(storage.size());
  for (;;) {
    int opt = getopt_long(argc, argv.data(), shortopts.c_str(), longopts.data(), nullptr);
    if (opt == -1) break;
    std::string given = argv[optind - 1] ? argv[optind - 1] : "";
    if (opt == '?') {
      std::string name = optopt ? fmt::format("-{}", static_cast<char>(optopt)) : given;
      return ConfigError{fmt::format("quiesce: {}: unknown option (see quiesce --help)", name)};
    }
    if (opt == ':') {
      std::string name =
          optopt && optopt < 256 ? fmt::format("-{}", static_cast<char>(optopt)) : given;
      return ConfigError{fmt::format("quiesce: {}: needs a value", name)};
    }
    if (opt == 'h' || opt == kHelp) {
      out.help = true;
    } else if (opt == kVersion) {
      out.version = true;
    } else if (opt == 'v') {
      ++out.verbose_count;
    } else if (opt == kConfig) {
      out.config_file = optarg;
    } else {
      const OptionSpec* spec = nullptr;
      if (opt >= kSpecBase) {
        spec = &specs()[static_cast<std::size_t>(opt - kSpecBase)];
      } else {
        for (const auto& s : specs()) {
          if (s.short_flag == opt) spec = &s;
        }
      }
      if (!spec) return ConfigError{fmt::format("quiesce: {}: unknown option", given)};
      std::string value = spec->takes_value ? optarg : "true";
      // Repeatable flags gather every occurrence into one value.
      if (spec->key == Key::RemapExit) {
        out.remap_codes.push_back(value);
      } else if (spec->key == Key::SignalsRewrite) {
        out.rewrites.push_back(value);
      } else {
        out.values.emplace_back(spec, value);
      }
    }
  }
  for (int i = optind; i < argc; ++i) out.command.emplace_back(argv[i]);
  return out;
}

std::string flag_name(const OptionSpec& spec) {
  return spec.long_flag.empty() ? fmt::format("-{}", spec.short_flag)
                                : fmt::format("--{}", spec.long_flag);
}

std::optional<ConfigError> apply_flags(Config& c, const FlagValues& flags) {
  for (const auto& [spec, value] : flags.values) {
    auto where = flag_name(*spec);
    if (auto e = apply(c, *spec, value, {Layer::Flag, where}, where)) return e;
  }
  auto joined = [&](Key key, const std::vector<std::string>& parts) {
    const OptionSpec& spec = spec_for(key);
    auto where = flag_name(spec);
    return apply(c, spec, fmt::format("{}", fmt::join(parts, ",")), {Layer::Flag, where}, where);
  };
  if (!flags.remap_codes.empty()) {
    if (auto e = joined(Key::RemapExit, flags.remap_codes)) return e;
  }
  if (!flags.rewrites.empty()) {
    if (auto e = joined(Key::SignalsRewrite, flags.rewrites)) return e;
  }
  // -v counts up from tini's default, unless --verbosity set it outright.
  auto verbosity_origin = c.origins.find(Key::Verbosity);
  bool set_by_flag =
      verbosity_origin != c.origins.end() && verbosity_origin->second.layer == Layer::Flag;
  if (flags.verbose_count > 0 && !set_by_flag) {
    c.verbosity = std::min(4, 1 + flags.verbose_count);
    c.origins[Key::Verbosity] = {Layer::Flag, std::string(flags.verbose_count, 'v').insert(0, "-")};
  }
  return std::nullopt;
}

// ---- environment -----------------------------------------------------------

std::optional<ConfigError> apply_env(Config& c, const GetEnv& getenv) {
  for (const auto& spec : specs()) {
    for (const auto& name : spec.env) {
      const char* raw = getenv(name.c_str());
      if (!raw) continue;
      std::string value = raw;
      std::string origin = name;
      if (name == "REDIS_PROVIDER") {
        // Sidekiq (7.0 on) reads ENV[REDIS_PROVIDER] || ENV["REDIS_URL"], and
        // refuses to start when REDIS_PROVIDER holds a URL itself.
        if (value.find(':') != std::string::npos) {
          c.warnings.push_back(
              "REDIS_PROVIDER holds a URL, not the name of the variable that holds it: Sidekiq "
              "refuses to start with it; quiesce ignores it");
          continue;
        }
        const char* target = value.empty() ? nullptr : getenv(value.c_str());
        if (!target || !*target) continue;
        origin = fmt::format("{} (named by REDIS_PROVIDER)", value);
        value = target;
      }
      if (is_presence_switch(spec, name) && name.rfind("TINI_", 0) == 0) value = "true";
      if (value.empty() && spec.takes_value) continue;  // VAR= means unset, as in most shells
      if (auto e = apply(c, spec, value, {Layer::Env, origin}, origin)) return e;
      break;
    }
  }
  return std::nullopt;
}

// ---- config file -----------------------------------------------------------

std::optional<std::string> node_text(const toml::node& node, bool allow_table) {
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return fmt::format("{}", i->get());
  if (auto b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (auto arr = node.as_array()) {
    std::vector<std::string> parts;
    for (const auto& item : *arr) {
      auto t = node_text(item, false);
      if (!t) return std::nullopt;
      parts.push_back(*t);
    }
    return fmt::format("{}", fmt::join(parts, ","));
  }
  if (auto table = node.as_table(); table && allow_table) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : *table) {
      auto t = node_text(v, false);
      if (!t) return std::nullopt;
      parts.push_back(fmt::format("{}:{}", k.str(), *t));
    }
    return fmt::format("{}", fmt::join(parts, ","));
  }
  return std::nullopt;
}

std::optional<ConfigError> apply_file_key(Config& c, const std::string& path,
                                          const std::string& key, const toml::node& node) {
  auto line = node.source().begin.line;
  auto where = fmt::format("{}:{}", path, line);
  const OptionSpec* spec = find_spec(key);
  if (!spec) return ConfigError{fmt::format("quiesce: {}: unknown key '{}'", where, key)};
  // A command is a list of words, which may hold commas: kept as JSON.
  std::optional<std::string> text;
  if (spec->key == Key::OnDrained && node.is_array()) {
    nlohmann::json words = nlohmann::json::array();
    for (const auto& item : *node.as_array()) {
      if (auto s = item.as_string()) {
        words.push_back(s->get());
      } else {
        words.push_back(nullptr);  // refused by the parser, with the key named
      }
    }
    text = words.dump();
  } else {
    text = node_text(node, spec->key == Key::SignalsRewrite);
  }
  if (!text) {
    return ConfigError{
        fmt::format("quiesce: {}: {}: a value of this type does not fit here", where, key)};
  }
  return apply(c, *spec, *text, {Layer::File, where}, fmt::format("{}: {}", where, key));
}

bool is_section(const std::string& key) {
  return key == "signals" || key == "stop" || key == "redis" || key == "control" ||
         key == "health" || key == "http";
}

// Either the first thing in a config file that TOML never allows (a control
// character other than tab, a CR without LF, invalid UTF-8) or that cannot
// be handed to toml++ 3.3.0 as ASCII, as "LINE: problem"; or the same
// document in ASCII. toml++ asks "is this whitespace?" of characters in many
// places (scanning a bare value, after a backslash, in trimmed whitespace),
// and for most non-ASCII characters that question ends in its "unreachable"
// branch inside a noexcept function: the program terminates. Chasing each
// place is a losing game, so toml++ never sees a byte above 0x7f: in a
// basic string a character becomes its \u or \U escape (the same string),
// in a comment a '?' (comments carry no meaning), and anywhere else it is an
// error that says how to write it. Line numbers stay those of the file.
struct TomlAscii {
  std::string text;
  std::optional<std::string> problem;
};

TomlAscii toml_as_ascii(std::string_view text) {
  // Trim: after a backslash and whitespace in a multi-line basic string,
  // until the next character that is not whitespace.
  enum class In { Code, Comment, Basic, Literal, MultiBasic, Trim, MultiLiteral } in = In::Code;
  TomlAscii out;
  out.text.reserve(text.size());
  std::size_t line = 1;
  bool escaped = false;
  auto run_of = [&](std::size_t i, char quote) {
    std::size_t n = 0;
    while (i + n < text.size() && text[i + n] == quote) ++n;
    return n;
  };
  auto fail = [&](std::string problem) {
    out.text.clear();
    out.problem = fmt::format("{}: {}", line, problem);
    return out;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      // UTF-8 without overlong forms, surrogates or code points past U+10FFFF.
      std::size_t len = 0;
      if (c >= 0xc2 && c <= 0xdf) len = 2;
      if (c >= 0xe0 && c <= 0xef) len = 3;
      if (c >= 0xf0 && c <= 0xf4) len = 4;
      bool ok = len > 0 && i + len <= text.size();
      char32_t code = len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
      for (std::size_t k = 1; ok && k < len; ++k) {
        auto next = static_cast<unsigned char>(text[i + k]);
        unsigned char low = 0x80, high = 0xbf;
        if (k == 1 && c == 0xe0) low = 0xa0;
        if (k == 1 && c == 0xed) high = 0x9f;
        if (k == 1 && c == 0xf0) low = 0x90;
        if (k == 1 && c == 0xf4) high = 0x8f;
        ok = next >= low && next <= high;
        code = (code << 6) | (next & 0x3f);
      }
      if (!ok) return fail(fmt::format("invalid UTF-8 (byte 0x{:02x})", c));
      bool basic = in == In::Basic || in == In::MultiBasic;
      if (in == In::Comment) {
        out.text += '?';
      } else if (basic && !escaped) {
        out.text += code <= 0xffff ? fmt::format("\\u{:04x}", static_cast<std::uint32_t>(code))
                                   : fmt::format("\\U{:08x}", static_cast<std::uint32_t>(code));
      } else if (basic || in == In::Trim) {
        return fail("non-ASCII character after a backslash (write it as \\uXXXX)");
      } else if (in == In::Code) {
        return fail(
            "non-ASCII character outside a comment or a string (write it as \\uXXXX in a "
            "\"string\")");
      } else {
        return fail(
            "non-ASCII character in a 'literal string' (write it as \\uXXXX in a \"basic "
            "string\")");
      }
      i += len - 1;
      escaped = false;
      continue;
    }
    if (c == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) {
      return fail("carriage return not followed by a line feed");
    }
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      return fail(fmt::format("control character 0x{:02x}", c));
    }
    out.text += static_cast<char>(c);
    if (c == '\n') ++line;
    bool was_escaped = escaped;
    escaped = false;
    switch (in) {
      case In::Code:
        if (c == '#') {
          in = In::Comment;
        } else if (c == '"' || c == '\'') {
          bool multi = run_of(i, static_cast<char>(c)) >= 3;
          if (multi) {
            out.text.append(2, static_cast<char>(c));
            i += 2;
          }
          in = c == '"' ? (multi ? In::MultiBasic : In::Basic)
                        : (multi ? In::MultiLiteral : In::Literal);
        }
        break;
      case In::Comment:
        if (c == '\n') in = In::Code;
        break;
      case In::Basic:
      case In::Literal:
        // A string ends at its own quote, or (an error toml++ reports) the
        // line; the other quote is text ('say "hi"').
        if (c == '\n' || (c == '\'' && in == In::Literal) ||
            (c == '"' && in == In::Basic && !was_escaped)) {
          in = In::Code;
        } else if (c == '\\' && in == In::Basic) {
          escaped = !was_escaped;
        }
        break;
      case In::Trim:
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
        in = In::MultiBasic;
        [[fallthrough]];
      case In::MultiBasic:
      case In::MultiLiteral: {
        char quote = in == In::MultiBasic ? '"' : '\'';
        if (c == '\\' && in == In::MultiBasic) {
          escaped = !was_escaped;
        } else if (was_escaped && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
          in = In::Trim;
        } else if (c == static_cast<unsigned char>(quote) && !was_escaped) {
          // Up to five quotes close one: the first two may belong to the text.
          std::size_t n = run_of(i, quote);
          if (n >= 3) in = In::Code;
          out.text.append(n - 1, quote);
          i += n - 1;
        }
        break;
      }
    }
  }
  return out;
}

std::optional<ConfigError> apply_file(Config& c, const std::string& path) {
  // Real ones are a few hundred bytes; a FIFO at /etc/quiesce.toml must not
  // block PID 1, /dev/zero must not fill memory.
  constexpr std::size_t kMaxConfigFile = 1 << 20;
  auto text = read_file_text(path, kMaxConfigFile);
  if (!text) {
    std::error_code ec;
    bool regular = std::filesystem::is_regular_file(path, ec);
    return ConfigError{fmt::format(
        "quiesce: config file {}: {}", path,
        regular ? "cannot be read, or larger than 1 MiB" : "not a regular file of at most 1 MiB")};
  }
  auto ascii = toml_as_ascii(*text);
  if (ascii.problem) return ConfigError{fmt::format("quiesce: {}:{}", path, *ascii.problem)};
  toml::table root;
  try {
    root = toml::parse(ascii.text, path);
  } catch (const toml::parse_error& e) {
    return ConfigError{
        fmt::format("quiesce: {}:{}: {}", path, e.source().begin.line, e.description())};
  } catch (const TomlCheckFailed& e) {
    return ConfigError{fmt::format(
        "quiesce: {}: not TOML that toml++ can read (its check {} failed)", path, e.check)};
  }
  for (const auto& [k, node] : root) {
    std::string key(k.str());
    if (is_section(key) && node.is_table()) {
      for (const auto& [k2, inner] : *node.as_table()) {
        if (auto e = apply_file_key(c, path, key + "." + std::string(k2.str()), inner)) return e;
      }
    } else if (auto e = apply_file_key(c, path, key, node)) {
      return e;
    }
  }
  c.config_file = path;
  return std::nullopt;
}

std::optional<std::string> choose_config_file(const FlagValues& flags, const GetEnv& getenv,
                                              bool& explicit_choice) {
  explicit_choice = true;
  if (flags.config_file) return flags.config_file;
  if (const char* env = getenv("QUIESCE_CONFIG"); env && *env) return std::string(env);
  explicit_choice = false;
  std::error_code ec;
  std::string fallback(defaults::kConfigFile);
  if (std::filesystem::exists(fallback, ec)) return fallback;
  return std::nullopt;
}

// ---- derived values and sanity ---------------------------------------------

// Sidekiq's timeout, when not configured here: the command's -t, else the
// :timeout: of the config file Sidekiq will read, else its default. Once
// Sidekiq runs, the supervisor reads its file again from its own working
// directory and environment (sidekiq_timeout_learnable).
void derive_sidekiq_timeout(Config& c, const GetEnv& getenv) {
  if (c.origins.count(Key::SidekiqTimeout)) {
    c.sidekiq_timeout_learnable = false;
    return;
  }
  // The parsers cap what they read at kMaxSidekiqTimeoutSeconds, so the
  // milliseconds always fit; a value at the cap was that long or longer.
  auto too_long = [&](const std::string& where) {
    c.warnings.push_back(fmt::format(
        "stop.sidekiq_timeout: {} is 10 years or more; quiesce counts it as {}, longer than any "
        "stop budget, so Sidekiq gets TERM at once",
        where, format_duration(c.sidekiq_timeout)));
  };
  if (auto t = sidekiq_timeout_from_argv(c.command)) {
    c.sidekiq_timeout = Duration{std::int64_t{*t} * 1000};
    c.origins[Key::SidekiqTimeout] = {Layer::Command, "the command's -t"};
    c.sidekiq_timeout_learnable = false;  // Sidekiq's -t wins over its file
    if (*t >= kMaxSidekiqTimeoutSeconds) too_long("the command's -t");
    return;
  }
  // Said only where a Sidekiq is expected (a Redis named, or --drain
  // always): quiesce in front of anything else, as tini, stays quiet.
  bool expects_sidekiq = c.drain == DrainMode::Always || c.redis_url_given;
  if (could_drain(c.drain) && expects_sidekiq && !command_runs_sidekiq(c.command)) {
    c.warnings.push_back(fmt::format(
        "stop.sidekiq_timeout: the command names no sidekiq, so its -t and config file cannot be "
        "read from it: quiesce assumes {} (or what the config/sidekiq.yml of the Sidekiq it finds "
        "says); set --sidekiq-timeout, QUIESCE_SIDEKIQ_TIMEOUT or [stop] sidekiq_timeout to "
        "Sidekiq's timeout",
        format_duration(c.sidekiq_timeout)));
  }
  auto file = sidekiq_file_timeout(c.command, getenv);
  if (!file) return;
  const auto& t = file->timeout;
  std::string where = fmt::format("{} in {}", t.key, file->path);
  if (t.has_erb) c.sidekiq_yml_erb = file->path;
  c.sidekiq_environment = file->environment;
  if (t.seconds) {
    c.sidekiq_timeout = Duration{*timeout_millis(t)};
    c.origins[Key::SidekiqTimeout] = {Layer::Command, where};
    if (*t.seconds >= kMaxSidekiqTimeoutSeconds) too_long(where);
  } else if (t.not_a_number) {
    c.sidekiq_timeout = Duration{*timeout_millis(t)};
    c.origins[Key::SidekiqTimeout] = {Layer::Command, where + ", not a number"};
    c.warnings.push_back(not_a_number_warning(file->path, t));
  } else if (t.unreadable && !(t.has_erb && find_ruby(getenv))) {
    c.warnings.push_back(fmt::format(
        "stop.sidekiq_timeout: {} sets :timeout: in a way quiesce cannot read ({}); assuming "
        "{}: set --sidekiq-timeout or QUIESCE_SIDEKIQ_TIMEOUT to Sidekiq's timeout",
        file->path, t.problem, format_duration(c.sidekiq_timeout)));
  }
}

void derive(Config& c, const GetEnv& getenv) {
  c.redis_url_given = c.origins.count(Key::RedisUrl) > 0;
  derive_sidekiq_timeout(c, getenv);
  c.command_runs_sidekiq = command_runs_sidekiq(c.command);
  // Only a container that will drain Sidekiq cares about the stop budget.
  if (!drains_main_child(c.drain, c.command_runs_sidekiq)) return;
  auto plan = plan_stop(stop_budget_of(machine_config(c)));
  if (!plan.room_to_drain) {
    c.warnings.push_back(fmt::format(
        "stop.stop_timeout {} leaves no room to drain (sidekiq_timeout {} + shutdown_margin {}): "
        "on SIGTERM, Sidekiq gets TERM at once",
        format_duration(c.stop_timeout), format_duration(c.sidekiq_timeout),
        format_duration(c.shutdown_margin)));
  }
  if (plan.kill_early) {
    c.warnings.push_back(
        fmt::format("stop.stop_timeout {} is too short to drain anything: SIGKILL comes at {}",
                    format_duration(c.stop_timeout), format_duration(plan.kill_after)));
  }
}

}  // namespace

std::string_view key_name(Key key) {
  return spec_for(key).name;
}

std::string_view layer_name(Origin::Layer layer) {
  static constexpr auto kNames =
      std::to_array<std::string_view>({"default", "file", "env", "flag", "command"});
  static_assert(static_cast<std::size_t>(Layer::Command) + 1 == kNames.size());
  return enum_name(layer, kNames);
}

MachineConfig machine_config(const Config& c) {
  return {
      .process_group = c.process_group,
      .remap_exit = c.remap_exit,
      .rewrite = c.rewrite,
      .warn_on_reap = c.warn_on_reap,
      .exit_grace = c.exit_grace,
      .drain = c.drain,
      .command_runs_sidekiq = c.command_runs_sidekiq,
      .sidekiq_timeout_learnable = c.sidekiq_timeout_learnable,
      .consult_redis = connects_redis_at_start(c.drain, c.command_runs_sidekiq, c.redis_url_given),
      .stop_timeout = c.stop_timeout,
      .sidekiq_timeout = c.sidekiq_timeout,
      .shutdown_margin = c.shutdown_margin,
      .recover_jobs = c.recover_jobs && c.drain != DrainMode::Never,
      .recover_after_death =
          connects_redis_at_start(c.drain, c.command_runs_sidekiq, c.redis_url_given),
      .redis_connect_timeout = c.redis_connect_timeout,
      .redis_command_timeout = c.redis_command_timeout,
      .thread_rule = c.thread_rule,
      .on_tstp = c.on_tstp,
      .restart_grace = c.restart_grace};
}

std::variant<Loaded, ConfigError> load_config(const std::vector<std::string>& raw_args,
                                              const GetEnv& getenv) {
  Loaded loaded;
  std::vector<std::string> args = raw_args;
  if (!args.empty() && args[0] == "check-config") {
    loaded.mode = Mode::CheckConfig;
    args.erase(args.begin());
  }
  auto parsed = parse_flags(args);
  if (auto* e = std::get_if<ConfigError>(&parsed)) return *e;
  const auto& flags = std::get<FlagValues>(parsed);
  if (flags.help) return Loaded{Mode::Help, {}};
  if (flags.version) return Loaded{Mode::Version, {}};

  Config& c = loaded.config;
  c.command = flags.command;
  bool explicit_file = false;
  if (auto path = choose_config_file(flags, getenv, explicit_file)) {
    std::error_code ec;
    if (explicit_file && !std::filesystem::exists(*path, ec)) {
      return ConfigError{fmt::format("quiesce: config file {}: no such file", *path)};
    }
    if (auto e = apply_file(c, *path)) return *e;
  }
  if (auto e = apply_env(c, getenv)) return *e;
  if (auto e = apply_flags(c, flags)) return *e;
  if (loaded.mode == Mode::Run && c.command.empty()) {
    return ConfigError{"quiesce: no command given (usage: quiesce [options] -- command [args...])"};
  }
  derive(c, getenv);
  return loaded;
}

std::string describe_config(const Config& c) {
  std::string out;
  if (!c.config_file.empty()) out += fmt::format("# config file: {}\n", c.config_file);
  for (const auto& spec : specs()) {
    std::string origin = "default";
    if (auto it = c.origins.find(spec.key); it != c.origins.end()) {
      origin = fmt::format("{} {}", layer_name(it->second.layer), it->second.detail);
    }
    out += fmt::format("{:<22} = {:<34} # {}\n", key_name(spec.key), spec.show(c), origin);
  }
  out += fmt::format("{:<22} = [{}]\n", "command", fmt::join(c.command, ", "));
  for (const auto& w : c.warnings) out += fmt::format("# warning: {}\n", w);
  return out;
}

std::string usage_text() {
  using namespace defaults;
  return fmt::format(R"(usage: quiesce [options] [--] command [args...]
       quiesce check-config [options] [-- command [args...]]

A PID 1 for Sidekiq containers: spawns the command, reaps zombies, forwards
signals, and turns the orchestrator's SIGTERM into a Sidekiq drain that ends
before the stop budget runs out.

tini-compatible:
  -s, --subreaper               register as child subreaper
  -g, --process-group           forward signals to the child's process group
  -e, --remap-exit CODE         exit 0 when the child exits with CODE (repeatable)
  -p, --parent-death-signal SIG signal to get when quiesce's parent dies
  -v                            more logging (repeatable)
  -w, --warn-on-reap            warn about every reaped zombie
  -h, --help                    this text
      --version                 print the version

quiesce:
      --config FILE             TOML config file (default {config} if present)
      --verbosity N             0 errors .. 4 trace
      --log-format text|json    log format on stderr
      --exit-grace DURATION     time others get after the main child exits ({grace})
      --rewrite FROM:TO         forward signal FROM as TO (repeatable)
      --drain auto|always|never the Sidekiq stop (auto: when Sidekiq is found)
      --stop-timeout DURATION   the orchestrator's SIGTERM-to-SIGKILL budget ({budget})
      --sidekiq-timeout DURATION Sidekiq's -t (read from the command, else {sidekiq})
      --shutdown-margin DURATION room for Sidekiq to requeue and exit ({margin})
      --poll-interval DURATION  how often the drain is read ({poll})
      --recover-jobs BOOL       put back the jobs of a Sidekiq killed mid-job (true)
      --thread-rule BOOL        drained once the job threads seen at TSTP are gone (true)
      --on-tstp quiet|forward   a TSTP sent to quiesce: quiet Sidekiq, or forward it (quiet)
      --control-socket PATH     the control socket (default: the first usable of
                                /run/quiesce/, $XDG_RUNTIME_DIR/quiesce/, /tmp/quiesce-UID/)
      --health-max-age DURATION oldest heartbeat `quiesce health` passes (0: three beats)
      --restart-grace DURATION  how long `quiesce restart` lets jobs finish ({restart})
      --on-drained COMMAND      run once a quiet has drained (JSON array, or words)
      --http-listen HOST:PORT   HTTP probes: GET /livez, /readyz, /status (off)
      --redis-url URL           redis://, rediss:// or unix:// (REDIS_URL)
      --redis-ca-file FILE      CA bundle for rediss://
      --redis-tls-verify BOOL   verify the server's certificate (true)
      --redis-connect-timeout DURATION  ({connect})
      --redis-command-timeout DURATION  ({command})

Every option has an environment variable (QUIESCE_*) and a config key:
run `quiesce check-config` to see them all and where each value came from.

Operating a running quiesce (from `docker exec`, a HEALTHCHECK, kubectl exec):
  quiesce status [--json]                     what runs, the drain, Redis
  quiesce quiet [--exit-when-drained] [--wait] TSTP to Sidekiq now
  quiesce health [--ready]                    exit 0, or 1 with the reason
  quiesce restart                             quiet, drain, TERM, start the command again
  each takes --socket PATH (else QUIESCE_CONTROL_SOCKET, else the default rule)
)",
                     fmt::arg("config", kConfigFile),
                     fmt::arg("grace", format_duration(kExitGrace)),
                     fmt::arg("budget", format_duration(kStopTimeout)),
                     fmt::arg("sidekiq", format_duration(kSidekiqTimeout)),
                     fmt::arg("margin", format_duration(kShutdownMargin)),
                     fmt::arg("poll", format_duration(kPollInterval)),
                     fmt::arg("restart", format_duration(kRestartGrace)),
                     fmt::arg("connect", format_duration(kRedisConnectTimeout)),
                     fmt::arg("command", format_duration(kRedisCommandTimeout)));
}

}  // namespace quiesce
