// The HTTP listener's request heads: what is answered, and that anything
// else is refused before it is acted on.
#include "quiesce/control/http_request.hpp"

#include <doctest/doctest.h>

using namespace quiesce;

TEST_CASE("http: a probe's GET, whole or in pieces") {
  const std::string probe =
      "GET /readyz?verbose=1 HTTP/1.1\r\nHost: 10.0.0.7:9090\r\nUser-Agent: kube-probe/1.29\r\n"
      "Accept: */*\r\nConnection: close\r\n\r\n";
  auto r = parse_http_request(probe);
  CHECK(r.state == HttpRequest::State::Complete);
  CHECK(r.method == "GET");
  CHECK(r.path == "/readyz");
  for (std::size_t cut : {0UL, 5UL, 20UL, probe.size() - 1}) {
    CAPTURE(cut);
    CHECK(parse_http_request(probe.substr(0, cut)).state == HttpRequest::State::NeedMore);
  }
  // A body, or a second request, after the head is not read.
  CHECK(parse_http_request("POST /livez HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").method ==
        "POST");
  CHECK(parse_http_request("GET /status HTTP/1.0\r\n\r\nGET /x HTTP/1.0\r\n\r\n").path ==
        "/status");
}

TEST_CASE("http: malformed or oversized heads are refused") {
  CHECK(parse_http_request("HELLO\r\n\r\n").state == HttpRequest::State::Bad);
  CHECK(parse_http_request("GET /livez HTTP/1.1\r\nBad Header\r\n\r\n").state ==
        HttpRequest::State::Bad);
  CHECK(parse_http_request(std::string("GET /\0 HTTP/1.1\r\n\r\n", 20)).state ==
        HttpRequest::State::Bad);
  std::string big = "GET /livez HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n";
  CHECK(parse_http_request(big).state == HttpRequest::State::TooLarge);
  auto bad = parse_http_request("GET /livez XTTP/1.1\r\n\r\n");
  CHECK(bad.state == HttpRequest::State::Bad);
  CHECK_FALSE(bad.problem.empty());
}

TEST_CASE("http: responses close the connection and say their length") {
  auto text = http_response({503, "text/plain; charset=utf-8", "Sidekiq 7 is stopped\n"});
  CHECK(text.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK(text.find("Content-Length: 21\r\n") != std::string::npos);
  CHECK(text.find("Connection: close\r\n") != std::string::npos);
  CHECK(text.substr(text.size() - 21) == "Sidekiq 7 is stopped\n");
}

TEST_CASE("http: an answer to HEAD has the length of the body but not the body") {
  HttpAnswer answer{200, "text/plain; charset=utf-8", "Sidekiq is live\n"};
  answer.head_only = true;
  auto text = http_response(answer);
  CHECK(text.find("Content-Length: 16\r\n") != std::string::npos);
  CHECK(text.size() >= 4);
  CHECK(text.substr(text.size() - 4) == "\r\n\r\n");
}
