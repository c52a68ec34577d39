// Echoes every signal it receives, one line each, so tests can count
// deliveries exactly.
//
//   sigecho [--group]
//
// Prints "child ready <pid>", then "child <signo>" per signal. With --group it
// first forks a grandchild (same process group) that does the same under
// the name "grandchild". A line "quit" (or EOF) on stdin ends it: each process
// reports the signals still pending, prints "<role> bye" and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char* role, const char* what) {
  char line[128];
  int n = snprintf(line, sizeof line, "%s %s\n", role, what);
  // One write per line: lines from both processes share a pipe and must not
  // interleave.
  if (write(STDOUT_FILENO, line, (size_t)n) != n) _exit(3);
}

static int open_signalfd(void) {
  sigset_t all;
  sigfillset(&all);
  // Synchronous signals stay deliverable so a crash is still a crash.
  const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
  for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++) {
    sigdelset(&all, synchronous[i]);
  }
  if (sigprocmask(SIG_BLOCK, &all, NULL) != 0) {
    perror("sigecho: sigprocmask");
    exit(4);
  }
  int fd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) {
    perror("sigecho: signalfd");
    exit(4);
  }
  return fd;
}

static void echo_pending(const char* role, int sfd) {
  struct signalfd_siginfo info;
  while (read(sfd, &info, sizeof info) == (ssize_t)sizeof info) {
    // A CHLD the kernel sends for our own grandchild is not a delivery; one
    // sent with kill() is, and quiesce must never pass that on.
    if (info.ssi_signo == SIGCHLD && info.ssi_code > 0) continue;
    char num[16];
    snprintf(num, sizeof num, "%u", info.ssi_signo);
    say(role, num);
  }
}

// Echoes signals until `control` reports "quit" or EOF (control == stdin) or
// simply EOF (control == the pipe from the parent).
static void echo_loop(const char* role, int sfd, int control) {
  char buf[256];
  size_t used = 0;
  for (;;) {
    struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = control, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("sigecho: poll");
      exit(4);
    }
    if (fds[0].revents & POLLIN) echo_pending(role, sfd);
    if (!(fds[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t n = read(control, buf + used, sizeof buf - used - 1);
    if (n <= 0) return;
    used += (size_t)n;
    buf[used] = '\0';
    if (strstr(buf, "quit")) return;
    if (used == sizeof buf - 1) used = 0;
  }
}

int main(int argc, char** argv) {
  int group = argc > 1 && strcmp(argv[1], "--group") == 0;
  int sfd = open_signalfd();
  char ready[32];
  snprintf(ready, sizeof ready, "ready %d", (int)getpid());

  pid_t grandchild = -1;
  int to_grandchild = -1;
  if (group) {
    int p[2];
    if (pipe(p) != 0) {
      perror("sigecho: pipe");
      return 4;
    }
    grandchild = fork();
    if (grandchild < 0) {
      perror("sigecho: fork");
      return 4;
    }
    if (grandchild == 0) {
      if (close(p[1]) != 0) perror("sigecho: close");
      snprintf(ready, sizeof ready, "ready %d", (int)getpid());
      say("grandchild", ready);
      echo_loop("grandchild", sfd, p[0]);
      echo_pending("grandchild", sfd);
      say("grandchild", "bye");
      _exit(0);
    }
    if (close(p[0]) != 0) perror("sigecho: close");
    to_grandchild = p[1];
  }

  say("child", ready);
  echo_loop("child", sfd, STDIN_FILENO);
  if (group) {
    if (close(to_grandchild) != 0) perror("sigecho: close");
    while (waitpid(grandchild, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  echo_pending("child", sfd);
  say("child", "bye");
  return 0;
}
