// Sidekiq's config file as quiesce reads its :timeout:, in the production
// section and at the top level.
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
      quiesce::fuzz::require(!t.unreadable, "a timeout read is not unreadable");
    }
  }
  return 0;
}
