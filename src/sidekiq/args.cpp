#include "quiesce/sidekiq/args.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <string_view>

namespace quiesce {
namespace {

using Words = std::vector<std::string>;

std::string_view basename(std::string_view word) {
  auto slash = word.rfind('/');
  return slash == std::string_view::npos ? word : word.substr(slash + 1);
}

bool is_sidekiq_word(std::string_view word) {
  auto name = basename(word);
  return name == "sidekiq" || name == "sidekiqswarm";
}

bool is_shell(std::string_view word) {
  auto name = basename(word);
  return name == "sh" || name == "bash" || name == "dash" || name == "ash" || name == "zsh" ||
         name == "ksh" || name == "busybox";
}

bool is_separator(std::string_view word) {
  return word == "&&" || word == "||" || word == ";" || word == "|" || word == "&";
}

// Good enough for the one-liners people put in CMD: words split on
// whitespace, control operators split off as their own words, quotes
// dropped. Not a shell parser.
Words split_script(std::string_view script) {
  Words words;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) words.push_back(std::move(current));
    current.clear();
  };
  for (std::size_t i = 0; i < script.size(); ++i) {
    char c = script[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else if (c == ';' || c == '&' || c == '|') {
      flush();
      std::string op(1, c);
      if ((c == '&' || c == '|') && i + 1 < script.size() && script[i + 1] == c) op += script[++i];
      words.push_back(op);
    } else if (c != '\'' && c != '"') {
      current += c;
    }
  }
  flush();
  return words;
}

// `sh -c SCRIPT`, `bash -lc SCRIPT`, `busybox sh -c SCRIPT`: the script.
std::optional<std::string> shell_script(const Words& argv) {
  if (argv.empty() || !is_shell(argv[0])) return std::nullopt;
  for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word.size() >= 2 && word[0] == '-' && word[1] != '-' &&
        word.find('c') != std::string::npos) {
      return argv[i + 1];
    }
  }
  return std::nullopt;
}

// The words after the sidekiq word, up to the end of that simple command.
std::optional<Words> sidekiq_arguments(const Words& argv) {
  if (auto script = shell_script(argv)) return sidekiq_arguments(split_script(*script));
  auto it = std::find_if(argv.begin(), argv.end(),
                         [](const std::string& w) { return is_sidekiq_word(w); });
  if (it == argv.end()) return std::nullopt;
  Words rest;
  for (++it; it != argv.end() && !is_separator(*it); ++it) rest.push_back(*it);
  return rest;
}

// Ruby's Integer(String), which cli.rb applies to -t: surrounding
// whitespace, a sign, 0x/0b/0o/0d prefixes, a leading 0 meaning octal, and
// single underscores between digits. Ruby's integers have no limit; one
// beyond a long long reads as LLONG_MAX (or -LLONG_MAX).
std::optional<long long> ruby_integer(std::string_view text) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() >= 2 && text[0] == '0') {
    char p = static_cast<char>(std::tolower(static_cast<unsigned char>(text[1])));
    if (p == 'x' || p == 'b' || p == 'o' || p == 'd') {
      base = p == 'x' ? 16 : p == 'b' ? 2 : p == 'o' ? 8 : 10;
      text.remove_prefix(2);
    } else {
      base = 8;
      text.remove_prefix(1);
    }
  }
  if (text.empty() || text.front() == '_' || text.back() == '_') return std::nullopt;
  long long value = 0;
  char previous = 0;
  for (char c : text) {
    if (c == '_') {
      if (previous == '_') return std::nullopt;
      previous = c;
      continue;
    }
    previous = c;
    int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                : std::isxdigit(static_cast<unsigned char>(c))
                    ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                    : 99;
    if (digit >= base) return std::nullopt;
    value = value > (LLONG_MAX - digit) / base ? LLONG_MAX : value * base + digit;
  }
  return negative ? -value : value;
}

std::optional<int> valid_timeout(std::string_view text) {
  auto value = ruby_integer(text);
  if (!value || *value <= 0) return std::nullopt;
  return static_cast<int>(std::min<long long>(*value, kMaxSidekiqTimeoutSeconds));
}

enum class Arg { None, Required, Optional };

struct Option {
  char short_name;
  std::string_view long_name;
  Arg arg;
};

