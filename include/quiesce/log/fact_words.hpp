#pragma once
// The one place where the stop machine's facts become words: a level, the
// stable event name, one sentence for people and the numbers as fields.
#include "quiesce/core/facts.hpp"
#include "quiesce/core/log_line.hpp"

namespace quiesce {

// How loud a fact is: checked before any string is built, so a forwarded
// signal at the default verbosity costs no formatting.
Level level_of(const Fact& fact);

LogLine word(const Fact& fact);

}  // namespace quiesce
