#pragma once
// TLS without a socket: OpenSSL runs over two memory BIOs, so the event loop
// owns all I/O. Bytes read from the wire go in through feed(); bytes to send
// come out of take_output(). Nothing here blocks or touches a file descriptor.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace quiesce::redis {

// Trust settings shared by every connection of one client.
class TlsContext {
 public:
  // ca_file empty: the first well-known system bundle that exists, then
  // OpenSSL's defaults (a static binary may run in an image whose layout
  // differs from the one it was built on).
  static std::variant<std::shared_ptr<TlsContext>, std::string> create(const std::string& ca_file,
                                                                       bool verify);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  bool verify() const { return verify_; }

 private:
  TlsContext(SSL_CTX* ctx, bool verify) : ctx_(ctx), verify_(verify) {}
  SSL_CTX* ctx_;
  bool verify_;
};

// The bundle paths tried in order when no CA file is given.
const char* const* well_known_ca_bundles();

class TlsStream {
 public:
  enum class Progress { Done, NeedMore, Failed };

  // host: checked against the certificate (name or IP) and sent as SNI.
  static std::variant<std::unique_ptr<TlsStream>, std::string> create(
      std::shared_ptr<TlsContext> context, const std::string& host);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Ciphertext from the peer; an error when it could not all be taken.
  std::optional<std::string> feed(const char* data, std::size_t size);
  // Drives the handshake; on Failed, error() says why in one line.
  Progress handshake();
  // Decrypts whatever is complete. Returns an error when the stream is broken
  // or the peer closed it.
  std::optional<std::string> read(std::string& plain);
  std::optional<std::string> write(std::string_view plain);
  // Ciphertext waiting to go out (handshake records, encrypted writes), into
  // bytes; an error when it could not be taken.
  std::optional<std::string> take_output(std::string& bytes);
  const std::string& error() const { return error_; }

 private:
  TlsStream(std::shared_ptr<TlsContext> context, SSL* ssl);
  std::string describe_failure(int ret);

  std::shared_ptr<TlsContext> context_;
  SSL* ssl_;
  std::string error_;
};

}  // namespace quiesce::redis
