// Makes orphans for the reaper to collect.
//
//   orphans N [CODE]
//
// Starts N children; each starts a grandchild and exits at once, so the
// grandchild is re-parented to the nearest reaper while still alive and then
// exits there. Prints "orphans done N" once every child is gone, then waits
// for "quit" or EOF on stdin and exits with CODE (default 0).
//
// fork() copies page tables and costs milliseconds on some virtual machines;
// clone(CLONE_VM) does not, which keeps a burst of ten thousand quick. The
// clones share our memory, so they run only raw system calls on their own
// stacks.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { STACK_SIZE = 64 * 1024, SLOTS = 64 };

// A grandchild's stack, reusable once the kernel has cleared `tid` (it does
// so when the grandchild exits: CLONE_CHILD_CLEARTID).
struct slot {
  volatile pid_t tid;
  char stack[STACK_SIZE] __attribute__((aligned(16)));
};

static struct slot grandchild_slots[SLOTS];
static char child_stack[STACK_SIZE] __attribute__((aligned(16)));

// Not instrumented: these run on stacks the sanitizers know nothing about.
__attribute__((no_sanitize_address)) static int grandchild_main(void* parent) {
  // Outlive the parent so the reaper, not the parent, collects us.
  while (syscall(SYS_getppid) == (long)(intptr_t)parent) syscall(SYS_sched_yield);
  return 0;
}

__attribute__((no_sanitize_address)) static int child_main(void* slot_ptr) {
  struct slot* slot = slot_ptr;
  void* self = (void*)(intptr_t)syscall(SYS_getpid);
  int flags = CLONE_VM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;
  pid_t tid =
      clone(grandchild_main, slot->stack + STACK_SIZE, flags, self, &slot->tid, NULL, &slot->tid);
  return tid < 0 ? 5 : 0;
}

static void wait_slot_free(struct slot* slot) {
  for (pid_t tid = slot->tid; tid != 0; tid = slot->tid) {
    syscall(SYS_futex, &slot->tid, FUTEX_WAIT, tid, NULL, NULL, 0);
  }
}

static int orphan_once(long i) {
  struct slot* slot = &grandchild_slots[i % SLOTS];
  wait_slot_free(slot);
  pid_t child = clone(child_main, child_stack + STACK_SIZE, CLONE_VM | SIGCHLD, slot);
  if (child < 0) {
    perror("orphans: clone");
    return -1;
  }
  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "orphans: child could not start a grandchild\n");
    return -1;
  }
  return 0;
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
  for (long i = 0; i < n; i++) {
    if (orphan_once(i) != 0) return 4;
  }
  printf("orphans done %ld\n", n);
  fflush(stdout);
  wait_for_quit();
  return code;
}
