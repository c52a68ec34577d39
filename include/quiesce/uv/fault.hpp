#pragma once
// Where an exception thrown by a callback on the loop is reported. Unwinding
// into libuv would end quiesce, and the container with it: every callback
// the uv/ helpers run goes through guard(), which reports and carries on.
#include <functional>
#include <string_view>

namespace quiesce::uv {

// what: the exception's message. The supervisor logs it as internal_error.
using FaultReporter = std::function<void(std::string_view where, std::string_view what)>;

void set_fault_reporter(FaultReporter reporter);

// Reports a failure that is not an exception (a libuv call that refused).
void report_fault(std::string_view where, std::string_view what) noexcept;

// Runs fn; an exception from it is reported under `where`, never rethrown.
void guard(std::string_view where, const std::function<void()>& fn) noexcept;

}  // namespace quiesce::uv
