#pragma once
// The decisions of quiesce, and nothing else. Events go in (a signal came, a
// child was reaped, a timer fired, the probes saw something), actions come
// out (send a signal, arm a timer, tell a fact, exit). No clock, no syscalls:
// time arrives inside the events, so tests drive every path with a fake
// clock, and pid1/supervisor.cpp only carries events in and actions out.
#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <type_traits>
#include <vector>

#include "quiesce/core/actions.hpp"
#include "quiesce/core/budget.hpp"
#include "quiesce/core/defaults.hpp"
#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/events.hpp"
#include "quiesce/core/facts.hpp"
#include "quiesce/core/modes.hpp"
#include "quiesce/core/thread_rule.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce {

struct MachineConfig {
  bool process_group = false;
  std::set<int> remap_exit;
  std::map<int, int> rewrite;
  bool warn_on_reap = false;
  Duration exit_grace = defaults::kExitGrace;
  DrainMode drain = defaults::kDrain;
  bool command_runs_sidekiq = false;  // decides the fallback to the main child in auto mode
  // T came from Sidekiq's config file or the default, not from the operator
  // or the command's -t: what Sidekiq's own file says, once read, replaces it.
  bool sidekiq_timeout_learnable = false;
  // Before deciding that no Sidekiq runs, wait for Redis's answer too: a
  // Sidekiq that has not set its title yet, or one embedded in another
  // server (no title at all), is known only there.
  bool consult_redis = false;
  Duration stop_timeout = defaults::kStopTimeout;        // B
  Duration sidekiq_timeout = defaults::kSidekiqTimeout;  // T
  Duration shutdown_margin = defaults::kShutdownMargin;  // M
  // Put back the jobs of a Sidekiq that dies by a signal, or that quiesce
  // SIGKILLs at the end of the budget; the Redis timeouts bound how long.
  bool recover_jobs = false;
  // Also for a process not known as Sidekiq (outside a stop nothing is
  // tracked): when the container runs Sidekiq or names a Redis.
  bool recover_after_death = false;
  Duration redis_connect_timeout = defaults::kRedisConnectTimeout;
  Duration redis_command_timeout = defaults::kRedisCommandTimeout;
  bool thread_rule = defaults::kThreadRule;  // core/thread_rule.hpp
  OnTstp on_tstp = defaults::kOnTstp;
  Duration restart_grace = defaults::kRestartGrace;
};

// The stop's arithmetic for these settings.
StopBudget stop_budget_of(const MachineConfig& config);

class StopMachine {
 public:
  enum class Phase {
    Running,      // no stop yet: signals are forwarded
    Finding,      // SIGTERM came; waiting for the first scan
    Draining,     // TSTP sent; watching busy counts
    Terminating,  // TERM sent; Sidekiq finishes or requeues within T
    Forwarding,   // SIGTERM came but no Sidekiq: passed on as tini would
    Quieting,     // an operator's quiet: TSTP sent, drain watched, no deadline
    Respawning,   // a restart's old command is gone; the new one starts soon
    Exited,
  };

  // What status and health read: the machine's own state, never a copy
  // kept elsewhere.
  struct ProcessView {
    pid_t pid = 0;
    FoundBy by = FoundBy::Title;
    std::string identity;
    bool alive = true;
    bool drained = false;
  };
  struct View {
    Phase phase = Phase::Running;
    pid_t main_pid = 0;
    bool main_running = true;
    Instant since;                            // the stop's or the quiet's start
    std::optional<Instant> term_at, kill_at;  // during a stop
    std::optional<Instant> term_sent_at;
    bool quiet_exit_when_drained = false;
    bool quiet_drained = false;
    std::vector<ProcessView> processes;  // during a stop or a quiet
    bool restarting = false;
    int restarts = 0;
    StopPlan plan;  // as Sidekiq's own timeout last moved it
    Duration sidekiq_timeout{0};
  };
  View view() const;

  explicit StopMachine(MachineConfig config);

  // The actions stay valid until the next step: the buffer is reused, so a
  // forwarded signal costs no allocation here.
  const std::vector<Action>& step(const Event& event);

  Phase phase() const { return phase_; }
  Instant term_deadline() const { return term_at_; }
  Instant kill_deadline() const { return kill_at_; }

 private:
  struct Tracked {
    FoundBy by = FoundBy::Title;
    std::string identity;
    std::string version;  // from Redis or the title; tells the probe which work key
    bool alive = true;
    bool drained = false;
    WallSeconds last_beat = 0;
    std::optional<int> heartbeat_busy;
    std::vector<InFlightJob> jobs;
    // From any heartbeat, before the stop too: what a failed recovery names.
    std::vector<InFlightJob> known_jobs;
    std::optional<TitleReading> last_title;
    std::optional<JobThreadWatch> threads;  // with the thread rule on
    bool thread_rule_off_told = false;
  };

