#include "quiesce/procfs/threads.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>

#include "named_thread.hpp"

using quiesce::read_thread_names;
using quiesce::ThreadName;

namespace {

bool has(const std::vector<ThreadName>& threads, pid_t tid, const std::string& comm) {
  return std::any_of(threads.begin(), threads.end(),
                     [&](const ThreadName& t) { return t.tid == tid && t.comm == comm; });
}

}  // namespace

TEST_CASE("read_thread_names: this process's threads with the names the kernel keeps") {
  quiesce::testing::NamedThread worker("sidekiq.second/");
  auto threads = read_thread_names(getpid());
  REQUIRE(threads);
  CHECK(has(*threads, worker.tid(), "sidekiq.second/"));
  CHECK(std::any_of(threads->begin(), threads->end(),
                    [](const ThreadName& t) { return t.tid == getpid(); }));
  pid_t tid = worker.tid();
  worker.end();
  auto after = read_thread_names(getpid());
  REQUIRE(after);
  CHECK_FALSE(
      std::any_of(after->begin(), after->end(), [&](const ThreadName& t) { return t.tid == tid; }));
}

TEST_CASE("read_thread_names: no such process is no reading, not an empty one") {
  CHECK_FALSE(read_thread_names(0));
  CHECK_FALSE(read_thread_names(getpid(), "/nonexistent-proc"));
}
