#include "quiesce/pid1/supervisor.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iterator>
#include <stdexcept>

#include "quiesce/control/socket_path.hpp"
#include "quiesce/core/drain_policy.hpp"
#include "quiesce/core/signal_names.hpp"
#include "quiesce/log/fact_words.hpp"
#include "quiesce/pid1/erb_evaluator.hpp"
#include "quiesce/pid1/reaper.hpp"
#include "quiesce/pid1/signal_sender.hpp"
#include "quiesce/pid1/signal_source.hpp"
#include "quiesce/pid1/spawn.hpp"
#include "quiesce/pid1/status_report.hpp"
#include "quiesce/procfs/cgroup.hpp"
#include "quiesce/redis/client.hpp"
#include "quiesce/sidekiq/config_file.hpp"
#include "quiesce/sidekiq/drain_probe.hpp"
#include "quiesce/sidekiq/job_recovery.hpp"
#include "quiesce/sidekiq/observer.hpp"
#include "quiesce/sidekiq/process_timeout.hpp"
#include "quiesce/sidekiq/ruby.hpp"
#include "quiesce/uv/fault.hpp"

namespace quiesce {
namespace {

WallSeconds wall_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string container_hostname() {
  // Sidekiq names itself by DYNO when set, else by the host name.
  // Ruby's `ENV["DYNO"] || hostname` keeps an empty DYNO: the host part is
  // then empty too.
  if (const char* dyno = std::getenv("DYNO")) return dyno;
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// Everything blocked but the faults: a crash in quiesce must still crash it.
sigset_t all_but_synchronous() {
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) sigdelset(&set, s);
  return set;
}

// `quiesce health` answers within a second even when Redis hangs: the look
// gives up on Redis after this, leaving the client time to print.
constexpr Duration kHealthLookLimit{700};

// How long closing down may wait for the Redis client's last callbacks.
constexpr std::uint64_t kCloseLimitMs = 500;
// How long Ruby gets to evaluate sidekiq.yml's ERB: a template that reads a
// few variables takes a tenth of that; one that hangs must not linger.
constexpr Duration kErbLimit{5'000};
// on_drained tells someone (a chat message, a metric): seconds at most. It
// never holds anything up; once quiesce exits it is killed with the rest.
constexpr Duration kOnDrainedLimit{10'000};
constexpr std::size_t kOnDrainedOutput = 64 * 1024;

// One reply line; bytes that are not UTF-8 (a job class, a host name) are
// replaced rather than thrown over.
std::string reply_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> own_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

}  // namespace

Supervisor::Supervisor(Config config, const LogSink& sink)
    : config_(std::move(config)),
      sink_(sink),
      machine_(machine_config(config_)),
      events_([this](const Event& event) { dispatch(event); }) {
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    // Nothing is spawned yet: failing here loses no work.
    throw std::runtime_error(fmt::format("cannot start the event loop: {}", uv_strerror(rc)));
  }
  loop_.data = this;
  for (TimerId id : kTimers) timers_[timer_index(id)] = uv::TimerHandle(&loop_, "a stop timer");
  erb_ = std::make_unique<ErbEvaluator>(&loop_, kErbLimit);
  hooks_ = std::make_unique<HelperProcesses>(&loop_, kOnDrainedOutput);
  uv::set_fault_reporter([this](std::string_view where, std::string_view what) {
    log(Level::Error, "internal_error", fmt::format("{} failed: {}", where, what));
  });
}

Supervisor::~Supervisor() = default;

Instant Supervisor::now() {
  uv_update_time(&loop_);
  return Instant{static_cast<std::int64_t>(uv_now(&loop_))};
}

void Supervisor::log(Level level, const char* event, std::string message) {
  sink_.write(make_log(level, event, std::move(message)));
}

// Signals stay blocked in quiesce and are read from a signalfd on the loop:
// one descriptor instead of a handler per signal, no handler round trip on
// the forwarding path, and full siginfo. Blocked signals also reach a
// namespace's PID 1, which the kernel would otherwise drop while their
// disposition is the default.
bool Supervisor::open_signal_fd() {
  sigset_t wanted;
  sigemptyset(&wanted);
  for (int signo : forwarded_signals()) sigaddset(&wanted, signo);
  sigaddset(&wanted, SIGCHLD);
  signal_fd_ = signalfd(-1, &wanted, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    log(Level::Error, "signalfd_failed", fmt::format("cannot read signals: {}", strerror(errno)));
    return false;
  }
  if (int rc = uv_poll_init(&loop_, &signal_poll_, signal_fd_); rc != 0) {
    log(Level::Error, "signalfd_failed", fmt::format("cannot watch signals: {}", uv_strerror(rc)));
    close_signal_fd();
    return false;
  }
  signal_poll_.data = this;
  if (int rc = uv_poll_start(&signal_poll_, UV_READABLE,
                             [](uv_poll_t* p, int status, int) {
                               static_cast<Supervisor*>(p->data)->on_signal_fd(status);
                             });
      rc != 0) {
    log(Level::Error, "signalfd_failed", fmt::format("cannot watch signals: {}", uv_strerror(rc)));
    return false;
  }
  return true;
}

// Nothing is written through the signalfd, so a failed close loses nothing;
// it is still said, as every failed call is.
void Supervisor::close_signal_fd() {
  if (close(signal_fd_) != 0) {
    log(Level::Warn, "close_failed",
        fmt::format("closing the signal descriptor: {}", strerror(errno)));
  }
  signal_fd_ = -1;
}

void Supervisor::on_signal_fd(int status) {
  // libuv reports an error on the descriptor itself (it was never seen to
  // happen); reading anyway either works or says what is wrong.
  if (status < 0 && !signal_fd_error_logged_) {
    signal_fd_error_logged_ = true;
    log(Level::Error, "signalfd_failed", fmt::format("watching signals: {}", uv_strerror(status)));
  }
  read_signals();
}

void Supervisor::read_signals() {
  signalfd_siginfo info[16];
  for (;;) {
    ssize_t n = read(signal_fd_, info, sizeof info);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && !signal_fd_error_logged_) {
      signal_fd_error_logged_ = true;
      log(Level::Error, "signalfd_failed", fmt::format("reading signals: {}", strerror(errno)));
    }
    if (n <= 0) return;  // EAGAIN: drained
    ssize_t count = n / static_cast<ssize_t>(sizeof info[0]);
    for (ssize_t i = 0; i < count; ++i) {
      if (is_own_sigpipe(static_cast<int>(info[i].ssi_signo), static_cast<pid_t>(info[i].ssi_pid),
                         getpid())) {
        continue;
      }
      on_signal(static_cast<int>(info[i].ssi_signo));
      if (exit_code_) return;
    }
    // A short read already says the queue was empty: one system call fewer
    // per forwarded signal. The poll is level-triggered, so a signal that
    // arrives after this read wakes the loop again.
    if (count < static_cast<ssize_t>(std::size(info))) return;
  }
}

void Supervisor::start_redis(bool connect_now) {
  auto parsed = redis::parse_url(config_.redis_url);
  redis::ClientOptions options;
  options.url = std::get<redis::Url>(parsed);  // validated when the config was read
  options.ca_file = config_.redis_ca_file;
  options.tls_verify = config_.redis_tls_verify;
  options.connect_timeout = config_.redis_connect_timeout;
  options.command_timeout = config_.redis_command_timeout;
  auto log_fn = [this](LogLine line) { sink_.write(line); };
  redis_ = std::make_unique<redis::Client>(&loop_, options, log_fn);
  status_redis_ = std::make_unique<redis::Client>(&loop_, options, log_fn);
  probe_ = std::make_unique<DrainProbe>(&loop_, redis_.get(),
                                        ProbeOptions{container_hostname(), config_.poll_interval},
                                        log_fn, wall_now);
  recovery_ = std::make_unique<JobRecovery>(redis_.get(), container_hostname(), started_wall_,
                                            wall_now, log_fn);
  observer_ = std::make_unique<SidekiqObserver>(
      &loop_, status_redis_.get(), ProbeOptions{container_hostname(), config_.poll_interval},
      log_fn, wall_now);
  // Connecting early tells the operator at startup, not at 3 a.m., that the
  // URL or password is wrong. It never delays the child: it is asynchronous.
  if (connect_now) redis_->connect();
}

int Supervisor::run() {
  if (config_.parent_death_signal && prctl(PR_SET_PDEATHSIG, config_.parent_death_signal) != 0) {
    log(Level::Warn, "parent_death_signal",
        fmt::format("cannot set the parent death signal: {}", strerror(errno)));
  }
  if (getpid() != 1 || config_.subreaper) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) {
      if (getpid() != 1) {
        log(Level::Info, "subreaper",
            "not PID 1: registered as child subreaper, so orphans are reaped here");
      }
    } else {
      log(Level::Warn, "subreaper", "cannot register as child subreaper: orphans may escape");
    }
  }
  sigset_t blocked = all_but_synchronous();
  if (sigprocmask(SIG_BLOCK, &blocked, nullptr) != 0) {
    // Unblocked, signals would kill PID 1 instead of reaching the signalfd.
    log(Level::Error, "sigprocmask_failed",
        fmt::format("cannot block signals: {}", strerror(errno)));
    return 1;
  }
  if (!open_signal_fd()) return 1;
  started_wall_ = wall_now();
  // The baseline: a count that rises later is an OOM kill in this container.
  oom_kills_ = read_oom_kills();
  int group_error = 0;
  main_pid_ = spawn_child(config_.command, &group_error);
  if (main_pid_ < 0) {
    log(Level::Error, "spawn_failed", fmt::format("cannot fork: {}", strerror(errno)));
    return 1;
  }
  if (group_error != 0) {
    log(Level::Warn, "setpgid_failed",
        fmt::format("cannot put pid {} in its own process group: {}", main_pid_,
                    strerror(group_error)));
  }
  sink_.write(
      make_log(Level::Info, "spawned",
               fmt::format("started {} as pid {}", fmt::join(config_.command, " "), main_pid_),
               {{"pid", main_pid_}}));
  // From here the child runs: nothing may end quiesce before it has exited
  // and been reaped, so whatever throws is reported and the rest goes on.
  uv::guard("starting the stop", [&] { post(ev::Started{now(), main_pid_}); });
  // The timeout in a sidekiq.yml with ERB: Ruby says what it is, in the
  // background, with the environment the main child has (quiesce's own).
  uv::guard("evaluating sidekiq.yml's ERB", [&] {
    ruby_ = find_ruby([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
    if (config_.sidekiq_timeout_learnable && !config_.sidekiq_yml_erb.empty() && ruby_) {
      evaluate_erb(0, config_.sidekiq_yml_erb, config_.sidekiq_yml_erb, config_.sidekiq_environment,
                   own_environment(), ".");
    }
  });
  if (config_.drain != DrainMode::Never) {
    uv::guard("starting the Redis client", [&] {
      start_redis(connects_redis_at_start(config_.drain, config_.command_runs_sidekiq,
                                          config_.redis_url_given));
    });
  }
  uv::guard("opening the control socket", [&] { start_control(); });
  // A child that exited already is reaped now, not on the loop's first turn;
  // its SIGCHLD waits in the signalfd either way.
  uv::guard("reaping children", [&] { reap(); });
  // Each callback is guarded on its own; should anything still unwind out of
  // the loop, the loop runs again.
  bool unwound = true;
  while (!exit_code_ && unwound) {
    uv::guard("the event loop", [&] {
      uv_run(&loop_, UV_RUN_DEFAULT);
      unwound = false;
    });
  }
  uv::guard("closing down", [&] { close_everything(); });
  return exit_code_.value_or(1);
}

// Every part closes its own handles: closing the Redis client's timers from
// here would free them under their owner, which closes them again. The close
// callbacks and the client's last (failed) replies need a few loop turns; a
// name lookup still running in libuv's thread pool could need seconds, and the
// exit status must not wait for it, so the wait is bounded.
void Supervisor::close_everything() {
  quiet_waiters_.clear();
  if (control_) control_->close();
  if (http_) http_->close();
  if (observer_) observer_->close();
  if (status_redis_) status_redis_->close();
  if (erb_) erb_->close();
  if (hooks_) hooks_->close();
  if (probe_) probe_->close();
  if (recovery_) recovery_->close();
  if (redis_) redis_->close();
  for (auto& t : timers_) t.close();
  if (signal_fd_ >= 0) uv_close(reinterpret_cast<uv_handle_t*>(&signal_poll_), nullptr);

  bool gave_up = false;
  // Without its time limit, closing down is not waited for at all: the exit
  // status must not hang on a name lookup.
  if (int rc = uv_timer_init(&loop_, &close_limit_); rc != 0) {
    log(Level::Error, "exit_unclean",
        fmt::format("cannot time the close: {}; not waiting for it", uv_strerror(rc)));
    if (signal_fd_ >= 0) close_signal_fd();
    return;
  }
  close_limit_.data = &gave_up;
  if (int rc = uv_timer_start(
          &close_limit_,
          [](uv_timer_t* t) {
            *static_cast<bool*>(t->data) = true;
            uv_stop(t->loop);
          },
          kCloseLimitMs, 0);
      rc != 0) {
    log(Level::Error, "exit_unclean",
        fmt::format("cannot time the close: {}; not waiting for it", uv_strerror(rc)));
    uv_close(reinterpret_cast<uv_handle_t*>(&close_limit_), nullptr);
    if (signal_fd_ >= 0) close_signal_fd();
    return;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&close_limit_));  // only the others keep the loop alive
  // An Exit decided before the loop ever ran left uv_stop()'s flag set; the
  // first uv_run only clears it.
  while (!gave_up && uv_run(&loop_, UV_RUN_DEFAULT) != 0) {
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&close_limit_), nullptr);
  if (gave_up) {
    log(Level::Debug, "exit_unclean", "a Redis name lookup is still running: not waiting for it");
  } else {
    uv_run(&loop_, UV_RUN_NOWAIT);
    if (int rc = uv_loop_close(&loop_); rc != 0) {
      log(Level::Debug, "exit_unclean",
          fmt::format("the event loop still holds handles at exit: {}", uv_strerror(rc)));
    }
  }
  if (signal_fd_ >= 0) close_signal_fd();
}

