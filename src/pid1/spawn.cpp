#include "quiesce/pid1/spawn.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

namespace quiesce {
namespace {

// Only async-signal-safe calls from here on: the parent may have threads
// (libuv's pool), so the child must not touch malloc or stdio locks.
void write_all(const char* s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, s, len);
    if (n <= 0) return;
    s += n;
    len -= static_cast<size_t>(n);
  }
}

void reset_signals() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int s = 1; s <= SIGRTMAX; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    sigaction(s, &dfl, nullptr);  // EINVAL for glibc's reserved ones is fine
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) {
    write_all("quiesce: cannot unblock signals for the child: it may ignore them\n");
  }
}

// "quiesce: WHAT: REASON" on stderr, as the child reports an exec failure.
void report(const char* what, int err) {
  write_all("quiesce: ");
  write_all(what);
  write_all(": ");
  write_all(strerror(err));  // glibc's strerror is safe for known errno values
  write_all("\n");
}

[[noreturn]] void exec_child(char* const argv[]) {
  // Both parent and child set the group, so neither can act on it first.
  // Failing, the child still runs, in quiesce's group: said, not fatal.
  if (setpgid(0, 0) != 0) report("cannot give the child its own process group", errno);
  // With every signal still blocked, SIGTTOU cannot stop us here.
  if (isatty(STDIN_FILENO) && tcsetpgrp(STDIN_FILENO, getpgrp()) != 0) {
    report("cannot give the child the terminal's foreground", errno);
  }
  reset_signals();
  execvp(argv[0], argv);
  int err = errno;
  write_all("quiesce: cannot run ");
  write_all(argv[0]);
  write_all(": ");
  write_all(strerror(err));
  write_all("\n");
  _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

std::vector<char*> pointers(const std::vector<std::string>& words) {
  std::vector<char*> out;
  out.reserve(words.size() + 1);
  for (const auto& w : words) out.push_back(const_cast<char*>(w.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

pid_t spawn_helper(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::string& dir, int stdout_fd, bool stderr_too) {
  auto args = pointers(argv);
  auto envp = pointers(env);
  pid_t pid = fork();
  if (pid != 0) return pid;
  // The child: async-signal-safe calls only (see write_all).
  setpgid(0, 0);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDERR_FILENO);
  }
  dup2(stdout_fd, STDOUT_FILENO);
  if (stderr_too) dup2(stdout_fd, STDERR_FILENO);
  reset_signals();
  if (chdir(dir.c_str()) != 0) _exit(126);
  if (std::strchr(args[0], '/')) {
    execve(args[0], args.data(), envp.data());
  } else {
    execvpe(args[0], args.data(), envp.data());
  }
  _exit(127);
}

pid_t spawn_child(const std::vector<std::string>& command, int* group_error) {
  *group_error = 0;
  std::vector<char*> argv;
  argv.reserve(command.size() + 1);
  for (const auto& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid == 0) exec_child(argv.data());
  // EACCES once the child has exec'd, ESRCH once it has exited: it set its
  // group itself, or is gone. Anything else is for the caller to say.
  if (pid > 0 && setpgid(pid, pid) != 0 && errno != EACCES && errno != ESRCH) {
    *group_error = errno;
  }
  return pid;
}

}  // namespace quiesce
