#include "quiesce/uv/deferred.hpp"

#include "quiesce/uv/fault.hpp"

namespace quiesce::uv {

Deferred::Deferred(uv_loop_t* loop, std::string_view name, std::shared_ptr<void> keepalive)
    : timer_(loop, name, std::move(keepalive)) {}

Deferred::~Deferred() {
  close();
}

void Deferred::post(std::function<void()> fn) {
  if (!timer_) return;
  queue_->push_back(std::move(fn));
  if (queue_->size() == 1) arm();
}

void Deferred::clear() {
  queue_->clear();
  if (timer_) timer_->stop();
}

void Deferred::close(bool run_pending) {
  if (!timer_) return;
  if (run_pending && !queue_->empty()) {
    *close_when_empty_ = true;
    return;
  }
  *open_ = false;
  queue_->clear();
  timer_.close();
}

// Runs the batch queued so far; what the callbacks queue runs on the turn
// after. Each callback is checked against close(): a callback may close this
// Deferred, or destroy its owner.
void Deferred::arm() {
  timer_->start(Duration{0},
                [queue = queue_, open = open_, close_when_empty = close_when_empty_, this] {
                  auto due = std::move(*queue);
                  queue->clear();
                  for (auto& fn : due) {
                    if (!*open) return;
                    guard("a deferred callback", fn);
                  }
                  if (*open && *close_when_empty && queue->empty()) {
                    *open = false;
                    timer_.close();
                  }
                });
}

}  // namespace quiesce::uv