void Supervisor::reap() {
  auto reaped = reap_children();
  if (reaped.error != 0) {
    log(Level::Error, "waitpid_failed",
        fmt::format("cannot reap children: {}", strerror(reaped.error)));
  }
  if (reaped.exited.empty()) return;
  // Ruby evaluating sidekiq.yml is quiesce's own child, not the workload's.
  std::vector<std::pair<pid_t, int>> workload;
  bool sigkilled = false;
  for (auto [pid, status] : reaped.exited) {
    if (erb_->reaped(pid, status) || hooks_->reaped(pid, status)) continue;
    workload.emplace_back(pid, status);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) sigkilled = true;
  }
  for (auto [pid, status] : workload) {
    // Once the main child is gone, nothing waits for what Ruby would say.
    if (pid == main_pid_ && erb_->running()) erb_->close();
    // Nor does the exit wait for on_drained: it never holds quiesce up.
    if (pid == main_pid_ && hooks_->running()) hooks_->close();
  }
  bool others_remain = reaped.children_remain || erb_->running();
  if (!workload.empty() || !others_remain) {
    post(ev::Reaped{now(), workload, others_remain, sigkilled && oom_kill_since_last_look()});
  }
}

// Read only when a child died of SIGKILL: nothing is read while idle.
bool Supervisor::oom_kill_since_last_look() {
  auto count = read_oom_kills();
  bool rose = count && oom_kills_ && *count > *oom_kills_;
  if (count) oom_kills_ = count;
  return rose;
}

