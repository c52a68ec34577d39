#include "quiesce/control/commands.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "quiesce/control/client.hpp"

namespace quiesce {
namespace {

using json = nlohmann::json;

constexpr int kOk = 0;
constexpr int kNo = 1;
constexpr int kBadFlags = 2;
constexpr int kNoAnswer = 3;

// Health's own limit: an orchestrator's probe usually times out at a few
// seconds; quiesce answers within one.
constexpr Duration kHealthTimeout{2'000};
constexpr Duration kTimeout{5'000};

struct Parsed {
  ControlRequest request;
  std::string socket;
  bool json_output = false;
};

std::optional<Parsed> parse_args(const std::vector<std::string>& args, std::string* error) {
  Parsed p;
  const std::string& name = args[0];
  if (name == "status") p.request.command = ControlRequest::Command::Status;
  if (name == "quiet") p.request.command = ControlRequest::Command::Quiet;
  if (name == "health") p.request.command = ControlRequest::Command::Health;
  if (name == "restart") p.request.command = ControlRequest::Command::Restart;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    using C = ControlRequest::Command;
    if (a == "--socket" && i + 1 < args.size()) {
      p.socket = args[++i];
    } else if (a.rfind("--socket=", 0) == 0) {
      p.socket = a.substr(9);
    } else if (a == "--json" && p.request.command == C::Status) {
      p.json_output = true;
    } else if (a == "--exit-when-drained" && p.request.command == C::Quiet) {
      p.request.exit_when_drained = true;
    } else if (a == "--wait" && p.request.command == C::Quiet) {
      p.request.wait = true;
    } else if (a == "--ready" && p.request.command == C::Health) {
      p.request.ready = true;
    } else {
      *error = fmt::format("quiesce {}: unknown flag {}", name, a);
      return std::nullopt;
    }
  }
  return p;
}

std::string text_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

template <typename T>
std::string field(const json& j, const char* key, const char* fmt_spec = "{}") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  try {
    return fmt::format(fmt::runtime(fmt_spec), it->get<T>());
  } catch (const std::exception&) {
    return "?";
  }
}

// A short table for people on a terminal; the JSON is for everything else.
void print_status_table(const json& j) {
  std::printf("phase: %s\n", text_of(j, "phase").c_str());
  if (auto m = j.find("main_child"); m != j.end() && m->is_object()) {
    std::printf("main child: pid %s, %s\n", field<long long>(*m, "pid").c_str(),
                m->value("running", false) ? "running" : "exited");
  }
  if (auto q = j.find("quiet"); q != j.end() && q->is_object()) {
    std::printf("quiet: %ss ago, %s%s\n", field<double>(*q, "since_s", "{:.1f}").c_str(),
                q->value("drained", false) ? "drained" : "draining",
                q->value("exit_when_drained", false) ? ", exits when drained" : "");
  }
  if (auto s = j.find("stop"); s != j.end() && s->is_object()) {
    std::printf("stop: %ss in, TERM in %ss, kill in %ss\n",
                field<double>(*s, "since_s", "{:.1f}").c_str(),
                field<double>(*s, "term_in_s", "{:.1f}").c_str(),
                field<double>(*s, "kill_in_s", "{:.1f}").c_str());
  }
  if (auto r = j.find("redis"); r != j.end() && r->is_object() && r->value("used", false)) {
    std::string state = r->value("answered", false) ? "answered" : "no answer";
    std::string error = text_of(*r, "error");
    if (!error.empty()) state += " (" + error + ")";
    std::printf("redis: %s %s\n", text_of(*r, "url").c_str(), state.c_str());
  }
  auto procs = j.find("sidekiq");
  if (procs == j.end() || !procs->is_array() || procs->empty()) {
    std::printf("sidekiq: none found\n");
    return;
  }
  std::printf("%-8s %-8s %-10s %-6s %-6s %-9s %s\n", "PID", "VERSION", "BUSY", "QUIET", "BEAT",
              "RSS", "IDENTITY");
  for (const json& p : *procs) {
    std::string busy = field<long long>(p, "busy") + "/" + field<long long>(p, "concurrency");
    std::string rss = p.contains("rss_kib") ? field<long long>(p, "rss_kib") + "K" : "-";
    std::printf(
        "%-8s %-8s %-10s %-6s %-6s %-9s %s\n", field<long long>(p, "pid").c_str(),
        text_of(p, "version").c_str(), busy.c_str(), field<bool>(p, "quiet").c_str(),
        p.contains("beat_age_s") ? (field<double>(p, "beat_age_s", "{:.0f}") + "s").c_str() : "-",
        rss.c_str(), text_of(p, "identity").c_str());
    if (auto jobs = p.find("jobs"); jobs != p.end() && jobs->is_array()) {
      for (const json& job : *jobs) {
        std::printf("    %s %s on %s, %ss\n", text_of(job, "class").c_str(),
                    text_of(job, "jid").c_str(), text_of(job, "queue").c_str(),
                    field<double>(job, "running_s", "{:.0f}").c_str());
      }
    }
  }
}

int show_status(const json& reply, bool json_output) {
  if (json_output) {
    std::printf("%s\n", reply.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    print_status_table(reply);
  }
  return reply.value("ok", false) ? kOk : kNo;
}

}  // namespace

bool is_control_command(const std::vector<std::string>& args) {
  return !args.empty() &&
         (args[0] == "status" || args[0] == "quiet" || args[0] == "health" || args[0] == "restart");
}

int run_control_command(const std::vector<std::string>& args, const GetEnvFn& getenv,
                        bool stdout_is_terminal) {
  std::string error;
  auto parsed = parse_args(args, &error);
  if (!parsed) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return kBadFlags;
  }
  std::string explicit_path = parsed->socket;
  if (explicit_path.empty()) {
    if (const char* env = getenv("QUIESCE_CONTROL_SOCKET")) explicit_path = env;
  }
  auto candidates = control_socket_candidates(explicit_path, getenv, geteuid());
  const auto command = parsed->request.command;
  Duration timeout = command == ControlRequest::Command::Health ? kHealthTimeout : kTimeout;
  if (parsed->request.wait) timeout = Duration{0};  // until drained: as long as that takes
  bool json_output = parsed->json_output || !stdout_is_terminal;
  int code = kNoAnswer;
  bool answered = control_exchange(
      candidates, parsed->request, timeout,
      [&](const std::string& line) {
        json reply = json::parse(line, nullptr, false);
        if (reply.is_discarded() || !reply.is_object()) {
          std::fprintf(stderr, "quiesce %s: unreadable reply: %s\n", args[0].c_str(), line.c_str());
          code = kNoAnswer;
          return;
        }
        std::string failure = text_of(reply, "error");
        if (reply.contains("ok") && !reply.value("ok", true) && !failure.empty()) {
          std::fprintf(stderr, "quiesce %s: %s\n", args[0].c_str(), failure.c_str());
          code = kNo;
          return;
        }
        switch (command) {
          case ControlRequest::Command::Status:
            code = show_status(reply, json_output);
            return;
          case ControlRequest::Command::Health: {
            bool ok = reply.value("ok", false);
            std::printf("%s\n", text_of(reply, "reason").c_str());
            code = ok ? kOk : kNo;
            return;
          }
          case ControlRequest::Command::Restart:
            for (const json& s : reply.value("said", json::array())) {
              if (s.is_string()) std::printf("%s\n", s.get<std::string>().c_str());
            }
            code = reply.value("ok", false) ? kOk : kNo;
            return;
          case ControlRequest::Command::Quiet: {
            std::string message = text_of(reply, "message");
            if (message.empty() && reply.contains("said")) {
              for (const json& s : reply["said"]) {
                if (s.is_string()) std::printf("%s\n", s.get<std::string>().c_str());
              }
            } else if (!message.empty()) {
              std::printf("%s\n", message.c_str());
            }
            std::fflush(stdout);
            // The first reply says the quiet began; with --wait the last
            // one says whether it drained.
            if (reply.value("done", false) || !parsed->request.wait ||
                reply.value("drained", false)) {
              code = reply.value("ok", false) ? kOk : kNo;
            } else {
              code = kNo;  // the connection ending before "done" means no drain
            }
            return;
          }
        }
      },
      &error);
  if (!answered) {
    std::fprintf(stderr, "quiesce %s: %s\n", args[0].c_str(), error.c_str());
    return kNoAnswer;
  }
  return code;
}

}  // namespace quiesce
