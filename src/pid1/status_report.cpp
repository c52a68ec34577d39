#include "quiesce/pid1/status_report.hpp"

#include <fmt/format.h>

#include "quiesce/config/values.hpp"

namespace quiesce {
namespace {

using json = nlohmann::json;

double secs(Duration d) {
  return static_cast<double>(d.count()) / 1000.0;
}

// Rounded for people; the JSON keeps tenths.
double tenths(double s) {
  return static_cast<double>(static_cast<long long>(s * 10.0 + (s >= 0 ? 0.5 : -0.5))) / 10.0;
}

const StopMachine::ProcessView* tracked(const StopMachine::View& view, pid_t pid) {
  for (const auto& p : view.processes) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

std::string version_of(const ObservedProcess& p) {
  if (!p.found.version.empty()) return p.found.version;
  if (p.reading.title) return p.reading.title->version;
  return "";
}

json process_json(const ObservedProcess& p, const StatusContext& c) {
  json j = {{"pid", p.found.pid}, {"found_by", found_by_name(p.found.by)}};
  if (!p.found.identity.empty()) j["identity"] = p.found.identity;
  std::string version = version_of(p);
  if (!version.empty()) j["version"] = version;
  const ProcessReading& r = p.reading;
  if (r.title) {
    j["busy"] = r.title->busy;
    j["concurrency"] = r.title->concurrency;
    j["quiet"] = r.title->stopping;
  }
  if (r.heartbeat) {
    j["busy"] = r.heartbeat->busy;
    j["quiet"] = r.heartbeat->quiet;
    j["beat_age_s"] = tenths(c.observation.at - r.heartbeat->beat);
    json jobs = json::array();
    for (const InFlightJob& job : r.heartbeat->jobs) {
      jobs.push_back({{"class", job.job_class},
                      {"jid", job.jid},
                      {"queue", job.queue},
                      {"running_s", tenths(job.running_seconds)}});
    }
    j["jobs"] = std::move(jobs);
  }
  if (r.threads) {
    j["job_threads"] = r.threads->job_threads();
    if (r.threads->concurrency && !j.contains("concurrency")) {
      j["concurrency"] = *r.threads->concurrency;
    }
  }
  if (p.state) {
    j["state"] = std::string(1, p.state->state);
    if (p.state->rss_kib) j["rss_kib"] = *p.state->rss_kib;
  }
  if (const auto* t = tracked(c.view, p.found.pid)) j["drained"] = t->drained;
  return j;
}

bool stopping(StopMachine::Phase phase) {
  return phase == StopMachine::Phase::Finding || phase == StopMachine::Phase::Draining ||
         phase == StopMachine::Phase::Terminating || phase == StopMachine::Phase::Forwarding;
}

}  // namespace

std::string_view phase_name(StopMachine::Phase phase) {
  switch (phase) {
    case StopMachine::Phase::Running:
      return "running";
    case StopMachine::Phase::Finding:
      return "stopping: finding Sidekiq";
    case StopMachine::Phase::Draining:
      return "stopping: draining";
    case StopMachine::Phase::Terminating:
      return "stopping: TERM sent";
    case StopMachine::Phase::Forwarding:
      return "stopping: forwarded";
    case StopMachine::Phase::Quieting:
      return "quiet";
    case StopMachine::Phase::Respawning:
      return "restarting: starting the command again";
    case StopMachine::Phase::Exited:
      return "exiting";
  }
  return "running";
}

json status_json(const StatusContext& c) {
  const auto& v = c.view;
  const auto& o = c.observation;
  json j = {{"ok", true},
            {"phase", phase_name(v.phase)},
            {"main_child", {{"pid", v.main_pid}, {"running", v.main_running}}}};
  json processes = json::array();
  for (const ObservedProcess& p : o.processes) processes.push_back(process_json(p, c));
  j["sidekiq"] = std::move(processes);
  j["restarts"] = v.restarts;
  if (v.restarting) j["restarting"] = true;
  if (v.phase == StopMachine::Phase::Quieting) {
    j["quiet"] = {{"since_s", tenths(secs(c.now - v.since))},
                  {"exit_when_drained", v.quiet_exit_when_drained},
                  {"drained", v.quiet_drained}};
  }
  if (stopping(v.phase)) {
    json stop = {{"since_s", tenths(secs(c.now - v.since))}};
    if (v.term_sent_at) {
      stop["term_sent_at_s"] = tenths(secs(*v.term_sent_at - v.since));
    } else if (v.term_at) {
      stop["term_in_s"] = tenths(secs(*v.term_at - c.now));
    }
    if (v.kill_at) stop["kill_in_s"] = tenths(secs(*v.kill_at - c.now));
    j["stop"] = std::move(stop);
  }
  const StopPlan& plan = v.plan;
  j["plan"] = {{"stop_timeout_s", secs(c.config.stop_timeout)},
               {"sidekiq_timeout_s", secs(v.sidekiq_timeout)},
               {"shutdown_margin_s", secs(c.config.shutdown_margin)},
               {"term_after_s", secs(plan.term_after)},
               {"kill_after_s", secs(plan.kill_after)}};
  json redis = {{"used", o.redis_used}};
  if (o.redis_used) {
    redis["url"] = redact_url(c.config.redis_url);
    redis["answered"] = o.redis_answered;
    if (!o.redis_error.empty()) redis["error"] = o.redis_error;
    if (o.heartbeat_age_from_earlier) {
      redis["heartbeats_read_s_ago"] = tenths(*o.heartbeat_age_from_earlier);
    }
  }
  j["redis"] = std::move(redis);
  j["read_at"] = o.at;
  return j;
}

HealthInput health_input(const StatusContext& c, bool want_ready) {
  const auto& v = c.view;
  HealthInput in;
  in.want_ready = want_ready;
  in.main_running = v.main_running;
  in.quieting = v.phase == StopMachine::Phase::Quieting;
  in.stopping = v.restarting;
  in.stopping = in.stopping || stopping(v.phase) || v.phase == StopMachine::Phase::Respawning;
  in.sidekiq_expected = c.config.command_runs_sidekiq;
  in.redis_used = c.observation.redis_used;
  in.redis_answered = c.observation.redis_answered;
  in.last_reading_age = c.observation.heartbeat_age_from_earlier;
  for (const ObservedProcess& p : c.observation.processes) {
    if (!p.reading.alive) continue;
    HealthProcess h;
    h.pid = p.found.pid;
    h.frozen = p.state && p.state->stopped();
    if (p.reading.heartbeat) {
      h.beat_age = c.observation.at - p.reading.heartbeat->beat;
      h.quiet = p.reading.heartbeat->quiet;
    }
    if (p.reading.title && p.reading.title->stopping) h.quiet = true;
    if (p.reading.threads) h.job_threads = p.reading.threads->job_threads();
    h.max_age = health_max_age_for(version_of(p), c.config.health_max_age);
    in.processes.push_back(h);
  }
  return in;
}

}  // namespace quiesce
