#include "quiesce/uv/timer.hpp"

#include <algorithm>
#include <cstdint>

#include "quiesce/uv/fault.hpp"

namespace quiesce::uv {
namespace {

std::uint64_t millis(Duration d) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count()));
}

}  // namespace

Timer* Timer::open(uv_loop_t* loop, std::string_view name, std::shared_ptr<void> keepalive) {
  auto* self = new Timer;
  // uv_timer_init only records the loop, and libuv has it return 0 always;
  // were that to change, the timer's first start reports it.
  if (int rc = uv_timer_init(loop, &self->timer_); rc != 0) report_fault(name, uv_strerror(rc));
  self->timer_.data = self;
  self->name_ = name;
  self->keepalive_ = std::move(keepalive);
  return self;
}

void Timer::start(Duration after, Callback fn) {
  fn_ = std::move(fn);
  if (int rc = uv_timer_start(&timer_, on_fire, millis(after), 0); rc != 0) {
    report_fault(name_, uv_strerror(rc));
  }
}

void Timer::start_repeating(Duration first, Duration every, Callback fn) {
  fn_ = std::move(fn);
  if (int rc = uv_timer_start(&timer_, on_fire, millis(first),
                              std::max<std::uint64_t>(1, millis(every)));
      rc != 0) {
    report_fault(name_, uv_strerror(rc));
  }
}

void Timer::stop() {
  uv_timer_stop(&timer_);
}

void Timer::close() {
  fn_ = nullptr;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
}

void Timer::on_fire(uv_timer_t* timer) {
  auto* self = static_cast<Timer*>(timer->data);
  // A copy: the callback may restart this timer with another function, or
  // close it.
  Callback fn = self->fn_;
  if (fn) guard(self->name_, fn);
}

void Timer::on_closed(uv_handle_t* handle) {
  delete static_cast<Timer*>(handle->data);
}

}  // namespace quiesce::uv
