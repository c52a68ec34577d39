#include "quiesce/core/signal_names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <utility>

namespace quiesce {
namespace {

struct Named {
  const char* name;
  int signo;
};

constexpr std::array kNames = {
    Named{"HUP", SIGHUP},   Named{"INT", SIGINT},       Named{"QUIT", SIGQUIT},
    Named{"ILL", SIGILL},   Named{"TRAP", SIGTRAP},     Named{"ABRT", SIGABRT},
    Named{"IOT", SIGIOT},   Named{"BUS", SIGBUS},       Named{"FPE", SIGFPE},
    Named{"KILL", SIGKILL}, Named{"USR1", SIGUSR1},     Named{"SEGV", SIGSEGV},
    Named{"USR2", SIGUSR2}, Named{"PIPE", SIGPIPE},     Named{"ALRM", SIGALRM},
    Named{"TERM", SIGTERM}, Named{"STKFLT", SIGSTKFLT}, Named{"CHLD", SIGCHLD},
    Named{"CONT", SIGCONT}, Named{"STOP", SIGSTOP},     Named{"TSTP", SIGTSTP},
    Named{"TTIN", SIGTTIN}, Named{"TTOU", SIGTTOU},     Named{"URG", SIGURG},
    Named{"XCPU", SIGXCPU}, Named{"XFSZ", SIGXFSZ},     Named{"VTALRM", SIGVTALRM},
    Named{"PROF", SIGPROF}, Named{"WINCH", SIGWINCH},   Named{"IO", SIGIO},
    Named{"POLL", SIGPOLL}, Named{"PWR", SIGPWR},       Named{"SYS", SIGSYS},
};

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::optional<int> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::optional<int> parse_realtime(std::string_view s) {
  auto offset_of = [&](std::string_view prefix) -> std::optional<int> {
    if (s.substr(0, prefix.size()) != prefix) return std::nullopt;
    std::string_view rest = s.substr(prefix.size());
    if (rest.empty()) return 0;
    if (rest[0] != '+' && rest[0] != '-') return std::nullopt;
    auto n = parse_number(rest.substr(1));
    if (!n) return std::nullopt;
    return rest[0] == '+' ? *n : -*n;
  };
  if (auto off = offset_of("RTMIN"); off && *off >= 0) return SIGRTMIN + *off;
  if (auto off = offset_of("RTMAX"); off && *off <= 0) return SIGRTMAX + *off;
  return std::nullopt;
}

bool valid(int signo) {
  return signo >= 1 && signo <= SIGRTMAX;
}

}  // namespace

std::optional<int> parse_signal(std::string_view text) {
  std::string name = upper(text);
  if (auto n = parse_number(name)) {
    return valid(*n) ? n : std::nullopt;
  }
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  for (const auto& entry : kNames) {
    if (name == entry.name) return entry.signo;
  }
  auto rt = parse_realtime(name);
  return rt && valid(*rt) ? rt : std::nullopt;
}

std::string signal_name(int signo) {
  for (const auto& entry : kNames) {
    if (entry.signo == signo) return entry.name;
  }
  if (signo >= SIGRTMIN && signo <= SIGRTMAX) return fmt::format("RTMIN+{}", signo - SIGRTMIN);
  return fmt::format("{}", signo);
}

bool is_synchronous(int signo) {
  switch (signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS:
      return true;
    default:
      return false;
  }
}

const std::vector<int>& forwarded_signals() {
  static const std::vector<int> signals = [] {
    std::vector<int> out;
    for (int s = 1; s <= SIGRTMAX; ++s) {
      // 32 and 33 sit between the classic and the real-time range: glibc keeps
      // them for its threads, so nothing outside can mean anything by them.
      if (s > SIGSYS && s < SIGRTMIN) continue;
      if (s == SIGKILL || s == SIGSTOP || s == SIGCHLD || is_synchronous(s)) continue;
      out.push_back(s);
    }
    return out;
  }();
  return signals;
}

}  // namespace quiesce
