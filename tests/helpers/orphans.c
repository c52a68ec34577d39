// Makes orphans for the reaper to collect.
//
//   orphans N [CODE]
//
// Forks N children; each forks a grandchild and exits at once, so the
// grandchild is re-parented to the nearest reaper while still alive and then
// exits there. Prints "orphans done N" once every child is gone, then waits
// for "quit" or EOF on stdin and exits with CODE (default 0).
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void orphan_once(void) {
  pid_t child = fork();
  if (child < 0) {
    perror("orphans: fork");
    exit(4);
  }
  if (child > 0) {
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
    return;
  }
  pid_t parent = getpid();
  pid_t grandchild = fork();
  if (grandchild == 0) {
    // Outlive the parent so the reaper, not the parent, collects us.
    while (getppid() == parent) sched_yield();
    _exit(0);
  }
  _exit(grandchild < 0 ? 5 : 0);
}

static void wait_for_quit(void) {
  char buf[256];
  size_t used = 0;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf + used, sizeof buf - used - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    used += (size_t)n;
    buf[used] = '\0';
    if (strstr(buf, "quit")) return;
    if (used == sizeof buf - 1) used = 0;
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: orphans N [CODE]\n");
    return 4;
  }
  long n = strtol(argv[1], NULL, 10);
  int code = argc > 2 ? atoi(argv[2]) : 0;
  for (long i = 0; i < n; i++) orphan_once();
  printf("orphans done %ld\n", n);
  fflush(stdout);
  wait_for_quit();
  return code;
}
