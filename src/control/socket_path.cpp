#include "quiesce/control/socket_path.hpp"

namespace quiesce {
namespace {

constexpr const char* kSocketName = "control.sock";

// A relative XDG_RUNTIME_DIR would put the socket wherever PID 1's working
// folder is, and a client started elsewhere would never find it.
bool usable_runtime_dir(const char* dir) {
  return dir != nullptr && dir[0] == '/';
}

}  // namespace

std::vector<std::string> control_socket_candidates(const std::string& explicit_path,
                                                   const GetEnvFn& getenv, uid_t uid) {
  if (!explicit_path.empty()) return {explicit_path};
  std::vector<std::string> candidates{std::string("/run/quiesce/") + kSocketName};
  const char* runtime = getenv ? getenv("XDG_RUNTIME_DIR") : nullptr;
  if (usable_runtime_dir(runtime)) {
    std::string dir = runtime;
    if (dir.back() != '/') dir += '/';
    candidates.push_back(dir + "quiesce/" + kSocketName);
  }
  candidates.push_back("/tmp/quiesce-" + std::to_string(uid) + "/" + kSocketName);
  return candidates;
}

}  // namespace quiesce
