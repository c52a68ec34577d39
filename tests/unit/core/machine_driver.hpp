#pragma once
// What every unit test of the stop machine does with it: feed one event,
// keep the actions that came out, and pick out actions and facts by type.
// The tests' own harnesses add the events and checks they need on top.
#include <utility>
#include <variant>
#include <vector>

#include "quiesce/core/stop_machine.hpp"

namespace quiesce::testing {

struct MachineDriver {
  StopMachine machine;
  std::vector<Action> last;  // what the last step returned

  explicit MachineDriver(MachineConfig config) : machine(std::move(config)) {}

  std::vector<Action>& step(const Event& e) {
    last = machine.step(e);
    return last;
  }
  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& a : last) {
      if (auto* x = std::get_if<T>(&a)) out.push_back(*x);
    }
    return out;
  }
  template <typename F>
  std::vector<F> told() const {
    std::vector<F> out;
    for (const auto& t : all<act::Tell>()) {
      if (auto* x = std::get_if<F>(&t.fact)) out.push_back(*x);
    }
    return out;
  }
};

}  // namespace quiesce::testing