  void on(const ev::Started& e);
  void on(const ev::SignalReceived& e);
  void on(const ev::Reaped& e);
  void on(const ev::TimerFired& e);
  void on(const ev::SidekiqsFound& e);
  void on(const ev::Readings& e);
  void on(const ev::JobsRecovered& e);
  void on(const ev::SidekiqTimeoutRead& e);
  void after_timeout_answers(Instant now);
  void on(const ev::QuietRequested& e);
  void on(const ev::RestartRequested& e);
  void on(const ev::Respawned& e);
  void restart_term(Instant now, TermReason reason);
  void schedule_respawn(Instant now);

  void begin_quiet(const ev::QuietRequested& e);
  void quiet_drained(Instant now);
  void exit_after_quiet(Instant now);
  void nothing_to_quiet(Instant now);
  bool resume_stop_from_quiet(Instant now);

  bool is_stop_signal(int signo) const;
  bool stop_active() const;
  void begin_stop(const ev::SignalReceived& e);
  void forward(int signo);
  void track(const std::vector<FoundProcess>& found, Instant now);
  void fall_back_when_nothing_found(Instant now);
  std::vector<FoundProcess> set_embedded_aside(const std::vector<FoundProcess>& found);
  void forward_embedded_stop();
  void term_if_due(Instant now);
  void send_term(Instant now, TermReason reason);
  void update_from_reading(Tracked& t, const ProcessReading& r, bool& progressed);
  void watch_threads(Tracked& t, const ProcessReading& r, bool& progressed);
  void tell_progress(Instant now);
  void check_drained(Instant now);
  void find_again(Instant now);
  void after_sidekiq_gone(Instant now);
  void term_wrapper(Instant now);
  void main_exited_with(int status);
  void maybe_exit(bool others_remain, Instant now);
  void start_grace(Instant now);
  void kill_everything(Instant now, KillReason why);
  void read_work_before_kill();
  void recover(pid_t pid, Instant until, Instant now);
  void recovery_timed_out(Instant now);
  void tell_outcome(pid_t pid, const RecoveryOutcome& outcome);
  void exit_now(int code, Instant now);
  void signal_pids(std::vector<pid_t> pids, int signo);
  void term_and_continue(act::Signal::To to, std::vector<pid_t> pids);
  int main_exit_code() const;
  std::vector<pid_t> live_targets() const;
  void tell(Fact fact) { emit(act::Tell{std::move(fact)}); }
  // Built in place in the buffer: GCC 12 misreads a moved Action as
  // uninitialized (-Wmaybe-uninitialized) once the variant has nine kinds.
  template <typename A>
  void emit(A&& action) {
    if constexpr (std::is_same_v<std::decay_t<A>, Action>) {
      out_.push_back(std::forward<A>(action));
    } else {
      out_.emplace_back(std::in_place_type<std::decay_t<A>>, std::forward<A>(action));
    }
  }

  MachineConfig config_;
  StopPlan plan_;
  Phase phase_ = Phase::Running;
  pid_t main_pid_ = 0;
  std::optional<int> main_status_;
  bool grace_active_ = false;
  bool wrapper_timer_armed_ = false;  // Sidekiq is gone; the wrapper's grace is running
  bool leftovers_termed_ = false;     // survivors of the main child got TERM

  Instant t0_;
  WallSeconds t0_wall_ = 0;
  Instant last_find_;
  int stop_signal_ = 0;
  Instant term_at_;
  Instant kill_at_;
  std::optional<Instant> term_sent_at_;
  TermReason term_reason_ = TermReason::Deadline;
  DrainRule last_rule_ = DrainRule::Heartbeat;  // what made the last process count as drained
  std::map<pid_t, Tracked> tracked_;
  // What each Sidekiq's own config file says T is (0: the file at startup).
  std::map<pid_t, Duration> learned_timeouts_;
  // Asked for and not yet answered: a TERM already due waits for the answer,
  // which may move the deadline (the supervisor answers at once).
  std::set<pid_t> awaiting_timeout_;
  // Found with the TERM already due while their timeout is being read: the
  // answer says whether they get TSTP (the TERM moved later) or the TERM
  // alone. Sidekiq 6.4.1 can die of a TSTP with a TERM right behind it.
  std::vector<pid_t> tstp_held_;
  std::set<pid_t> embedded_;               // never tracked, never sent TSTP
  bool quiet_exit_ = false;                // the quiet ends in TERM and exit once drained
  bool quiet_drained_ = false;             // the quiet's drain is complete
  bool restart_ = false;                   // the quiet is a restart's
  std::set<std::string> quiet_jobs_seen_;  // jids running at a beat since the quiet's TSTP
  bool restart_pending_ = false;           // the restart's TERM went: exiting means starting again
  int restarts_ = 0;
  int quick_restarts_ = 0;  // in a row, each within a minute of the last
  std::optional<Instant> last_respawn_;
  std::optional<int> last_exit_code_;  // the old command's, while respawning

  bool killed_ = false;         // the budget's SIGKILL went out
  std::set<pid_t> recovering_;  // RecoverJobs asked, JobsRecovered not yet heard
  std::optional<Instant> recovery_until_;
  std::optional<int> exit_pending_;  // the exit waits for the recoveries

  std::vector<Action> out_;
};

}  // namespace quiesce
