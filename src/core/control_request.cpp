#include "quiesce/core/control_request.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>

namespace quiesce {
namespace {

using Json = nlohmann::json;

// A request is one flat object: anything nested deeper is refused before it
// is built, so a hostile line costs no more than its own bytes.
constexpr int kMaxDepth = 1;

std::optional<ControlRequest::Command> command_named(std::string_view name) {
  if (name == "status") return ControlRequest::Command::Status;
  if (name == "quiet") return ControlRequest::Command::Quiet;
  if (name == "health") return ControlRequest::Command::Health;
  if (name == "restart") return ControlRequest::Command::Restart;
  return std::nullopt;
}

// A name from the request, quoted for the error line; never throws.
std::string quoted(const Json& value) {
  return value.dump(-1, ' ', true, Json::error_handler_t::replace);
}

}  // namespace

std::string_view control_command_name(ControlRequest::Command command) {
  switch (command) {
    case ControlRequest::Command::Status:
      return "status";
    case ControlRequest::Command::Quiet:
      return "quiet";
    case ControlRequest::Command::Health:
      return "health";
    case ControlRequest::Command::Restart:
      return "restart";
  }
  return "status";
}

std::variant<ControlRequest, ControlRequestError> parse_control_request(std::string_view line) {
  if (line.size() > kMaxControlRequest) {
    return ControlRequestError{fmt::format("request longer than {} bytes", kMaxControlRequest)};
  }
  bool too_deep = false;
  Json::parser_callback_t limit = [&too_deep](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  };
  Json doc = Json::parse(line.begin(), line.end(), limit, /*allow_exceptions=*/false);
  if (too_deep) return ControlRequestError{"request nested too deeply"};
  if (doc.is_discarded()) return ControlRequestError{"request is not JSON"};
  if (!doc.is_object()) return ControlRequestError{"request is not a JSON object"};
  auto name = doc.find("command");
  if (name == doc.end() || !name->is_string()) {
    return ControlRequestError{"request has no \"command\" string"};
  }
  auto command = command_named(name->get_ref<const std::string&>());
  if (!command) {
    return ControlRequestError{
        fmt::format("unknown command {} (status, quiet, health, restart)", quoted(*name))};
  }
  ControlRequest request;
  request.command = *command;
  for (const auto& [key, value] : doc.items()) {
    if (key == "command") continue;
    bool* flag = nullptr;
    if (*command == ControlRequest::Command::Quiet && key == "exit_when_drained") {
      flag = &request.exit_when_drained;
    } else if (*command == ControlRequest::Command::Quiet && key == "wait") {
      flag = &request.wait;
    } else if (*command == ControlRequest::Command::Health && key == "ready") {
      flag = &request.ready;
    }
    if (!flag) {
      return ControlRequestError{
          fmt::format("{} takes no {}", control_command_name(*command), quoted(Json(key)))};
    }
    if (!value.is_boolean()) {
      return ControlRequestError{fmt::format("{} must be true or false", quoted(Json(key)))};
    }
    *flag = value.get<bool>();
  }
  return request;
}

std::string control_request_line(const ControlRequest& request) {
  Json j = {{"command", control_command_name(request.command)}};
  if (request.command == ControlRequest::Command::Quiet) {
    j["exit_when_drained"] = request.exit_when_drained;
    j["wait"] = request.wait;
  }
  if (request.command == ControlRequest::Command::Health) j["ready"] = request.ready;
  return j.dump();
}

std::string control_error_reply(std::string_view message) {
  Json j = {{"ok", false}, {"error", message}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace quiesce
