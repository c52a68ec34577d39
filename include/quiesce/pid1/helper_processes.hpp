#pragma once
// quiesce's own short-lived children, beside the workload: Ruby evaluating
// sidekiq.yml's ERB, the operator's on_drained command. Each runs in the
// background, never on the path of a signal or a deadline, bounded in time
// (then SIGKILLed with whatever it started), its output captured and
// capped. The supervisor hands every reaped pid to reaped() first, so a
// helper is never taken for the main child or for Sidekiq.
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quiesce/core/time.hpp"

namespace quiesce {

struct HelperRequest {
  std::vector<std::string> argv;  // argv[0] is run as given (a path, or found on PATH)
  std::vector<std::string> env;   // KEY=VALUE
  std::string dir;                // working directory
  Duration limit{5'000};
  std::string what;         // for messages: "ruby", "on_drained"
  bool stderr_too = false;  // capture stderr with stdout (else /dev/null)
};

struct HelperResult {
  bool started = false;
  bool timed_out = false;
  bool too_long = false;  // wrote more than the cap: killed
  int status = 0;         // waitpid's, once it exited
  std::string output;     // stdout and stderr together
  std::string problem;    // why it could not start, or how it ended badly
};

class HelperProcesses {
 public:
  using Done = std::function<void(const HelperResult&)>;

  HelperProcesses(uv_loop_t* loop, std::size_t max_output);
  ~HelperProcesses();
  HelperProcesses(const HelperProcesses&) = delete;
  HelperProcesses& operator=(const HelperProcesses&) = delete;

  // done runs once, on the loop (or at once when it cannot start).
  void start(HelperRequest request, Done done);
  // True when pid was one of ours (its status is then taken here).
  bool reaped(pid_t pid, int status);
  bool running() const { return !jobs_.empty(); }
  // Kills what still runs; no callback after this.
  void close();

 private:
  struct Job;
  void finish(pid_t pid);
  void on_readable(pid_t pid);

  uv_loop_t* loop_;
  std::size_t max_output_;
  std::map<pid_t, std::unique_ptr<Job>> jobs_;
};

}  // namespace quiesce
