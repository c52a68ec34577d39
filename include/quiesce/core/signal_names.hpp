#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quiesce {

// "TERM", "SIGTERM", "sigterm", "15", "RTMIN+2" -> signal number.
std::optional<int> parse_signal(std::string_view text);

// 15 -> "TERM"; real-time signals as "RTMIN+N".
std::string signal_name(int signo);

// Signals quiesce passes on to its child. Left out: KILL and STOP (cannot be
// caught), CHLD (quiesce's own business), the synchronous ones (SEGV, BUS,
// FPE, ILL, ABRT, TRAP, SYS: a fault in quiesce must kill quiesce, not be
// forwarded). PIPE is forwarded; the one the kernel raises for quiesce's own
// Redis socket is told apart by its sender (pid1/signal_source.hpp).
const std::vector<int>& forwarded_signals();

// Signals that are the kernel's report of a fault in this very process.
bool is_synchronous(int signo);

}  // namespace quiesce
