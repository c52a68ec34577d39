#include "quiesce/redis/connection.hpp"

#include <exception>

#include "quiesce/uv/fault.hpp"

namespace quiesce::redis {
namespace {

struct WriteRequest {
  uv_write_t req{};
  std::string bytes;
};

std::string uv_error(int status) {
  return uv_strerror(status);
}

// libuv calls back into C: an exception must end as a failed connection,
// never unwind through the loop.
template <typename Fn>
void guarded(Connection* connection, Fn fn, void (Connection::*fail)(std::string)) {
  std::string problem;
  try {
    fn();
    return;
  } catch (const std::exception& e) {
    problem = std::string("internal error: ") + e.what();
  } catch (...) {
    problem = "internal error";
  }
  uv::guard("a redis connection", [&] { (connection->*fail)(std::move(problem)); });
}

}  // namespace

Connection::Connection(Setup setup)
    : events_(setup.events),
      peer_(std::move(setup.peer)),
      tls_(std::move(setup.tls)),
      reader_(setup.max_reply_bytes),
      keepalive_(std::move(setup.keepalive)) {}

std::variant<Connection*, std::string> Connection::open_tcp(Setup setup,
                                                            const sockaddr_storage& addr) {
  uv_loop_t* loop = setup.loop;
  auto* self = new Connection(std::move(setup));
  if (int rc = uv_tcp_init(loop, &self->socket_.tcp); rc != 0) {
    std::string error = "cannot create a socket: " + uv_error(rc);
    delete self;
    return error;
  }
  self->handle()->data = self;
  // Without it a pipeline's replies may wait on Nagle's 40 ms: slower, not
  // wrong, so the connection goes on, and the failure is said.
  if (int rc = uv_tcp_nodelay(&self->socket_.tcp, 1); rc != 0) {
    uv::report_fault("TCP_NODELAY on the socket to " + self->peer_, uv_error(rc));
  }
  int rc = uv_tcp_connect(&self->connect_req_, &self->socket_.tcp,
                          reinterpret_cast<const sockaddr*>(&addr), on_connected);
  if (rc != 0) {
    std::string error = "cannot connect to " + self->peer_ + ": " + uv_error(rc);
    self->abandon();
    return error;
  }
  return self;
}

std::variant<Connection*, std::string> Connection::open_unix(Setup setup, const std::string& path) {
  uv_loop_t* loop = setup.loop;
  auto* self = new Connection(std::move(setup));
  if (int rc = uv_pipe_init(loop, &self->socket_.pipe, 0); rc != 0) {
    std::string error = "cannot create a socket: " + uv_error(rc);
    delete self;
    return error;
  }
  self->handle()->data = self;
  // Errors (no such file, refused) arrive through on_connected.
  uv_pipe_connect(&self->connect_req_, &self->socket_.pipe, path.c_str(), on_connected);
  return self;
}

void Connection::abandon() {
  events_ = nullptr;
  if (!uv_is_closing(handle())) uv_close(handle(), on_closed);
}

void Connection::on_closed(uv_handle_t* handle) {
  delete static_cast<Connection*>(handle->data);
}

void Connection::fail(std::string error) {
  if (Events* events = events_) events->on_error(std::move(error));
}

void Connection::on_connected(uv_connect_t* req, int status) {
  auto* self = static_cast<Connection*>(req->handle->data);
  guarded(
      self, [&] { self->connected(status); }, &Connection::fail);
}

void Connection::connected(int status) {
  if (!events_) return;
  if (status < 0) {
    events_->on_connect_error("cannot connect to " + peer_ + ": " + uv_error(status));
    return;
  }
  if (int rc = uv_read_start(stream(), on_alloc, on_read); rc != 0) {
    fail("cannot read from " + peer_ + ": " + uv_error(rc));
    return;
  }
  if (!tls_) {
    events_->on_open();
    return;
  }
  handshaking_ = true;
  advance_handshake();
}

// False when the connection failed or was abandoned meanwhile.
bool Connection::advance_handshake() {
  TlsStream::Progress progress = tls_->handshake();
  if (auto error = flush_tls()) {
    fail(*error);
    return false;
  }
  if (progress == TlsStream::Progress::Failed) {
    fail("TLS handshake with " + peer_ + " failed: " + tls_->error());
    return false;
  }
  if (progress == TlsStream::Progress::Done) {
    handshaking_ = false;
    events_->on_open();
  }
  return events_ != nullptr;
}

void Connection::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(self->buffer_, sizeof self->buffer_);
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  guarded(
      self,
      [&] {
        if (nread == UV_EOF) {
          self->fail("server " + self->peer_ + " closed the connection");
        } else if (nread < 0) {
          self->fail("connection to " + self->peer_ +
                     " lost: " + uv_error(static_cast<int>(nread)));
        } else if (nread > 0) {
          self->received(buf->base, static_cast<std::size_t>(nread));
        }
      },
      &Connection::fail);
}

void Connection::received(const char* data, std::size_t size) {
  if (!events_) return;
  if (!tls_) {
    parse(data, size);
    return;
  }
  if (auto error = tls_->feed(data, size)) {
    fail("connection to " + peer_ + ": " + *error);
    return;
  }
  if (handshaking_ && !advance_handshake()) return;
  if (handshaking_) return;
  std::string plain;
  std::optional<std::string> read_error = tls_->read(plain);
  if (auto error = flush_tls()) {
    fail(*error);
    return;
  }
  if (!plain.empty()) parse(plain.data(), plain.size());
  if (read_error) fail("connection to " + peer_ + ": " + *read_error);
}

void Connection::parse(const char* data, std::size_t size) {
  if (auto error = reader_.feed(data, size)) {
    fail(*error);
    return;
  }
  while (events_) {
    auto next = reader_.next();
    if (std::holds_alternative<ReplyReader::NeedMore>(next)) return;
    if (auto* error = std::get_if<std::string>(&next)) {
      fail(*error);
      return;
    }
    events_->on_reply(std::move(std::get<Reply>(next)));
  }
}

std::optional<std::string> Connection::send(std::string_view plain) {
  if (!events_) return "connection closed";
  if (!tls_) return write_raw(std::string(plain));
  if (auto error = tls_->write(plain)) return error;
  return flush_tls();
}

std::optional<std::string> Connection::flush_tls() {
  std::string bytes;
  if (auto error = tls_->take_output(bytes)) return "connection to " + peer_ + ": " + *error;
  if (bytes.empty()) return std::nullopt;
  return write_raw(std::move(bytes));
}

std::optional<std::string> Connection::write_raw(std::string bytes) {
  auto request = std::make_unique<WriteRequest>();
  request->bytes = std::move(bytes);
  request->req.data = request.get();
  uv_buf_t buf = uv_buf_init(request->bytes.data(), static_cast<unsigned>(request->bytes.size()));
  if (int rc = uv_write(&request->req, stream(), &buf, 1, on_written); rc != 0) {
    return "cannot write to " + peer_ + ": " + uv_error(rc);
  }
  request.release();
  return std::nullopt;
}

void Connection::on_written(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> request(static_cast<WriteRequest*>(req->data));
  if (status >= 0 || status == UV_ECANCELED) return;
  auto* self = static_cast<Connection*>(req->handle->data);
  guarded(
      self, [&] { self->fail("connection to " + self->peer_ + " lost: " + uv_error(status)); },
      &Connection::fail);
}

}  // namespace quiesce::redis
