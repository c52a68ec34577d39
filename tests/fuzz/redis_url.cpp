// REDIS_URL, --redis-url, [redis] url: anything the user or the
// environment hands over.
#include "quiesce/redis_url.hpp"

#include <variant>

#include "fuzz_target.hpp"
#include "quiesce/config_values.hpp"

QUIESCE_FUZZ_TARGET(redis_url) {
  std::string_view text = quiesce::fuzz::text_of(data, size);
  auto parsed = quiesce::redis::parse_url(text);
  if (auto* url = std::get_if<quiesce::redis::Url>(&parsed)) {
    std::string redacted = url->redacted();
    url->endpoint();
    // The redacted form reads back as the same place, password hidden.
    auto again = quiesce::redis::parse_url(redacted);
    auto* back = std::get_if<quiesce::redis::Url>(&again);
    quiesce::fuzz::require(back != nullptr, "a redacted URL parses");
    quiesce::fuzz::require(back->scheme == url->scheme && back->host == url->host &&
                               back->port == url->port && back->db == url->db &&
                               back->path == url->path,
                           "a redacted URL names the same server");
    quiesce::fuzz::require(url->password.empty() || back->password == "***",
                           "a redacted URL hides the password");
  }
  quiesce::parse_redis_url_value(text);
  quiesce::redact_url(std::string(text));
  return 0;
}
