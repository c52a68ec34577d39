// A baseline, not an init to use: the least a PID 1 can do to forward signals
// from a signalfd watched by epoll, as quiesce's libuv loop does. Measured
// beside tini (`pid1_bench.py --epoll-baseline`), it shows what the epoll and
// signalfd wake-up path costs by itself, apart from libuv and quiesce's code.
// It forwards every signal to the child and exits with the child's status.
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int first = 1;
  while (first < argc && strcmp(argv[first], "--") != 0) first++;
  if (++first >= argc) return 2;

  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  int sfd = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event watch = {.events = EPOLLIN};
  if (sfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &watch) != 0) return 1;

  pid_t child = fork();
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    execvp(argv[first], argv + first);
    _exit(127);
  }
  for (;;) {
    struct epoll_event ready;
    if (epoll_wait(ep, &ready, 1, -1) <= 0) continue;
    struct signalfd_siginfo info[16];
    ssize_t n = read(sfd, info, sizeof info);
    for (ssize_t i = 0; i < n / (ssize_t)sizeof info[0]; i++) {
      if (info[i].ssi_signo != SIGCHLD) {
        kill(child, (int)info[i].ssi_signo);
        continue;
      }
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
  }
}
