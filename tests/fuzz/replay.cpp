// Runs every fuzz target over its corpus (tests/fuzz/corpus/<target>/) and
// the crashes kept (tests/fuzz/crashes/<target>/), in the normal build, so a
// finding once fixed stays fixed. `fuzz_replay DIR` replays them all;
// `fuzz_replay DIR TARGET FILE...` runs one target on the files given.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.hpp"

namespace fs = std::filesystem;

namespace {

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t run_on(quiesce::fuzz::Target target, const fs::path& file) {
  std::string bytes = contents(file);
  target(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return 1;
}

std::size_t run_dir(quiesce::fuzz::Target target, const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::size_t n = 0;
  for (const auto& file : files) n += run_on(target, file);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: fuzz_replay DIR [TARGET FILE...]\n";
    return 2;
  }
  const fs::path root = argv[1];
  const auto& all = quiesce::fuzz::targets();
  if (argc > 2) {
    auto it = all.find(argv[2]);
    if (it == all.end()) {
      std::cerr << "fuzz_replay: no target " << argv[2] << "\n";
      return 2;
    }
    for (int i = 3; i < argc; ++i) run_on(it->second, argv[i]);
    return 0;
  }
  int failures = 0;
  for (const auto& [name, target] : all) {
    std::size_t corpus = run_dir(target, root / "corpus" / name);
    std::size_t crashes = run_dir(target, root / "crashes" / name);
    std::cout << name << ": " << corpus << " corpus inputs, " << crashes << " crashes replayed\n";
    if (corpus == 0) {
      std::cerr << "fuzz_replay: " << name << " has no corpus under " << (root / "corpus") << "\n";
      ++failures;
    }
  }
  return failures ? 1 : 0;
}
