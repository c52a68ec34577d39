// Files quiesce reads whole: only regular ones, within a cap, and never a
// FIFO that would block PID 1 or a device that never ends.
#include "quiesce/procfs/file_text.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "quiesce/sidekiq/config_file.hpp"

using quiesce::read_file_head;
using quiesce::read_file_text;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/quiesce-files-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return (path / name).string();
  }
};

}  // namespace

TEST_CASE("file text: a regular file within the cap is read whole, a longer one not at all") {
  TempDir dir;
  CHECK(read_file_text(dir.file("a", "hello\n"), 6) == "hello\n");
  CHECK(read_file_text(dir.file("b", "hello\n"), 5) == std::nullopt);
  CHECK(read_file_text(dir.file("empty", ""), 0) == "");
  std::string big(100'000, 'x');
  CHECK(read_file_text(dir.file("big", big), 100'000) == big);
  CHECK(read_file_text(dir.file("big2", big), 99'999) == std::nullopt);
  CHECK(read_file_text((dir.path / "missing").string(), 100) == std::nullopt);
}

TEST_CASE("file text: the head of a regular file longer than the cap is its first bytes") {
  TempDir dir;
  std::string big(100'000, 'x');
  big[0] = 'a';
  auto head = read_file_head(dir.file("big", big), 16);
  REQUIRE(head);
  CHECK(*head == big.substr(0, 16));
  CHECK(read_file_head(dir.file("short", "hi"), 16) == "hi");
}

TEST_CASE("file text: devices, FIFOs and directories are not read") {
  TempDir dir;
  auto started = std::chrono::steady_clock::now();
  CHECK(read_file_text("/dev/zero", 1 << 20) == std::nullopt);
  CHECK(read_file_text("/dev/null", 1 << 20) == std::nullopt);
  CHECK(read_file_text(dir.path.string(), 1 << 20) == std::nullopt);
  // Opening a FIFO for reading blocks until a writer comes, unless O_NONBLOCK.
  std::string fifo = (dir.path / "fifo").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(read_file_text(fifo, 1 << 20) == std::nullopt);
  CHECK(read_file_head(fifo, 1 << 20) == std::nullopt);
  CHECK(read_file_head("/dev/zero", 16) == std::nullopt);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
}

TEST_CASE("file text: /proc files report size 0 and are read by counting bytes") {
  auto stat = read_file_text("/proc/self/stat", 64 * 1024);
  REQUIRE(stat);
  CHECK(stat->find(std::to_string(getpid()) + " (") == 0);
  // A cmdline has no length quiesce controls: its head is read.
  auto head = read_file_head("/proc/self/cmdline", 4);
  REQUIRE(head);
  CHECK(head->size() == 4);
  auto whole = read_file_head("/proc/self/cmdline", 1 << 20);
  REQUIRE(whole);
  CHECK(whole->size() > 4);
  CHECK(whole->compare(0, 4, *head) == 0);
  // Too long for read_file_text's cap: nothing, not a cut.
  CHECK(read_file_text("/proc/self/cmdline", 4) == std::nullopt);
}

TEST_CASE("file text: sidekiq -C /dev/zero or a FIFO is no config file, read at once") {
  TempDir dir;
  std::string fifo = (dir.path / "sidekiq.yml").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto no_env = [](const char*) -> const char* { return nullptr; };
  CHECK_FALSE(quiesce::sidekiq_file_timeout({"sidekiq", "-C", "/dev/zero"}, no_env));
  CHECK_FALSE(quiesce::sidekiq_file_timeout({"sidekiq", "-C", fifo}, no_env));
  CHECK_FALSE(quiesce::sidekiq_file_timeout({"sidekiq", "-C", dir.path.string()}, no_env));
  std::string huge = ":timeout: 9\n" + std::string(2 << 20, '#') + "\n";
  CHECK_FALSE(quiesce::sidekiq_file_timeout({"sidekiq", "-C", dir.file("big.yml", huge)}, no_env));
  auto fine =
      quiesce::sidekiq_file_timeout({"sidekiq", "-C", dir.file("ok.yml", ":timeout: 9\n")}, no_env);
  REQUIRE(fine);
  CHECK(fine->timeout.seconds == 9.0);
}
