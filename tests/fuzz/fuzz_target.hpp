#pragma once
// One libFuzzer target per parser of bytes from outside. Each file defines
// its target with QUIESCE_FUZZ_TARGET(name) { ... } over `data` and `size`.
// Built alone with QUIESCE_FUZZ_MAIN defined (the fuzz build, clang,
// -fsanitize=fuzzer), it is a libFuzzer binary; built together in the
// normal build, the targets register themselves for replay.cpp, which runs
// each over its corpus and every crash kept, so both are replayed in every
// build.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace quiesce::fuzz {

using Target = int (*)(const std::uint8_t* data, std::size_t size);

inline std::map<std::string, Target>& targets() {
  static std::map<std::string, Target> all;
  return all;
}

struct Register {
  Register(const char* name, Target target) { targets()[name] = target; }
};

inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property of the code under test that failed: a finding, like a crash.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property failed: %s\n", what);
  std::abort();
}

}  // namespace quiesce::fuzz

#ifdef QUIESCE_FUZZ_MAIN
#define QUIESCE_FUZZ_TARGET(name)                                                     \
  static int fuzz_##name(const std::uint8_t* data, std::size_t size);                 \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    return fuzz_##name(data, size);                                                   \
  }                                                                                   \
  static int fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define QUIESCE_FUZZ_TARGET(name)                                             \
  static int fuzz_##name(const std::uint8_t* data, std::size_t size);         \
  static const ::quiesce::fuzz::Register register_##name(#name, fuzz_##name); \
  static int fuzz_##name(const std::uint8_t* data, std::size_t size)
#endif
