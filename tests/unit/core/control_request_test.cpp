// The control socket's request lines: what is accepted, and that everything
// else is an error that names the problem.
#include "quiesce/core/control_request.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace quiesce;

namespace {

std::string error_of(std::string_view line) {
  auto r = parse_control_request(line);
  auto* e = std::get_if<ControlRequestError>(&r);
  return e ? e->message : "";
}

ControlRequest ok(std::string_view line) {
  auto r = parse_control_request(line);
  REQUIRE(std::holds_alternative<ControlRequest>(r));
  return std::get<ControlRequest>(r);
}

}  // namespace

TEST_CASE("control requests: the three commands and their flags") {
  CHECK(ok(R"({"command":"status"})").command == ControlRequest::Command::Status);
  auto q = ok(R"({"command":"quiet","exit_when_drained":true,"wait":false})");
  CHECK(q.command == ControlRequest::Command::Quiet);
  CHECK(q.exit_when_drained);
  CHECK_FALSE(q.wait);
  CHECK(ok(R"({"command":"health","ready":true})").ready);
  // What a client sends reads back the same.
  ControlRequest r;
  r.command = ControlRequest::Command::Quiet;
  r.wait = true;
  auto back = ok(control_request_line(r));
  CHECK(back.command == r.command);
  CHECK(back.wait);
  CHECK_FALSE(back.exit_when_drained);
}

TEST_CASE("control requests: anything else is an error, never a command") {
  CHECK(error_of("") == "request is not JSON");
  CHECK(error_of("status") == "request is not JSON");
  CHECK(error_of("[1]") == "request is not a JSON object");
  CHECK(error_of("{}") == "request has no \"command\" string");
  CHECK(error_of(R"({"command":3})") == "request has no \"command\" string");
  CHECK(error_of(R"({"command":"restart!"})") ==
        "unknown command \"restart!\" (status, quiet, health, restart)");
  CHECK(error_of(R"({"command":"status","ready":true})") == "status takes no \"ready\"");
  CHECK(error_of(R"({"command":"quiet","wait":"yes"})") == "\"wait\" must be true or false");
  CHECK(error_of(R"({"command":"quiet","wait":{"a":1}})") == "request nested too deeply");
  CHECK(error_of(std::string(5000, ' ')) == "request longer than 4096 bytes");
  CHECK(error_of("{\"command\":\"\xff\"}") == "request is not JSON");
  auto reply = control_error_reply("bad \xff byte");
  CHECK(reply.find("\"ok\":false") != std::string::npos);
}
