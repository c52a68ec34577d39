// A process that outlives its parent and has work to finish on TERM.
//
//   termwork MARKER           on TERM, work 2 s, then exit 0
//   termwork MARKER --ignore  ignore TERM for ever
//
// Prints "termwork ready <pid>" once set up. Appends to MARKER one line per
// TERM or CONT received and "finished" when the work is done, so a test can
// tell what reached it and whether it was allowed to finish.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char* marker;

static void note(const char* what) {
  int fd = open(marker, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) _exit(4);
  char line[64];
  int n = snprintf(line, sizeof line, "%s\n", what);
  if (write(fd, line, (size_t)n) != n) _exit(4);
  if (close(fd) != 0) _exit(4);
}

static void note_signal(int sig) {
  note(sig == SIGTERM ? "TERM" : "CONT");
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void announce(void) {
  printf("termwork ready %d\n", (int)getpid());
  fflush(stdout);
}

static int ignore_forever(void) {
  if (signal(SIGTERM, SIG_IGN) == SIG_ERR) perror("termwork: signal");
  note("ignoring");
  announce();
  for (;;) pause();
  return 0;
}

static int work_after_term(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCONT);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) perror("termwork: sigprocmask");
  announce();
  int sig;
  do {
    sig = sigwaitinfo(&set, NULL);
    if (sig > 0) note_signal(sig);
  } while (sig != SIGTERM);
  // The "work": two seconds during which later signals are only recorded.
  double until = now() + 2.0;
  for (double left = until - now(); left > 0; left = until - now()) {
    struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
    sig = sigtimedwait(&set, NULL, &ts);
    if (sig > 0) note_signal(sig);
  }
  note("finished");
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: termwork MARKER [--ignore]\n");
    return 4;
  }
  marker = argv[1];
  if (argc > 2 && strcmp(argv[2], "--ignore") == 0) return ignore_forever();
  return work_after_term();
}
