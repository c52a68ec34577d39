#pragma once
// One look at this container's Sidekiq processes, for `quiesce status` and
// `quiesce health`: found by title and in Redis, then one reading each, and
// each one's scheduler state and memory. Nothing is polled between looks,
// so an idle quiesce stays at zero wakeups; requests that come while a look
// is under way share it. Every look ends within its limit: what Redis has
// not said by then is left out, and the last look's Redis data, with its
// age, stands in for it.
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "quiesce/core/drain_reading.hpp"
#include "quiesce/core/log_line.hpp"
#include "quiesce/core/time.hpp"
#include "quiesce/procfs/process_state.hpp"
#include "quiesce/redis/client.hpp"
#include "quiesce/sidekiq/drain_probe.hpp"
#include "quiesce/uv/alive.hpp"
#include "quiesce/uv/timer.hpp"

namespace quiesce {

struct ObservedProcess {
  FoundProcess found;
  ProcessReading reading;
  std::optional<ProcessState> state;
};

struct Observation {
  WallSeconds at = 0;
  bool redis_used = false;      // there is a Redis to ask
  bool redis_answered = false;  // it answered within the limit
  std::string redis_error;      // why not, when it did not
  // From an earlier look, when this one got no heartbeat: how old.
  std::optional<double> heartbeat_age_from_earlier;
  std::vector<ObservedProcess> processes;
};

class SidekiqObserver {
 public:
  using Done = std::function<void(const Observation&)>;
  using LogFn = DrainProbe::LogFn;

  // client may be null (no Redis): titles only.
  SidekiqObserver(uv_loop_t* loop, redis::Client* client, ProbeOptions options, LogFn log,
                  std::function<WallSeconds()> wall_clock);
  ~SidekiqObserver();
  SidekiqObserver(const SidekiqObserver&) = delete;
  SidekiqObserver& operator=(const SidekiqObserver&) = delete;

  // done runs once, from the loop, within `limit`.
  void look(pid_t root, Duration limit, Done done);
  void close();

 private:
  void after_ping(redis::PipelineResult result);
  void read(std::vector<FoundProcess> targets);
  void finish(std::vector<ProcessReading> readings);
  void give_up();

  redis::Client* client_;
  std::function<WallSeconds()> wall_clock_;
  DrainProbe probe_;
  uv::TimerHandle limit_;
  std::vector<Done> waiting_;
  bool looking_ = false;
  pid_t root_ = 0;
  std::uint64_t look_seq_ = 0;
  std::vector<FoundProcess> targets_;
  Observation current_;
  std::optional<Observation> last_with_redis_;
  uv::AliveToken alive_;
};

}  // namespace quiesce
