#pragma once
// Hands events to the stop machine one at a time. Carrying out an action
// may produce an event at once (the synchronous /proc scan does): it waits
// until the machine has finished the step it came from, so no step ever
// begins inside another. The usual event, a signal to forward, goes straight
// through: no queue on that path.
#include <deque>
#include <functional>

#include "quiesce/core/events.hpp"

namespace quiesce {

class EventQueue {
 public:
  using Handler = std::function<void(const Event&)>;

  explicit EventQueue(Handler handler) : handler_(std::move(handler)) {}

  void post(Event event);
  // Nothing is handled after this, queued or posted later: quiesce is exiting.
  void close() { closed_ = true; }
  bool closed() const { return closed_; }

 private:
  void handle(const Event& event);

  Handler handler_;
  std::deque<Event> pending_;
  bool dispatching_ = false;
  bool closed_ = false;
};

}  // namespace quiesce
