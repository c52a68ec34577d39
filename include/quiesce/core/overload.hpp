#pragma once
// std::visit over a variant with one lambda per alternative.

namespace quiesce {

template <class... Fns>
struct Overload : Fns... {
  using Fns::operator()...;
};
// gcc deduces this from the aggregate; clang 14 (the fuzz build) needs it said.
template <class... Fns>
Overload(Fns...) -> Overload<Fns...>;

}  // namespace quiesce
