#include "quiesce/redis/resolver.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <cstring>

#include "quiesce/uv/fault.hpp"

namespace quiesce::redis {

std::optional<Addresses> literal_addresses(const std::string& host, int port) {
  sockaddr_storage addr{};
  std::string literal = host == "localhost" ? "127.0.0.1" : host;
  if (uv_ip4_addr(literal.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
      uv_ip6_addr(literal.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
    return Addresses{addr};
  }
  return std::nullopt;
}

Resolve* Resolve::start(uv_loop_t* loop, const std::string& host, int port,
                        std::function<void(ResolveResult)> done, std::shared_ptr<void> keepalive,
                        std::string* error) {
  auto* self = new Resolve;
  self->host_ = host;
  self->done_ = std::move(done);
  self->keepalive_ = std::move(keepalive);
  self->req_.data = self;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  std::string service = std::to_string(port);
  int rc = uv_getaddrinfo(loop, &self->req_, on_resolved, host.c_str(), service.c_str(), &hints);
  if (rc != 0) {
    *error = "cannot resolve \"" + host + "\": " + uv_strerror(rc);
    delete self;
    return nullptr;
  }
  return self;
}

void Resolve::cancel() {
  done_ = nullptr;
  // Fails when a pool thread already runs the lookup; on_resolved then
  // arrives later and only frees.
  uv_cancel(reinterpret_cast<uv_req_t*>(&req_));
}

void Resolve::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  std::unique_ptr<Resolve> self(static_cast<Resolve*>(req->data));
  Addresses addrs;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    sockaddr_storage addr{};
    std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    addrs.push_back(addr);
  }
  uv_freeaddrinfo(res);
  if (!self->done_) return;
  auto done = std::move(self->done_);
  uv::guard("a redis name lookup", [&] {
    if (status != 0) {
      done("cannot resolve \"" + self->host_ + "\": " + uv_strerror(status));
    } else if (addrs.empty()) {
      done("cannot resolve \"" + self->host_ + "\": no IPv4 or IPv6 address");
    } else {
      done(std::move(addrs));
    }
  });
}

std::string address_text(const sockaddr_storage& addr) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    uv_ip6_name(&a, ip, sizeof ip);
    return fmt::format("[{}]:{}", ip, ntohs(a.sin6_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
  uv_ip4_name(&a, ip, sizeof ip);
  return fmt::format("{}:{}", ip, ntohs(a.sin_port));
}

}  // namespace quiesce::redis
