#include "quiesce/core/stop_machine.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <csignal>

#include "quiesce/core/drain_policy.hpp"
#include "quiesce/core/exit_status.hpp"
#include "quiesce/core/job_recovery.hpp"

namespace quiesce {
namespace {

// How long a wrapper shell gets, once Sidekiq is gone, to finish on its own
// (reap Sidekiq, run the rest of its script) before it is sent TERM.
constexpr Duration kWrapperGrace{1000};
// A Sidekiq that was still booting at the SIGTERM has no title yet, or no
// identity in Redis before its first heartbeat; looking again this often
// during the drain finds it without adding to Redis's load.
constexpr Duration kFindAgainEvery{2500};

}  // namespace

StopBudget stop_budget_of(const MachineConfig& c) {
  StopBudget budget{c.stop_timeout, c.sidekiq_timeout, c.shutdown_margin, std::nullopt};
  if (c.recover_jobs) budget.recovery_round_trip = c.redis_command_timeout;
  return budget;
}

StopMachine::StopMachine(MachineConfig config)
    : config_(std::move(config)), plan_(plan_stop(stop_budget_of(config_))) {}

const std::vector<Action>& StopMachine::step(const Event& event) {
  out_.clear();
  if (phase_ != Phase::Exited) {
    std::visit([this](const auto& e) { on(e); }, event);
  }
  return out_;
}

// ---- events ----------------------------------------------------------------

void StopMachine::on(const ev::Started& e) {
  main_pid_ = e.main_pid;
}

void StopMachine::on(const ev::SignalReceived& e) {
  // An operator's `docker kill -s TSTP` means "stop taking work", exactly as
  // `quiesce quiet` does; forwarded as is, it would stop a shell wrapper.
  if (e.signo == SIGTSTP && config_.on_tstp == OnTstp::Quiet && config_.drain != DrainMode::Never &&
      !main_status_) {
    return on(ev::QuietRequested{e.now, e.wall, false, QuietSource::Signal});
  }
  if (phase_ == Phase::Respawning) {
    // No command runs to pass a signal to; a stop signal ends the restart
    // and quiesce with the old command's status.
    if (!is_stop_signal(e.signo) && e.signo != SIGTERM && e.signo != SIGINT) return;
    emit(act::CancelTimer{TimerId::Respawn});
    restart_pending_ = false;
    tell(fact::RestartFailed{"a stop signal came before the command started again"});
    return exit_now(last_exit_code_.value_or(0), e.now);
  }
  if (!is_stop_signal(e.signo)) return forward(e.signo);
  if (restart_) {
    // The orchestrator's stop outranks the operator's restart.
    restart_ = restart_pending_ = false;
    emit(act::CancelTimer{TimerId::RestartGrace});
    tell(fact::RestartFailed{"the container is stopping"});
  }
  switch (phase_) {
    case Phase::Running:
    case Phase::Quieting:
      if (main_status_) return forward(e.signo);  // nothing left to drain
      return begin_stop(e);
    case Phase::Finding:
    case Phase::Draining:
      tell(fact::SecondSignal{e.signo});
      return send_term(e.now, TermReason::SecondSignal);
    case Phase::Terminating:
    case Phase::Forwarding:
      return forward(e.signo);
    case Phase::Respawning:
    case Phase::Exited:
      return;  // handled above; step() never dispatches once Exited
  }
}

void StopMachine::on(const ev::Reaped& e) {
  for (auto [pid, status] : e.exited) {
    if (e.oom_kill && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      tell(fact::OomKilled{pid});
    }
    // A process that died by a signal never ran Sidekiq's shutdown, which
    // puts the unfinished jobs back; the ones quiesce SIGKILLed at the end of
    // the budget are being recovered already.
    bool maybe_sidekiq = tracked_.count(pid) > 0 || config_.recover_after_death;
    if (config_.recover_jobs && maybe_sidekiq && !killed_ && left_jobs_behind(status)) {
      Instant until =
          e.now + recovery_limit(config_.redis_connect_timeout, config_.redis_command_timeout);
      if (stop_active()) until = std::min(until, t0_ + plan_.recover_until);
      recover(pid, until, e.now);
    }
    if (pid == main_pid_) {
      main_exited_with(status);
    } else if (auto it = tracked_.find(pid); it != tracked_.end()) {
      it->second.alive = false;
      last_rule_ = DrainRule::Exited;
      tell(fact::SidekiqExited{pid, status, e.now - t0_});
    } else {
      tell(fact::Reaped{pid, status, config_.warn_on_reap});
    }
  }
  if (main_status_) {
    maybe_exit(e.others_remain, e.now);
  } else {
    after_sidekiq_gone(e.now);
  }
}

void StopMachine::on(const ev::TimerFired& e) {
  switch (e.id) {
    case TimerId::Term:
      // While still finding (Redis not answered yet), nothing is known to
      // send TERM to: the answer sends it at once if it is due, or falls
      // back to the main child. The kill timer bounds the wait.
      if (phase_ == Phase::Draining) send_term(e.now, TermReason::Deadline);
      return;
    case TimerId::Kill:
      if (stop_active()) {
        kill_everything(e.now, restart_pending_ ? KillReason::Restart : KillReason::StopBudget);
      }
      return;
    case TimerId::Grace:
      if (grace_active_) kill_everything(e.now, KillReason::ExitGrace);
      return;
    case TimerId::Wrapper:
      return term_wrapper(e.now);
    case TimerId::LastRead:
      if (stop_active()) read_work_before_kill();
      return;
    case TimerId::Recovery:
      return recovery_timed_out(e.now);
    case TimerId::RestartGrace:
      if (restart_ && phase_ == Phase::Quieting) restart_term(e.now, TermReason::Deadline);
      return;
    case TimerId::Respawn:
      if (phase_ == Phase::Respawning) emit(act::Respawn{});
      return;
  }
}

void StopMachine::on(const ev::SidekiqsFound& e) {
  if (phase_ == Phase::Quieting) {
    if (quiet_drained_) return;
    track(set_embedded_aside(e.found), e.now);
    if (!tracked_.empty() || (!e.complete && config_.consult_redis)) return;
    if (drains_main_child(config_.drain, config_.command_runs_sidekiq) && !main_status_) {
      tell(fact::DrainingMainChild{});
      return track({{main_pid_, FoundBy::MainChild, ""}}, e.now);
    }
    return nothing_to_quiet(e.now);
  }
  if (!stop_active()) return;
  track(set_embedded_aside(e.found), e.now);
  if (phase_ != Phase::Finding) return;
  if (!tracked_.empty()) {
    phase_ = Phase::Draining;
    if (awaiting_timeout_.empty()) term_if_due(e.now);
    return;
  }
  if (!embedded_.empty()) return forward_embedded_stop();
  // No title yet; Redis may still name a Sidekiq that is booting.
  if (!e.complete && config_.consult_redis) return;
  fall_back_when_nothing_found(e.now);
}

void StopMachine::on(const ev::Readings& e) {
  if (phase_ == Phase::Quieting && quiet_drained_) return;
  if (phase_ != Phase::Draining && phase_ != Phase::Terminating && phase_ != Phase::Quieting) {
    return;
  }
  bool progressed = false;
  for (const auto& r : e.readings) {
    auto it = tracked_.find(r.pid);
    if (it == tracked_.end()) continue;
    bool was_alive = it->second.alive;
    update_from_reading(it->second, r, progressed);
    if (was_alive && !it->second.alive) tell(fact::ProcessGone{r.pid, e.now - t0_});
  }
  if (progressed) tell_progress(e.now);
  if (phase_ == Phase::Draining || phase_ == Phase::Quieting) check_drained(e.now);
  // Until the stop ends: a supervisor may start a Sidekiq again after the
  // TERM, and that one gets the TERM too.
  if (phase_ == Phase::Draining || phase_ == Phase::Terminating ||
      (phase_ == Phase::Quieting && !quiet_drained_)) {
    find_again(e.now);
  }
  after_sidekiq_gone(e.now);
}

void StopMachine::on(const ev::JobsRecovered& e) {
  if (recovering_.erase(e.pid) == 0) return;  // timed out already: told then
  tell_outcome(e.pid, e.outcome);
  if (!recovering_.empty()) return;
  emit(act::CancelTimer{TimerId::Recovery});
  recovery_until_.reset();
  if (exit_pending_) exit_now(*exit_pending_, e.now);
}

// Sidekiq's own file, read where Sidekiq reads it, says T is something else:
// every deadline that depends on T moves with it (budget.hpp), the kill
// (which depends on B alone) does not. A TERM already sent is not taken back.
void StopMachine::on(const ev::SidekiqTimeoutRead& e) {
  if (!config_.sidekiq_timeout_learnable) return;
  awaiting_timeout_.erase(e.pid);
  if (!e.timeout) {
    after_timeout_answers(e.now);
    return;
  }
  learned_timeouts_[e.pid] = *e.timeout;
  // What a running Sidekiq's file says outranks the file read at startup
  // (pid 0), read from quiesce's own directory; of several Sidekiq
  // processes, the longest timeout needs the earliest TERM.
  std::optional<Duration> longest;
  for (const auto& [pid, t] : learned_timeouts_) {
    if (pid == 0 && learned_timeouts_.size() > 1) continue;
    if (!longest || t > *longest) longest = t;
  }
  if (!longest || *longest == config_.sidekiq_timeout) {
    after_timeout_answers(e.now);
    return;
  }
  Duration from = config_.sidekiq_timeout;
  config_.sidekiq_timeout = *longest;
  plan_ = plan_stop(stop_budget_of(config_));
  std::optional<Duration> term_at;
  if (phase_ == Phase::Finding || phase_ == Phase::Draining) {
    term_at_ = t0_ + plan_.term_after;
    term_at = plan_.term_after;
    emit(act::ArmTimer{TimerId::Term, term_at_});
  }
  tell(fact::SidekiqTimeoutChanged{from, config_.sidekiq_timeout, e.source, term_at});
  after_timeout_answers(e.now);
}

// Every timeout asked for has its answer: a TSTP held for it goes now,
// unless the TERM is due, which then goes alone.
void StopMachine::after_timeout_answers(Instant now) {
  if (phase_ != Phase::Draining || !awaiting_timeout_.empty()) return;
  if (!tstp_held_.empty()) {
    auto held = std::move(tstp_held_);
    tstp_held_.clear();
    if (now < term_at_) {
      signal_pids(held, SIGTSTP);
      tell(fact::TstpSent{std::move(held)});
    }
  }
  term_if_due(now);
}

// ---- quiet on demand -------------------------------------------------------

// A quiet is the stop's drain without its deadlines: nothing is ever killed
// for it, and Sidekiq keeps running (idle) until someone stops it.
void StopMachine::on(const ev::QuietRequested& e) {
  switch (phase_) {
    case Phase::Running:
      if (main_status_) return tell(fact::QuietRefused{"the main child has exited"});
      return begin_quiet(e);
    case Phase::Quieting:
      // Asked again: only "and exit" is news.
      if (!e.exit_when_drained || quiet_exit_) return;
      quiet_exit_ = true;
      tell(fact::QuietStarted{true, e.source});
      if (quiet_drained_) exit_after_quiet(e.now);
      return;
    case Phase::Finding:
    case Phase::Draining:
    case Phase::Terminating:
    case Phase::Forwarding:
    case Phase::Respawning:
      return tell(fact::QuietRefused{restart_pending_ || phase_ == Phase::Respawning
                                         ? "a restart is under way"
                                         : "a stop is under way"});
    case Phase::Exited:
      return;
  }
}

// ---- restart in place ------------------------------------------------------

// A quiet whose end is a TERM and the command started again: a quieted
// Sidekiq cannot be woken, so a new one is how one is.
void StopMachine::on(const ev::RestartRequested& e) {
  if (restart_ || phase_ == Phase::Respawning) {
    return tell(fact::QuietRefused{"a restart is under way"});
  }
  if (phase_ != Phase::Running && phase_ != Phase::Quieting) {
    return tell(fact::QuietRefused{"a stop is under way"});
  }
  if (main_status_) return tell(fact::QuietRefused{"the main child has exited"});
  restart_ = true;
  tell(fact::RestartStarted{config_.restart_grace});
  emit(act::ArmTimer{TimerId::RestartGrace, e.now + config_.restart_grace});
  if (phase_ == Phase::Running) {
    return begin_quiet(ev::QuietRequested{e.now, e.wall, false, QuietSource::Command});
  }
  if (quiet_drained_) restart_term(e.now, TermReason::Drained);
}

// Drained, or out of grace: TERM, with Sidekiq's timeout and the margin to
// requeue what still runs; what outlives that is killed (its jobs put back
// as at the end of a stop), and the command starts again once all is gone.
void StopMachine::restart_term(Instant now, TermReason reason) {
  emit(act::CancelTimer{TimerId::RestartGrace});
  restart_pending_ = true;
  t0_ = now;
  term_at_ = now;
  kill_at_ = now + config_.sidekiq_timeout + config_.shutdown_margin;
  emit(act::ArmTimer{TimerId::Kill, kill_at_});
  if (live_targets().empty()) {
    // Nothing tracked (no Sidekiq found): the command itself gets the TERM.
    phase_ = Phase::Terminating;
    term_sent_at_ = now;
    term_reason_ = reason;
    term_and_continue(act::Signal::To::Pids, {main_pid_});
    tell(fact::TermSent{TermTarget::Wrapper, reason, {main_pid_}, Duration{0}, kill_at_ - now, {}});
    return;
  }
  send_term(now, reason);
}

void StopMachine::schedule_respawn(Instant now) {
  phase_ = Phase::Respawning;
  for (TimerId id : {TimerId::Term, TimerId::Kill, TimerId::Grace, TimerId::Wrapper,
                     TimerId::LastRead, TimerId::RestartGrace}) {
    emit(act::CancelTimer{id});
  }
  emit(act::StopWatching{});
  // A command that keeps dying under restarts must not be started in a
  // tight loop: each restart within a minute of the last waits twice as
  // long, up to half a minute.
  constexpr Duration kQuick{60'000};
  quick_restarts_ = last_respawn_ && now - *last_respawn_ < kQuick ? quick_restarts_ + 1 : 0;
  Duration delay{0};
  if (quick_restarts_ > 0) {
    delay = Duration{std::min<std::int64_t>(1000LL << std::min(quick_restarts_ - 1, 5), 30'000)};
  }
  tell(fact::RespawnScheduled{delay, restarts_});
  if (delay.count() == 0) {
    emit(act::Respawn{});
  } else {
    emit(act::ArmTimer{TimerId::Respawn, now + delay});
  }
}

void StopMachine::on(const ev::Respawned& e) {
  if (phase_ != Phase::Respawning) return;
  restart_ = restart_pending_ = false;
  if (e.pid <= 0) {
    tell(fact::RestartFailed{"the command could not be started again: " + e.error});
    return exit_now(1, e.now);
  }
  main_pid_ = e.pid;
  main_status_.reset();
  tracked_.clear();
  embedded_.clear();
  awaiting_timeout_.clear();
  grace_active_ = wrapper_timer_armed_ = leftovers_termed_ = killed_ = false;
  term_sent_at_.reset();
  quiet_exit_ = quiet_drained_ = false;
  phase_ = Phase::Running;
  ++restarts_;
  last_respawn_ = e.now;
  tell(fact::RestartDone{e.pid, restarts_});
}

void StopMachine::begin_quiet(const ev::QuietRequested& e) {
  phase_ = Phase::Quieting;
  t0_ = e.now;
  t0_wall_ = e.wall;
  quiet_exit_ = e.exit_when_drained;
  quiet_drained_ = false;
  quiet_jobs_seen_.clear();
  tell(fact::QuietStarted{e.exit_when_drained, e.source});
  last_find_ = e.now;
  emit(act::FindSidekiqs{});
}

void StopMachine::nothing_to_quiet(Instant now) {
  if (restart_) {
    // No Sidekiq to drain: the command is restarted as it is.
    tell(fact::NothingToQuiet{});
    return restart_term(now, TermReason::Drained);
  }
  phase_ = Phase::Running;
  quiet_exit_ = false;
  tell(fact::NothingToQuiet{});
}

void StopMachine::quiet_drained(Instant now) {
  quiet_drained_ = true;
  fact::QuietDrained drained{now - t0_,
                             quiet_exit_ || restart_,
                             static_cast<int>(tracked_.size()),
                             restart_,
                             static_cast<int>(quiet_jobs_seen_.size()),
                             {}};
  for (const auto& [pid, t] : tracked_) {
    if (!t.identity.empty()) drained.identities.push_back(t.identity);
  }
  tell(std::move(drained));
  if (restart_) return restart_term(now, TermReason::Drained);
  if (quiet_exit_) return exit_after_quiet(now);
  // Idle and quiet: nothing changes until someone stops the container, so
  // nothing is polled (zero wakeups).
  emit(act::StopWatching{});
}

// Drained, so the TERM goes at once; from here it is a stop like any other,
// with the budget's SIGKILL as its bound should Sidekiq hang in shutdown.
void StopMachine::exit_after_quiet(Instant now) {
  t0_ = now;
  term_at_ = now;
  kill_at_ = now + plan_.kill_after;
  emit(act::ArmTimer{TimerId::Kill, kill_at_});
  send_term(now, TermReason::Drained);
}

// A SIGTERM during a quiet: the processes the quiet found are already
// quiet, and those it saw drain need no more time. Returns false when the
// quiet had found nothing yet: the stop then looks for itself.
bool StopMachine::resume_stop_from_quiet(Instant now) {
  if (tracked_.empty()) return false;
  phase_ = Phase::Draining;
  tell(fact::StopPlanned{stop_signal_, term_at_ - t0_, kill_at_ - t0_, config_.stop_timeout,
                         config_.sidekiq_timeout, config_.shutdown_margin, config_.recover_jobs});
  std::vector<FoundProcess> targets;
  for (const auto& [pid, t] : tracked_) {
    targets.push_back({pid, t.by, t.identity, false, t.version});
  }
  emit(act::Watch{std::move(targets), t0_wall_});
  check_drained(now);
  if (phase_ == Phase::Draining) term_if_due(now);
  return true;
}

StopMachine::View StopMachine::view() const {
  View v;
  v.phase = phase_;
  v.main_pid = main_pid_;
  v.main_running = !main_status_;
  v.since = t0_;
  if (stop_active()) {
    v.term_at = term_at_;
    v.kill_at = kill_at_;
    v.term_sent_at = term_sent_at_;
  }
  v.plan = plan_;
  v.restarting = restart_ || phase_ == Phase::Respawning;
  v.restarts = restarts_;
  v.sidekiq_timeout = config_.sidekiq_timeout;
  v.quiet_exit_when_drained = quiet_exit_;
  v.quiet_drained = quiet_drained_;
  if (stop_active() || phase_ == Phase::Quieting) {
    for (const auto& [pid, t] : tracked_) {
      v.processes.push_back({pid, t.by, t.identity, t.alive, t.drained});
    }
  }
  return v;
}

// ---- the stop --------------------------------------------------------------

bool StopMachine::is_stop_signal(int signo) const {
  return config_.drain != DrainMode::Never && (signo == SIGTERM || signo == SIGINT);
}

bool StopMachine::stop_active() const {
  return phase_ == Phase::Finding || phase_ == Phase::Draining || phase_ == Phase::Terminating;
}

void StopMachine::begin_stop(const ev::SignalReceived& e) {
  const bool quieted = phase_ == Phase::Quieting;
  phase_ = Phase::Finding;
  t0_ = e.now;
  // After a quiet, the heartbeats that count are those since its TSTP.
  if (!quieted) t0_wall_ = e.wall;
  term_at_ = t0_ + plan_.term_after;
  kill_at_ = t0_ + plan_.kill_after;
  stop_signal_ = e.signo;
  emit(act::ArmTimer{TimerId::Term, term_at_});
  emit(act::ArmTimer{TimerId::Kill, kill_at_});
  if (config_.recover_jobs && plan_.read_after) {
    emit(act::ArmTimer{TimerId::LastRead, t0_ + *plan_.read_after});
  }
  if (quieted && resume_stop_from_quiet(e.now)) return;
  last_find_ = e.now;
  emit(act::FindSidekiqs{});
}

// Titles are read from /proc, so they are looked for again every time; Redis
// is asked again only while a process is known by its title alone, since its
// identity is what names the running jobs.
void StopMachine::find_again(Instant now) {
  if (now - last_find_ < kFindAgainEvery) return;
  last_find_ = now;
  bool unnamed = std::any_of(tracked_.begin(), tracked_.end(), [](const auto& kv) {
    return kv.second.alive && kv.second.identity.empty();
  });
  emit(act::FindSidekiqs{unnamed});
}

void StopMachine::track(const std::vector<FoundProcess>& found, Instant now) {
  std::vector<pid_t> fresh;
  bool changed = false;
  const bool first_tstp =
      phase_ == Phase::Finding || (phase_ == Phase::Quieting && tracked_.empty());
  for (const auto& f : found) {
    auto [it, inserted] = tracked_.try_emplace(f.pid);
    Tracked& t = it->second;
    if (inserted) {
      t.by = f.by;
      fresh.push_back(f.pid);
      changed = true;
      // Only a process that gets the stop's first TSTP had its job threads
      // all running then; one found later, or drained as the main child
      // without a title, may still be booting.
      if (config_.thread_rule) {
        t.threads.emplace(first_tstp && f.by != FoundBy::MainChild);
      }
    }
    if (!f.identity.empty() && t.identity != f.identity) {
      t.identity = f.identity;
      changed = true;
    }
    if (!f.version.empty() && t.version != f.version) {
      t.version = f.version;
      changed = true;
    }
  }
  if (!changed) return;
  // Told once Sidekiq is found (the first scan answers at once), so a
  // container without it reads "no Sidekiq", not a plan it will not follow.
  if (phase_ == Phase::Finding) {
    tell(fact::StopPlanned{stop_signal_, term_at_ - t0_, kill_at_ - t0_, config_.stop_timeout,
                           config_.sidekiq_timeout, config_.shutdown_margin, config_.recover_jobs});
  }
  if (!fresh.empty()) {
    std::vector<FoundBy> by;
    for (pid_t p : fresh) by.push_back(tracked_[p].by);
    tell(fact::SidekiqFound{fresh, std::move(by)});
    if (config_.sidekiq_timeout_learnable && phase_ != Phase::Terminating) {
      awaiting_timeout_.insert(fresh.begin(), fresh.end());
      emit(act::ReadSidekiqTimeout{fresh});
    }
    // TSTP only to these processes, never to a group: a shell wrapper that
    // does not trap TSTP would be stopped, not quieted. Found with the TERM
    // already due (no room, or a late first scan), they get that TERM next
    // from term_if_due(): a TSTP first would only delay it.
    bool due_now = phase_ == Phase::Finding && now >= term_at_;
    bool term_due = due_now && awaiting_timeout_.empty();
    if (due_now && !term_due) {
      tstp_held_.insert(tstp_held_.end(), fresh.begin(), fresh.end());
    } else if ((phase_ == Phase::Finding || phase_ == Phase::Draining ||
                phase_ == Phase::Quieting) &&
               !term_due) {
      signal_pids(fresh, SIGTSTP);
      tell(fact::TstpSent{fresh});
    } else if (phase_ == Phase::Terminating) {
      term_and_continue(act::Signal::To::Pids, fresh);
      tell(
          fact::TermSent{TermTarget::LateFound, term_reason_, fresh, Duration{0}, Duration{0}, {}});
    }
  }
  std::vector<FoundProcess> targets;
  for (const auto& [pid, t] : tracked_)
    targets.push_back({pid, t.by, t.identity, false, t.version});
  emit(act::Watch{std::move(targets), t0_wall_});
}

// Sidekiq embedded in another server (7.0+, info.embedded) installs no
// signal traps: a TSTP would stop the whole server, jobs and all. Such a
// process is left out of the drain; the server stops it on its own TERM.
std::vector<FoundProcess> StopMachine::set_embedded_aside(const std::vector<FoundProcess>& found) {
  std::vector<FoundProcess> workers;
  std::vector<pid_t> fresh;
  for (const FoundProcess& f : found) {
    if (!f.embedded) {
      workers.push_back(f);
    } else if (embedded_.insert(f.pid).second) {
      fresh.push_back(f.pid);
    }
  }
  if (!fresh.empty()) tell(fact::EmbeddedSidekiq{std::move(fresh)});
  return workers;
}

// Only embedded Sidekiqs: the stop goes on as tini would, the signal to the
// main child, whose server stops its Sidekiq within Sidekiq's own timeout.
void StopMachine::forward_embedded_stop() {
  phase_ = Phase::Forwarding;
  emit(act::CancelTimer{TimerId::Term});
  emit(act::CancelTimer{TimerId::Kill});
  if (config_.recover_jobs) emit(act::CancelTimer{TimerId::LastRead});
  forward(stop_signal_);
}

void StopMachine::fall_back_when_nothing_found(Instant now) {
  if (drains_main_child(config_.drain, config_.command_runs_sidekiq) && !main_status_) {
    tell(fact::DrainingMainChild{});
    track({{main_pid_, FoundBy::MainChild, ""}}, now);
    phase_ = Phase::Draining;
    if (awaiting_timeout_.empty()) term_if_due(now);
    return;
  }
  // Not a Sidekiq container: behave exactly as tini would.
  phase_ = Phase::Forwarding;
  emit(act::CancelTimer{TimerId::Term});
  emit(act::CancelTimer{TimerId::Kill});
  if (config_.recover_jobs) emit(act::CancelTimer{TimerId::LastRead});
  tell(fact::NoSidekiq{});
  forward(SIGTERM);
}

// The TERM deadline may already have passed when Sidekiq is found: at once
// when the budget has no room to drain, or when the scan came late.
void StopMachine::term_if_due(Instant now) {
  if (now < term_at_) return;
  send_term(now, plan_.room_to_drain ? TermReason::Deadline : TermReason::NoRoom);
}

// Only Sidekiq gets the TERM. A wrapper shell around it is left alone, so
// `sh -c "sidekiq ...; cleanup"` still runs its cleanup; it gets the
// orchestrator's TERM once Sidekiq is gone (see after_sidekiq_gone).
std::vector<pid_t> StopMachine::live_targets() const {
  std::vector<pid_t> pids;
  for (const auto& [pid, t] : tracked_) {
    if (t.alive) pids.push_back(pid);
  }
  return pids;
}

void StopMachine::after_sidekiq_gone(Instant now) {
  if (phase_ != Phase::Terminating || wrapper_timer_armed_ || main_status_) return;
  if (tracked_.count(main_pid_)) return;  // the main child is Sidekiq: it had its TERM
  if (!live_targets().empty()) return;
  wrapper_timer_armed_ = true;
  emit(act::ArmTimer{TimerId::Wrapper, now + kWrapperGrace});
}

void StopMachine::term_wrapper(Instant now) {
  if (phase_ != Phase::Terminating || main_status_) return;
  term_and_continue(act::Signal::To::Pids, {main_pid_});
  tell(fact::TermSent{
      TermTarget::Wrapper, term_reason_, {main_pid_}, now - t0_, kill_at_ - now, {}});
}

void StopMachine::send_term(Instant now, TermReason reason) {
  phase_ = Phase::Terminating;
  term_sent_at_ = now;
  term_reason_ = reason;
  emit(act::CancelTimer{TimerId::Term});
  auto pids = live_targets();
  if (!pids.empty()) term_and_continue(act::Signal::To::Pids, pids);
  fact::TermSent sent{TermTarget::Sidekiq, reason, std::move(pids), now - t0_, kill_at_ - now, {}};
  if (reason == TermReason::Drained) sent.drained_by = last_rule_;
  tell(std::move(sent));
  after_sidekiq_gone(now);
}

void StopMachine::update_from_reading(Tracked& t, const ProcessReading& r, bool& progressed) {
  if (!r.alive) {
    t.alive = false;
    last_rule_ = DrainRule::Exited;
    return;
  }
  // A Sidekiq told TERM at once stops beating: its last jobs are known only
  // from a beat before the stop. They name what a failed recovery lost.
  if (r.heartbeat && r.heartbeat->beat >= t.last_beat) t.known_jobs = r.heartbeat->jobs;
  // Only what a heartbeat wrote after the TSTP counts, for the drain and for
  // the progress alike: earlier readings describe a process still taking
  // work.
  if (r.heartbeat && r.heartbeat->beat > t.last_beat && r.heartbeat->beat > t0_wall_) {
    t.last_beat = r.heartbeat->beat;
    t.heartbeat_busy = r.heartbeat->busy;
    t.jobs = r.heartbeat->jobs;
    if (phase_ == Phase::Quieting) {
      for (const InFlightJob& j : t.jobs) quiet_jobs_seen_.insert(j.jid);
    }
    progressed = true;
    if (r.heartbeat->quiet && r.heartbeat->busy == 0 && !t.drained) {
      t.drained = true;
      last_rule_ = DrainRule::Heartbeat;
    }
  }
  if (r.title && r.title->stopping) {
    bool changed = !t.last_title || t.last_title->busy != r.title->busy;
    // Sidekiq retitles itself a moment before it writes the same heartbeat
    // to Redis, which also names the jobs: the title tells the progress only
    // while Redis has nothing to say about this process, so one heartbeat
    // makes one progress line.
    if (changed && !r.heartbeat) progressed = true;
    t.last_title = r.title;
    // "stopping" is only written once the process is quiet, and the busy
    // count beside it comes from the same heartbeat.
    if (r.title->busy == 0 && !t.drained) {
      t.drained = true;
      last_rule_ = DrainRule::Title;
    }
  }
  watch_threads(t, r, progressed);
}

void StopMachine::watch_threads(Tracked& t, const ProcessReading& r, bool& progressed) {
  if (!t.threads) return;
  JobThreadWatch& w = *t.threads;
  const bool watching = w.state() == JobThreadWatch::State::Watching;
  const int alive = w.alive();
  // The title's concurrency, else Redis's.
  std::optional<int> concurrency;
  if (r.threads) concurrency = r.threads->concurrency;
  if (r.title && r.title->concurrency > 0) concurrency = r.title->concurrency;
  w.observe(r.threads, concurrency);
  if (w.off_reason() && !t.thread_rule_off_told) {
    t.thread_rule_off_told = true;
    tell(fact::ThreadRuleSkipped{r.pid, *w.off_reason(), w.at_tstp(), w.concurrency()});
  }
  // A job thread ending is news: said at once, not at the next heartbeat.
  if (watching && w.alive() != alive) progressed = true;
  if (w.drained() && !t.drained) {
    t.drained = true;
    last_rule_ = DrainRule::Threads;
  }
}

void StopMachine::tell_progress(Instant now) {
  fact::DrainProgress progress{now - t0_, 0, {}, {}};
  for (const auto& [pid, t] : tracked_) {
    if (!t.alive || t.drained) continue;
    if (t.threads && t.threads->state() == JobThreadWatch::State::Watching) {
      progress.job_threads = progress.job_threads.value_or(0) + t.threads->alive();
    }
    // Both sources come from the same heartbeat; Redis also names the jobs.
    progress.busy += t.heartbeat_busy ? *t.heartbeat_busy : (t.last_title ? t.last_title->busy : 0);
    for (const auto& j : t.jobs) progress.jobs.push_back({pid, j});
  }
  tell(std::move(progress));
}

void StopMachine::check_drained(Instant now) {
  bool all = std::all_of(tracked_.begin(), tracked_.end(),
                         [](const auto& kv) { return !kv.second.alive || kv.second.drained; });
  if (!all || tracked_.empty()) return;
  if (phase_ == Phase::Quieting) return quiet_drained(now);
  send_term(now, TermReason::Drained);
}

// ---- lifetime --------------------------------------------------------------

void StopMachine::main_exited_with(int status) {
  main_status_ = status;
  if (auto it = tracked_.find(main_pid_); it != tracked_.end()) it->second.alive = false;
  tell(fact::MainChildExited{main_pid_, status});
}

void StopMachine::maybe_exit(bool others_remain, Instant now) {
  if (!others_remain) return exit_now(main_exit_code(), now);
  if (grace_active_) return;
  // During a stop the budget's own SIGKILL bounds the wait. Once Sidekiq has
  // its TERM, whatever outlives the main child is asked to stop too.
  if (phase_ == Phase::Terminating && !leftovers_termed_) {
    leftovers_termed_ = true;
    term_and_continue(act::Signal::To::Descendants, {});
    tell(fact::TermSent{TermTarget::Leftovers, term_reason_, {}, now - t0_, kill_at_ - now, {}});
  }
  if (stop_active()) return;
  start_grace(now);
}

void StopMachine::start_grace(Instant now) {
  grace_active_ = true;
  term_and_continue(act::Signal::To::Descendants, {});
  emit(act::ArmTimer{TimerId::Grace, now + config_.exit_grace});
  tell(fact::GraceStarted{config_.exit_grace});
}

void StopMachine::kill_everything(Instant now, KillReason why) {
  // Whatever still runs when the budget is out has its jobs put back, from
  // the work read just before (read_work_before_kill). A process that has
  // exited by now ran its own shutdown and is not among them.
  std::vector<pid_t> recover_after;
  if (why != KillReason::ExitGrace && config_.recover_jobs) {
    for (const auto& [pid, t] : tracked_) {
      if (t.alive && t.by != FoundBy::MainChild) recover_after.push_back(pid);
    }
  }
  killed_ = true;
  emit(act::Signal{act::Signal::To::Descendants, {}, SIGKILL});
  tell(fact::KillSent{why});
  for (pid_t pid : recover_after) recover(pid, t0_ + plan_.recover_until, now);
  exit_now(main_status_ ? main_exit_code() : 128 + SIGKILL, now);
}

void StopMachine::read_work_before_kill() {
  std::vector<FoundProcess> targets;
  for (const auto& [pid, t] : tracked_) {
    if (t.alive && t.by != FoundBy::MainChild) targets.push_back({pid, t.by, t.identity});
  }
  if (!targets.empty()) emit(act::ReadWork{std::move(targets)});
}

void StopMachine::recover(pid_t pid, Instant until, Instant now) {
  if (!recovering_.insert(pid).second) return;
  std::string identity;
  if (auto it = tracked_.find(pid); it != tracked_.end()) identity = it->second.identity;
  emit(act::RecoverJobs{pid, std::move(identity)});
  // One timer bounds every recovery: the latest limit asked for.
  if (!recovery_until_ || until > *recovery_until_) {
    recovery_until_ = std::max(until, now);
    emit(act::ArmTimer{TimerId::Recovery, *recovery_until_});
  }
}

// Redis did not answer in time: the jobs this machine knows of (from the
// drain's last heartbeat) are named as lost, and the exit goes ahead.
void StopMachine::recovery_timed_out(Instant now) {
  for (pid_t pid : recovering_) {
    fact::RecoveryFailed failed{pid, "", "Redis did not answer in time", {}};
    if (auto it = tracked_.find(pid); it != tracked_.end()) {
      failed.identity = it->second.identity;
      failed.jobs = it->second.known_jobs;
    }
    tell(std::move(failed));
  }
  recovering_.clear();
  recovery_until_.reset();
  if (exit_pending_) exit_now(*exit_pending_, now);
}

void StopMachine::tell_outcome(pid_t pid, const RecoveryOutcome& outcome) {
  switch (outcome.status) {
    case RecoveryStatus::Requeued:
      for (const InFlightJob& job : outcome.jobs) {
        tell(fact::JobRequeued{pid, outcome.identity, job});
      }
      return;
    case RecoveryStatus::Failed: {
      fact::RecoveryFailed failed{pid, outcome.identity, outcome.detail, outcome.jobs};
      // Redis failed before the jobs were read: the drain's last heartbeat
      // still names them.
      auto it = tracked_.find(pid);
      if (failed.jobs.empty() && it != tracked_.end()) failed.jobs = it->second.known_jobs;
      tell(std::move(failed));
      return;
    }
    default:
      tell(fact::RecoveryNotNeeded{pid, outcome.identity, outcome.status, outcome.detail});
      return;
  }
}

int StopMachine::main_exit_code() const {
  // Called only once the main child has exited (maybe_exit, or a kill after it).
  return main_status_ ? exit_code_for(*main_status_, config_.remap_exit) : 128 + SIGKILL;
}

void StopMachine::exit_now(int code, Instant now) {
  // The jobs are put back first: once quiesce exits, the kernel kills the
  // whole container, and nobody else knows they were running.
  if (!recovering_.empty()) {
    exit_pending_ = code;
    return;
  }
  // A restart's old command is gone: start it again instead of exiting.
  if (restart_pending_) {
    last_exit_code_ = code;
    return schedule_respawn(now);
  }
  if (stop_active()) {
    std::optional<Duration> term_at;
    if (term_sent_at_) term_at = *term_sent_at_ - t0_;
    fact::StopDone done{now - t0_, code, term_at, term_reason_, {}};
    if (term_at && term_reason_ == TermReason::Drained) done.drained_by = last_rule_;
    tell(std::move(done));
  }
  tell(fact::Exiting{code});
  phase_ = Phase::Exited;
  emit(act::StopWatching{});
  emit(act::Exit{code});
}

void StopMachine::signal_pids(std::vector<pid_t> pids, int signo) {
  emit(act::Signal{act::Signal::To::Pids, std::move(pids), signo});
}

// A process stopped by a stray TSTP must wake up to act on the TERM.
void StopMachine::term_and_continue(act::Signal::To to, std::vector<pid_t> pids) {
  emit(act::Signal{to, pids, SIGTERM});
  emit(act::Signal{to, std::move(pids), SIGCONT});
}

// ---- plain forwarding ------------------------------------------------------

void StopMachine::forward(int signo) {
  auto rewritten = config_.rewrite.find(signo);
  int to_send = rewritten == config_.rewrite.end() ? signo : rewritten->second;
  act::Signal s;
  s.signo = to_send;
  if (main_status_) {
    s.to = act::Signal::To::Descendants;  // the main child is gone; its survivors are the workload
  } else {
    s.to = config_.process_group ? act::Signal::To::ChildGroup : act::Signal::To::Child;
  }
  emit(std::move(s));
  tell(fact::SignalForwarded{signo, to_send});
}

}  // namespace quiesce
