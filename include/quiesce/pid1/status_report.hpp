#pragma once
// What `quiesce status` and `quiesce health` answer, put together from the
// stop machine's view (the one source of what quiesce is doing) and one
// look at the Sidekiq processes (sidekiq/observer.hpp).
#include <nlohmann/json.hpp>

#include "quiesce/config/config.hpp"
#include "quiesce/core/health.hpp"
#include "quiesce/core/stop_machine.hpp"
#include "quiesce/sidekiq/observer.hpp"

namespace quiesce {

struct StatusContext {
  const StopMachine::View& view;
  const Observation& observation;
  const Config& config;
  Instant now;
};

nlohmann::json status_json(const StatusContext& context);

HealthInput health_input(const StatusContext& context, bool want_ready);

std::string_view phase_name(StopMachine::Phase phase);

}  // namespace quiesce
