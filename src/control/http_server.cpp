#include "quiesce/control/http_server.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <unordered_set>

#include "quiesce/control/http_request.hpp"
#include "quiesce/uv/fault.hpp"
#include "quiesce/uv/timer.hpp"

namespace quiesce {
namespace {

constexpr int kBacklog = 16;
constexpr std::string_view kWhere = "the HTTP listener";

uv_stream_t* as_stream(uv_tcp_t* tcp) {
  return reinterpret_cast<uv_stream_t*>(tcp);
}

// The control socket's JSON reply, as a probe reads it: the status code
// says healthy or not, the body why.
HttpAnswer answer_from(const ControlRequest& request, const std::string& reply) {
  auto j = nlohmann::json::parse(reply, nullptr, false);
  bool ok = j.is_object() && j.value("ok", false);
  if (request.command == ControlRequest::Command::Status) {
    return {ok ? 200 : 503, "application/json", reply + "\n"};
  }
  std::string reason = j.is_object() && j.contains("reason") && j["reason"].is_string()
                           ? j["reason"].get<std::string>()
                           : std::string("no verdict");
  return {ok ? 200 : 503, "text/plain; charset=utf-8", reason + "\n"};
}

}  // namespace

struct HttpServer::Impl {
  struct Connection {
    uv_tcp_t tcp{};
    Impl* server = nullptr;
    std::shared_ptr<Connection> self;
    uv::TimerHandle timer;
    std::string head;
    bool answered = false;
    bool closing = false;
    char buffer[2048];

    void close();
    bool head_only = false;  // the request was a HEAD

    void respond(HttpAnswer answer);
    void on_bytes(std::string_view bytes);
  };

  uv_loop_t* loop;
  Handler handler;
  LogFn log;
  uv_tcp_t* listener = nullptr;
  std::unordered_set<Connection*> connections;

  void say(Level level, std::string event, std::string message) const {
    if (log) log(make_log(level, std::move(event), std::move(message)));
  }
  void accept();
};

void HttpServer::Impl::Connection::close() {
  if (closing) return;
  closing = true;
  timer.close();
  if (server) server->connections.erase(this);
  server = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    c->self.reset();  // the last reference: frees it
  });
}

void HttpServer::Impl::Connection::respond(HttpAnswer answer) {
  if (closing || answered) return;
  answered = true;
  answer.head_only = head_only;
  timer.close();
  uv_read_stop(as_stream(&tcp));
  struct Write {
    uv_write_t req{};
    std::string bytes;
  };
  auto* w = new Write;
  w->bytes = http_response(answer);
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (uv_write(&w->req, as_stream(&tcp), &buf, 1, [](uv_write_t* req, int) {
        auto* write = static_cast<Write*>(req->data);
        auto* c = static_cast<Connection*>(req->handle->data);
        delete write;
        c->close();
      }) != 0) {
    delete w;
    close();
  }
}

void HttpServer::Impl::Connection::on_bytes(std::string_view bytes) {
  if (answered) return;
  head.append(bytes);
  HttpRequest request = parse_http_request(head);
  switch (request.state) {
    case HttpRequest::State::NeedMore:
      return;
    case HttpRequest::State::TooLarge:
      return respond({431, "text/plain; charset=utf-8", "request head over 8 KiB\n"});
    case HttpRequest::State::Bad:
      return respond({400, "text/plain; charset=utf-8", request.problem + "\n"});
    case HttpRequest::State::Complete:
      break;
  }
  head_only = request.method == "HEAD";
  ControlRequest control;
  if (request.path == "/livez") {
    control.command = ControlRequest::Command::Health;
  } else if (request.path == "/readyz") {
    control.command = ControlRequest::Command::Health;
    control.ready = true;
  } else if (request.path == "/status") {
    control.command = ControlRequest::Command::Status;
  } else {
    return respond({404, "text/plain; charset=utf-8", "/livez, /readyz and /status only\n"});
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return respond({405, "text/plain; charset=utf-8", "GET only\n"});
  }
  if (!server || !server->handler) return close();
  std::weak_ptr<Connection> weak = self;
  Handler handler = server->handler;
  handler(control, [weak, control](const std::string& reply) {
    if (auto c = weak.lock()) c->respond(answer_from(control, reply));
  });
}

