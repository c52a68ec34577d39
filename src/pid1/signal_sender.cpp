#include "quiesce/pid1/signal_sender.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "quiesce/procfs/process_table.hpp"

namespace quiesce {
namespace {

void deliver(pid_t target, int signo, bool list, SendReport& report) {
  if (kill(target, signo) == 0) {
    if (list) report.delivered.push_back(target);
  } else if (errno != ESRCH) {  // gone already: nothing to tell
    report.failures.push_back(fmt::format("pid {}: {}", target, strerror(errno)));
  }
}

std::vector<pid_t> descendants(SendReport& report) {
  std::vector<pid_t> pids;
  std::string problem;
  for (const auto& p : descendants_of(getpid(), scan_processes("/proc", &problem))) {
    if (!p.zombie) pids.push_back(p.pid);
  }
  if (!problem.empty()) report.failures.push_back("finding the descendants: " + problem);
  return pids;
}

}  // namespace

SendReport send_signal(const act::Signal& action, pid_t main_pid, bool list_delivered) {
  SendReport report;
  using To = act::Signal::To;
  switch (action.to) {
    case To::Child:
      deliver(main_pid, action.signo, list_delivered, report);
      break;
    case To::ChildGroup:
      deliver(-main_pid, action.signo, list_delivered, report);
      break;
    case To::Pids:
      for (pid_t p : action.pids) deliver(p, action.signo, list_delivered, report);
      break;
    case To::Descendants:
      // As PID 1 the namespace is exactly our descendants, and kill(-1) reaches
      // them all at once, including any forked while we would be scanning.
      if (getpid() == 1) {
        // ESRCH: nothing else runs in the namespace.
        if (kill(-1, action.signo) != 0 && errno != ESRCH) {
          report.failures.push_back(fmt::format("every process: {}", strerror(errno)));
        }
        if (list_delivered) report.delivered = descendants(report);
      } else {
        for (pid_t p : descendants(report)) deliver(p, action.signo, list_delivered, report);
      }
      break;
  }
  return report;
}

}  // namespace quiesce
