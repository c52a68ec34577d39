// The child under each init: it records, on CLOCK_MONOTONIC, the moment each
// SIGUSR1 reaches it and writes that instant to stdout as one native int64 of
// nanoseconds. A first record of 0 says the signal mask is in place, so the
// bench never sends before the child can take the signal.
//
// sigwaitinfo() rather than a handler: the wake-up path is then the same for
// every init, and the timestamp is taken as soon as the kernel hands over.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int write_record(int64_t value) {
  const char* p = (const char*)&value;
  size_t left = sizeof value;
  while (left > 0) {
    ssize_t n = write(STDOUT_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    left -= (size_t)n;
  }
  return 0;
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void) {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &usr1, NULL) != 0) {
    perror("sigstamp: sigprocmask");
    return 1;
  }
  if (write_record(0) != 0) {
    perror("sigstamp: write");
    return 1;
  }
  for (;;) {
    if (sigwaitinfo(&usr1, NULL) < 0) {
      if (errno == EINTR) continue;
      perror("sigstamp: sigwaitinfo");
      return 1;
    }
    // The bench has gone away when the pipe is closed; nothing left to do.
    if (write_record(monotonic_ns()) != 0) return 0;
  }
}
