#include "quiesce/redis/resp.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
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

RespScanner::RespScanner(std::size_t max_bulk, std::size_t max_elements, std::size_t max_depth)
    : max_bulk_(max_bulk), max_elements_(max_elements), max_depth_(max_depth) {}

std::optional<std::string> RespScanner::scan(const char* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    char c = data[i];
    switch (state_) {
      case State::Type:
        if (c == '+' || c == '-' || c == ':') {
          state_ = State::Line;
        } else if (c == '*' || c == '$') {
          state_ = State::Header;
          header_type_ = c;
          header_.clear();
        } else {
          return fmt::format("protocol error: byte 0x{:02x} where a reply begins",
                             static_cast<unsigned char>(c));
        }
        after_cr_ = false;
        break;
      case State::Line:
        // hiredis ends a line at the first CRLF; a lone CR or LF is text.
        if (c == '\n' && after_cr_) {
          element_done();
        } else {
          after_cr_ = c == '\r';
        }
        break;
      case State::Header:
        if (c == '\n' && after_cr_) {
          header_.pop_back();  // the CR
          if (auto error = header_done()) return error;
        } else if (header_.size() > 20) {
          return fmt::format("protocol error: {} header longer than 20 bytes", header_type_);
        } else {
          header_ += c;
          after_cr_ = c == '\r';
        }
        break;
      case State::Bulk: {
        std::size_t take = std::min(bulk_left_, size - i);
        bulk_left_ -= take;
        i += take - 1;
        if (bulk_left_ == 0) element_done();
        break;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> RespScanner::header_done() {
  // "-1" is nil; else a plain decimal, as Redis writes it.
  if (header_ == "-1") {
    element_done();
    return std::nullopt;
  }
  unsigned long long n = 0;
  auto [end, ec] = std::from_chars(header_.data(), header_.data() + header_.size(), n);
  if (header_.empty() || ec != std::errc{} || end != header_.data() + header_.size()) {
    return fmt::format("protocol error: {} length '{}' is not a number", header_type_, header_);
  }
  if (header_type_ == '$') {
    if (n > max_bulk_) {
      return fmt::format("protocol error: bulk string of {} bytes (at most {})", n, max_bulk_);
    }
    bulk_left_ = static_cast<std::size_t>(n) + 2;
    state_ = State::Bulk;
    return std::nullopt;
  }
  if (n > max_elements_ - elements_) {
    return fmt::format("protocol error: array of {} elements (at most {} in a reply)", n,
                       max_elements_);
  }
  // An empty array nests too.
  if (open_.size() >= max_depth_) {
    return fmt::format("protocol error: arrays nested deeper than {}", max_depth_);
  }
  if (n == 0) {
    element_done();
    return std::nullopt;
  }
  elements_ += static_cast<std::size_t>(n);
  open_.push_back(static_cast<std::size_t>(n));
  state_ = State::Type;
  return std::nullopt;
}

void RespScanner::element_done() {
  state_ = State::Type;
  while (!open_.empty()) {
    if (--open_.back() > 0) return;
    open_.pop_back();  // that array is complete: an element of the one around it
  }
  elements_ = 0;  // a whole reply: the next one starts afresh
}

ReplyReader::ReplyReader(std::size_t max_bytes, std::size_t max_elements, std::size_t max_depth)
    : reader_(redisReaderCreate()),
      scanner_(max_bytes, max_elements, max_depth),
      max_bytes_(max_bytes) {
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
  // hiredis sees only what the scanner let through.
  if (auto error = scanner_.scan(data, size)) return error;
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
