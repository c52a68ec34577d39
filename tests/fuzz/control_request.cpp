// A line on the control socket: anything a local client writes.
#include "quiesce/core/control_request.hpp"

#include <variant>

#include "fuzz_target.hpp"

QUIESCE_FUZZ_TARGET(control_request) {
  std::string_view text = quiesce::fuzz::text_of(data, size);
  auto parsed = quiesce::parse_control_request(text);
  if (auto* request = std::get_if<quiesce::ControlRequest>(&parsed)) {
    // What was understood reads back the same from the client's own line.
    auto again = quiesce::parse_control_request(quiesce::control_request_line(*request));
    auto* same = std::get_if<quiesce::ControlRequest>(&again);
    quiesce::fuzz::require(
        same && same->command == request->command && same->wait == request->wait &&
            same->exit_when_drained == request->exit_when_drained && same->ready == request->ready,
        "a request reads back the same");
  } else {
    quiesce::control_error_reply(std::get<quiesce::ControlRequestError>(parsed).message);
  }
  return 0;
}
