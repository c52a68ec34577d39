#pragma once
// Runs Ruby on a sidekiq.yml that holds ERB, the way Sidekiq's cli.rb
// evaluates it, in the background: never on the path of the main child's
// start or of a stop, bounded in time, its output capped. The Ruby process
// is quiesce's own child: the supervisor hands every reaped pid to
// reaped() first, so it is never taken for the main child or for Sidekiq.
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "quiesce/core/time.hpp"
#include "quiesce/pid1/helper_processes.hpp"
#include "quiesce/sidekiq/ruby.hpp"

namespace quiesce {

class ErbEvaluator {
 public:
  struct Request {
    std::string ruby;              // the interpreter's path
    std::string file;              // the file to evaluate, as quiesce can open it
    std::string dir;               // the working directory Sidekiq has
    std::vector<std::string> env;  // Sidekiq's environment, KEY=VALUE
  };
  using Done = std::function<void(const ErbResult&)>;

  ErbEvaluator(uv_loop_t* loop, Duration limit);
  ~ErbEvaluator();
  ErbEvaluator(const ErbEvaluator&) = delete;
  ErbEvaluator& operator=(const ErbEvaluator&) = delete;

  // done runs once, on the loop: with the YAML text, or with the problem
  // (Ruby failed, wrote too much, or was not done within the limit).
  void start(Request request, Done done);
  // True when pid was one of ours (its status is then taken here).
  bool reaped(pid_t pid, int status);
  bool running() const { return helpers_.running(); }
  // Kills what still runs; no callback after this.
  void close();

 private:
  Duration limit_;
  HelperProcesses helpers_;
};

}  // namespace quiesce
