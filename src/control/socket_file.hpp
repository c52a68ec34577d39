#pragma once
// The file-system side of the control socket: the folder it lives in and a
// socket an earlier run left behind. Each returns "" when all is well, else
// why not (one line, for control_socket_failed).
#include <string>

namespace quiesce::control_detail {

// The folder part of a socket path ("." for a bare name).
std::string socket_folder(const std::string& path);

// Makes the folder 0700, or checks that an existing one is safe to use.
std::string prepare_socket_folder(const std::string& folder);

// Removes a socket nobody listens on any more; refuses anything else.
std::string clear_stale_socket(const std::string& path);

// A path that fits sockaddr_un's sun_path with its terminating zero.
bool fits_socket_address(const std::string& path);

}  // namespace quiesce::control_detail
