#include "quiesce/redis/tls_stream.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

namespace quiesce::redis {
namespace {

// The error queue is per thread and shared with everything else in the
// process; each operation starts from an empty one so the reason we report
// is ours.
std::string take_openssl_error() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return {};
  if (const char* reason = ERR_reason_error_string(last)) return reason;
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool load_system_bundle(SSL_CTX* ctx) {
  for (const char* const* path = well_known_ca_bundles(); *path; ++path) {
    if (access(*path, R_OK) != 0) continue;
    if (SSL_CTX_load_verify_locations(ctx, *path, nullptr) == 1) return true;
    ERR_clear_error();
  }
  return false;
}

}  // namespace

const char* const* well_known_ca_bundles() {
  static const char* const paths[] = {
      "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Alpine
      "/etc/pki/tls/certs/ca-bundle.crt",                   // Amazon Linux, RHEL, Fedora
      "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // RHEL 7+
      "/etc/ssl/cert.pem",                                  // Alpine, macOS
      "/etc/ssl/ca-bundle.pem",                             // openSUSE
      "/etc/pki/tls/cacert.pem",                            // OpenELEC
      nullptr,
  };
  return paths;
}

std::variant<std::shared_ptr<TlsContext>, std::string> TlsContext::create(
    const std::string& ca_file, bool verify) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return "redis: TLS setup failed: " + take_openssl_error();
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, verify));
  // Never silently allow a protocol older than TLS 1.2.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return "redis: TLS setup failed: cannot require TLS 1.2 or later: " + take_openssl_error();
  }
  if (!verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return context;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
      return "redis: cannot load CA file \"" + ca_file + "\": " + take_openssl_error();
    }
    return context;
  }
  load_system_bundle(ctx);
  // Also honours SSL_CERT_FILE / SSL_CERT_DIR; failing here is not an error,
  // a missing trust store shows up as a verify failure with its reason.
  SSL_CTX_set_default_verify_paths(ctx);
  ERR_clear_error();
  return context;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

std::variant<std::unique_ptr<TlsStream>, std::string> TlsStream::create(
    std::shared_ptr<TlsContext> context, const std::string& host) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context->native());
  if (!ssl) return "redis: TLS setup failed: " + take_openssl_error();
  std::unique_ptr<TlsStream> stream(new TlsStream(context, ssl));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    return "redis: TLS setup failed: out of memory";
  }
  // An empty input BIO means "wait for more", not end of stream.
  BIO_set_mem_eof_return(in, -1);
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  bool ip = is_ip_literal(host);
  // RFC 6066: SNI carries host names only, never addresses.
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return "redis: TLS setup failed: bad server name \"" + host + "\"";
  }
  if (context->verify()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    if (ok != 1) return "redis: TLS setup failed: cannot check certificate for \"" + host + "\"";
  }
  return stream;
}

TlsStream::TlsStream(std::shared_ptr<TlsContext> context, SSL* ssl)
    : context_(std::move(context)), ssl_(ssl) {}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

std::optional<std::string> TlsStream::feed(const char* data, std::size_t size) {
  while (size > 0) {
    int chunk = size > INT_MAX ? INT_MAX : static_cast<int>(size);
    ERR_clear_error();
    int written = BIO_write(SSL_get_rbio(ssl_), data, chunk);
    // A memory BIO takes everything unless out of memory; bytes dropped
    // would corrupt the stream, so the connection must end.
    if (written <= 0) return "TLS error: cannot take received bytes: " + take_openssl_error();
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return std::nullopt;
}

TlsStream::Progress TlsStream::handshake() {
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) return Progress::Done;
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Progress::NeedMore;
  error_ = describe_failure(ret);
  return Progress::Failed;
}

std::optional<std::string> TlsStream::read(std::string& plain) {
  char buf[16384];
  for (;;) {
    ERR_clear_error();
    int ret = SSL_read(ssl_, buf, sizeof buf);
    if (ret > 0) {
      plain.append(buf, static_cast<std::size_t>(ret));
      continue;
    }
    int err = SSL_get_error(ssl_, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return std::nullopt;
    if (err == SSL_ERROR_ZERO_RETURN) return std::string("server closed the TLS session");
    return "TLS error: " + describe_failure(ret);
  }
}

std::optional<std::string> TlsStream::write(std::string_view plain) {
  while (!plain.empty()) {
    ERR_clear_error();
    int chunk = plain.size() > INT_MAX ? INT_MAX : static_cast<int>(plain.size());
    int ret = SSL_write(ssl_, plain.data(), chunk);
    if (ret <= 0) return "TLS error: " + describe_failure(ret);
    plain.remove_prefix(static_cast<std::size_t>(ret));
  }
  return std::nullopt;
}

std::optional<std::string> TlsStream::take_output(std::string& bytes) {
  BIO* out = SSL_get_wbio(ssl_);
  std::size_t pending = BIO_ctrl_pending(out);
  bytes.assign(std::min<std::size_t>(pending, INT_MAX), '\0');
  if (bytes.empty()) return std::nullopt;
  ERR_clear_error();
  int got = BIO_read(out, bytes.data(), static_cast<int>(bytes.size()));
  if (got <= 0) {
    bytes.clear();
    return "TLS error: cannot take bytes to send: " + take_openssl_error();
  }
  bytes.resize(static_cast<std::size_t>(got));
  return std::nullopt;
}

std::string TlsStream::describe_failure(int ret) {
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  std::string reason = take_openssl_error();
  if (!reason.empty()) return reason;
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) return "peer closed the connection";
  return "TLS error " + std::to_string(err);
}

}  // namespace quiesce::redis
