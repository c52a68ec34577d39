#pragma once
// std::visit over a variant with one lambda per alternative.

namespace quiesce {

template <class... Fns>
struct Overload : Fns... {
  using Fns::operator()...;
};

}  // namespace quiesce
