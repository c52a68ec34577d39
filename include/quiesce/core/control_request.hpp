#pragma once
// The control socket's requests: one JSON object per line, e.g.
//   {"command":"status"}
//   {"command":"quiet","exit_when_drained":true,"wait":true}
//   {"command":"health","ready":true}
// Replies are JSON objects, one per line: {"ok":true,...} or
// {"ok":false,"error":"..."}; `quiet` with "wait" sends {"progress":...}
// lines before its last one. Parsing is pure, so the fuzz target and the
// unit tests reach every branch.
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace quiesce {

// A request line longer than this is refused unread: real ones are under
// 100 bytes, and a client must not make PID 1 buffer without bound.
inline constexpr std::size_t kMaxControlRequest = 4096;

struct ControlRequest {
  enum class Command { Status, Quiet, Health, Restart };
  Command command = Command::Status;
  bool exit_when_drained = false;  // quiet
  bool wait = false;               // quiet: progress lines until drained
  bool ready = false;              // health: ready, not only live
};

struct ControlRequestError {
  std::string message;  // one line, for {"ok":false,"error":...}
};

// line: without its '\n'.
std::variant<ControlRequest, ControlRequestError> parse_control_request(std::string_view line);

// The line a client sends for a request (no '\n').
std::string control_request_line(const ControlRequest& request);

// {"ok":false,"error":message} (no '\n').
std::string control_error_reply(std::string_view message);

std::string_view control_command_name(ControlRequest::Command command);

}  // namespace quiesce