void HttpServer::Impl::accept() {
  auto c = std::make_shared<Connection>();
  if (int rc = uv_tcp_init(loop, &c->tcp); rc != 0) {
    say(Level::Warn, "http_accept_failed", fmt::format("cannot accept: {}", uv_strerror(rc)));
    return;
  }
  c->tcp.data = c.get();
  c->self = c;
  c->server = this;
  connections.insert(c.get());
  if (int rc = uv_accept(as_stream(listener), as_stream(&c->tcp)); rc != 0) {
    say(Level::Warn, "http_accept_failed", fmt::format("cannot accept: {}", uv_strerror(rc)));
    return c->close();
  }
  auto alloc = [](uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* conn = static_cast<Connection*>(h->data);
    *buf = uv_buf_init(conn->buffer, sizeof conn->buffer);
  };
  auto read = [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* conn = static_cast<Connection*>(s->data);
    if (n == 0 || conn->closing) return;
    bool done = false;
    uv::guard(kWhere, [&] {
      if (n > 0) {
        conn->on_bytes(std::string_view(buf->base, static_cast<std::size_t>(n)));
      } else if (!conn->answered) {
        conn->close();  // gone before a whole request
      }
      done = true;
    });
    if (!done) conn->close();
  };
  if (int rc = uv_read_start(as_stream(&c->tcp), alloc, read); rc != 0) {
    say(Level::Debug, "http_read_failed", uv_strerror(rc));
    return c->close();
  }
  c->timer = uv::TimerHandle(loop, "an HTTP request's time limit");
  Connection* raw = c.get();
  c->timer->start(kHttpRequestTimeout, [raw] {
    raw->respond({408, "text/plain; charset=utf-8", "no whole request within 5 s\n"});
  });
}

HttpServer::HttpServer(uv_loop_t* loop, Handler handler, LogFn log)
    : impl_(std::make_unique<Impl>(Impl{loop, std::move(handler), std::move(log), nullptr, {}})) {}

HttpServer::~HttpServer() {
  close();
}

bool HttpServer::listen(const std::string& address) {
  std::string host = "0.0.0.0";
  std::string port_text = address;
  auto colon = address.rfind(':');
  if (colon != std::string::npos) {
    host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
    if (host.empty()) host = "0.0.0.0";
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
  }
  int port = std::atoi(port_text.c_str());
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    impl_->say(Level::Warn, "http_failed",
               fmt::format("cannot listen on {}: not an address", address));
    return false;
  }
  auto* tcp = new uv_tcp_t;
  if (int rc = uv_tcp_init(impl_->loop, tcp); rc != 0) {
    delete tcp;
    impl_->say(Level::Warn, "http_failed",
               fmt::format("cannot listen on {}: {}", address, uv_strerror(rc)));
    return false;
  }
  tcp->data = impl_.get();
  impl_->listener = tcp;
  int rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(as_stream(tcp), kBacklog, [](uv_stream_t* s, int status) {
      auto* impl = static_cast<Impl*>(s->data);
      if (status < 0) {
        impl->say(Level::Warn, "http_accept_failed", uv_strerror(status));
        return;
      }
      uv::guard(kWhere, [impl] { impl->accept(); });
    });
  }
  if (rc != 0) {
    impl_->say(Level::Warn, "http_failed",
               fmt::format("cannot listen on {}: {}", address, uv_strerror(rc)));
    close();
    return false;
  }
  impl_->say(Level::Info, "http_listening",
             fmt::format("HTTP probes on {}: GET /livez, /readyz, /status", address));
  return true;
}

void HttpServer::close() {
  if (!impl_) return;
  if (impl_->listener) {
    uv_close(reinterpret_cast<uv_handle_t*>(impl_->listener),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    impl_->listener = nullptr;
  }
  auto connections = impl_->connections;
  for (auto* c : connections) c->close();
}

}  // namespace quiesce
