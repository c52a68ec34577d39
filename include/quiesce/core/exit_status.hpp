#pragma once
#include <set>

namespace quiesce {

// The container's exit code for a waitpid() status of the main child: its
// code, or 128+N for death by signal N, then 0 for codes listed with -e.
int exit_code_for(int wait_status, const std::set<int>& remap_to_zero);

}  // namespace quiesce
