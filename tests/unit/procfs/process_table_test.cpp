#include "quiesce/procfs/process_table.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

using quiesce::descendants_of;
using quiesce::ProcessInfo;

namespace {

// A fake /proc tree, so the parsing can be driven with awkward comms.
struct FakeProc {
  std::filesystem::path root;
  FakeProc() {
    root = std::filesystem::temp_directory_path() /
           ("probe-proc-" + std::to_string(getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::create_directories(root);
    write("stat", "cpu  1 2 3 4\nbtime 1700000000\nprocesses 9\n");
  }
  ~FakeProc() { std::filesystem::remove_all(root); }
  void write(const std::string& rel, const std::string& text) {
    std::filesystem::create_directories((root / rel).parent_path());
    std::ofstream(root / rel, std::ios::binary) << text;
  }
  void process(int pid, const std::string& comm, char state, int ppid, long start_ticks,
               const std::string& cmdline) {
    std::string stat = std::to_string(pid) + " (" + comm + ") " + state + " " +
                       std::to_string(ppid) + " 1 1 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 " +
                       std::to_string(start_ticks) + " 1000 100 18446744073709551615\n";
    write(std::to_string(pid) + "/stat", stat);
    write(std::to_string(pid) + "/cmdline", cmdline);
  }
};

}  // namespace

TEST_CASE("process table: stat with spaces and parentheses in comm") {
  auto f = quiesce::parse_stat("77 (a) b (c)) S 5 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 1 1");
  REQUIRE(f);
  CHECK(f->ppid == 5);
  CHECK(f->state == 'S');
  CHECK(f->start_ticks == 4242);
  CHECK_FALSE(quiesce::parse_stat("garbage"));
  CHECK_FALSE(quiesce::parse_stat("1 (x) S 0 1 2"));
  CHECK_FALSE(quiesce::parse_stat(""));
}

TEST_CASE("process table: scan of a fake /proc; wall start = btime + ticks / CLK_TCK") {
  FakeProc proc;
  const long tck = sysconf(_SC_CLK_TCK);
  proc.process(1, "quiesce", 'S', 0, 10 * tck, std::string("quiesce\0--\0sh\0", 14));
  proc.process(20, "sh", 'S', 1, 11 * tck, "sh");
  proc.process(30, "ruby ) (x", 'S', 20, 12 * tck, "sidekiq 6.4.1 app [1 of 5 busy]");
  proc.process(31, "dead", 'Z', 20, 12 * tck, "");
  proc.process(40, "other", 'S', 99, 1, "other");
  proc.write("self/stat", "not a pid dir");
  proc.write("55/cmdline", "half-gone process without stat");
  auto table = quiesce::scan_processes(proc.root.string());
  CHECK(table.size() == 5);
  auto it = std::find_if(table.begin(), table.end(), [](auto& p) { return p.pid == 30; });
  REQUIRE(it != table.end());
  CHECK(it->ppid == 20);
  CHECK(it->started == doctest::Approx(1700000012.0));
  CHECK(it->cmdline == "sidekiq 6.4.1 app [1 of 5 busy]");
  CHECK_FALSE(it->zombie);

  auto under = descendants_of(1, table);
  std::vector<pid_t> pids;
  for (auto& p : under) pids.push_back(p.pid);
  std::sort(pids.begin(), pids.end());
  CHECK(pids == std::vector<pid_t>{20, 30, 31});
  auto dead = std::find_if(under.begin(), under.end(), [](auto& p) { return p.pid == 31; });
  CHECK(dead->zombie);
  CHECK(descendants_of(40, table).empty());

  auto one = quiesce::read_process(20, proc.root.string());
  REQUIRE(one);
  CHECK(one->ppid == 1);
  CHECK_FALSE(quiesce::read_process(55, proc.root.string()));
  CHECK_FALSE(quiesce::read_process(12345, proc.root.string()));
}

TEST_CASE("process table: a file that fails to read is a process gone, not an exception") {
  // A process that exits between open and read fails the read (ESRCH); a
  // directory where the file should be fails it the same way (EISDIR).
  FakeProc proc;
  const long tck = sysconf(_SC_CLK_TCK);
  proc.process(20, "sh", 'S', 1, 11 * tck, "sh");
  proc.write("21/stat", "21 (ruby) S 1 1 1 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 5 1 1 1\n");
  std::filesystem::create_directories(proc.root / "21" / "cmdline");
  std::vector<ProcessInfo> table;
  CHECK_NOTHROW(table = quiesce::scan_processes(proc.root.string()));
  REQUIRE(table.size() == 1);
  CHECK(table[0].pid == 20);
  CHECK_NOTHROW(CHECK_FALSE(quiesce::read_process(21, proc.root.string())));
}

TEST_CASE("process table: descendants survive a cycle in a torn read") {
  std::vector<ProcessInfo> table{
      {2, 3, 0, "", false}, {3, 2, 0, "", false}, {4, 1, 0, "", false}, {2, 4, 0, "", false}};
  auto under = descendants_of(1, table);
  CHECK(under.size() >= 1);
  CHECK(under.size() <= 4);
}

TEST_CASE("process table: the real /proc holds this process with a sane start time") {
  auto table = quiesce::scan_processes();
  auto self = std::find_if(table.begin(), table.end(), [](auto& p) { return p.pid == getpid(); });
  REQUIRE(self != table.end());
  CHECK(self->ppid == getppid());
  double now = static_cast<double>(std::time(nullptr));
  CHECK(self->started <= now + 2);
  CHECK(self->started > now - 24 * 3600);
  auto direct = quiesce::read_process(getpid());
  REQUIRE(direct);
  CHECK(direct->started == doctest::Approx(self->started));
  CHECK(direct->cmdline.find("unit_tests") != std::string::npos);
}

TEST_CASE(
    "process table: a /proc that cannot be read whole says why, a vanished process does not") {
  FakeProc proc;
  std::string problem = "stale";
  proc.process(20, "sh", 'S', 1, 11, "sh");
  proc.write("55/cmdline", "half-gone process without stat");
  CHECK(quiesce::scan_processes(proc.root.string(), &problem).size() == 1);
  CHECK(problem.empty());
  CHECK(quiesce::read_process(55, proc.root.string(), &problem) == std::nullopt);
  CHECK(problem.empty());

  proc.write("stat", "cpu  1 2 3 4\n");  // no btime
  CHECK(quiesce::scan_processes(proc.root.string(), &problem).empty());
  CHECK(problem.find("btime") != std::string::npos);
  problem.clear();
  CHECK_FALSE(quiesce::read_process(20, proc.root.string(), &problem));
  CHECK(problem.find("btime") != std::string::npos);

  problem.clear();
  CHECK(quiesce::scan_processes((proc.root / "missing").string(), &problem).empty());
  CHECK_FALSE(problem.empty());
}