void Supervisor::on_signal(int signo) {
  if (signo == SIGCHLD) {
    reap();
    return;
  }
  if (sink_.enabled(Level::Debug)) {
    log(Level::Debug, "signal_received", fmt::format("received SIG{}", signal_name(signo)));
  }
  post(ev::SignalReceived{now(), wall_now(), signo});
}

void Supervisor::post(Event event) {
  events_.post(std::move(event));
}

// An action that fails with an exception (a /proc or Redis surprise) is
// logged and the rest go on: the deadlines are timers the machine armed
// already, so the stop still happens on time. Unwinding into libuv would end
// quiesce, and the container with it.
void Supervisor::dispatch(const Event& event) {
  for (const auto& action : machine_.step(event)) {
    uv::guard("an action", [&] { carry_out(action); });
  }
}

void Supervisor::carry_out(const Action& action) {
  std::visit([this](const auto& a) { carry_out(a); }, action);
}

void Supervisor::carry_out(const act::Signal& a) {
  auto report = send_signal(a, main_pid_, sink_.enabled(Level::Trace));
  for (const auto& failure : report.failures) {
    log(Level::Warn, "signal_failed", fmt::format("SIG{} to {}", signal_name(a.signo), failure));
  }
  if (sink_.enabled(Level::Trace)) {
    log(Level::Trace, "signal_sent",
        fmt::format("SIG{} delivered to {}", signal_name(a.signo),
                    fmt::join(report.delivered, ",")));
  }
}

