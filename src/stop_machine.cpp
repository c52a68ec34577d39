#include "quiesce/stop_machine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>

#include "quiesce/duration.hpp"
#include "quiesce/exit_status.hpp"
#include "quiesce/signal_names.hpp"

namespace quiesce {
namespace {

using json = nlohmann::json;

constexpr Duration kKillBeforeBudget{1000};
// How long a wrapper shell gets, once Sidekiq is gone, to finish on its own
// (reap Sidekiq, run the rest of its script) before it is sent TERM.
constexpr Duration kWrapperGrace{1000};
// A Sidekiq that was still booting at the SIGTERM has no title yet, or no
// identity in Redis before its first heartbeat; looking again this often
// during the drain finds it without adding to Redis's load.
constexpr Duration kFindAgainEvery{2500};

const char* found_by_name(FoundBy by) {
  switch (by) {
    case FoundBy::Redis:
      return "redis";
    case FoundBy::MainChild:
      return "main_child";
    case FoundBy::Title:
      break;
  }
  return "title";
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by SIG{}", signal_name(WTERMSIG(status)));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

json status_fields(pid_t pid, int status) {
  json f = {{"pid", pid}};
  if (WIFSIGNALED(status)) {
    f["signal"] = signal_name(WTERMSIG(status));
  } else {
    f["code"] = WEXITSTATUS(status);
  }
  return f;
}

double seconds(Duration d) {
  return static_cast<double>(d.count()) / 1000.0;
}

}  // namespace

MachineConfig MachineConfig::from(const Config& c, bool command_runs_sidekiq) {
  MachineConfig m;
  m.process_group = c.process_group;
  m.remap_exit = c.remap_exit;
  m.rewrite = c.rewrite;
  m.warn_on_reap = c.warn_on_reap;
  m.verbosity = c.verbosity;
  m.exit_grace = c.exit_grace;
  m.drain = c.drain;
  m.command_runs_sidekiq = command_runs_sidekiq;
  m.stop_timeout = c.stop_timeout;
  m.sidekiq_timeout = c.sidekiq_timeout;
  m.shutdown_margin = c.shutdown_margin;
  return m;
}

StopMachine::StopMachine(MachineConfig config) : config_(std::move(config)) {}

const std::vector<Action>& StopMachine::step(const Event& event) {
  out_.clear();
  if (phase_ != Phase::Exited) {
    std::visit([this](const auto& e) { on(e); }, event);
  }
  return out_;
}

void StopMachine::log(Level level, std::string event, std::string message, json fields) {
  emit(act::Log{make_log(level, std::move(event), std::move(message), std::move(fields))});
}

// ---- events ----------------------------------------------------------------

void StopMachine::on(const ev::Started& e) {
  main_pid_ = e.main_pid;
}

void StopMachine::on(const ev::SignalReceived& e) {
  if (!is_stop_signal(e.signo)) return forward(e.signo, e.now);
  switch (phase_) {
    case Phase::Running:
      if (main_status_) return forward(e.signo, e.now);  // nothing left to drain
      return begin_stop(e);
    case Phase::Finding:
    case Phase::Draining:
      log(Level::Warn, "second_signal",
          fmt::format("SIG{} again during the drain: TERM now", signal_name(e.signo)));
      return send_term(e.now, "second_signal");
    case Phase::Terminating:
    case Phase::Forwarding:
    case Phase::Exited:
      return forward(e.signo, e.now);
  }
}

void StopMachine::on(const ev::Reaped& e) {
  for (auto [pid, status] : e.exited) {
    if (pid == main_pid_) {
      main_exited_with(status, e.now);
    } else if (auto it = tracked_.find(pid); it != tracked_.end()) {
      it->second.alive = false;
      log(Level::Info, "child_exited",
          fmt::format("Sidekiq {} {}, {:.1f}s into the stop", pid, describe_status(status),
                      seconds(e.now - t0_)),
          status_fields(pid, status));
    } else if (config_.warn_on_reap || config_.verbosity >= static_cast<int>(Level::Debug)) {
      log(config_.warn_on_reap ? Level::Warn : Level::Debug, "reaped",
          fmt::format("reaped zombie {} ({})", pid, describe_status(status)),
          status_fields(pid, status));
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
      if (phase_ == Phase::Draining || phase_ == Phase::Finding) send_term(e.now, "deadline");
      return;
    case TimerId::Kill:
      if (stop_active()) kill_everything(e.now, "the stop budget ran out");
      return;
    case TimerId::Grace:
      if (grace_active_) kill_everything(e.now, "exit_grace ran out");
      return;
    case TimerId::Wrapper:
      return term_wrapper(e.now);
  }
}

void StopMachine::on(const ev::SidekiqsFound& e) {
  if (phase_ != Phase::Finding && phase_ != Phase::Draining && phase_ != Phase::Terminating) {
    return;
  }
  track(e.found, e.now);
  if (phase_ == Phase::Finding) {
    if (tracked_.empty()) return fall_back_when_nothing_found(e.now);
    phase_ = Phase::Draining;
    if (e.now >= term_at_) {
      send_term(e.now, config_.stop_timeout - config_.sidekiq_timeout - config_.shutdown_margin <=
                               Duration{0}
                           ? "no_room"
                           : "deadline");
    }
  }
}

void StopMachine::on(const ev::Readings& e) {
  if (phase_ != Phase::Draining && phase_ != Phase::Terminating) return;
  bool progressed = false;
  for (const auto& r : e.readings) {
    auto it = tracked_.find(r.pid);
    if (it == tracked_.end()) continue;
    bool was_alive = it->second.alive;
    update_from_reading(it->second, r, progressed);
    if (was_alive && !it->second.alive) {
      log(Level::Info, "process_gone",
          fmt::format("Sidekiq {} is gone, {:.1f}s into the stop", r.pid, seconds(e.now - t0_)),
          {{"pid", r.pid}});
    }
  }
  if (progressed) log_progress(e.now);
  if (phase_ == Phase::Draining) check_drained(e.now);
  if (phase_ == Phase::Draining) find_again(e.now);
  after_sidekiq_gone(e.now);
}

// ---- the stop --------------------------------------------------------------

bool StopMachine::is_stop_signal(int signo) const {
  return config_.drain != DrainMode::Never && (signo == SIGTERM || signo == SIGINT);
}

bool StopMachine::stop_active() const {
  return phase_ == Phase::Finding || phase_ == Phase::Draining || phase_ == Phase::Terminating;
}

void StopMachine::begin_stop(const ev::SignalReceived& e) {
  phase_ = Phase::Finding;
  t0_ = e.now;
  t0_wall_ = e.wall;
  Duration room = config_.stop_timeout - config_.sidekiq_timeout - config_.shutdown_margin;
  term_at_ = t0_ + std::max(room, Duration{0});
  Duration kill_after = config_.stop_timeout > 2 * kKillBeforeBudget
                            ? config_.stop_timeout - kKillBeforeBudget
                            : config_.stop_timeout / 2;
  kill_at_ = t0_ + kill_after;
  stop_signal_ = e.signo;
  emit(act::ArmTimer{TimerId::Term, term_at_});
  emit(act::ArmTimer{TimerId::Kill, kill_at_});
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

// Said once Sidekiq is found (the first scan answers at once), so a
// container without it reads "no Sidekiq", not a plan it will not follow.
void StopMachine::log_plan() {
  log(Level::Info, "stop_plan",
      fmt::format("SIG{}: stopping Sidekiq: TSTP now, TERM when drained or in {}s at the "
                  "latest, SIGKILL in {}s (stop_timeout {}, sidekiq_timeout {}, "
                  "shutdown_margin {})",
                  signal_name(stop_signal_), format_seconds(term_at_ - t0_),
                  format_seconds(kill_at_ - t0_), format_duration(config_.stop_timeout),
                  format_duration(config_.sidekiq_timeout),
                  format_duration(config_.shutdown_margin)),
      {{"term_in_s", seconds(term_at_ - t0_)}, {"kill_in_s", seconds(kill_at_ - t0_)}});
}

void StopMachine::track(const std::vector<FoundProcess>& found, Instant now) {
  std::vector<pid_t> fresh;
  bool changed = false;
  for (const auto& f : found) {
    auto [it, inserted] = tracked_.try_emplace(f.pid);
    Tracked& t = it->second;
    if (inserted) {
      t.by = f.by;
      fresh.push_back(f.pid);
      changed = true;
    }
    if (!f.identity.empty() && t.identity != f.identity) {
      t.identity = f.identity;
      changed = true;
    }
  }
  if (!changed) return;
  if (phase_ == Phase::Finding) log_plan();
  if (!fresh.empty()) {
    json by = json::array();
    for (pid_t p : fresh) by.push_back(found_by_name(tracked_[p].by));
    log(Level::Info, "sidekiq_found",
        fmt::format("Sidekiq process{} {} found by {}", fresh.size() > 1 ? "es" : "",
                    fmt::join(fresh, ", "), found_by_name(tracked_[fresh.front()].by)),
        {{"pids", fresh}, {"by", by}});
    // TSTP only to these processes, never to a group: a shell wrapper that
    // does not trap TSTP would be stopped, not quieted.
    if (phase_ == Phase::Finding || phase_ == Phase::Draining) {
      emit(act::Signal{act::Signal::To::Pids, fresh, SIGTSTP});
      log(Level::Info, "tstp_sent",
          fmt::format("TSTP sent to {}: no new jobs", fmt::join(fresh, ", ")), {{"pids", fresh}});
    } else if (phase_ == Phase::Terminating) {
      emit(act::Signal{act::Signal::To::Pids, fresh, SIGTERM});
      emit(act::Signal{act::Signal::To::Pids, fresh, SIGCONT});
      log(Level::Info, "term_sent",
          fmt::format("TERM sent to late-found {}", fmt::join(fresh, ", ")),
          {{"pids", fresh}, {"reason", term_reason_}});
    }
  }
  std::vector<FoundProcess> targets;
  for (const auto& [pid, t] : tracked_) targets.push_back({pid, t.by, t.identity});
  emit(act::Watch{std::move(targets), t0_wall_});
  (void)now;
}

void StopMachine::fall_back_when_nothing_found(Instant now) {
  bool main_alive = !main_status_;
  bool fallback = config_.drain == DrainMode::Always ||
                  (config_.drain == DrainMode::Auto && config_.command_runs_sidekiq);
  if (fallback && main_alive) {
    log(Level::Info, "sidekiq_fallback",
        "no Sidekiq process title found yet: draining the main child");
    phase_ = Phase::Finding;  // track() below moves on to Draining
    track({{main_pid_, FoundBy::MainChild, ""}}, now);
    phase_ = Phase::Draining;
    if (now >= term_at_) send_term(now, "no_room");
    return;
  }
  // Not a Sidekiq container: behave exactly as tini would.
  phase_ = Phase::Forwarding;
  emit(act::CancelTimer{TimerId::Term});
  emit(act::CancelTimer{TimerId::Kill});
  log(Level::Info, "no_sidekiq", "no Sidekiq process found: forwarding SIGTERM to the child");
  forward(SIGTERM, now);
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
  emit(act::Signal{act::Signal::To::Pids, {main_pid_}, SIGTERM});
  emit(act::Signal{act::Signal::To::Pids, {main_pid_}, SIGCONT});
  log(Level::Info, "term_sent",
      fmt::format("Sidekiq is gone but main child {} still runs: TERM sent to it", main_pid_),
      {{"pids", {main_pid_}}, {"reason", "forward"}, {"at_s", seconds(now - t0_)}});
}

void StopMachine::send_term(Instant now, const char* reason) {
  phase_ = Phase::Terminating;
  term_sent_at_ = now;
  term_reason_ = reason;
  emit(act::CancelTimer{TimerId::Term});
  auto pids = live_targets();
  if (!pids.empty()) {
    emit(act::Signal{act::Signal::To::Pids, pids, SIGTERM});
    // A process stopped by a stray TSTP must wake up to act on the TERM.
    emit(act::Signal{act::Signal::To::Pids, pids, SIGCONT});
  }
  log(Level::Info, "term_sent",
      fmt::format("TERM sent to {} {:.1f}s into the stop ({}); SIGKILL in {:.1f}s if still running",
                  fmt::join(pids, ", "), seconds(now - t0_), reason, seconds(kill_at_ - now)),
      {{"pids", pids}, {"reason", reason}, {"at_s", seconds(now - t0_)}});
  after_sidekiq_gone(now);
}

void StopMachine::update_from_reading(Tracked& t, const ProcessReading& r, bool& progressed) {
  if (!r.alive) {
    t.alive = false;
    return;
  }
  // Only what a heartbeat wrote after the TSTP counts, for the drain and for
  // the progress log alike: earlier readings describe a process still taking
  // work.
  if (r.heartbeat && r.heartbeat->beat > t.last_beat && r.heartbeat->beat > t0_wall_) {
    t.last_beat = r.heartbeat->beat;
    t.heartbeat_busy = r.heartbeat->busy;
    t.jobs = r.heartbeat->jobs;
    progressed = true;
    if (r.heartbeat->quiet && r.heartbeat->busy == 0) t.drained = true;
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
    if (r.title->stopping && r.title->busy == 0) t.drained = true;
  }
}

void StopMachine::log_progress(Instant now) {
  int busy = 0;
  json jobs = json::array();
  std::vector<std::string> described;
  for (const auto& [pid, t] : tracked_) {
    if (!t.alive || t.drained) continue;
    // Both sources come from the same heartbeat; Redis also names the jobs.
    busy += t.heartbeat_busy ? *t.heartbeat_busy : (t.last_title ? t.last_title->busy : 0);
    for (const auto& j : t.jobs) {
      jobs.push_back({{"pid", pid},
                      {"class", j.job_class},
                      {"jid", j.jid},
                      {"queue", j.queue},
                      {"running_s", j.running_seconds}});
      described.push_back(
          fmt::format("{} {} on {} for {:.0f}s", j.job_class, j.jid, j.queue, j.running_seconds));
    }
  }
  std::string detail = described.empty() ? "" : fmt::format(": {}", fmt::join(described, "; "));
  log(Level::Info, "drain_progress",
      fmt::format("drain at {:.1f}s: {} job{} still running{}", seconds(now - t0_), busy,
                  busy == 1 ? "" : "s", detail),
      {{"busy", busy}, {"jobs", jobs}, {"at_s", seconds(now - t0_)}});
}

void StopMachine::check_drained(Instant now) {
  bool all = std::all_of(tracked_.begin(), tracked_.end(),
                         [](const auto& kv) { return !kv.second.alive || kv.second.drained; });
  if (all && !tracked_.empty()) send_term(now, "drained");
}

// ---- lifetime --------------------------------------------------------------

void StopMachine::main_exited_with(int status, Instant now) {
  main_status_ = status;
  if (auto it = tracked_.find(main_pid_); it != tracked_.end()) it->second.alive = false;
  log(Level::Info, "child_exited",
      fmt::format("main child {} {}", main_pid_, describe_status(status)),
      status_fields(main_pid_, status));
  (void)now;
}

void StopMachine::maybe_exit(bool others_remain, Instant now) {
  if (!others_remain) return exit_now(main_exit_code(), now);
  if (grace_active_) return;
  // During a stop the budget's own SIGKILL bounds the wait. Once Sidekiq has
  // its TERM, whatever outlives the main child is asked to stop too.
  if (phase_ == Phase::Terminating && !leftovers_termed_) {
    leftovers_termed_ = true;
    emit(act::Signal{act::Signal::To::Descendants, {}, SIGTERM});
    emit(act::Signal{act::Signal::To::Descendants, {}, SIGCONT});
    log(Level::Info, "term_sent", "main child is gone: TERM sent to the processes it left",
        {{"reason", "leftovers"}, {"at_s", seconds(now - t0_)}});
  }
  if (stop_active()) return;
  start_grace(now);
}

void StopMachine::start_grace(Instant now) {
  grace_active_ = true;
  emit(act::Signal{act::Signal::To::Descendants, {}, SIGTERM});
  emit(act::Signal{act::Signal::To::Descendants, {}, SIGCONT});
  emit(act::ArmTimer{TimerId::Grace, now + config_.exit_grace});
  log(Level::Info, "grace_started",
      fmt::format("main child is gone but other processes remain: TERM sent, SIGKILL in {}",
                  format_duration(config_.exit_grace)),
      {{"grace_s", seconds(config_.exit_grace)}});
}

void StopMachine::kill_everything(Instant now, const char* why) {
  emit(act::Signal{act::Signal::To::Descendants, {}, SIGKILL});
  log(Level::Error, "kill_sent", fmt::format("{}: SIGKILL to every remaining process", why),
      {{"why", why}});
  exit_now(main_status_ ? main_exit_code() : 128 + SIGKILL, now);
}

int StopMachine::main_exit_code() const {
  return main_status_ ? exit_code_for(*main_status_, config_.remap_exit) : 0;
}

void StopMachine::exit_now(int code, Instant now) {
  if (stop_active()) {
    json fields = {{"code", code}, {"stop_s", seconds(now - t0_)}};
    std::string term = "TERM never sent";
    if (term_sent_at_) {
      term = fmt::format("TERM at {:.1f}s ({})", seconds(*term_sent_at_ - t0_), term_reason_);
      fields["term_at_s"] = seconds(*term_sent_at_ - t0_);
      fields["term_reason"] = term_reason_;
    }
    log(Level::Info, "stop_done",
        fmt::format("stop done in {:.1f}s: {}; exit code {}", seconds(now - t0_), term, code),
        fields);
  }
  log(Level::Info, "exit", fmt::format("exiting with code {}", code), {{"code", code}});
  phase_ = Phase::Exited;
  emit(act::StopWatching{});
  emit(act::Exit{code});
}

// ---- plain forwarding ------------------------------------------------------

void StopMachine::forward(int signo, Instant now) {
  (void)now;
  auto rewritten = config_.rewrite.find(signo);
  int to_send = rewritten == config_.rewrite.end() ? signo : rewritten->second;
  act::Signal s;
  s.signo = to_send;
  if (main_status_) {
    s.to = act::Signal::To::Descendants;  // the main child is gone; its survivors are the workload
  } else {
    s.to = config_.process_group ? act::Signal::To::ChildGroup : act::Signal::To::Child;
  }
  emit(s);
  if (config_.verbosity < static_cast<int>(Level::Debug)) return;
  log(Level::Debug, "signal_forwarded",
      fmt::format("SIG{} forwarded as SIG{}", signal_name(signo), signal_name(to_send)),
      {{"signal", signal_name(to_send)}, {"received", signal_name(signo)}});
}

}  // namespace quiesce
