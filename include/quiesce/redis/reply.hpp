#pragma once
// A Redis reply as an owned value tree. hiredis parses the bytes; this type
// keeps hiredis out of every file but the client.
#include <string>
#include <vector>

namespace quiesce::redis {

struct Reply {
  enum class Type { String, Array, Integer, Nil, Status, Error };
  Type type = Type::Nil;
  std::string str;              // String, Status, Error
  long long integer = 0;        // Integer
  std::vector<Reply> elements;  // Array

  bool is_error() const { return type == Type::Error; }
  bool is_nil() const { return type == Type::Nil; }
};

using Command = std::vector<std::string>;

}  // namespace quiesce::redis