void Supervisor::carry_out(const act::ArmTimer& a) {
  TimerId id = a.id;
  timers_[timer_index(id)]->start(a.at - now(), [this, id] { post(ev::TimerFired{now(), id}); });
}

void Supervisor::carry_out(const act::CancelTimer& a) {
  timers_[timer_index(a.id)]->stop();
}

void Supervisor::carry_out(const act::FindSidekiqs& a) {
  if (!probe_) {
    post(ev::SidekiqsFound{now(), {}});
    return;
  }
  post(ev::SidekiqsFound{now(), probe_->find_by_title(getpid()), !a.in_redis});
  if (!a.in_redis) return;
  // Posted even when empty: the machine may be waiting for this answer.
  probe_->find_in_redis(getpid(), [this](std::vector<FoundProcess> found) {
    post(ev::SidekiqsFound{now(), std::move(found), true});
  });
}

void Supervisor::carry_out(const act::Watch& a) {
  if (!probe_) return;
  probe_->watch(a.targets, [this](std::vector<ProcessReading> readings) {
    post(ev::Readings{now(), std::move(readings)});
  });
}

void Supervisor::carry_out(const act::StopWatching&) {
  if (probe_) probe_->stop();
}

void Supervisor::carry_out(const act::ReadWork& a) {
  if (recovery_) recovery_->read_ahead(a.targets);
}

