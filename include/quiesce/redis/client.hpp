#pragma once
// A small Redis client on the libuv loop, for reading Sidekiq's heartbeat
// data while a container stops. Whatever the server does (down, hung,
// garbage, wrong password), every call answers within its timeouts, nothing
// blocks, and nothing wakes the loop while no request is due.
#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "quiesce/core/defaults.hpp"
#include "quiesce/core/log_line.hpp"
#include "quiesce/core/time.hpp"
#include "quiesce/redis/reply.hpp"
#include "quiesce/redis/url.hpp"

namespace quiesce::redis {

struct ClientOptions {
  Url url;
  std::string ca_file;  // empty: well-known bundle paths, then OpenSSL's defaults
  bool tls_verify = true;
  Duration connect_timeout =
      defaults::kRedisConnectTimeout;  // name resolution + TCP + TLS + AUTH/SELECT
  Duration command_timeout = defaults::kRedisCommandTimeout;  // one pipeline round trip
  Duration backoff_initial =
      defaults::kRedisBackoffInitial;  // after a failed connect; doubles per failure
  Duration backoff_max = defaults::kRedisBackoffMax;
  std::size_t max_queued = 4;              // pipelines waiting behind the one in flight
  std::size_t max_reply_bytes = 64 << 20;  // a reply larger than this is garbage
};

using Replies = std::vector<Reply>;
// All replies in order, or one line saying what went wrong.
using PipelineResult = std::variant<Replies, std::string>;

// The replies when the pipeline answered with exactly as many as it sent;
// else null (a failure, or a reply count that is not the pipeline's).
inline const Replies* replies_of(const PipelineResult& result, std::size_t expected) {
  const auto* replies = std::get_if<Replies>(&result);
  return replies && replies->size() == expected ? replies : nullptr;
}

// Why replies_of gave null, in words for a log line.
inline std::string failure_of(const PipelineResult& result) {
  if (const auto* error = std::get_if<std::string>(&result)) return *error;
  return "unexpected number of replies";
}

class Client {
 public:
  using LogFn = std::function<void(LogLine)>;
  using Done = std::function<void(PipelineResult)>;

  Client(uv_loop_t* loop, ClientOptions options, LogFn log);
  // Closes every handle. Pending `done` callbacks are dropped without being
  // called: their owner is going away too. Call close() first to get them.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Begins connecting in the background; the outcome is logged as
  // "redis_connected" (info) or "redis_error" (warn).
  void connect();
  // Sends the commands as one pipelined round trip, connecting first if
  // needed. `done` runs exactly once, from the loop, never from inside this
  // call (except after close(), when no loop handle is left to run it).
  // Error replies from Redis are Replies of type Error, not a failure.
  // While a connect attempt is backing off (250 ms doubling to 5 s after
  // each failure) it fails at once with "redis unavailable, retrying in N ms".
  void pipeline(std::vector<Command> commands, Done done);
  // Closes all handles; pending callbacks get an error; `closed` runs once uv
  // has closed everything this client opened.
  void close(std::function<void()> closed = {});

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiesce::redis
