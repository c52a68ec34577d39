#include "quiesce/control/server.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_set>
#include <variant>

#include "quiesce/uv/fault.hpp"
#include "quiesce/uv/timer.hpp"
#include "socket_file.hpp"

namespace quiesce {
namespace {

constexpr std::string_view kWhere = "the control socket";
// A client that stops reading must not make PID 1 hold its replies.
constexpr std::size_t kMaxQueuedReply = 64 * 1024;
// After the request a client has nothing more to say; a few stray bytes
// (a second line, a trailing newline) are forgiven, a stream is not.
constexpr std::size_t kMaxAfterRequest = 4096;
constexpr int kBacklog = 16;

uv_stream_t* as_stream(uv_pipe_t* pipe) {
  return reinterpret_cast<uv_stream_t*>(pipe);
}

uv_handle_t* as_handle(uv_pipe_t* pipe) {
  return reinterpret_cast<uv_handle_t*>(pipe);
}

// EOF on a Unix socket is either the client gone or only its sending side
// shut (`nc -N`), which still waits for the answer. The kernel reports
// POLLHUP only when both directions are shut.
bool peer_hung_up(uv_pipe_t* pipe) {
  uv_os_fd_t fd = -1;
  if (uv_fileno(as_handle(pipe), &fd) != 0) return true;
  pollfd p{fd, 0, 0};
  int rc;
  do {
    rc = poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc != 0 || (p.revents & (POLLHUP | POLLERR)) != 0;
}

struct WriteOp {
  uv_write_t req{};
  std::string bytes;
};

std::string timeout_message() {
  return fmt::format("no request line within {} s", kControlRequestTimeout.count() / 1000);
}

}  // namespace

bool control_peer_allowed(uid_t peer, uid_t own) {
  return peer == 0 || peer == own;
}

struct ControlServer::Impl {
  Impl(uv_loop_t* l, Handler h, LogFn lf) : loop(l), handler(std::move(h)), log(std::move(lf)) {}

  uv_loop_t* loop;
  Handler handler;
  LogFn log;
  uv_pipe_t* listener = nullptr;
  std::string path;
  std::unordered_set<Reply::Connection*> connections;

  void say(Level level, std::string event, std::string message,
           nlohmann::json fields = nlohmann::json::object()) const {
    if (log) log(make_log(level, std::move(event), std::move(message), std::move(fields)));
  }
  std::string try_listen(const std::string& candidate);
  std::string bind_listener(const std::string& candidate);
  void close_listener();
  static void on_connection(uv_stream_t* listener, int status);
};

// Lives until libuv's close callback: the handle is inside it, and write
// callbacks (cancelled ones included) arrive before that.
struct ControlServer::Reply::Connection {
  enum class Phase { Reading, Answering, Finishing, Closing };

  uv_pipe_t pipe{};
  ControlServer::Impl* server = nullptr;  // null once the server has closed
  std::shared_ptr<Connection> self;       // the handle's own reference
  uv::TimerHandle timer;
  Phase phase = Phase::Reading;
  std::string request;
  std::size_t discarded = 0;
  int pending_writes = 0;
  uid_t peer_uid = 0;
  pid_t peer_pid = 0;
  char buffer[1024];

  static void open(ControlServer::Impl* server);
  void start();
  bool read_peer();
  void on_bytes(std::string_view bytes);
  void on_end(ssize_t status);
  void take_line();
  void fail(std::string_view message) { send(control_error_reply(message), true); }
  void send(const std::string& line, bool last);
  void close();
  bool open_for_replies() const { return phase == Phase::Reading || phase == Phase::Answering; }
  void say(Level level, std::string event, std::string message) const;

  template <typename Fn>
  void guarded(Fn fn) {
    bool finished = false;
    uv::guard(kWhere, [&] {
      fn();
      finished = true;
    });
    // Half-done work leaves the connection in no known state: end it.
    if (!finished) close();
  }

