#pragma once
// One socket to Redis (TCP or unix, optionally TLS) and the reply parser on
// top of it. It reports to its owner through Events until abandon(); after
// that it closes itself and frees its memory once libuv is done with it, so
// the owner never waits for a close callback.
#include <sys/socket.h>
#include <uv.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "quiesce/redis/reply.hpp"
#include "quiesce/redis/resp.hpp"
#include "quiesce/redis/tls_stream.hpp"

namespace quiesce::redis {

class Connection {
 public:
  class Events {
   public:
    virtual ~Events() = default;
    // Socket connected and, with TLS, the handshake done.
    virtual void on_open() = 0;
    // The socket could not be connected (another address may be tried).
    virtual void on_connect_error(std::string error) = 0;
    // Anything else fatal; the connection is useless afterwards.
    virtual void on_error(std::string error) = 0;
    virtual void on_reply(Reply reply) = 0;
  };

  struct Setup {
    uv_loop_t* loop = nullptr;
    Events* events = nullptr;
    std::string peer;                // for error messages
    std::unique_ptr<TlsStream> tls;  // null: plain text
    std::size_t max_reply_bytes = 0;
    std::shared_ptr<void> keepalive;  // held until libuv is done with the handle
  };

  // Returns the connection, or the error if connecting failed at once.
  static std::variant<Connection*, std::string> open_tcp(Setup setup, const sockaddr_storage& addr);
  static std::variant<Connection*, std::string> open_unix(Setup setup, const std::string& path);

  // Queues bytes for the server; an error means the connection is broken.
  std::optional<std::string> send(std::string_view plain);
  // No more events; the connection closes and frees itself.
  void abandon();

 private:
  explicit Connection(Setup setup);
  ~Connection() = default;

  static void on_connected(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(uv_write_t* req, int status);
  static void on_closed(uv_handle_t* handle);

  void connected(int status);
  void received(const char* data, std::size_t size);
  bool advance_handshake();
  void parse(const char* data, std::size_t size);
  std::optional<std::string> write_raw(std::string bytes);
  std::optional<std::string> flush_tls();
  void fail(std::string error);
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&socket_); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&socket_); }

  union Socket {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } socket_;
  uv_connect_t connect_req_{};
  Events* events_;
  std::string peer_;
  std::unique_ptr<TlsStream> tls_;
  bool handshaking_ = false;
  ReplyReader reader_;
  std::shared_ptr<void> keepalive_;
  char buffer_[65536];
};

}  // namespace quiesce::redis
