#pragma once
// Names for an enum's values from one table in the enum's order, so that a
// new value without a name fails to compile instead of printing nothing.
#include <array>
#include <cstddef>
#include <string_view>

namespace quiesce {

template <typename Enum, std::size_t N>
constexpr std::string_view enum_name(Enum value, const std::array<std::string_view, N>& names) {
  auto i = static_cast<std::size_t>(value);
  return i < N ? names[i] : std::string_view("?");
}

}  // namespace quiesce