void Supervisor::carry_out(const act::RecoverJobs& a) {
  pid_t pid = a.pid;
  if (!recovery_) {
    post(ev::JobsRecovered{
        now(), pid, {RecoveryStatus::Failed, a.identity, {}, "Redis is not used (--drain never)"}});
    return;
  }
  recovery_->recover(pid, a.identity, [this, pid](RecoveryOutcome outcome) {
    post(ev::JobsRecovered{now(), pid, std::move(outcome)});
  });
}

void Supervisor::carry_out(const act::ReadSidekiqTimeout& a) {
  for (pid_t pid : a.pids) read_timeout_of(pid);
}

// What the Sidekiq that runs reads: its own directory, command line and
// environment. A process that cannot be read keeps the timeout as it is.
void Supervisor::read_timeout_of(pid_t pid) {
  auto seen = read_process_timeout(pid, config_.command);
  if (!seen) {
    log(Level::Debug, "sidekiq_timeout_unread",
        fmt::format("cannot read pid {}'s working directory, command line or environment", pid));
    post(ev::SidekiqTimeoutRead{now(), pid, std::nullopt, ""});
    return;
  }
  if (seen->argv_timeout) {
    post(ev::SidekiqTimeoutRead{now(), pid, Duration{std::int64_t{*seen->argv_timeout} * 1000},
                                fmt::format("-t on pid {}'s command line", pid)});
    return;
  }
  if (!seen->file) {
    post(ev::SidekiqTimeoutRead{
        now(), pid, defaults::kSidekiqTimeout,
        fmt::format("no config file in pid {}'s working directory: Sidekiq's default", pid)});
    return;
  }
  learn_timeout(pid, *seen->file,
                fmt::format("{} (pid {}'s working directory)", seen->file->path, pid), seen->env,
                seen->working_dir);
}

