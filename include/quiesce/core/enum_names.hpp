#pragma once
// Names for an enum's values from one table in the enum's order. Each table
// is sized by its names (std::to_array) and asserted against the enum's last
// value, so a name missing from the middle fails to compile; a value
// appended after that last one prints "?" until the assert is moved to it.
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
