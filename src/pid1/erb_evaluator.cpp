#include "quiesce/pid1/erb_evaluator.hpp"

#include <fmt/format.h>
#include <sys/wait.h>

namespace quiesce {
namespace {

// sidekiq.yml is capped at 1 MiB where quiesce reads it; its ERB output too.
constexpr std::size_t kMaxOutput = (1 << 20) + 16;

}  // namespace

ErbEvaluator::ErbEvaluator(uv_loop_t* loop, Duration limit)
    : limit_(limit), helpers_(loop, kMaxOutput) {}

ErbEvaluator::~ErbEvaluator() {
  close();
}

void ErbEvaluator::start(Request request, Done done) {
  HelperRequest helper;
  helper.argv = {request.ruby, "-e", std::string(erb_program()), request.file};
  helper.env = std::move(request.env);
  helper.dir = std::move(request.dir);
  helper.limit = limit_;
  helper.what = "ruby";
  helpers_.start(std::move(helper), [done = std::move(done)](const HelperResult& r) {
    ErbResult result;
    if (!r.started || r.timed_out || r.too_long) {
      result.text = r.problem;
    } else {
      result = read_erb_output(r.output);
      if (!result.ok && r.output.empty()) {
        result.text = r.problem.empty() ? "ruby exited with code 0 and no answer"
                                        : r.problem + " and no answer";
      }
    }
    done(result);
  });
}

bool ErbEvaluator::reaped(pid_t pid, int status) {
  return helpers_.reaped(pid, status);
}

void ErbEvaluator::close() {
  helpers_.close();
}

}  // namespace quiesce