void Supervisor::learn_timeout(pid_t pid, const SidekiqFileTimeout& file, const std::string& where,
                               const std::vector<std::string>& env, const std::string& dir) {
  const TimeoutInFile& t = file.timeout;
  if (t.has_erb && ruby_) {
    evaluate_erb(pid, file.read_from, where, file.environment, env, dir);
  }
  if (auto millis = timeout_millis(t)) {
    if (t.not_a_number) log(Level::Warn, "config_warning", not_a_number_warning(where, t));
    post(ev::SidekiqTimeoutRead{now(), pid, Duration{*millis},
                                fmt::format("{} in {}", t.key, where)});
  } else if (t.unreadable) {
    if (!(t.has_erb && ruby_)) {
      log(Level::Warn, "config_warning",
          fmt::format("stop.sidekiq_timeout: {} sets :timeout: in a way quiesce cannot read "
                      "({}); set --sidekiq-timeout or QUIESCE_SIDEKIQ_TIMEOUT to Sidekiq's "
                      "timeout",
                      where, t.problem));
    }
    post(ev::SidekiqTimeoutRead{now(), pid, std::nullopt, ""});
  } else {
    post(ev::SidekiqTimeoutRead{now(), pid, defaults::kSidekiqTimeout,
                                fmt::format("no :timeout in {}: Sidekiq's default", where)});
  }
}

void Supervisor::evaluate_erb(pid_t pid, const std::string& file, const std::string& where,
                              const std::string& environment, const std::vector<std::string>& env,
                              const std::string& dir) {
  erb_->start({*ruby_, file, dir, env}, [this, pid, where, environment](const ErbResult& r) {
    if (!r.ok) {
      log(Level::Warn, "config_warning",
          fmt::format("stop.sidekiq_timeout: ruby could not evaluate the ERB in {} ({}); set "
                      "--sidekiq-timeout or QUIESCE_SIDEKIQ_TIMEOUT to Sidekiq's timeout",
                      where, r.text));
      return;
    }
    TimeoutInFile t = timeout_in_sidekiq_yml(r.text, environment);
    std::string source = fmt::format("{} in {}, its ERB evaluated by ruby", t.key, where);
    if (auto millis = timeout_millis(t)) {
      if (t.not_a_number) log(Level::Warn, "config_warning", not_a_number_warning(where, t));
      post(ev::SidekiqTimeoutRead{now(), pid, Duration{*millis}, source});
    } else if (t.unreadable) {
      log(Level::Warn, "config_warning",
          fmt::format("stop.sidekiq_timeout: {}, its ERB evaluated by ruby, is not YAML quiesce "
                      "can read ({})",
                      where, t.problem));
    } else {
      post(ev::SidekiqTimeoutRead{now(), pid, defaults::kSidekiqTimeout,
                                  fmt::format("no :timeout in {} once ruby evaluated its ERB: "
                                              "Sidekiq's default",
                                              where)});
    }
  });
}

void Supervisor::carry_out(const act::Tell& a) {
  sink_.tell(a.fact);
  if (captured_) captured_->push_back(a.fact);
  if (const auto* drained = std::get_if<fact::QuietDrained>(&a.fact)) run_on_drained(*drained);
  if (!quiet_waiters_.empty()) tell_quiet_waiters(a.fact);
}

// ---- the control socket ----------------------------------------------------

