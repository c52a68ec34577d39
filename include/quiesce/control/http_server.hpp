#pragma once
// The optional HTTP listener ([http] listen, off by default) for probes that
// speak HTTP (Kubernetes httpGet): GET /livez, /readyz and /status, answered
// from the same handler as the control socket. Read-only: TCP carries no
// peer credentials, so nothing that changes state (quiet, restart) is
// offered here. Each connection gets one request, its head bounded in size
// (8 KiB) and time (5 s), then Connection: close; a slow or stuck client is
// cut off and never delays anything else on the loop.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "quiesce/core/control_request.hpp"
#include "quiesce/core/log_line.hpp"
#include "quiesce/core/time.hpp"

namespace quiesce {

inline constexpr Duration kHttpRequestTimeout{5'000};

class HttpServer {
 public:
  // answer: the reply line the control socket would send ({"ok":...}).
  using Answer = std::function<void(const std::string& reply_json)>;
  using Handler = std::function<void(const ControlRequest&, Answer)>;
  using LogFn = std::function<void(LogLine)>;

  HttpServer(uv_loop_t* loop, Handler handler, LogFn log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "HOST:PORT", ":PORT" (every interface) or "[V6]:PORT"; false (logged)
  // when it cannot listen: quiesce then runs without it.
  bool listen(const std::string& address);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiesce
