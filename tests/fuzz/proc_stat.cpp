// /proc/<pid>/stat: its comm (field 2) is whatever the process named itself,
// parentheses, spaces and newlines included.
#include <string>

#include "fuzz_target.hpp"
#include "quiesce/procfs/process_table.hpp"

QUIESCE_FUZZ_TARGET(proc_stat) {
  quiesce::parse_stat(std::string(quiesce::fuzz::text_of(data, size)));
  return 0;
}
