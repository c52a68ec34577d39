#include "quiesce/log/fact_words.hpp"

#include <fmt/format.h>
#include <sys/wait.h>

#include "quiesce/core/overload.hpp"
#include "quiesce/core/signal_names.hpp"

namespace quiesce {
namespace {

using json = nlohmann::json;

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by SIG{}", signal_name(WTERMSIG(status)));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

json status_fields(pid_t pid, int status) {
  json f = {{"pid", pid}};
  if (WIFSIGNALED(status)) {
    f["signal"] = signal_name(WTERMSIG(status));
  } else {
    f["code"] = WEXITSTATUS(status);
  }
  return f;
}

// "drained: job threads gone": what decided the drain, after the reason.
std::string drained_by_text(const std::optional<DrainRule>& rule) {
  if (!rule) return "";
  switch (*rule) {
    case DrainRule::Exited:
      return ": Sidekiq exited";
    case DrainRule::Heartbeat:
      return ": heartbeat quiet, 0 busy";
    case DrainRule::Title:
      return ": title stopping, 0 busy";
    case DrainRule::Threads:
      return ": job threads gone";
  }
  return "";
}

std::string thread_rule_off_text(const fact::ThreadRuleSkipped& s) {
  switch (s.why) {
    case ThreadRuleOff::FoundAfterTstp:
      return "found after the TSTP (booting)";
    case ThreadRuleOff::NoThreadView:
      return "its threads could not be read at the TSTP";
    case ThreadRuleOff::NoJobThreads:
      return "no job thread at the TSTP";
    case ThreadRuleOff::TooMany:
      return fmt::format("{} job threads at the TSTP, more than its concurrency {}", s.at_tstp,
                         s.concurrency.value_or(0));
    case ThreadRuleOff::NewJobThread:
      return "a thread with a job thread's name started after the TSTP";
  }
  return "?";
}

const char* kill_reason_text(KillReason why) {
  switch (why) {
    case KillReason::ExitGrace:
      return "exit_grace ran out";
    case KillReason::Restart:
      return "the restart's TERM was not heeded within Sidekiq's timeout and the margin";
    case KillReason::StopBudget:
      break;
  }
  return "the stop budget ran out";
}

LogLine line(Level level, const Fact& f, std::string message, json fields = json::object()) {
  return make_log(level, event_name(f), std::move(message), std::move(fields));
}

LogLine term_line(const Fact& f, const fact::TermSent& t) {
  switch (t.target) {
    case TermTarget::LateFound:
      return line(Level::Info, f,
                  fmt::format("TERM sent to late-found {}", fmt::join(t.pids, ", ")),
                  {{"pids", t.pids}, {"reason", term_reason_name(t.reason)}});
    case TermTarget::Wrapper:
      return line(Level::Info, f,
                  fmt::format("Sidekiq is gone but main child {} still runs: TERM sent to it",
                              fmt::join(t.pids, ", ")),
                  {{"pids", t.pids}, {"reason", "forward"}, {"at_s", seconds(t.at)}});
    case TermTarget::Leftovers:
      return line(Level::Info, f, "main child is gone: TERM sent to the processes it left",
                  {{"reason", "leftovers"}, {"at_s", seconds(t.at)}});
    case TermTarget::Sidekiq:
      break;
  }
  std::string_view reason = term_reason_name(t.reason);
  json fields = {{"pids", t.pids}, {"reason", reason}, {"at_s", seconds(t.at)}};
  if (t.drained_by) fields["rule"] = drain_rule_name(*t.drained_by);
  return line(Level::Info, f,
              fmt::format("TERM sent to {} {:.1f}s into the stop ({}{}); SIGKILL in {:.1f}s if "
                          "still running",
                          fmt::join(t.pids, ", "), seconds(t.at), reason,
                          drained_by_text(t.drained_by), seconds(t.kill_in)),
              std::move(fields));
}

LogLine progress_line(const Fact& f, const fact::DrainProgress& p) {
  json jobs = json::array();
  std::vector<std::string> described;
  for (const auto& [pid, j] : p.jobs) {
    jobs.push_back({{"pid", pid},
                    {"class", j.job_class},
                    {"jid", j.jid},
                    {"queue", j.queue},
                    {"running_s", j.running_seconds}});
    described.push_back(
        fmt::format("{} {} on {} for {:.0f}s", j.job_class, j.jid, j.queue, j.running_seconds));
  }
  std::string detail = described.empty() ? "" : fmt::format(": {}", fmt::join(described, "; "));
  json fields = {{"busy", p.busy}, {"jobs", jobs}, {"at_s", seconds(p.at)}};
  std::string threads;
  if (p.job_threads) {
    fields["job_threads"] = *p.job_threads;
    threads =
        fmt::format(", {} job thread{} alive", *p.job_threads, *p.job_threads == 1 ? "" : "s");
  }
  return line(Level::Info, f,
              fmt::format("drain at {:.1f}s: {} job{} still running{}{}", seconds(p.at), p.busy,
                          p.busy == 1 ? "" : "s", threads, detail),
              std::move(fields));
}

LogLine stop_done_line(const Fact& f, const fact::StopDone& d) {
  json fields = {{"code", d.code}, {"stop_s", seconds(d.took)}};
  std::string term = "TERM never sent";
  if (d.term_at) {
    term = fmt::format("TERM at {:.1f}s ({}{})", seconds(*d.term_at),
                       term_reason_name(d.term_reason), drained_by_text(d.drained_by));
    fields["term_at_s"] = seconds(*d.term_at);
    fields["term_reason"] = term_reason_name(d.term_reason);
    if (d.drained_by) fields["rule"] = drain_rule_name(*d.drained_by);
  }
  return line(Level::Info, f,
              fmt::format("stop done in {:.1f}s: {}; exit code {}", seconds(d.took), term, d.code),
              fields);
}

json job_fields(const InFlightJob& j) {
  return {
      {"class", j.job_class}, {"jid", j.jid}, {"queue", j.queue}, {"running_s", j.running_seconds}};
}

std::string job_text(const InFlightJob& j) {
  return fmt::format("{} {} on {} (ran {:.0f}s)", j.job_class, j.jid, j.queue, j.running_seconds);
}

LogLine requeued_line(const Fact& f, Level level, const fact::JobRequeued& r) {
  json fields = job_fields(r.job);
  fields["pid"] = r.pid;
  fields["identity"] = r.identity;
  return line(level, f,
              fmt::format("job put back at the front of queue:{}: {} {}, which ran {:.0f}s in "
                          "Sidekiq {} before it died; it will run again",
                          r.job.queue, r.job.job_class, r.job.jid, r.job.running_seconds, r.pid),
              fields);
}

LogLine recovery_failed_line(const Fact& f, Level level, const fact::RecoveryFailed& r) {
  json jobs = json::array();
  std::vector<std::string> described;
  for (const auto& j : r.jobs) {
    jobs.push_back(job_fields(j));
    described.push_back(job_text(j));
  }
  std::string which =
      described.empty() ? std::string("the jobs it ran are unknown")
                        : fmt::format("{} job{} lost: {}", described.size(),
                                      described.size() == 1 ? "" : "s", fmt::join(described, "; "));
  return line(level, f,
              fmt::format("cannot put back the jobs of Sidekiq {}{}: {}; {}", r.pid,
                          r.identity.empty() ? "" : " (" + r.identity + ")", r.error, which),
              {{"pid", r.pid}, {"identity", r.identity}, {"error", r.error}, {"jobs", jobs}});
}

LogLine not_needed_line(const Fact& f, Level level, const fact::RecoveryNotNeeded& r) {
  std::string why;
  switch (r.status) {
    case RecoveryStatus::NothingRunning:
      why = "it was running no job at its last heartbeat";
      break;
    case RecoveryStatus::SelfRequeued:
      why = "it had removed itself from Redis, so its own shutdown put its jobs back";
      break;
    case RecoveryStatus::ReliableFetch:
      why = fmt::format("a reliable fetch holds its jobs and will recover them ({})", r.detail);
      break;
    case RecoveryStatus::NoIdentity:
      why = "Redis holds no identity for it";
      break;
    case RecoveryStatus::Requeued:
    case RecoveryStatus::Failed:
      why = r.detail;
      break;
  }
  return line(level, f, fmt::format("no job to put back for process {}: {}", r.pid, why),
              {{"pid", r.pid},
               {"identity", r.identity},
               {"status", recovery_status_name(r.status)},
               {"detail", r.detail}});
}

}  // namespace

Level level_of(const Fact& fact) {
  return std::visit(Overload{
                        [](const fact::SecondSignal&) { return Level::Warn; },
                        [](const fact::KillSent&) { return Level::Error; },
                        // The operator's setting would have been wrong: worth seeing.
                        [](const fact::SidekiqTimeoutChanged&) { return Level::Warn; },
                        [](const fact::Reaped& r) { return r.warn ? Level::Warn : Level::Debug; },
                        [](const fact::SignalForwarded&) { return Level::Debug; },
                        [](const fact::OomKilled&) { return Level::Warn; },
                        [](const fact::JobRequeued&) { return Level::Warn; },
                        [](const fact::RecoveryFailed&) { return Level::Error; },
                        [](const fact::QuietStarted&) { return Level::Warn; },
                        [](const fact::QuietRefused&) { return Level::Warn; },
                        [](const fact::RestartStarted&) { return Level::Warn; },
                        [](const fact::RestartDone&) { return Level::Warn; },
                        [](const fact::RestartFailed&) { return Level::Error; },
                        [](const auto&) { return Level::Info; },
                    },
                    fact);
}

LogLine word(const Fact& fact) {
  const Level level = level_of(fact);
  return std::visit(
      Overload{
          [&](const fact::StopPlanned& p) {
            return line(
                level, fact,
                fmt::format(
                    "SIG{}: stopping Sidekiq: TSTP now, TERM when drained or in "
                    "{}s at the latest, SIGKILL in {}s{} (stop_timeout {}, "
                    "sidekiq_timeout {}, shutdown_margin {})",
                    signal_name(p.signo), format_seconds(p.term_in), format_seconds(p.kill_in),
                    p.recover_jobs ? fmt::format(", {}s before the budget, with the work read "
                                                 "just before it so that running jobs can be "
                                                 "put back in time",
                                                 format_seconds(p.stop_timeout - p.kill_in))
                                   : std::string(),
                    format_duration(p.stop_timeout), format_duration(p.sidekiq_timeout),
                    format_duration(p.shutdown_margin)),
                {{"term_in_s", seconds(p.term_in)},
                 {"kill_in_s", seconds(p.kill_in)},
                 {"recover_jobs", p.recover_jobs}});
          },
          [&](const fact::SecondSignal& s) {
            return line(
                level, fact,
                fmt::format("SIG{} again during the drain: TERM now", signal_name(s.signo)));
          },
          [&](const fact::SidekiqFound& s) {
            json by = json::array();
            for (FoundBy b : s.by) by.push_back(found_by_name(b));
            std::string_view first = s.by.empty() ? "title" : found_by_name(s.by.front());
            return line(level, fact,
                        fmt::format("Sidekiq process{} {} found by {}",
                                    s.pids.size() > 1 ? "es" : "", fmt::join(s.pids, ", "), first),
                        {{"pids", s.pids}, {"by", by}});
          },
          [&](const fact::TstpSent& t) {
            return line(level, fact,
                        fmt::format("TSTP sent to {}: no new jobs", fmt::join(t.pids, ", ")),
                        {{"pids", t.pids}});
          },
          [&](const fact::DrainProgress& p) { return progress_line(fact, p); },
          [&](const fact::TermSent& t) { return term_line(fact, t); },
          [&](const fact::SidekiqTimeoutChanged& c) {
            json fields = {
                {"from_s", seconds(c.from)}, {"to_s", seconds(c.to)}, {"source", c.source}};
            std::string plan = "; set sidekiq_timeout to say so outright";
            if (c.term_at) {
              fields["term_at_s"] = seconds(*c.term_at);
              plan = fmt::format("; TERM now due {:.1f}s into the stop", seconds(*c.term_at));
            }
            return line(level, fact,
                        fmt::format("Sidekiq's timeout is {}, not {} ({}): stop planned again{}",
                                    format_duration(c.to), format_duration(c.from), c.source, plan),
                        std::move(fields));
          },
          [&](const fact::DrainingMainChild&) {
            return line(level, fact, "no Sidekiq process title found yet: draining the main child");
          },
          [&](const fact::EmbeddedSidekiq& e) {
            return line(level, fact,
                        fmt::format("Sidekiq {} runs embedded (info.embedded): no TSTP, which "
                                    "would stop it; its server gets the stop signal",
                                    fmt::join(e.pids, ", ")),
                        {{"pids", e.pids}});
          },
          [&](const fact::NoSidekiq&) {
            return line(level, fact, "no Sidekiq process found: forwarding SIGTERM to the child");
          },
          [&](const fact::SidekiqExited& e) {
            return line(level, fact,
                        fmt::format("Sidekiq {} {}, {:.1f}s into the stop", e.pid,
                                    describe_status(e.status), seconds(e.at)),
                        status_fields(e.pid, e.status));
          },
          [&](const fact::ProcessGone& g) {
            return line(
                level, fact,
                fmt::format("Sidekiq {} is gone, {:.1f}s into the stop", g.pid, seconds(g.at)),
                {{"pid", g.pid}});
          },
          [&](const fact::MainChildExited& e) {
            return line(level, fact,
                        fmt::format("main child {} {}", e.pid, describe_status(e.status)),
                        status_fields(e.pid, e.status));
          },
          [&](const fact::Reaped& r) {
            return line(level, fact,
                        fmt::format("reaped zombie {} ({})", r.pid, describe_status(r.status)),
                        status_fields(r.pid, r.status));
          },
          [&](const fact::GraceStarted& g) {
            return line(level, fact,
                        fmt::format("main child is gone but other processes remain: TERM sent, "
                                    "SIGKILL in {}",
                                    format_duration(g.grace)),
                        {{"grace_s", seconds(g.grace)}});
          },
          [&](const fact::KillSent& k) {
            return line(
                level, fact,
                fmt::format("{}: SIGKILL to every remaining process", kill_reason_text(k.why)),
                {{"why", kill_reason_text(k.why)}});
          },
          [&](const fact::StopDone& d) { return stop_done_line(fact, d); },
          [&](const fact::Exiting& e) {
            return line(level, fact, fmt::format("exiting with code {}", e.code),
                        {{"code", e.code}});
          },
          [&](const fact::OomKilled& o) {
            return line(level, fact,
                        fmt::format("process {} was killed by the OOM killer (the container's "
                                    "memory limit)",
                                    o.pid),
                        {{"pid", o.pid}});
          },
          [&](const fact::JobRequeued& r) { return requeued_line(fact, level, r); },
          [&](const fact::RecoveryFailed& r) { return recovery_failed_line(fact, level, r); },
          [&](const fact::RecoveryNotNeeded& r) { return not_needed_line(fact, level, r); },
          [&](const fact::ThreadRuleSkipped& s) {
            json fields = {{"pid", s.pid},
                           {"why", thread_rule_off_name(s.why)},
                           {"job_threads_at_tstp", s.at_tstp}};
            if (s.concurrency) fields["concurrency"] = *s.concurrency;
            return line(level, fact,
                        fmt::format("Sidekiq {}: drained by heartbeat or title only: {}", s.pid,
                                    thread_rule_off_text(s)),
                        std::move(fields));
          },
          [&](const fact::QuietStarted& q) {
            return line(level, fact,
                        fmt::format("quiet {}: TSTP to Sidekiq, which takes no new jobs{}",
                                    q.source == QuietSource::Signal ? "on the TSTP sent to quiesce"
                                                                    : "asked on the control socket",
                                    q.exit_when_drained ? "; TERM and exit once drained" : ""),
                        {{"exit_when_drained", q.exit_when_drained},
                         {"source", q.source == QuietSource::Signal ? "signal" : "command"}});
          },
          [&](const fact::QuietDrained& q) {
            return line(level, fact,
                        fmt::format("quiet: {} Sidekiq process{} idle after {:.1f}s{}", q.processes,
                                    q.processes == 1 ? "" : "es", seconds(q.took),
                                    q.exiting ? "; TERM follows, then exit" : ""),
                        {{"took_s", seconds(q.took)},
                         {"processes", q.processes},
                         {"exiting", q.exiting},
                         {"restart", q.restart},
                         {"jobs_finished", q.jobs_finished},
                         {"identities", q.identities}});
          },
          [&](const fact::NothingToQuiet&) {
            return line(level, fact, "quiet: no Sidekiq process found; nothing was signalled");
          },
          [&](const fact::QuietRefused& q) {
            return line(level, fact, "quiet refused: " + q.why, {{"why", q.why}});
          },
          [&](const fact::RestartStarted& r) {
            return line(level, fact,
                        fmt::format("restart asked on the control socket: quiet now, TERM once "
                                    "drained or after {:.0f}s, then the command starts again",
                                    seconds(r.grace)),
                        {{"grace_s", seconds(r.grace)}});
          },
          [&](const fact::RespawnScheduled& r) {
            return line(level, fact,
                        r.delay.count() > 0
                            ? fmt::format("restart {} within a minute of the last: the command "
                                          "starts again in {:.0f}s",
                                          r.restarts + 1, seconds(r.delay))
                            : std::string("the command starts again now"),
                        {{"delay_s", seconds(r.delay)}, {"restarts", r.restarts}});
          },
          [&](const fact::RestartDone& r) {
            return line(level, fact,
                        fmt::format("restarted: the command runs again as pid {} (restart {})",
                                    r.pid, r.restarts),
                        {{"pid", r.pid}, {"restarts", r.restarts}});
          },
          [&](const fact::RestartFailed& r) {
            return line(level, fact, "restart failed: " + r.why, {{"why", r.why}});
          },
          [&](const fact::SignalForwarded& s) {
            return line(level, fact,
                        fmt::format("SIG{} forwarded as SIG{}", signal_name(s.received),
                                    signal_name(s.sent)),
                        {{"signal", signal_name(s.sent)}, {"received", signal_name(s.received)}});
          },
      },
      fact);
}

}  // namespace quiesce
