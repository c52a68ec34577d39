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

}  // namespace

void report_fault(std::string_view where, std::string_view what) noexcept {
  bool told = false;
  try {
    if (reporter()) {
      reporter()(where, what);
      told = true;
    }
  } catch (...) {
    told = false;  // the reporter itself failed (out of memory while formatting)
  }
  // stderr still takes a fixed line.
  if (!told) {
    std::fprintf(stderr, "quiesce: %.*s failed: %.*s\n", static_cast<int>(where.size()),
                 where.data(), static_cast<int>(what.size()), what.data());
  }
}

void set_fault_reporter(FaultReporter r) {
  reporter() = std::move(r);
}

void guard(std::string_view where, const std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    report_fault(where, e.what());
  } catch (...) {
    report_fault(where, "an exception that is not a std::exception");
  }
}

}  // namespace quiesce::uv
