// /proc/<pid>/cmdline, which any process under quiesce can set to anything.
#include "fuzz_target.hpp"
#include "quiesce/sidekiq/title.hpp"

QUIESCE_FUZZ_TARGET(sidekiq_title) {
  if (auto title = quiesce::parse_sidekiq_title(quiesce::fuzz::text_of(data, size))) {
    quiesce::fuzz::require(title->busy >= 0 && title->concurrency >= 0, "counts are not negative");
  }
  return 0;
}
