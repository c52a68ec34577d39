#pragma once
// Host name to socket addresses on the libuv thread pool. "localhost" and
// IP literals never reach the resolver: a static glibc binary in a minimal
// image may have no NSS to resolve with.
#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace quiesce::redis {

using Addresses = std::vector<sockaddr_storage>;
// The addresses, or a one-line error.
using ResolveResult = std::variant<Addresses, std::string>;

// Addresses known without asking the resolver, or nothing.
std::optional<Addresses> literal_addresses(const std::string& host, int port);

class Resolve {
 public:
  // `done` runs on the loop unless cancel() came first. `keepalive` is held
  // until libuv has finished with the request.
  static Resolve* start(uv_loop_t* loop, const std::string& host, int port,
                        std::function<void(ResolveResult)> done, std::shared_ptr<void> keepalive,
                        std::string* error);
  // After this, `done` is never called; the request frees itself.
  void cancel();

 private:
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);

  uv_getaddrinfo_t req_{};
  std::string host_;
  std::function<void(ResolveResult)> done_;
  std::shared_ptr<void> keepalive_;
};

// "127.0.0.1:6379" / "[::1]:6379".
std::string address_text(const sockaddr_storage& addr);

}  // namespace quiesce::redis
