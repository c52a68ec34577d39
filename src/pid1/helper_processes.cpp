#include "quiesce/pid1/helper_processes.hpp"

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

struct PollBox {
  uv_poll_t handle{};
  std::function<void()> on_readable;
};

// The helper and whatever it started (it leads its own process group).
void kill_helper(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
}

}  // namespace

struct HelperProcesses::Job {
  pid_t pid = 0;
  int fd = -1;
  PollBox* poll = nullptr;
  uv::TimerHandle timer;
  HelperRequest request;
  HelperResult result;
  bool eof = false;
  bool exited = false;
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

HelperProcesses::HelperProcesses(uv_loop_t* loop, std::size_t max_output)
    : loop_(loop), max_output_(max_output) {}

HelperProcesses::~HelperProcesses() {
  close();
}

void HelperProcesses::start(HelperRequest request, Done done) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    done({false, false, false, 0, "",
          fmt::format("cannot make a pipe for {}: {}", request.what, strerror(errno))});
    return;
  }
  pid_t pid = spawn_helper(request.argv, request.env, request.dir, fds[1], request.stderr_too);
  int fork_error = errno;
  if (::close(fds[1]) != 0) fork_error = fork_error ? fork_error : errno;
  if (pid < 0) {
    ::close(fds[0]);
    done({false, false, false, 0, "",
          fmt::format("cannot start {}: {}", request.what, strerror(fork_error))});
    return;
  }
  auto job = std::make_unique<Job>();
  job->pid = pid;
  job->fd = fds[0];
  job->done = std::move(done);
  job->result.started = true;
  auto* box = new PollBox;
  if (uv_poll_init(loop_, &box->handle, fds[0]) != 0) {
    delete box;
    // The child is still reaped and recognised: only its output is lost.
    job->eof = true;
  } else {
    job->poll = box;
    box->handle.data = box;
    box->on_readable = [this, pid] { on_readable(pid); };
    if (uv_poll_start(&box->handle, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int, int) {
          auto* b = reinterpret_cast<PollBox*>(h->data);
          uv::guard("reading a helper's output", [b] { b->on_readable(); });
        }) != 0) {
      job->eof = true;
      job->stop_reading();
    }
  }
  job->timer = uv::TimerHandle(loop_, "a helper's time limit");
  job->timer->start(request.limit, [this, pid] {
    auto it = jobs_.find(pid);
    if (it == jobs_.end()) return;
    it->second->result.timed_out = true;
    it->second->stop_reading();
    kill_helper(pid);
    finish(pid);
  });
  job->request = std::move(request);
  jobs_[pid] = std::move(job);
}

void HelperProcesses::on_readable(pid_t pid) {
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
    j.result.output.append(buf, static_cast<std::size_t>(n));
    if (j.result.output.size() > max_output_) {
      j.result.too_long = true;
      j.eof = true;
      j.stop_reading();
      kill_helper(j.pid);
      break;
    }
  }
  finish(pid);
}

bool HelperProcesses::reaped(pid_t pid, int status) {
  auto it = jobs_.find(pid);
  if (it == jobs_.end()) return false;
  it->second->exited = true;
  it->second->result.status = status;
  finish(pid);
  return true;
}

// Done once the helper has exited (so its pid is free of any confusion) and
// its output is read, or it ran out of time.
void HelperProcesses::finish(pid_t pid) {
  auto it = jobs_.find(pid);
  if (it == jobs_.end()) return;
  Job& j = *it->second;
  if (!j.exited || !(j.eof || j.result.timed_out)) return;
  HelperResult result = std::move(j.result);
  const HelperRequest& r = j.request;
  if (result.timed_out) {
    result.problem = fmt::format("{} did not finish within {}", r.what, format_duration(r.limit));
  } else if (result.too_long) {
    result.problem = fmt::format("{} wrote more than {} bytes", r.what, max_output_);
  } else if (WIFSIGNALED(result.status)) {
    result.problem = fmt::format("{} was killed by signal {}", r.what, WTERMSIG(result.status));
  } else if (WEXITSTATUS(result.status) != 0) {
    result.problem = fmt::format("{} exited with code {}", r.what, WEXITSTATUS(result.status));
  }
  Done done = std::move(j.done);
  jobs_.erase(it);
  if (done) done(result);
}

void HelperProcesses::close() {
  for (auto& [pid, job] : jobs_) kill_helper(pid);
  jobs_.clear();
}

}  // namespace quiesce
