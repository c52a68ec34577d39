#pragma once
// `quiesce status|quiet|health [...]`: the operator's side of the control
// socket, run as its own short process (docker exec, a HEALTHCHECK,
// kubectl exec). Parses its flags, asks, prints, and returns the exit code.
#include <string>
#include <string_view>
#include <vector>

#include "quiesce/control/socket_path.hpp"

namespace quiesce {

// True when args[0] names one of these commands.
bool is_control_command(const std::vector<std::string>& args);

// args: argv without argv[0], starting with the command's name. Exit codes:
// 0 ok (healthy, drained, answered), 1 the answer is no (unhealthy, refused,
// not drained), 2 bad flags, 3 no answer (no socket, timed out).
int run_control_command(const std::vector<std::string>& args, const GetEnvFn& getenv,
                        bool stdout_is_terminal);

}  // namespace quiesce
