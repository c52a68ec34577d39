#pragma once
// Callbacks run on the loop's next turn, never inside the call that queued
// them: a caller may start another request or close its owner from a
// callback, which must not happen halfway through one of ours.
#include <uv.h>

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "quiesce/uv/timer.hpp"

namespace quiesce::uv {

class Deferred {
 public:
  Deferred(uv_loop_t* loop, std::string_view name, std::shared_ptr<void> keepalive = {});
  ~Deferred();
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;

  void post(std::function<void()> fn);
  // Drops what is queued and not yet run.
  void clear();
  // Frees the timer; with run_pending, once what is queued has run.
  void close(bool run_pending = false);

 private:
  void arm();

  // Shared with the timer's callback, so a callback that destroys this
  // Deferred's owner does not leave the loop below reading freed memory.
  std::shared_ptr<std::vector<std::function<void()>>> queue_ =
      std::make_shared<std::vector<std::function<void()>>>();
  std::shared_ptr<bool> open_ = std::make_shared<bool>(true);
  std::shared_ptr<bool> close_when_empty_ = std::make_shared<bool>(false);
  TimerHandle timer_;
};

}  // namespace quiesce::uv
