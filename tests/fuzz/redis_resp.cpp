// Bytes from a "Redis": whatever comes back on the socket, in chunks of
// any size. The first byte of the input seeds the chunk sizes.
#include <string>
#include <variant>
#include <vector>

#include "fuzz_target.hpp"
#include "quiesce/redis/resp.hpp"

namespace {

using quiesce::redis::Reply;
using quiesce::redis::ReplyReader;

struct Limits {
  std::size_t bytes, elements, depth;
};

std::size_t depth_of(const Reply& r) {
  std::size_t deepest = 0;
  for (const Reply& e : r.elements) deepest = std::max(deepest, depth_of(e));
  return r.type == Reply::Type::Array ? deepest + 1 : 0;
}

std::size_t elements_of(const Reply& r) {
  std::size_t n = r.elements.size();
  for (const Reply& e : r.elements) n += elements_of(e);
  return n;
}

// Every reply read from `bytes` fed in pseudo-random chunks.
std::vector<Reply> read_all(std::string_view bytes, unsigned seed, Limits limits) {
  ReplyReader reader(limits.bytes, limits.elements, limits.depth);
  std::vector<Reply> replies;
  std::size_t at = 0;
  unsigned state = seed * 2654435761u + 1;
  while (at < bytes.size()) {
    state = state * 1103515245u + 12345u;
    std::size_t n = std::min<std::size_t>(bytes.size() - at, 1 + (state >> 16) % 97);
    if (reader.feed(bytes.data() + at, n)) return replies;
    at += n;
    for (;;) {
      auto next = reader.next();
      if (std::holds_alternative<ReplyReader::NeedMore>(next)) break;
      if (std::holds_alternative<std::string>(next)) return replies;
      Reply& reply = std::get<Reply>(next);
      quiesce::fuzz::require(depth_of(reply) <= limits.depth, "arrays nest within the limit");
      quiesce::fuzz::require(elements_of(reply) <= limits.elements, "elements within the limit");
      replies.push_back(std::move(reply));
    }
  }
  return replies;
}

}  // namespace

QUIESCE_FUZZ_TARGET(redis_resp) {
  if (size == 0) return 0;
  std::string_view bytes = quiesce::fuzz::text_of(data + 1, size - 1);
  read_all(bytes, data[0],
           {64 << 20, quiesce::redis::kMaxReplyElements, quiesce::redis::kMaxReplyDepth});
  read_all(bytes, data[0] + 1u, {4096, 16, 2});

  // What quiesce sends reads back as sent: the input as a command, one
  // argument per NUL-separated piece.
  quiesce::redis::Command command;
  std::size_t start = 0;
  while (start <= bytes.size() && command.size() < 16) {
    std::size_t end = bytes.find('\0', start);
    if (end == std::string_view::npos) end = bytes.size();
    command.emplace_back(bytes.substr(start, end - start));
    start = end + 1;
  }
  std::string wire;
  quiesce::redis::encode_command(command, wire);
  auto back = read_all(
      wire, data[0], {64 << 20, quiesce::redis::kMaxReplyElements, quiesce::redis::kMaxReplyDepth});
  quiesce::fuzz::require(back.size() == 1 && back[0].elements.size() == command.size(),
                         "an encoded command reads back as one array");
  for (std::size_t i = 0; i < command.size(); ++i) {
    quiesce::fuzz::require(back[0].elements[i].str == command[i], "each argument reads back");
  }
  return 0;
}
