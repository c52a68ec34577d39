#pragma once
// One HTTP/1.x request head as the optional HTTP listener reads it, parsed
// by Debian's http-parser: pure, so the fuzz target and the unit tests reach
// every branch. Only GET of a few paths is ever answered; a body is refused.
#include <cstddef>
#include <string>
#include <string_view>

namespace quiesce {

// A request head longer than this is refused (431): probes send ~200 bytes.
inline constexpr std::size_t kMaxHttpHead = 8 * 1024;

struct HttpRequest {
  enum class State { NeedMore, Complete, Bad, TooLarge };
  State state = State::NeedMore;
  std::string method;   // "GET"
  std::string path;     // the URL's path, without the query
  std::string problem;  // with Bad
};

// bytes: everything the client has sent so far.
HttpRequest parse_http_request(std::string_view bytes);

struct HttpAnswer {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // HEAD: the same status and headers, the body's length but not the body
  // (a client reading one would take it for the start of the next answer).
  bool head_only = false;
};

// The whole response, with Connection: close.
std::string http_response(const HttpAnswer& answer);

}  // namespace quiesce
