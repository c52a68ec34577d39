#include "quiesce/pid1/event_queue.hpp"

#include "quiesce/uv/fault.hpp"

namespace quiesce {

void EventQueue::post(Event event) {
  if (closed_) return;
  if (dispatching_) {
    pending_.push_back(std::move(event));
    return;
  }
  dispatching_ = true;
  handle(event);
  while (!pending_.empty() && !closed_) {
    Event next = std::move(pending_.front());
    pending_.pop_front();
    handle(next);
  }
  pending_.clear();
  dispatching_ = false;
}

// A handler that throws loses its own event's remaining work, not the queue:
// the events after it still reach the machine.
void EventQueue::handle(const Event& event) {
  uv::guard("handling an event", [&] { handler_(event); });
}

}  // namespace quiesce
