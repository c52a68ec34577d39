// The head of an HTTP request to the optional probe listener: anything a
// client on the network sends.
#include "quiesce/control/http_request.hpp"

#include "fuzz_target.hpp"

QUIESCE_FUZZ_TARGET(http_request) {
  std::string_view text = quiesce::fuzz::text_of(data, size);
  auto request = quiesce::parse_http_request(text);
  if (request.state == quiesce::HttpRequest::State::Complete) {
    quiesce::fuzz::require(!request.method.empty(), "a complete request has a method");
    quiesce::fuzz::require(request.path.size() <= text.size(), "the path comes from the bytes");
  }
  quiesce::http_response({404, "text/plain", request.path});
  return 0;
}