  static void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(uv_write_t* req, int status);
  static void on_closed(uv_handle_t* handle);
};

void ControlServer::Reply::Connection::say(Level level, std::string event,
                                           std::string message) const {
  if (server) {
    server->say(level, std::move(event), std::move(message),
                {{"peer_uid", peer_uid}, {"peer_pid", peer_pid}});
  }
}

void ControlServer::Reply::Connection::open(ControlServer::Impl* server) {
  auto c = std::make_shared<Connection>();
  if (int rc = uv_pipe_init(server->loop, &c->pipe, 0); rc != 0) {
    server->say(Level::Warn, "control_accept_failed",
                fmt::format("cannot accept a control connection: {}", uv_strerror(rc)));
    return;
  }
  c->pipe.data = c.get();
  c->self = c;
  c->server = server;
  server->connections.insert(c.get());
  if (int rc = uv_accept(as_stream(server->listener), as_stream(&c->pipe)); rc != 0) {
    server->say(Level::Warn, "control_accept_failed",
                fmt::format("cannot accept a control connection: {}", uv_strerror(rc)));
    c->close();
    return;
  }
  c->guarded([&] { c->start(); });
}

void ControlServer::Reply::Connection::start() {
  if (!read_peer()) return;
  if (!control_peer_allowed(peer_uid, geteuid())) {
    say(Level::Warn, "control_refused",
        fmt::format("refused a control connection from uid {} (pid {})", peer_uid, peer_pid));
    fail(fmt::format("permission denied: uid {} is neither root nor quiesce's own", peer_uid));
    return;
  }
  if (int rc = uv_read_start(as_stream(&pipe), on_alloc, on_read); rc != 0) {
    say(Level::Warn, "control_read_failed",
        fmt::format("cannot read a control request: {}", uv_strerror(rc)));
    close();
    return;
  }
  // The only timer the control socket arms: gone once the line is in.
  timer = uv::TimerHandle(server->loop, "the control request timer");
  timer->start(kControlRequestTimeout, [this] { guarded([this] { fail(timeout_message()); }); });
}

bool ControlServer::Reply::Connection::read_peer() {
  uv_os_fd_t fd = -1;
  if (int rc = uv_fileno(as_handle(&pipe), &fd); rc != 0) {
    say(Level::Warn, "control_refused",
        fmt::format("cannot see a control client's socket: {}", uv_strerror(rc)));
    close();
    return false;
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    say(Level::Warn, "control_refused",
        fmt::format("cannot tell who a control client is (SO_PEERCRED): {}", std::strerror(errno)));
    close();
    return false;
  }
  peer_uid = cred.uid;
  peer_pid = cred.pid;
  return true;
}

void ControlServer::Reply::Connection::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(c->buffer, sizeof c->buffer);
}

void ControlServer::Reply::Connection::on_read(uv_stream_t* stream, ssize_t nread,
                                               const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  if (nread == 0 || c->phase == Phase::Closing) return;
  c->guarded([&] {
    if (nread > 0) {
      c->on_bytes(std::string_view(buf->base, static_cast<std::size_t>(nread)));
    } else {
      c->on_end(nread);
    }
  });
}

void ControlServer::Reply::Connection::on_bytes(std::string_view bytes) {
  if (phase == Phase::Answering) {
    discarded += bytes.size();
    if (discarded > kMaxAfterRequest) {
      say(Level::Warn, "control_client_flood",
          fmt::format("a control client sent more than {} bytes after its request; closed",
                      kMaxAfterRequest));
      close();
    }
    return;
  }
  if (phase != Phase::Reading) return;
  auto newline = bytes.find('\n');
  request.append(bytes.substr(0, newline));
  if (request.size() > kMaxControlRequest) {
    fail(fmt::format("request longer than {} bytes", kMaxControlRequest));
    return;
  }
  if (newline == std::string_view::npos) return;
  discarded = bytes.size() - newline - 1;
  take_line();
}

void ControlServer::Reply::Connection::on_end(ssize_t status) {
  if (status != UV_EOF) {
    say(Level::Debug, "control_read_failed",
        fmt::format("a control connection failed: {}", uv_strerror(static_cast<int>(status))));
    close();
    return;
  }
  if (!peer_hung_up(&pipe)) {
    // Only the client's sending side is shut: it still waits for the answer.
    if (int rc = uv_read_stop(as_stream(&pipe)); rc != 0) {
      say(Level::Debug, "control_read_failed", uv_strerror(rc));
    }
    if (phase == Phase::Reading && !request.empty()) take_line();
    if (phase == Phase::Reading) close();
    return;
  }
  if (phase == Phase::Reading && !request.empty()) take_line();
  close();
}

void ControlServer::Reply::Connection::take_line() {
  phase = Phase::Answering;
  timer.close();
  auto parsed = parse_control_request(request);
  request.clear();
  request.shrink_to_fit();
  if (auto* error = std::get_if<ControlRequestError>(&parsed)) {
    fail(error->message);
    return;
  }
  Reply reply;
  reply.connection_ = self;
  // A copy: the handler may close the server, which owns the original.
  Handler handler = server->handler;
  if (handler) handler(std::get<ControlRequest>(parsed), reply);
}

void ControlServer::Reply::Connection::send(const std::string& line, bool last) {
  if (!open_for_replies()) return;
  std::size_t queued = uv_stream_get_write_queue_size(as_stream(&pipe));
  if (queued > 0 && queued + line.size() + 1 > kMaxQueuedReply) {
    say(Level::Warn, "control_client_stuck",
        fmt::format("a control client stopped reading ({} bytes queued); closed", queued));
    close();
    return;
  }
  auto op = std::make_unique<WriteOp>();
  op->bytes.reserve(line.size() + 1);
  op->bytes.append(line).push_back('\n');
  op->req.data = op.get();
  uv_buf_t buf = uv_buf_init(op->bytes.data(), static_cast<unsigned>(op->bytes.size()));
  if (int rc = uv_write(&op->req, as_stream(&pipe), &buf, 1, on_written); rc != 0) {
    say(Level::Debug, "control_write_failed",
        fmt::format("cannot answer a control client: {}", uv_strerror(rc)));
    close();
    return;
  }
  op.release();  // on_written frees it
  ++pending_writes;
  if (!last) return;
  phase = Phase::Finishing;
  timer.close();
  if (int rc = uv_read_stop(as_stream(&pipe)); rc != 0) {
    say(Level::Debug, "control_read_failed", uv_strerror(rc));
  }
}

void ControlServer::Reply::Connection::on_written(uv_write_t* req, int status) {
  std::unique_ptr<WriteOp> op(static_cast<WriteOp*>(req->data));
  auto* c = static_cast<Connection*>(req->handle->data);
  --c->pending_writes;
  if (c->phase == Phase::Closing) return;
  c->guarded([&] {
    if (status < 0) {
      c->say(Level::Debug, "control_write_failed",
             fmt::format("a control client left before its answer: {}", uv_strerror(status)));
      c->close();
    } else if (c->phase == Phase::Finishing && c->pending_writes == 0) {
      c->close();
    }
  });
}

void ControlServer::Reply::Connection::close() {
  if (phase == Phase::Closing) return;
  phase = Phase::Closing;
  timer.close();
  if (server) server->connections.erase(this);
  server = nullptr;
  uv_close(as_handle(&pipe), on_closed);
}

void ControlServer::Reply::Connection::on_closed(uv_handle_t* handle) {
  // Moved out first: dropping the last reference frees the handle's owner.
  auto last = std::move(static_cast<Connection*>(handle->data)->self);
}

void ControlServer::Reply::send(const std::string& line, bool last) const {
  if (auto c = connection_.lock()) c->send(line, last);
}

bool ControlServer::Reply::connected() const {
  auto c = connection_.lock();
  return c && c->open_for_replies();
}

void ControlServer::Impl::on_connection(uv_stream_t* listener, int status) {
  auto* impl = static_cast<Impl*>(listener->data);
  uv::guard(kWhere, [&] {
    if (status < 0) {
      impl->say(Level::Warn, "control_accept_failed",
                fmt::format("cannot accept a control connection: {}", uv_strerror(status)));
      return;
    }
    Reply::Connection::open(impl);
  });
}

std::string ControlServer::Impl::try_listen(const std::string& candidate) {
  if (!control_detail::fits_socket_address(candidate)) {
    return fmt::format("{} is too long for a socket address", candidate);
  }
  std::string problem =
      control_detail::prepare_socket_folder(control_detail::socket_folder(candidate));
  if (problem.empty()) problem = control_detail::clear_stale_socket(candidate);
  if (problem.empty()) problem = bind_listener(candidate);
  return problem;
}

std::string ControlServer::Impl::bind_listener(const std::string& candidate) {
  listener = new uv_pipe_t{};
  if (int rc = uv_pipe_init(loop, listener, 0); rc != 0) {
    delete listener;
    listener = nullptr;
    return fmt::format("cannot create a socket: {}", uv_strerror(rc));
  }
  listener->data = this;
  if (int rc = uv_pipe_bind(listener, candidate.c_str()); rc != 0) {
    close_listener();
    return fmt::format("cannot bind {}: {}", candidate, uv_strerror(rc));
  }
  path = candidate;
  // Before listen: no client can be accepted while the socket is wider.
  if (chmod(candidate.c_str(), 0600) != 0) {
    std::string problem = fmt::format("cannot set {} to 0600: {}", candidate, std::strerror(errno));
    close_listener();
    return problem;
  }
  if (int rc = uv_listen(as_stream(listener), kBacklog, on_connection); rc != 0) {
    close_listener();
    return fmt::format("cannot listen on {}: {}", candidate, uv_strerror(rc));
  }
  return "";
}

void ControlServer::Impl::close_listener() {
  if (listener) {
    uv_close(as_handle(listener), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    listener = nullptr;
  }
  if (path.empty()) return;
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    say(Level::Warn, "control_socket_unlink_failed",
        fmt::format("cannot remove {}: {}", path, std::strerror(errno)), {{"path", path}});
  }
  path.clear();
}

ControlServer::ControlServer(uv_loop_t* loop, Handler handler, LogFn log)
    : impl_(std::make_unique<Impl>(loop, std::move(handler), std::move(log))) {}

ControlServer::~ControlServer() {
  close();
}

std::string ControlServer::listen(const std::vector<std::string>& candidates) {
  if (impl_->listener) return impl_->path;
  // A default candidate that fails is no news while a later one works (a
  // read-only /run, another quiesce on a shared host): said at debug, and
  // all of them at once should none work. One the operator named is loud.
  const bool named = candidates.size() == 1;
  std::vector<std::string> problems;
  for (const auto& candidate : candidates) {
    std::string problem = impl_->try_listen(candidate);
    if (problem.empty()) {
      impl_->say(Level::Info, "control_socket", "control socket at " + candidate,
                 {{"path", candidate}, {"passed_over", problems}});
      return candidate;
    }
    problems.push_back(fmt::format("{}: {}", candidate, problem));
    impl_->say(named ? Level::Warn : Level::Debug, "control_socket_failed",
               fmt::format("no control socket at {}: {}", candidate, problem),
               {{"path", candidate}, {"error", problem}});
  }
  impl_->say(Level::Warn, "control_socket_unavailable",
             fmt::format("no control socket ({}): quiesce runs without the status, quiet, "
                         "restart and health commands",
                         fmt::join(problems, "; ")));
  return "";
}

void ControlServer::close() {
  if (!impl_) return;
  auto open = std::move(impl_->connections);
  impl_->connections.clear();
  for (auto* c : open) {
    c->server = nullptr;
    c->close();
  }
  impl_->close_listener();
}

}  // namespace quiesce
