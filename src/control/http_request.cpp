#include "quiesce/control/http_request.hpp"

#include <fmt/format.h>
#include <http_parser.h>

namespace quiesce {
namespace {

struct Collected {
  std::string url;
  bool head_done = false;
};

int on_url(http_parser* p, const char* at, size_t length) {
  auto* c = static_cast<Collected*>(p->data);
  if (c->url.size() + length > kMaxHttpHead) return 1;
  c->url.append(at, length);
  return 0;
}

int on_headers_complete(http_parser* p) {
  static_cast<Collected*>(p->data)->head_done = true;
  // Nothing after the head is read: a body, or a second request, is not
  // this listener's business. Pausing stops the parser here.
  http_parser_pause(p, 1);
  return 0;
}

std::string_view reason_of(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

HttpRequest parse_http_request(std::string_view bytes) {
  HttpRequest request;
  if (bytes.size() > kMaxHttpHead) {
    request.state = HttpRequest::State::TooLarge;
    return request;
  }
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_url = on_url;
  settings.on_headers_complete = on_headers_complete;
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  Collected collected;
  parser.data = &collected;
  http_parser_execute(&parser, &settings, bytes.data(), bytes.size());
  auto error = HTTP_PARSER_ERRNO(&parser);
  if (error != HPE_OK && error != HPE_PAUSED) {
    request.state = HttpRequest::State::Bad;
    request.problem = http_errno_description(error);
    return request;
  }
  if (!collected.head_done) return request;  // NeedMore
  request.method = http_method_str(static_cast<http_method>(parser.method));
  http_parser_url url;
  http_parser_url_init(&url);
  if (http_parser_parse_url(collected.url.data(), collected.url.size(), 0, &url) != 0 ||
      !(url.field_set & (1 << UF_PATH))) {
    request.state = HttpRequest::State::Bad;
    request.problem = "the request's URL is not one";
    return request;
  }
  request.path = collected.url.substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
  request.state = HttpRequest::State::Complete;
  return request;
}

std::string http_response(const HttpAnswer& answer) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
      "Connection: close\r\n\r\n{}",
      answer.code, reason_of(answer.code), answer.content_type, answer.body.size(),
      answer.head_only ? std::string_view() : std::string_view(answer.body));
}

}  // namespace quiesce
