#include "quiesce/pid1/erb_evaluator.hpp"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "quiesce/pid1/spawn.hpp"
#include "quiesce/uv/fault.hpp"
#include "quiesce/uv/timer.hpp"

namespace quiesce {
namespace {

// sidekiq.yml is capped at 1 MiB where quiesce reads it; its ERB output too.
constexpr std::size_t kMaxOutput = (1 << 20) + 16;

struct PollBox {
  uv_poll_t handle{};
  std::function<void()> on_readable;
};

}  // namespace

struct ErbEvaluator::Job {
  pid_t pid = 0;
  int fd = -1;
  PollBox* poll = nullptr;
  uv::TimerHandle timer;
  std::string out;
  bool eof = false;
  bool exited = false;
  bool timed_out = false;
  bool too_long = false;
  int status = 0;
  Done done;

  void stop_reading() {
    if (poll) {
      uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle),
               [](uv_handle_t* h) { delete reinterpret_cast<PollBox*>(h); });
      poll = nullptr;
    }
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ~Job() {
    stop_reading();
    timer.close();
  }
};

ErbEvaluator::ErbEvaluator(uv_loop_t* loop, Duration limit) : loop_(loop), limit_(limit) {}

ErbEvaluator::~ErbEvaluator() {
  close();
}

void ErbEvaluator::start(Request request, Done done) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    done({false, fmt::format("cannot make a pipe for ruby: {}", strerror(errno))});
    return;
  }
  std::vector<std::string> argv{request.ruby, "-e", std::string(erb_program()), request.file};
  pid_t pid = spawn_helper(argv, request.env, request.dir, fds[1]);
  int fork_error = errno;
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    done({false, fmt::format("cannot start ruby: {}", strerror(fork_error))});
    return;
  }
  auto job = std::make_unique<Job>();
  job->pid = pid;
  job->fd = fds[0];
  job->done = std::move(done);
  auto* box = new PollBox;
  if (int rc = uv_poll_init(loop_, &box->handle, fds[0]); rc != 0) {
    delete box;
    // The child is still reaped by the supervisor, and recognised: only
    // its output is lost.
    job->eof = true;
  } else {
    job->poll = box;
    box->handle.data = box;
    box->on_readable = [this, pid] {
      auto it = jobs_.find(pid);
      if (it == jobs_.end()) return;
      Job& j = *it->second;
      char buf[16384];
      for (;;) {
        ssize_t n = read(j.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
          j.eof = true;
          j.stop_reading();
          break;
        }
        j.out.append(buf, static_cast<std::size_t>(n));
        if (j.out.size() > kMaxOutput) {
          j.too_long = true;
          j.eof = true;
          j.stop_reading();
          kill(-j.pid, SIGKILL);
          kill(j.pid, SIGKILL);
          break;
        }
      }
      finish(pid);
    };
    if (int rc = uv_poll_start(&box->handle, UV_READABLE | UV_DISCONNECT,
                               [](uv_poll_t* h, int, int) {
                                 auto* b = reinterpret_cast<PollBox*>(h->data);
                                 uv::guard("reading ruby's output", [b] { b->on_readable(); });
                               });
        rc != 0) {
      job->eof = true;
      job->stop_reading();
    }
  }
  job->timer = uv::TimerHandle(loop_, "ruby's time limit");
  job->timer->start(limit_, [this, pid] {
    auto it = jobs_.find(pid);
    if (it == jobs_.end()) return;
    it->second->timed_out = true;
    it->second->stop_reading();
    kill(-pid, SIGKILL);  // ruby and whatever its ERB started
    kill(pid, SIGKILL);
    finish(pid);
  });
  jobs_[pid] = std::move(job);
}

bool ErbEvaluator::reaped(pid_t pid, int status) {
  auto it = jobs_.find(pid);
  if (it == jobs_.end()) return false;
  it->second->exited = true;
  it->second->status = status;
  finish(pid);
  return true;
}

// Done once Ruby has exited (so its pid is free of any confusion) and its
// output is read, or it ran out of time.
void ErbEvaluator::finish(pid_t pid) {
  auto it = jobs_.find(pid);
  if (it == jobs_.end()) return;
  Job& j = *it->second;
  if (!j.exited || !(j.eof || j.timed_out)) return;
  ErbResult result;
  if (j.timed_out) {
    result.text = fmt::format("ruby did not answer within {}", format_duration(limit_));
  } else if (j.too_long) {
    result.text = "ruby's output is over 1 MiB";
  } else {
    result = read_erb_output(j.out);
    if (!result.ok && j.out.empty()) {
      result.text =
          WIFSIGNALED(j.status)
              ? fmt::format("ruby was killed by signal {}", WTERMSIG(j.status))
              : fmt::format("ruby exited with code {} and no answer", WEXITSTATUS(j.status));
    }
  }
  Done done = std::move(j.done);
  jobs_.erase(it);
  if (done) done(result);
}

void ErbEvaluator::close() {
  for (auto& [pid, job] : jobs_) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  jobs_.clear();
}

}  // namespace quiesce
