#include "quiesce/core/health.hpp"

#include <fmt/format.h>

#include <charconv>

namespace quiesce {
namespace {

double secs(Duration d) {
  return static_cast<double>(d.count()) / 1000.0;
}

// The first rule a process breaks, if any.
std::optional<std::string> not_live(const HealthProcess& p, bool quieting, bool redis_answered) {
  if (p.frozen) {
    return fmt::format("Sidekiq {} is stopped (SIGSTOP or a debugger): it runs no job", p.pid);
  }
  // A quiet Sidekiq's job threads end as their jobs do: none left is right.
  if (!quieting && !p.quiet && p.job_threads && *p.job_threads == 0) {
    return fmt::format(
        "Sidekiq {} has no job thread left: its heartbeat may still beat, but no job runs", p.pid);
  }
  if (redis_answered && p.beat_age && *p.beat_age > secs(p.max_age)) {
    return fmt::format("Sidekiq {}'s last heartbeat is {:.0f}s old (limit {:.0f}s)", p.pid,
                       *p.beat_age, secs(p.max_age));
  }
  return std::nullopt;
}

std::string live_summary(const HealthInput& in) {
  if (in.processes.empty()) {
    return in.sidekiq_expected ? "the main child runs; no Sidekiq process found yet"
                               : "the main child runs";
  }
  std::string s = fmt::format("{} Sidekiq process{} running", in.processes.size(),
                              in.processes.size() == 1 ? "" : "es");
  if (in.redis_used && !in.redis_answered) {
    s += "; Redis did not answer, so heartbeats were not judged";
    if (in.last_reading_age) {
      s += fmt::format(" (the last ones read are {:.0f}s old)", *in.last_reading_age);
    }
  } else {
    double oldest = -1;
    for (const HealthProcess& p : in.processes) {
      if (p.beat_age && *p.beat_age > oldest) oldest = *p.beat_age;
    }
    if (oldest >= 0) s += fmt::format("; oldest heartbeat {:.0f}s", oldest);
  }
  return s;
}

}  // namespace

HealthVerdict judge_health(const HealthInput& in) {
  if (!in.main_running) return {false, "the main child has exited"};
  for (const HealthProcess& p : in.processes) {
    if (auto why = not_live(p, in.quieting, in.redis_answered)) return {false, *why};
  }
  if (in.want_ready) {
    if (in.stopping) return {false, "not ready: the container is stopping"};
    if (in.quieting) return {false, "not ready: quiet (quiesce quiet): Sidekiq takes no new jobs"};
    for (const HealthProcess& p : in.processes) {
      if (p.quiet) return {false, fmt::format("not ready: Sidekiq {} is quiet", p.pid)};
    }
    if (in.sidekiq_expected && in.processes.empty()) {
      return {false, "not ready: no Sidekiq process found yet (still booting?)"};
    }
    return {true, "ready: " + live_summary(in)};
  }
  return {true, "live: " + live_summary(in)};
}

Duration health_max_age_for(std::string_view version, Duration configured) {
  if (configured.count() > 0) return configured;
  int major = 0;
  auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), major);
  (void)end;
  // Unknown: the longer beat, so nothing healthy is failed.
  bool six_or_older = ec == std::errc() && major > 0 && major < 7;
  return Duration{six_or_older ? 15'000 : 30'000};
}

}  // namespace quiesce
