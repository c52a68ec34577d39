#pragma once
// Where Redis is and how to log in, parsed from the one URL the user gives.
// The password lives here and nowhere else: redacted() is the only form of
// the URL that may reach a log line or an error string.
#include <string>
#include <string_view>
#include <variant>

namespace quiesce::redis {

struct Url {
  enum class Scheme { Tcp, Tls, Unix };
  Scheme scheme = Scheme::Tcp;
  std::string host = "localhost";
  int port = 6379;
  std::string path;  // unix socket
  std::string username, password;
  int db = 0;

  // The URL with the password replaced by "***".
  std::string redacted() const;
  // "host:port" or the socket path: names the peer in error messages.
  std::string endpoint() const;
};

// Accepts redis://[user[:password]@]host[:port][/db], the same with rediss://
// (TLS), and unix://[user[:password]@]/path[?db=N][&password=P][&username=U].
// Userinfo may be percent-encoded. The error string never holds the password.
std::variant<Url, std::string> parse_url(std::string_view text);

}  // namespace quiesce::redis
