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

// Walks RESP replies as their bytes arrive, in chunks of any size, ahead of
// hiredis, and refuses what hiredis 0.14 would allocate for from a header
// alone: an array of 677777702 elements is 5.3 GB of element table before
// one element has come. Stricter than hiredis (lengths are plain decimals,
// types the five of RESP2), so whatever passes, hiredis reads alike.
class RespScanner {
 public:
  // max_elements counts every array element of one reply, nested ones too;
  // max_depth is how deep arrays may nest (a plain array is 1).
  RespScanner(std::size_t max_bulk, std::size_t max_elements, std::size_t max_depth);

  // The problem with these bytes, following those scanned before.
  std::optional<std::string> scan(const char* data, std::size_t size);

 private:
  enum class State { Type, Line, Header, Bulk };
  std::optional<std::string> header_done();
  void element_done();

  std::size_t max_bulk_;
  std::size_t max_elements_;
  std::size_t max_depth_;
  State state_ = State::Type;
  bool after_cr_ = false;          // Line, Header: the last byte was '\r'
  char header_type_ = 0;           // Header: '*' or '$'
  std::string header_;             // Header: the length so far
  std::size_t bulk_left_ = 0;      // Bulk: bytes still to skip, CRLF included
  std::size_t elements_ = 0;       // declared in this reply so far
  std::vector<std::size_t> open_;  // elements still owed, per open array
};

// Reply sizes a reader accepts by default: far above what quiesce asks
// for (an HGETALL of a work hash is 2 x concurrency elements).
inline constexpr std::size_t kMaxReplyElements = 1 << 20;
inline constexpr std::size_t kMaxReplyDepth = 4;

class ReplyReader {
 public:
  // A reply still incomplete after max_bytes is treated as garbage, so a
  // hostile length prefix cannot make us buffer without bound; so is one
  // with more than max_elements array elements or arrays nested deeper than
  // max_depth, before hiredis allocates for them.
  explicit ReplyReader(std::size_t max_bytes, std::size_t max_elements = kMaxReplyElements,
                       std::size_t max_depth = kMaxReplyDepth);
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
  RespScanner scanner_;
  std::size_t max_bytes_;
  std::size_t buffered_ = 0;
};

}  // namespace quiesce::redis
