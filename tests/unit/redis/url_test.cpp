#include "quiesce/redis/url.hpp"

#include <doctest/doctest.h>

#include <string>

using quiesce::redis::parse_url;
using quiesce::redis::Url;

namespace {

Url good(std::string_view text) {
  auto parsed = parse_url(text);
  if (auto* error = std::get_if<std::string>(&parsed)) FAIL_CHECK(text << ": " << *error);
  REQUIRE(std::holds_alternative<Url>(parsed));
  return std::get<Url>(parsed);
}

std::string bad(std::string_view text) {
  auto parsed = parse_url(text);
  REQUIRE_MESSAGE(std::holds_alternative<std::string>(parsed), text);
  return std::get<std::string>(parsed);
}

}  // namespace

TEST_CASE("redis url: host, port and db") {
  Url url = good("redis://cache.internal:6380/3");
  CHECK(url.scheme == Url::Scheme::Tcp);
  CHECK(url.host == "cache.internal");
  CHECK(url.port == 6380);
  CHECK(url.db == 3);
  CHECK(url.password.empty());
  CHECK(url.username.empty());

  Url defaults = good("redis://cache");
  CHECK(defaults.port == 6379);
  CHECK(defaults.db == 0);
  CHECK(good("redis://cache/").db == 0);
  CHECK(good("REDIS://cache:1/0").port == 1);
  CHECK(good("redis://cache:65535").port == 65535);
  CHECK(good("redis://cache?db=5").db == 5);
}

TEST_CASE("redis url: user info") {
  Url only_password = good("redis://:s3cret@cache:6379/0");
  CHECK(only_password.username.empty());
  CHECK(only_password.password == "s3cret");

  Url both = good("redis://app:pa%40ss%3Aword@cache/1");
  CHECK(both.username == "app");
  CHECK(both.password == "pa@ss:word");
  CHECK(both.host == "cache");
  CHECK(both.db == 1);

  // Unescaped '@' and '/' in a password: the host starts after the last '@'.
  Url raw = good("redis://:p@ss/wo@rd@cache:7000/2");
  CHECK(raw.password == "p@ss/wo@rd");
  CHECK(raw.host == "cache");
  CHECK(raw.port == 7000);
  CHECK(raw.db == 2);

  Url user_only = good("redis://app@cache");
  CHECK(user_only.username == "app");
  CHECK(user_only.password.empty());
}

TEST_CASE("redis url: tls, ipv6 and unix") {
  Url tls = good("rediss://:pw@secure.example:6390/0");
  CHECK(tls.scheme == Url::Scheme::Tls);
  CHECK(tls.port == 6390);

  Url v6 = good("redis://[::1]:6381/4");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 6381);
  CHECK(v6.db == 4);
  CHECK(v6.endpoint() == "[::1]:6381");

  Url sock = good("unix:///var/run/redis/redis.sock?db=3");
  CHECK(sock.scheme == Url::Scheme::Unix);
  CHECK(sock.path == "/var/run/redis/redis.sock");
  CHECK(sock.db == 3);

  Url sock_auth = good("unix://:pw@/tmp/r.sock");
  CHECK(sock_auth.password == "pw");
  CHECK(sock_auth.path == "/tmp/r.sock");
  CHECK(good("unix:///tmp/r.sock?password=x%2By&db=1").password == "x+y");
}

TEST_CASE("redis url: bad input names the problem") {
  CHECK(bad("http://cache:6379").find("unsupported scheme \"http\"") != std::string::npos);
  CHECK(bad("cache:6379").find("missing scheme") != std::string::npos);
  CHECK(bad("redis://cache:0").find("bad port \"0\"") != std::string::npos);
  CHECK(bad("redis://cache:65536").find("bad port") != std::string::npos);
  CHECK(bad("redis://cache:abc/0").find("bad port \"abc\"") != std::string::npos);
  CHECK(bad("redis://cache:").find("bad port") != std::string::npos);
  CHECK(bad("redis://cache/x").find("bad db \"x\"") != std::string::npos);
  CHECK(bad("redis://cache/-1").find("bad db") != std::string::npos);
  CHECK(bad("redis://cache/1/2").find("bad db") != std::string::npos);
  CHECK(bad("redis://:6379/0").find("empty host") != std::string::npos);
  CHECK(bad("redis://").find("empty host") != std::string::npos);
  CHECK(bad("redis://[::1").find("'['") != std::string::npos);
  CHECK(bad("unix://").find("socket path") != std::string::npos);
  CHECK(bad("unix:///").find("empty socket path") != std::string::npos);
  CHECK(bad("redis://cache?timeout=1").find("unknown parameter \"timeout\"") != std::string::npos);
  CHECK(bad("redis://:%zz@cache").find("percent-encoding") != std::string::npos);
  for (const char* text : {"http://cache", "redis://cache:99999", "redis:///"}) {
    std::string error = bad(text);
    CHECK(error.starts_with("redis url: "));
    CHECK(error.find('\n') == std::string::npos);
  }
}

TEST_CASE("redis url: errors and redacted() never show the password") {
  for (const char* text :
       {"redis://:hunter2@cache:notaport/0", "redis://:hunter2@cache/notadb",
        "redis://u:hunter2@:6379", "redis://:hun/ter2@cache/x", "redis://:hunter2%zz@cache",
        "redis://:hun?ter2@cache:1:2", "unix://:hunter2@relative.sock"}) {
    std::string error = bad(text);
    CHECK_MESSAGE(error.find("hunter2") == std::string::npos, error);
    CHECK_MESSAGE(error.find("ter2") == std::string::npos, error);
  }

  CHECK(good("redis://app:hunter2@cache:6380/2").redacted() == "redis://app:***@cache:6380/2");
  CHECK(good("rediss://:hunter2@cache").redacted() == "rediss://:***@cache:6379/0");
  CHECK(good("redis://cache").redacted() == "redis://cache:6379/0");
  CHECK(good("unix://:hunter2@/tmp/r.sock?db=2").redacted() == "unix://:***@/tmp/r.sock?db=2");
  CHECK(good("redis://:hunter2@[::1]:7000/1").redacted() == "redis://:***@[::1]:7000/1");
}
