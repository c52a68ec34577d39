#pragma once
// The effect side of quiesce: libuv turns signals, child exits, timers and
// probe readings into events for the StopMachine, and carries its actions
// out. Nothing in here decides anything.
#include <uv.h>

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "quiesce/config/config.hpp"
#include "quiesce/control/http_server.hpp"
#include "quiesce/control/server.hpp"
#include "quiesce/core/stop_machine.hpp"
#include "quiesce/core/timers.hpp"
#include "quiesce/log/sink.hpp"
#include "quiesce/pid1/event_queue.hpp"
#include "quiesce/pid1/helper_processes.hpp"
#include "quiesce/uv/timer.hpp"

namespace quiesce {

namespace redis {
class Client;
}
class DrainProbe;
class JobRecovery;
class SidekiqObserver;
struct Observation;
class ErbEvaluator;
struct SidekiqFileTimeout;

class Supervisor {
 public:
  Supervisor(Config config, const LogSink& sink);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Spawns the command and runs until the machine says exit; returns the
  // exit code.
  int run();

 private:
  bool open_signal_fd();
  void close_signal_fd();
  void on_signal_fd(int status);
  void read_signals();
  void reap();
  void start_redis(bool connect_now);
  void post(Event event);
  void dispatch(const Event& event);
  void carry_out(const Action& action);
  void carry_out(const act::Signal& a);
  void carry_out(const act::ArmTimer& a);
  void carry_out(const act::CancelTimer& a);
  void carry_out(const act::FindSidekiqs& a);
  void carry_out(const act::Watch& a);
  void carry_out(const act::StopWatching& a);
  void carry_out(const act::ReadWork& a);
  void carry_out(const act::RecoverJobs& a);
  bool oom_kill_since_last_look();
  void carry_out(const act::ReadSidekiqTimeout& a);
  void read_timeout_of(pid_t pid);
  void learn_timeout(pid_t pid, const SidekiqFileTimeout& file, const std::string& where,
                     const std::vector<std::string>& env, const std::string& dir);
  void evaluate_erb(pid_t pid, const std::string& file, const std::string& where,
                    const std::string& environment, const std::vector<std::string>& env,
                    const std::string& dir);
  void carry_out(const act::Tell& a);
  void carry_out(const act::Exit& a);
  void start_control();
  void on_control(const ControlRequest& request, ControlServer::Reply reply);
  // What status and health answer, for the control socket and HTTP alike.
  using Answer = std::function<void(const std::string&)>;
  void look(Duration limit, std::function<void(const Observation&)> done);
  std::vector<Fact> post_and_hear(Event event);
  void answer_status(Answer answer);
  void answer_health(bool ready, Answer answer);
  void answer_quiet(const ControlRequest& request, ControlServer::Reply reply);
  void answer_restart(ControlServer::Reply reply);
  void carry_out(const act::Respawn& a);
  void tell_quiet_waiters(const Fact& fact);
  void run_on_drained(const fact::QuietDrained& drained);
  void on_signal(int signo);
  void log(Level level, const char* event, std::string message);
  Instant now();
  void close_everything();

  Config config_;
  const LogSink& sink_;
  uv_loop_t loop_{};
  int signal_fd_ = -1;
  bool signal_fd_error_logged_ = false;
  uv_poll_t signal_poll_{};
  std::array<uv::TimerHandle, kTimers.size()> timers_;  // one per TimerId
  uv_timer_t close_limit_{};
  StopMachine machine_;
  std::unique_ptr<redis::Client> redis_;
  std::unique_ptr<DrainProbe> probe_;
  std::unique_ptr<JobRecovery> recovery_;
  // status and health read Redis on a connection of their own: an operator
  // asking often never queues behind (or ahead of) the stop's own reads.
  std::unique_ptr<redis::Client> status_redis_;
  std::unique_ptr<SidekiqObserver> observer_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<HttpServer> http_;
  std::vector<ControlServer::Reply> quiet_waiters_;  // quiet --wait clients
  std::vector<Fact>* captured_ = nullptr;            // facts of the step a request caused
  std::optional<long long> oom_kills_;               // the cgroup's count when last read
  WallSeconds started_wall_ = 0;
  std::unique_ptr<ErbEvaluator> erb_;
  std::unique_ptr<HelperProcesses> hooks_;  // on_drained
  std::optional<std::string> ruby_;         // on PATH, for sidekiq.yml's ERB
  pid_t main_pid_ = 0;
  EventQueue events_;
  std::optional<int> exit_code_;
};

}  // namespace quiesce
