// Every rule of `quiesce health`, from readings made up here.
#include "quiesce/core/health.hpp"

#include <doctest/doctest.h>

using namespace quiesce;

namespace {

HealthProcess working(pid_t pid = 7) {
  HealthProcess p;
  p.pid = pid;
  p.beat_age = 4.0;
  p.job_threads = 5;
  p.max_age = Duration{30'000};
  return p;
}

HealthInput running(std::vector<HealthProcess> processes) {
  HealthInput in;
  in.sidekiq_expected = true;
  in.redis_used = true;
  in.redis_answered = true;
  in.processes = std::move(processes);
  return in;
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("health: a working Sidekiq is live and ready") {
  auto v = judge_health(running({working()}));
  CHECK(v.ok);
  CHECK(has(v.reason, "oldest heartbeat 4s"));
  auto in = running({working()});
  in.want_ready = true;
  CHECK(judge_health(in).ok);
}

TEST_CASE("health: each rule that fails liveness names the process") {
  auto frozen = working();
  frozen.frozen = true;
  auto v = judge_health(running({working(3), frozen}));
  CHECK_FALSE(v.ok);
  CHECK(has(v.reason, "Sidekiq 7 is stopped"));

  auto no_threads = working();
  no_threads.job_threads = 0;
  v = judge_health(running({no_threads}));
  CHECK_FALSE(v.ok);
  CHECK(has(v.reason, "no job thread"));

  auto old = working();
  old.beat_age = 31.0;
  v = judge_health(running({old}));
  CHECK_FALSE(v.ok);
  CHECK(has(v.reason, "31s old (limit 30s)"));

  auto in = running({working()});
  in.main_running = false;
  CHECK(judge_health(in).reason == "the main child has exited");
}

TEST_CASE("health: Redis silent means heartbeats are not judged, the rest still is") {
  auto old = working();
  old.beat_age = 300.0;  // from an earlier reading
  auto in = running({old});
  in.redis_answered = false;
  auto v = judge_health(in);
  CHECK(v.ok);
  CHECK(has(v.reason, "Redis did not answer"));
  in.last_reading_age = 42.4;
  CHECK(has(judge_health(in).reason, "the last ones read are 42s old"));
  in.processes[0].frozen = true;
  CHECK_FALSE(judge_health(in).ok);
}

TEST_CASE("health: quiet Sidekiq with no job threads is live, not ready") {
  auto quiet = working();
  quiet.quiet = true;
  quiet.job_threads = 0;
  auto in = running({quiet});
  CHECK(judge_health(in).ok);
  in.want_ready = true;
  auto v = judge_health(in);
  CHECK_FALSE(v.ok);
  CHECK(has(v.reason, "Sidekiq 7 is quiet"));

  auto quieting = running({working()});
  quieting.quieting = true;
  quieting.processes[0].job_threads = 0;
  CHECK(judge_health(quieting).ok);
  quieting.want_ready = true;
  CHECK(has(judge_health(quieting).reason, "not ready: quiet"));

  auto stopping = running({working()});
  stopping.stopping = true;
  stopping.want_ready = true;
  CHECK(has(judge_health(stopping).reason, "stopping"));
}

TEST_CASE("health: no Sidekiq yet is live but not ready when the command runs one") {
  auto in = running({});
  CHECK(judge_health(in).ok);
  in.want_ready = true;
  CHECK(has(judge_health(in).reason, "still booting"));
  in.sidekiq_expected = false;
  CHECK(judge_health(in).ok);
}

TEST_CASE("health: the heartbeat limit is three beats of the major, unless configured") {
  CHECK(health_max_age_for("6.4.1", Duration{0}) == Duration{15'000});
  CHECK(health_max_age_for("7.3.2", Duration{0}) == Duration{30'000});
  CHECK(health_max_age_for("8.1.7", Duration{0}) == Duration{30'000});
  CHECK(health_max_age_for("", Duration{0}) == Duration{30'000});
  CHECK(health_max_age_for("garbage", Duration{0}) == Duration{30'000});
  CHECK(health_max_age_for("6.4.1", Duration{4'000}) == Duration{4'000});
}
