#pragma once
// A libuv timer that its owner can drop at any time: close() hands it back
// to libuv, which frees it once the loop has let go of it, so the owner
// never waits for a close callback and never frees memory libuv still uses.
#include <uv.h>

#include <functional>
#include <memory>
#include <string_view>

#include "quiesce/core/time.hpp"

namespace quiesce::uv {

class Timer {
 public:
  using Callback = std::function<void()>;

  // keepalive is held until libuv has closed the timer: whatever must
  // outlive every handle of an owner (redis::Client's close token) rides on it.
  static Timer* open(uv_loop_t* loop, std::string_view name, std::shared_ptr<void> keepalive = {});

  void start(Duration after, Callback fn);
  void start_repeating(Duration first, Duration every, Callback fn);
  void stop();
  // No callback after this; the object is freed by libuv's close callback.
  void close();

 private:
  Timer() = default;
  static void on_fire(uv_timer_t* timer);
  static void on_closed(uv_handle_t* handle);

  uv_timer_t timer_{};
  std::string_view name_;
  Callback fn_;
  std::shared_ptr<void> keepalive_;
};

// Owns a Timer for a member's lifetime: closes it when destroyed.
class TimerHandle {
 public:
  TimerHandle() = default;
  TimerHandle(uv_loop_t* loop, std::string_view name, std::shared_ptr<void> keepalive = {})
      : timer_(Timer::open(loop, name, std::move(keepalive))) {}
  ~TimerHandle() { close(); }
  TimerHandle(const TimerHandle&) = delete;
  TimerHandle& operator=(const TimerHandle&) = delete;
  TimerHandle(TimerHandle&& other) noexcept : timer_(other.timer_) { other.timer_ = nullptr; }
  TimerHandle& operator=(TimerHandle&& other) noexcept {
    if (this != &other) {
      close();
      timer_ = other.timer_;
      other.timer_ = nullptr;
    }
    return *this;
  }

  explicit operator bool() const { return timer_ != nullptr; }
  Timer* operator->() const { return timer_; }
  void close() {
    if (timer_) timer_->close();
    timer_ = nullptr;
  }

 private:
  Timer* timer_ = nullptr;
};

}  // namespace quiesce::uv
