// Ends in a chosen way.
//
//   exitwith CODE       exit with status CODE
//   exitwith -s SIGNAL  die of signal number SIGNAL
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int die_of(int sig) {
  // No core files from the signals whose default action dumps core.
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) perror("exitwith: setrlimit");
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  if (sigaction(sig, &dfl, NULL) != 0) perror("exitwith: sigaction");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  if (sigprocmask(SIG_UNBLOCK, &set, NULL) != 0) perror("exitwith: sigprocmask");
  if (kill(getpid(), sig) != 0) perror("exitwith: kill");
  fprintf(stderr, "exitwith: still alive after signal %d\n", sig);
  return 99;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "-s") == 0) return die_of(atoi(argv[2]));
  if (argc == 2) return atoi(argv[1]);
  fprintf(stderr, "usage: exitwith CODE | exitwith -s SIGNAL\n");
  return 98;
}
