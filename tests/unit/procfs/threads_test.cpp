#include "quiesce/procfs/threads.hpp"

#include <doctest/doctest.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

using quiesce::read_thread_names;
using quiesce::ThreadName;

namespace {

bool has(const std::vector<ThreadName>& threads, pid_t tid, const std::string& comm) {
  return std::any_of(threads.begin(), threads.end(),
                     [&](const ThreadName& t) { return t.tid == tid && t.comm == comm; });
}

}  // namespace

TEST_CASE("read_thread_names: this process's threads with the names the kernel keeps") {
  std::mutex m;
  std::condition_variable cv;
  bool named = false;
  bool done = false;
  pid_t tid = 0;
  std::thread worker([&] {
    // 24 bytes: the kernel keeps 15, as it does for Sidekiq's names.
    // pthread_setname_np takes at most 15 bytes; Ruby cuts the same way.
    pthread_setname_np(pthread_self(), "sidekiq.second/");
    std::unique_lock lock(m);
    tid = gettid();
    named = true;
    cv.notify_all();
    cv.wait(lock, [&] { return done; });
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return named; });
  }
  auto threads = read_thread_names(getpid());
  REQUIRE(threads);
  CHECK(has(*threads, tid, "sidekiq.second/"));
  CHECK(std::any_of(threads->begin(), threads->end(),
                    [](const ThreadName& t) { return t.tid == getpid(); }));
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  worker.join();
  auto after = read_thread_names(getpid());
  REQUIRE(after);
  CHECK_FALSE(
      std::any_of(after->begin(), after->end(), [&](const ThreadName& t) { return t.tid == tid; }));
}

TEST_CASE("read_thread_names: no such process is no reading, not an empty one") {
  CHECK_FALSE(read_thread_names(0));
  CHECK_FALSE(read_thread_names(getpid(), "/nonexistent-proc"));
}
