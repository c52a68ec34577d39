#include "quiesce/uv/fault.hpp"

#include <cstdio>
#include <exception>
#include <string>

namespace quiesce::uv {
namespace {

FaultReporter& reporter() {
  static FaultReporter r;
  return r;
}

void report(std::string_view where, std::string_view what) noexcept {
  try {
    if (reporter()) return reporter()(where, what);
  } catch (...) {
    // The reporter itself failed (out of memory while formatting): stderr
    // still takes a fixed line.
  }
  std::fprintf(stderr, "quiesce: %.*s failed: %.*s\n", static_cast<int>(where.size()), where.data(),
               static_cast<int>(what.size()), what.data());
}

}  // namespace

void set_fault_reporter(FaultReporter r) {
  reporter() = std::move(r);
}

void guard(std::string_view where, const std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    report(where, e.what());
  } catch (...) {
    report(where, "an exception that is not a std::exception");
  }
}

}  // namespace quiesce::uv
