#pragma once
// Where the control socket lives. Explicit (the option [control] socket,
// --control-socket, QUIESCE_CONTROL_SOCKET, or a client's --socket) wins;
// else the first of these whose folder can be made or used:
//   /run/quiesce/control.sock
//   $XDG_RUNTIME_DIR/quiesce/control.sock   (when set and absolute)
//   /tmp/quiesce-<uid>/control.sock
// Containers often run as a non-root user with /run read-only, hence the
// later ones. The server takes the first it can create; a client tries them
// in the same order and takes the first that exists.
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace quiesce {

using GetEnvFn = std::function<const char*(const char*)>;

// The candidates in order (explicit: only that one).
std::vector<std::string> control_socket_candidates(const std::string& explicit_path,
                                                   const GetEnvFn& getenv, uid_t uid);

}  // namespace quiesce
