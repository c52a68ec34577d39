#include "quiesce/redis/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace quiesce::redis {
namespace {

using Result = std::variant<Url, std::string>;

std::string error(std::string_view what) {
  return "redis url: " + std::string(what);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<long long> parse_number(std::string_view s, long long max) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  long long value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value < 0 || value > max) {
    return std::nullopt;
  }
  return value;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Passwords often carry characters that must be %-escaped in a URL.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex_value(s[i + 1]);
    int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::optional<std::string> set_userinfo(Url& url, std::string_view info) {
  auto colon = info.find(':');
  auto user = percent_decode(info.substr(0, colon));
  if (!user) return error("bad percent-encoding in the user name");
  url.username = *user;
  if (colon == std::string_view::npos) return std::nullopt;
  auto password = percent_decode(info.substr(colon + 1));
  if (!password) return error("bad percent-encoding in the password");
  url.password = *password;
  return std::nullopt;
}

std::optional<std::string> set_db(Url& url, std::string_view text) {
  auto db = parse_number(text, 1'000'000);
  if (!db) return error("bad db \"" + std::string(text) + "\" (expected a number from 0)");
  url.db = static_cast<int>(*db);
  return std::nullopt;
}

std::optional<std::string> set_query(Url& url, std::string_view query) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (key == "db") {
      if (auto err = set_db(url, value)) return err;
    } else if (key == "password" || key == "username") {
      auto decoded = percent_decode(value);
      if (!decoded) return error("bad percent-encoding in parameter \"" + std::string(key) + "\"");
      (key == "password" ? url.password : url.username) = *decoded;
    } else {
      return error("unknown parameter \"" + std::string(key) +
                   "\" (known: db, username, password)");
    }
  }
  return std::nullopt;
}

std::optional<std::string> set_host_port(Url& url, std::string_view hostport) {
  std::string_view host = hostport;
  std::optional<std::string_view> port;
  bool bracketed = hostport.starts_with('[');
  if (bracketed) {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return error("unclosed '[' in the host");
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return error("unexpected text after ']' in the host");
      port = after.substr(1);
    }
  } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) return error("empty host");
  for (char c : host) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@' || c == '?' ||
        (c == ':' && !bracketed)) {
      return error("bad host \"" + std::string(host) + "\"");
    }
  }
  url.host = std::string(host);
  if (port) {
    auto value = parse_number(*port, 65535);
    if (!value || *value == 0) {
      return error("bad port \"" + std::string(*port) + "\" (expected 1-65535)");
    }
    url.port = static_cast<int>(*value);
  }
  return std::nullopt;
}

// The part after the last '@' belongs to the host: a password may hold
// '@', '/', ':' or '?' unescaped, and none of it may end up in an error.
Result parse_network(Url url, std::string_view rest) {
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    if (auto err = set_userinfo(url, rest.substr(0, at))) return *err;
    rest = rest.substr(at + 1);
  }
  auto question = rest.find('?');
  std::string_view query = question == std::string_view::npos ? "" : rest.substr(question + 1);
  rest = rest.substr(0, question);
  auto slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (auto err = set_host_port(url, hostport)) return *err;
  if (slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      if (auto err = set_db(url, db)) return *err;
    }
  }
  if (auto err = set_query(url, query)) return *err;
  return url;
}

Result parse_unix(Url url, std::string_view rest) {
  if (!rest.starts_with('/')) {
    auto at = rest.rfind("@/");
    if (at == std::string_view::npos) return error("unix socket path must be absolute");
    if (auto err = set_userinfo(url, rest.substr(0, at))) return *err;
    rest = rest.substr(at + 1);
  }
  auto question = rest.find('?');
  url.path = std::string(rest.substr(0, question));
  if (url.path.size() <= 1) return error("empty socket path");
  if (question != std::string_view::npos) {
    if (auto err = set_query(url, rest.substr(question + 1))) return *err;
  }
  url.host.clear();
  url.port = 0;
  return url;
}

}  // namespace

std::variant<Url, std::string> parse_url(std::string_view text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    return error("missing scheme (expected redis://, rediss:// or unix://)");
  }
  std::string scheme = lower(text.substr(0, sep));
  std::string_view rest = text.substr(sep + 3);
  Url url;
  if (scheme == "redis") {
    url.scheme = Url::Scheme::Tcp;
  } else if (scheme == "rediss") {
    url.scheme = Url::Scheme::Tls;
  } else if (scheme == "unix") {
    url.scheme = Url::Scheme::Unix;
    return parse_unix(std::move(url), rest);
  } else {
    return error("unsupported scheme \"" + scheme + "\" (expected redis://, rediss:// or unix://)");
  }
  return parse_network(std::move(url), rest);
}

std::string Url::endpoint() const {
  if (scheme == Scheme::Unix) return path;
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Url::redacted() const {
  std::string out = scheme == Scheme::Tcp   ? "redis://"
                    : scheme == Scheme::Tls ? "rediss://"
                                            : "unix://";
  if (!username.empty() || !password.empty()) {
    out += username;
    if (!password.empty()) out += ":***";
    out += "@";
  }
  if (scheme == Scheme::Unix) {
    out += path;
    if (db != 0) out += "?db=" + std::to_string(db);
    return out;
  }
  return out + endpoint() + "/" + std::to_string(db);
}

}  // namespace quiesce::redis
