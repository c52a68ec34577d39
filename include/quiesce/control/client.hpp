#pragma once
// The client side of the control socket: `quiesce status`, `quiesce quiet`,
// `quiesce health`. Blocking, with a time limit; it runs in its own short
// process (docker exec, a HEALTHCHECK, kubectl exec), never inside PID 1.
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "quiesce/core/control_request.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce {

struct ClientResult {
  int exit_code = 0;
};

// Connects to the first candidate socket that accepts, sends request, and
// hands every reply line (without '\n') to on_line until the server closes
// or timeout passes (wait: no limit). Returns false with *error set when it
// could not connect, send, or read a whole line in time.
bool control_exchange(const std::vector<std::string>& candidates, const ControlRequest& request,
                      Duration timeout, const std::function<void(const std::string&)>& on_line,
                      std::string* error);

}  // namespace quiesce
