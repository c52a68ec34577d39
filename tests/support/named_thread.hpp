#pragma once
// A thread of this test process that carries a name, the way Sidekiq names
// its threads, for as long as the object lives: the kernel shows the name in
// /proc/self/task/<tid>/comm, where quiesce reads Sidekiq's. The name is at
// most 15 bytes, as pthread_setname_np (and Ruby) cut it.
#include <pthread.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace quiesce::testing {

class NamedThread {
 public:
  explicit NamedThread(std::string name)
      : worker_([this, name = std::move(name)] {
          pthread_setname_np(pthread_self(), name.c_str());
          std::unique_lock lock(m_);
          tid_ = gettid();
          named_ = true;
          cv_.notify_all();
          cv_.wait(lock, [&] { return done_; });
        }) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return named_; });
  }
  ~NamedThread() { end(); }
  NamedThread(const NamedThread&) = delete;
  NamedThread& operator=(const NamedThread&) = delete;

  pid_t tid() const { return tid_; }
  // Lets the thread finish and waits for it: its tid is gone afterwards.
  void end() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(m_);
      done_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool named_ = false;
  bool done_ = false;
  pid_t tid_ = 0;
  std::thread worker_;  // last: it starts once the members it uses exist
};

}  // namespace quiesce::testing
