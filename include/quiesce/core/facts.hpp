#pragma once
// What the stop machine tells the world, as data. The log words each fact as
// text or JSON (log/fact_words.hpp); status and metrics read the same facts,
// so what they say can never drift apart.
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce {

// Why the TERM went when it did.
enum class TermReason {
  Deadline,      // B - T - M came
  Drained,       // every Sidekiq process was seen idle
  NoRoom,        // B leaves no time to drain: TERM at once
  SecondSignal,  // the orchestrator (or an operator) asked twice
};

// Who got a TERM.
enum class TermTarget {
  Sidekiq,    // the processes being drained
  LateFound,  // a Sidekiq found after the TERM went out
  Wrapper,    // the main child, still running once Sidekiq is gone
  Leftovers,  // what the main child left behind
};

enum class KillReason { StopBudget, ExitGrace };

namespace fact {

struct StopPlanned {
  int signo = 0;
  Duration term_in{0};
  Duration kill_in{0};
  Duration stop_timeout{0};
  Duration sidekiq_timeout{0};
  Duration shutdown_margin{0};
};
struct SecondSignal {
  int signo = 0;
};
struct SidekiqFound {
  std::vector<pid_t> pids;
  std::vector<FoundBy> by;  // how each was found
};
struct TstpSent {
  std::vector<pid_t> pids;
};
struct RunningJob {
  pid_t pid = 0;
  InFlightJob job;
};
struct DrainProgress {
  Duration at{0};  // since the SIGTERM
  int busy = 0;
  std::vector<RunningJob> jobs;
};
struct TermSent {
  TermTarget target = TermTarget::Sidekiq;
  TermReason reason = TermReason::Deadline;  // the stop's TERM reason
  std::vector<pid_t> pids;
  Duration at{0};
  Duration kill_in{0};
};
// Sidekiq's own config file gave a timeout other than the one counted with:
// the stop is planned again with it.
struct SidekiqTimeoutChanged {
  Duration from{0};
  Duration to{0};
  std::string source;
  std::optional<Duration> term_at;  // since the SIGTERM, when a stop is under way
};
struct DrainingMainChild {};
// Sidekiq embedded in another server: sent no TSTP (it traps none).
struct EmbeddedSidekiq {
  std::vector<pid_t> pids;
};
struct NoSidekiq {};
struct SidekiqExited {
  pid_t pid = 0;
  int status = 0;  // waitpid's
  Duration at{0};
};
struct ProcessGone {
  pid_t pid = 0;
  Duration at{0};
};
struct MainChildExited {
  pid_t pid = 0;
  int status = 0;
};
struct Reaped {
  pid_t pid = 0;
  int status = 0;
  bool warn = false;  // -w: every reaped zombie is worth a warning
};
struct GraceStarted {
  Duration grace{0};
};
struct KillSent {
  KillReason why = KillReason::StopBudget;
};
struct StopDone {
  Duration took{0};
  int code = 0;
  std::optional<Duration> term_at;
  TermReason term_reason = TermReason::Deadline;
};
struct Exiting {
  int code = 0;
};
// On the forwarding path: two numbers, nothing allocated.
struct SignalForwarded {
  int received = 0;
  int sent = 0;
};

}  // namespace fact

using Fact = std::variant<
    fact::StopPlanned, fact::SecondSignal, fact::SidekiqFound, fact::TstpSent, fact::DrainProgress,
    fact::TermSent, fact::SidekiqTimeoutChanged, fact::DrainingMainChild, fact::EmbeddedSidekiq,
    fact::NoSidekiq, fact::SidekiqExited, fact::ProcessGone, fact::MainChildExited, fact::Reaped,
    fact::GraceStarted, fact::KillSent, fact::StopDone, fact::Exiting, fact::SignalForwarded>;

// The stable machine-readable names: "stop_plan", "term_sent", ...
const char* event_name(const Fact& fact);
std::string_view term_reason_name(TermReason reason);
std::string_view found_by_name(FoundBy by);

}  // namespace quiesce
