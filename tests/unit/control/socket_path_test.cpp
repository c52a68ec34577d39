// Where the control socket is looked for: the server and every client walk
// the same list, so a client finds the socket wherever the server could make it.
#include "quiesce/control/socket_path.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using quiesce::control_socket_candidates;
using quiesce::GetEnvFn;

namespace {

GetEnvFn env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

using Paths = std::vector<std::string>;

}  // namespace

TEST_CASE("control socket path: /run first, then /tmp per uid, without XDG_RUNTIME_DIR") {
  CHECK(control_socket_candidates("", env({}), 1000) ==
        Paths{"/run/quiesce/control.sock", "/tmp/quiesce-1000/control.sock"});
  CHECK(control_socket_candidates("", env({}), 0) ==
        Paths{"/run/quiesce/control.sock", "/tmp/quiesce-0/control.sock"});
}

TEST_CASE("control socket path: an absolute XDG_RUNTIME_DIR comes between /run and /tmp") {
  CHECK(control_socket_candidates("", env({{"XDG_RUNTIME_DIR", "/run/user/1000"}}), 1000) ==
        Paths{"/run/quiesce/control.sock", "/run/user/1000/quiesce/control.sock",
              "/tmp/quiesce-1000/control.sock"});
  // A trailing slash does not double.
  CHECK(control_socket_candidates("", env({{"XDG_RUNTIME_DIR", "/run/user/7/"}}), 7).at(1) ==
        "/run/user/7/quiesce/control.sock");
}

TEST_CASE("control socket path: an empty or relative XDG_RUNTIME_DIR is ignored") {
  Paths without{"/run/quiesce/control.sock", "/tmp/quiesce-42/control.sock"};
  CHECK(control_socket_candidates("", env({{"XDG_RUNTIME_DIR", ""}}), 42) == without);
  CHECK(control_socket_candidates("", env({{"XDG_RUNTIME_DIR", "run/user/42"}}), 42) == without);
  CHECK(control_socket_candidates("", env({{"XDG_RUNTIME_DIR", "./x"}}), 42) == without);
}

TEST_CASE("control socket path: an explicit path is the only candidate") {
  CHECK(control_socket_candidates("/srv/app/quiesce.sock",
                                  env({{"XDG_RUNTIME_DIR", "/run/user/1000"}}),
                                  1000) == Paths{"/srv/app/quiesce.sock"});
}

TEST_CASE("control socket path: no getenv means no XDG candidate") {
  CHECK(control_socket_candidates("", GetEnvFn{}, 5) ==
        Paths{"/run/quiesce/control.sock", "/tmp/quiesce-5/control.sock"});
}