void Supervisor::start_control() {
  control_ = std::make_unique<ControlServer>(
      &loop_,
      [this](const ControlRequest& request, ControlServer::Reply reply) {
        uv::guard("a control request", [&] { on_control(request, reply); });
      },
      [this](LogLine line) { sink_.write(line); });
  auto candidates = control_socket_candidates(
      config_.control_socket,
      [](const char* name) { return static_cast<const char*>(std::getenv(name)); }, geteuid());
  control_->listen(candidates);
  if (config_.http_listen.empty()) return;
  http_ = std::make_unique<HttpServer>(
      &loop_,
      [this](const ControlRequest& request, HttpServer::Answer answer) {
        uv::guard("an HTTP probe", [&] {
          if (request.command == ControlRequest::Command::Status) return answer_status(answer);
          if (request.command == ControlRequest::Command::Health) {
            return answer_health(request.ready, answer);
          }
        });
      },
      [this](LogLine line) { sink_.write(line); });
  http_->listen(config_.http_listen);
}

void Supervisor::on_control(const ControlRequest& request, ControlServer::Reply reply) {
  switch (request.command) {
    case ControlRequest::Command::Status:
      return answer_status([reply](const std::string& line) { reply.send(line, true); });
    case ControlRequest::Command::Health:
      return answer_health(request.ready,
                           [reply](const std::string& line) { reply.send(line, true); });
    case ControlRequest::Command::Quiet:
      return answer_quiet(request, reply);
    case ControlRequest::Command::Restart:
      return answer_restart(reply);
  }
}

// A request's event, stepped now: what the machine said while deciding is
// the answer.
std::vector<Fact> Supervisor::post_and_hear(Event event) {
  std::vector<Fact> facts;
  captured_ = &facts;
  post(std::move(event));
  captured_ = nullptr;
  return facts;
}

void Supervisor::answer_restart(ControlServer::Reply reply) {
  std::vector<Fact> facts = post_and_hear(ev::RestartRequested{now(), wall_now()});
  nlohmann::json j = {{"ok", true}};
  for (const Fact& f : facts) {
    LogLine line = word(f);
    if (std::holds_alternative<fact::QuietRefused>(f)) {
      j = {{"ok", false}, {"event", "restart_refused"}, {"error", line.message}};
      break;
    }
    j["said"].push_back(line.message);
  }
  reply.send(reply_text(j), true);
}

void Supervisor::carry_out(const act::Respawn&) {
  int group_error = 0;
  pid_t pid = spawn_child(config_.command, &group_error);
  if (pid < 0) {
    post(ev::Respawned{now(), -1, strerror(errno)});
    return;
  }
  if (group_error != 0) {
    log(Level::Warn, "setpgid_failed",
        fmt::format("cannot put pid {} in its own process group: {}", pid, strerror(group_error)));
  }
  main_pid_ = pid;
  post(ev::Respawned{now(), pid, ""});
}

// With --drain never there is no Redis and no Sidekiq handling: the
// machine's view alone, at once.
void Supervisor::look(Duration limit, std::function<void(const Observation&)> done) {
  if (observer_) return observer_->look(getpid(), limit, std::move(done));
  Observation none;
  none.at = wall_now();
  done(none);
}

void Supervisor::answer_status(Answer reply) {
  look(config_.redis_command_timeout, [this, reply](const Observation& o) {
    reply(reply_text(status_json({machine_.view(), o, config_, now()})));
  });
}

void Supervisor::answer_health(bool ready, Answer reply) {
  look(kHealthLookLimit, [this, ready, reply](const Observation& o) {
    HealthVerdict verdict = judge_health(health_input({machine_.view(), o, config_, now()}, ready));
    reply(reply_text({{"ok", verdict.ok}, {"reason", verdict.reason}}));
  });
}

void Supervisor::answer_quiet(const ControlRequest& request, ControlServer::Reply reply) {
  std::vector<Fact> facts = post_and_hear(
      ev::QuietRequested{now(), wall_now(), request.exit_when_drained, QuietSource::Command});
  for (const Fact& f : facts) {
    if (std::holds_alternative<fact::QuietRefused>(f) ||
        std::holds_alternative<fact::NothingToQuiet>(f)) {
      LogLine line = word(f);
      nlohmann::json j = {{"ok", false}, {"event", line.event}, {"error", line.message}};
      reply.send(reply_text(j), true);
      return;
    }
  }
  auto view = machine_.view();
  bool drained = view.quiet_drained || view.phase == StopMachine::Phase::Terminating;
  nlohmann::json j = {{"ok", true},
                      {"event", "quiet_started"},
                      {"phase", phase_name(view.phase)},
                      {"exit_when_drained", view.quiet_exit_when_drained},
                      {"drained", drained}};
  for (const Fact& f : facts) {
    LogLine line = word(f);
    j["said"].push_back(line.message);
  }
  bool keep = request.wait && !drained;
  reply.send(reply_text(j), !keep);
  if (keep) quiet_waiters_.push_back(reply);
}

