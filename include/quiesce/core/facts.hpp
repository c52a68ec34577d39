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
#include "quiesce/core/job_recovery.hpp"
#include "quiesce/core/modes.hpp"
#include "quiesce/core/thread_rule.hpp"
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

enum class KillReason { StopBudget, ExitGrace, Restart };

namespace fact {

struct StopPlanned {
  int signo = 0;
  Duration term_in{0};
  Duration kill_in{0};
  Duration stop_timeout{0};
  Duration sidekiq_timeout{0};
  Duration shutdown_margin{0};
  bool recover_jobs = false;  // the kill leaves room to put the running jobs back
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
  // Job threads still alive of those seen at the TSTP, over the processes
  // the thread rule watches; nullopt when it watches none.
  std::optional<int> job_threads;
};
struct TermSent {
  TermTarget target = TermTarget::Sidekiq;
  TermReason reason = TermReason::Deadline;  // the stop's TERM reason
  std::vector<pid_t> pids;
  Duration at{0};
  Duration kill_in{0};
  std::optional<DrainRule> drained_by;  // with TermReason::Drained: what decided last
};
// The thread rule stands aside for this process: the heartbeat and the
// title decide alone.
struct ThreadRuleSkipped {
  pid_t pid = 0;
  quiesce::ThreadRuleOff why = quiesce::ThreadRuleOff::NoJobThreads;
  int at_tstp = 0;                 // job threads seen at the TSTP
  std::optional<int> concurrency;  // as known then
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
  std::optional<DrainRule> drained_by;
};
struct Exiting {
  int code = 0;
};
// On the forwarding path: two numbers, nothing allocated.
// The cgroup's OOM kill count rose as this process died of SIGKILL.
struct OomKilled {
  pid_t pid = 0;
};
// One job of a dead Sidekiq back at the front of its queue.
struct JobRequeued {
  pid_t pid = 0;
  std::string identity;
  InFlightJob job;
};
// Jobs that should have been put back and were not: they are lost unless
// someone pushes them by hand.
struct RecoveryFailed {
  pid_t pid = 0;
  std::string identity;
  std::string error;
  std::vector<InFlightJob> jobs;
};
// Nothing to put back, or not quiesce's to put back (why in `status`).
struct RecoveryNotNeeded {
  pid_t pid = 0;
  std::string identity;
  RecoveryStatus status = RecoveryStatus::NothingRunning;
  std::string detail;
};
// A quiet on demand: TSTP to Sidekiq now, no deadline.
struct QuietStarted {
  bool exit_when_drained = false;
  QuietSource source = QuietSource::Command;
};
// Every Sidekiq process is idle after a quiet.
struct QuietDrained {
  Duration took{0};
  bool exiting = false;  // exit_when_drained: TERM follows
  int processes = 0;
  bool restart = false;   // the drain of a restart, not of an operator's quiet
  int jobs_finished = 0;  // distinct jobs seen running since the TSTP
  std::vector<std::string> identities;
};
// A quiet found no Sidekiq to quiet: nothing was signalled.
struct NothingToQuiet {};
// A quiet asked for while it cannot be done (a stop is under way).
struct QuietRefused {
  std::string why;
};
// `quiesce restart` began: quiet now, TERM once drained or after grace.
struct RestartStarted {
  Duration grace{0};
};
// The command is started again after this wait (restarts in quick
// succession back off).
struct RespawnScheduled {
  Duration delay{0};
  int restarts = 0;  // before this one
};
struct RestartDone {
  pid_t pid = 0;  // the new main child
  int restarts = 0;
};
struct RestartFailed {
  std::string why;
};
struct SignalForwarded {
  int received = 0;
  int sent = 0;
};

}  // namespace fact

using Fact =
    std::variant<fact::StopPlanned, fact::SecondSignal, fact::SidekiqFound, fact::TstpSent,
                 fact::DrainProgress, fact::TermSent, fact::SidekiqTimeoutChanged,
                 fact::DrainingMainChild, fact::EmbeddedSidekiq, fact::NoSidekiq,
                 fact::SidekiqExited, fact::ProcessGone, fact::MainChildExited, fact::Reaped,
                 fact::GraceStarted, fact::KillSent, fact::StopDone, fact::Exiting, fact::OomKilled,
                 fact::JobRequeued, fact::RecoveryFailed, fact::RecoveryNotNeeded,
                 fact::SignalForwarded, fact::ThreadRuleSkipped, fact::QuietStarted,
                 fact::QuietDrained, fact::NothingToQuiet, fact::QuietRefused, fact::RestartStarted,
                 fact::RespawnScheduled, fact::RestartDone, fact::RestartFailed>;

// The stable machine-readable names: "stop_plan", "term_sent", ...
const char* event_name(const Fact& fact);
std::string_view term_reason_name(TermReason reason);
std::string_view found_by_name(FoundBy by);
std::string_view recovery_status_name(RecoveryStatus status);

}  // namespace quiesce