// cli.rb option_parser, 6.4.1 (7.x and 8.x keep these).
constexpr Option kOptions[] = {
    {'c', "concurrency", Arg::Required},
    {'d', "daemon", Arg::None},
    {'e', "environment", Arg::Required},
    {'g', "tag", Arg::Required},
    {'q', "queue", Arg::Required},
    {'r', "require", Arg::Optional},
    {'t', "timeout", Arg::Required},
    {'v', "verbose", Arg::None},
    {'C', "config", Arg::Required},
    {'L', "logfile", Arg::Required},
    {'P', "pidfile", Arg::Required},
    {'V', "version", Arg::None},
    {'h', "help", Arg::None},
};

const Option* by_short(char name) {
  for (const Option& o : kOptions) {
    if (o.short_name == name) return &o;
  }
  return nullptr;
}

// OptionParser takes any unambiguous prefix of a long option.
const Option* by_long(std::string_view name) {
  const Option* found = nullptr;
  for (const Option& o : kOptions) {
    if (o.long_name == name) return &o;
    if (!name.empty() && o.long_name.starts_with(name)) {
      if (found) return nullptr;
      found = &o;
    }
  }
  return found;
}

// The state of a scan: the values seen last, and whether -t's was bad.
struct Scan {
  std::optional<int> timeout;
  bool bad = false;
  SidekiqFileOptions files;
  void take(const Option& o, std::string_view value) {
    switch (o.short_name) {
      case 'C':
        files.config_file = std::string(value);
        return;
      case 'r':
        files.require = std::string(value);
        return;
      case 'e':
        files.environment = std::string(value);
        return;
      case 't':
        // Integer() raising stops Sidekiq at once: a later -t cannot repair it.
        timeout = valid_timeout(value);
        if (!timeout) bad = true;
        return;
      default:
        return;
    }
  }
};

// The option's value is the next word, as OptionParser takes it: an
// optional value is never a word that looks like an option. Returns how many
// extra words were consumed.
std::size_t take_next_word(const Option& o, const Words& args, std::size_t i, Scan& scan) {
  bool has_next = i + 1 < args.size();
  if (o.arg == Arg::Optional && (!has_next || args[i + 1].starts_with("-"))) return 0;
  if (!has_next) {
    scan.bad = scan.bad || o.short_name == 't';
    return 0;
  }
  scan.take(o, args[i + 1]);
  return 1;
}

// Returns how many extra words the option consumed.
std::size_t scan_long(const Words& args, std::size_t i, Scan& scan) {
  std::string_view word = std::string_view(args[i]).substr(2);
  auto eq = word.find('=');
  const Option* o = by_long(word.substr(0, eq));
  if (!o || o->arg == Arg::None) return 0;
  if (eq != std::string_view::npos) {
    scan.take(*o, word.substr(eq + 1));
    return 0;
  }
  return take_next_word(*o, args, i, scan);
}

// A cluster such as "-vt40" or "-vt 40": flags until one takes an argument.
std::size_t scan_short(const Words& args, std::size_t i, Scan& scan) {
  std::string_view word = std::string_view(args[i]).substr(1);
  for (std::size_t k = 0; k < word.size(); ++k) {
    const Option* o = by_short(word[k]);
    if (!o || o->arg == Arg::None) continue;
    std::string_view attached = word.substr(k + 1);
    if (!attached.empty()) {
      scan.take(*o, attached);
      return 0;
    }
    return take_next_word(*o, args, i, scan);
  }
  return 0;
}

}  // namespace

bool command_runs_sidekiq(const std::vector<std::string>& argv) {
  return sidekiq_arguments(argv).has_value();
}

namespace {

std::optional<Scan> scan_sidekiq_options(const std::vector<std::string>& argv) {
  auto args = sidekiq_arguments(argv);
  if (!args) return std::nullopt;
  Scan scan;
  for (std::size_t i = 0; i < args->size(); ++i) {
    const std::string& word = (*args)[i];
    if (word == "--") break;
    if (word.starts_with("--")) {
      i += scan_long(*args, i, scan);
    } else if (word.size() > 1 && word[0] == '-') {
      i += scan_short(*args, i, scan);
    }
  }
  return scan;
}

}  // namespace

std::optional<int> sidekiq_timeout_from_argv(const std::vector<std::string>& argv) {
  auto scan = scan_sidekiq_options(argv);
  if (!scan || scan->bad) return std::nullopt;
  return scan->timeout;
}

std::optional<SidekiqFileOptions> sidekiq_file_options(const std::vector<std::string>& argv) {
  auto scan = scan_sidekiq_options(argv);
  if (!scan) return std::nullopt;
  return scan->files;
}

}  // namespace quiesce
