#pragma once
// The decisions of quiesce, and nothing else. Events go in (a signal came, a
// child was reaped, a timer fired, the probes saw something), actions come
// out (send a signal, arm a timer, log, exit). No clock, no syscalls: time
// arrives inside the events, so tests drive every path with a fake clock,
// and supervisor.cpp only carries events in and actions out.
#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "quiesce/config.hpp"
#include "quiesce/drain_reading.hpp"
#include "quiesce/log_line.hpp"
#include "quiesce/time.hpp"

namespace quiesce {

struct MachineConfig {
  bool process_group = false;
  std::set<int> remap_exit;
  std::map<int, int> rewrite;
  bool warn_on_reap = false;
  // Debug lines on the forwarding path are not even built unless wanted:
  // they would sit between a signal's arrival and its delivery.
  int verbosity = 4;
  Duration exit_grace{30'000};
  DrainMode drain = DrainMode::Auto;
  bool command_runs_sidekiq = false;  // decides the fallback to the main child in auto mode
  Duration stop_timeout{30'000};      // B
  Duration sidekiq_timeout{25'000};   // T
  Duration shutdown_margin{5'000};    // M

  static MachineConfig from(const Config& config, bool command_runs_sidekiq);
};

enum class TimerId { Term, Kill, Grace, Wrapper };

namespace ev {
struct Started {
  Instant now;
  pid_t main_pid = 0;
};
struct SignalReceived {
  Instant now;
  WallSeconds wall = 0;
  int signo = 0;
};
struct Reaped {
  Instant now;
  std::vector<std::pair<pid_t, int>> exited;  // pid, waitpid status
  bool others_remain = false;                 // quiesce still has descendants
};
struct TimerFired {
  Instant now;
  TimerId id = TimerId::Term;
};
struct SidekiqsFound {
  Instant now;
  std::vector<FoundProcess> found;
  bool first_scan = false;  // the synchronous /proc scan made right after FindSidekiqs
};
struct Readings {
  Instant now;
  std::vector<ProcessReading> readings;
};
}  // namespace ev

using Event = std::variant<ev::Started, ev::SignalReceived, ev::Reaped, ev::TimerFired,
                           ev::SidekiqsFound, ev::Readings>;

namespace act {
struct Signal {
  enum class To { Child, ChildGroup, Pids, Descendants };
  To to = To::Child;
  std::vector<pid_t> pids;  // with To::Pids
  int signo = 0;
};
struct ArmTimer {
  TimerId id = TimerId::Term;
  Instant at;
};
struct CancelTimer {
  TimerId id = TimerId::Term;
};
// Find this container's Sidekiq processes: answer with SidekiqsFound at once
// from /proc (first_scan), and again later if Redis knows more (in_redis).
struct FindSidekiqs {
  bool in_redis = true;
};
struct Watch {
  std::vector<FoundProcess> targets;
  WallSeconds since = 0;  // t0 on the wall clock
};
struct StopWatching {};
struct Log {
  LogLine line;
};
struct Exit {
  int code = 0;
};
}  // namespace act

using Action = std::variant<act::Signal, act::ArmTimer, act::CancelTimer, act::FindSidekiqs,
                            act::Watch, act::StopWatching, act::Log, act::Exit>;

class StopMachine {
 public:
  enum class Phase {
    Running,      // no stop yet: signals are forwarded
    Finding,      // SIGTERM came; waiting for the first scan
    Draining,     // TSTP sent; watching busy counts
    Terminating,  // TERM sent; Sidekiq finishes or requeues within T
    Forwarding,   // SIGTERM came but no Sidekiq: passed on as tini would
    Exited,
  };

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
    bool alive = true;
    bool drained = false;
    WallSeconds last_beat = 0;
    std::optional<int> heartbeat_busy;
    std::vector<InFlightJob> jobs;
    std::optional<TitleReading> last_title;
  };

  void on(const ev::Started& e);
  void on(const ev::SignalReceived& e);
  void on(const ev::Reaped& e);
  void on(const ev::TimerFired& e);
  void on(const ev::SidekiqsFound& e);
  void on(const ev::Readings& e);

  bool is_stop_signal(int signo) const;
  bool stop_active() const;
  void begin_stop(const ev::SignalReceived& e);
  void log_plan();
  void forward(int signo, Instant now);
  void track(const std::vector<FoundProcess>& found, Instant now);
  void fall_back_when_nothing_found(Instant now);
  void send_term(Instant now, const char* reason);
  void update_from_reading(Tracked& t, const ProcessReading& r, bool& progressed);
  void log_progress(Instant now);
  void check_drained(Instant now);
  void find_again(Instant now);
  void after_sidekiq_gone(Instant now);
  void term_wrapper(Instant now);
  void main_exited_with(int status, Instant now);
  void maybe_exit(bool others_remain, Instant now);
  void start_grace(Instant now);
  void kill_everything(Instant now, const char* why);
  void exit_now(int code, Instant now);
  int main_exit_code() const;
  std::vector<pid_t> live_targets() const;
  void log(Level level, std::string event, std::string message,
           nlohmann::json fields = nlohmann::json::object());
  void emit(Action action) { out_.push_back(std::move(action)); }

  MachineConfig config_;
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
  std::string term_reason_;
  std::map<pid_t, Tracked> tracked_;

  std::vector<Action> out_;
};

}  // namespace quiesce
