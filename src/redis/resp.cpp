#include "quiesce/redis/resp.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <new>

namespace quiesce::redis {
namespace {

Reply convert(const redisReply& in) {
  Reply out;
  switch (in.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::String;
      out.str.assign(in.str, in.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::Status;
      out.str.assign(in.str, in.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::Error;
      out.str.assign(in.str, in.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::Integer;
      out.integer = in.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::Array;
      out.elements.reserve(in.elements);
      for (std::size_t i = 0; i < in.elements; ++i) out.elements.push_back(convert(*in.element[i]));
      break;
    default:
      out.type = Reply::Type::Nil;
      break;
  }
  return out;
}

struct FreeReply {
  void operator()(void* reply) const { freeReplyObject(reply); }
};

}  // namespace

void encode_command(const Command& command, std::string& out) {
  out += '*';
  out += std::to_string(command.size());
  out += "\r\n";
  for (const std::string& arg : command) {
    out += '$';
    out += std::to_string(arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
  }
}

std::string encode_commands(const std::vector<Command>& commands) {
  std::string out;
  for (const Command& command : commands) encode_command(command, out);
  return out;
}

ReplyReader::ReplyReader(std::size_t max_bytes)
    : reader_(redisReaderCreate()), max_bytes_(max_bytes) {
  if (!reader_) throw std::bad_alloc();
}

ReplyReader::~ReplyReader() {
  redisReaderFree(reader_);
}

std::optional<std::string> ReplyReader::feed(const char* data, std::size_t size) {
  buffered_ += size;
  if (buffered_ > max_bytes_) {
    return "protocol error: reply larger than " + std::to_string(max_bytes_) + " bytes";
  }
  if (redisReaderFeed(reader_, data, size) != REDIS_OK) {
    return "protocol error: " + std::string(reader_->errstr);
  }
  return std::nullopt;
}

std::variant<ReplyReader::NeedMore, Reply, std::string> ReplyReader::next() {
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    return "protocol error: " + std::string(reader_->errstr);
  }
  if (!raw) return NeedMore{};
  std::unique_ptr<void, FreeReply> owned(raw);
  // Only what is still unparsed counts against the limit from here on.
  buffered_ = reader_->buf ? reader_->len - reader_->pos : 0;
  return convert(*static_cast<redisReply*>(raw));
}

}  // namespace quiesce::redis