// The operator's command, once a quiet (not a restart) has drained: with
// the drain in its environment, its output in the log.
void Supervisor::run_on_drained(const fact::QuietDrained& drained) {
  if (config_.on_drained.empty() || drained.restart) return;
  std::vector<std::string> env = own_environment();
  env.push_back(fmt::format("QUIESCE_DRAIN_SECONDS={:.1f}",
                            static_cast<double>(drained.took.count()) / 1000.0));
  env.push_back(fmt::format("QUIESCE_DRAIN_JOBS_FINISHED={}", drained.jobs_finished));
  env.push_back(fmt::format("QUIESCE_DRAIN_PROCESSES={}", drained.processes));
  env.push_back(fmt::format("QUIESCE_SIDEKIQ_IDENTITIES={}", fmt::join(drained.identities, " ")));
  env.push_back(fmt::format("QUIESCE_EXIT_WHEN_DRAINED={}", drained.exiting ? 1 : 0));
  // Built whole: assigning short literals to its strings one by one trips
  // GCC 12's -Wrestrict false positive in the static build.
  HelperRequest request{.argv = config_.on_drained,
                        .env = std::move(env),
                        .dir = std::string("."),
                        .limit = kOnDrainedLimit,
                        .what = std::string("on_drained"),
                        .stderr_too = true};
  std::string command = fmt::format("{}", fmt::join(config_.on_drained, " "));
  log(Level::Info, "on_drained", "running on_drained: " + command);
  hooks_->start(std::move(request), [this, command](const HelperResult& r) {
    std::string_view out = r.output;
    while (!out.empty()) {
      auto end = out.find('\n');
      std::string_view one = out.substr(0, end);
      if (!one.empty()) {
        sink_.write(make_log(Level::Info, "on_drained_output", std::string(one)));
      }
      if (end == std::string_view::npos) break;
      out.remove_prefix(end + 1);
    }
    if (r.problem.empty()) {
      log(Level::Info, "on_drained_done", command + " finished");
    } else {
      log(Level::Warn, "on_drained_failed", r.problem);
    }
  });
}

// quiet --wait clients hear the drain as the log does, in the same words,
// until it ends one way or another.
void Supervisor::tell_quiet_waiters(const Fact& fact) {
  bool relevant = std::holds_alternative<fact::DrainProgress>(fact) ||
                  std::holds_alternative<fact::TstpSent>(fact) ||
                  std::holds_alternative<fact::SidekiqFound>(fact);
  bool final = std::holds_alternative<fact::QuietDrained>(fact) ||
               std::holds_alternative<fact::NothingToQuiet>(fact) ||
               std::holds_alternative<fact::StopPlanned>(fact) ||
               std::holds_alternative<fact::Exiting>(fact);
  if (!relevant && !final) return;
  LogLine line = word(fact);
  nlohmann::json j = {{"event", line.event}, {"message", line.message}, {"fields", line.fields}};
  if (final) {
    j["ok"] = std::holds_alternative<fact::QuietDrained>(fact);
    j["done"] = true;
  }
  std::string text = reply_text(j);
  for (const auto& waiter : quiet_waiters_) waiter.send(text, final);
  if (final) quiet_waiters_.clear();
  std::erase_if(quiet_waiters_, [](const ControlServer::Reply& r) { return !r.connected(); });
}

void Supervisor::carry_out(const act::Exit& a) {
  exit_code_ = a.code;
  events_.close();
  uv_stop(&loop_);
}

}  // namespace quiesce
