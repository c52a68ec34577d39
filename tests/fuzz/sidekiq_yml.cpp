// Sidekiq's config file as quiesce reads its :timeout: with libyaml and
// Sidekiq's rules (anchors, aliases, merge keys), in the production section
// and at the top level: never a crash, never a blow-up, a timeout in range.
#include "fuzz_target.hpp"
#include "quiesce/sidekiq/args.hpp"
#include "quiesce/sidekiq/config_file.hpp"

QUIESCE_FUZZ_TARGET(sidekiq_yml) {
  std::string_view text = quiesce::fuzz::text_of(data, size);
  for (std::string_view env : {"production", "development", ""}) {
    auto t = quiesce::timeout_in_sidekiq_yml(text, env);
    if (t.seconds) {
      quiesce::fuzz::require(*t.seconds >= 0 && *t.seconds <= quiesce::kMaxSidekiqTimeoutSeconds,
                             "a timeout from sidekiq.yml within range");
      quiesce::fuzz::require(!t.unreadable && !t.not_a_number,
                             "a timeout read is neither unreadable nor not a number");
    }
    auto millis = quiesce::timeout_millis(t);
    quiesce::fuzz::require(
        !millis ||
            (*millis >= 0 && *millis <= std::int64_t{quiesce::kMaxSidekiqTimeoutSeconds} * 1000),
        "milliseconds within range");
  }
  return 0;
}
