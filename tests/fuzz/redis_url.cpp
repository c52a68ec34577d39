// REDIS_URL, --redis-url, [redis] url: anything the user or the
// environment hands over.
#include <variant>

#include "fuzz_target.hpp"
#include "quiesce/config/values.hpp"
#include "quiesce/redis/url.hpp"

QUIESCE_FUZZ_TARGET(redis_url) {
  std::string_view text = quiesce::fuzz::text_of(data, size);
  auto parsed = quiesce::redis::parse_url(text);
  if (auto* url = std::get_if<quiesce::redis::Url>(&parsed)) {
    std::string redacted = url->redacted();
    url->endpoint();
    // The password never shows: the redacted form is the same whatever it is.
    if (!url->password.empty()) {
      quiesce::redis::Url other = *url;
      other.password.assign(1, 'x');  // not = "x": GCC 12 -Wrestrict false positive
      quiesce::fuzz::require(other.redacted() == redacted, "redacted hides the password");
    }
  }
  quiesce::parse_redis_url_value(text);
  quiesce::redact_url(std::string(text));
  return 0;
}
