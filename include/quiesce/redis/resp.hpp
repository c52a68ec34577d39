#pragma once
// RESP on the wire: commands are encoded here, replies are parsed by
// hiredis's reader and turned into owned Reply trees, so no other file sees
// hiredis.
#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "quiesce/redis/reply.hpp"

struct redisReader;

namespace quiesce::redis {

// Appends one command as a RESP array of bulk strings.
void encode_command(const Command& command, std::string& out);
std::string encode_commands(const std::vector<Command>& commands);

class ReplyReader {
 public:
  // A reply still incomplete after max_bytes is treated as garbage, so a
  // hostile length prefix cannot make us buffer without bound.
  explicit ReplyReader(std::size_t max_bytes);
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  // Returns an error when the bytes cannot be RESP.
  std::optional<std::string> feed(const char* data, std::size_t size);

  struct NeedMore {};
  // The next complete reply, NeedMore, or an error line.
  std::variant<NeedMore, Reply, std::string> next();

 private:
  redisReader* reader_;
  std::size_t max_bytes_;
  std::size_t buffered_ = 0;
};

}  // namespace quiesce::redis
