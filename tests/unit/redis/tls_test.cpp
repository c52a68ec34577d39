#include <doctest/doctest.h>

#include "quiesce/redis/client.hpp"
#include "redis_test_support.hpp"

using namespace redis_test;
using quiesce::redis::Client;
using quiesce::redis::ClientOptions;

namespace {

// A throwaway CA and a server certificate for "localhost" only (no IP SAN,
// so connecting by address must fail the name check).
struct Certificates {
  std::string ca, cert, key;
};

Certificates make_certificates(const TempDir& dir) {
  Certificates certs{dir.file("ca.crt"), dir.file("server.crt"), dir.file("server.key")};
  std::string log = dir.file("openssl.log");
  std::string ext = dir.file("server.ext");
  std::ofstream(ext) << "subjectAltName=DNS:localhost\n"
                        "basicConstraints=CA:FALSE\n"
                        "keyUsage=digitalSignature,keyEncipherment\n"
                        "extendedKeyUsage=serverAuth\n";
  const std::vector<std::vector<std::string>> steps = {
      {"openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-keyout", dir.file("ca.key"), "-out", certs.ca, "-days",
       "2", "-subj", "/CN=quiesce test CA"},
      {"openssl", "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-keyout", certs.key, "-out", dir.file("server.csr"),
       "-subj", "/CN=localhost"},
      {"openssl", "x509", "-req", "-in", dir.file("server.csr"), "-CA", certs.ca, "-CAkey",
       dir.file("ca.key"), "-CAcreateserial", "-out", certs.cert, "-days", "2", "-extfile", ext},
  };
  for (const auto& step : steps) {
    REQUIRE_MESSAGE(run_program(step, log) == 0, "openssl failed: " << slurp(log));
  }
  return certs;
}

ClientOptions tls_options(int port, const std::string& host, const std::string& ca,
                          bool verify = true) {
  ClientOptions options;
  options.url = url("rediss://:tls-secret@" + host + ":" + std::to_string(port) + "/2");
  options.ca_file = ca;
  options.tls_verify = verify;
  options.connect_timeout = 5000ms;
  options.command_timeout = 5000ms;
  return options;
}

}  // namespace

TEST_CASE("redis client: TLS with certificate checks") {
  TempDir dir;
  Certificates certs = make_certificates(dir);
  int port = free_port();
  // Debian's redis-server is built with TLS; a build without it refuses
  // --tls-port and the server start fails with that message.
  RedisServer server(dir,
                     {"--port", "0", "--tls-port", std::to_string(port), "--tls-cert-file",
                      certs.cert, "--tls-key-file", certs.key, "--tls-ca-cert-file", certs.ca,
                      "--tls-auth-clients", "no", "--requirepass", "tls-secret"},
                     port);
  Loop loop;

  SUBCASE("the CA file makes it work, AUTH and SELECT run over TLS") {
    LogCapture logs;
    Client client(loop.get(), tls_options(port, "localhost", certs.ca), logs.fn());
    Outcome out = roundtrip(loop, client, {{"SET", "k", "v"}, {"GET", "k"}, {"CLIENT", "INFO"}});
    REQUIRE_MESSAGE(out.ok(), out.error());
    CHECK(out.replies().at(1).str == "v");
    CHECK(out.replies().at(2).str.find("db=2") != std::string::npos);
    CHECK(logs.any("redis_connected"));
    CHECK_FALSE(logs.mentions("tls-secret"));
    // A second round trip on the same TLS session.
    Outcome again = roundtrip(loop, client, {{"GET", "k"}});
    REQUIRE_MESSAGE(again.ok(), again.error());
    CHECK(again.replies().at(0).str == "v");
    close_client(loop, client);
  }

  SUBCASE("without the CA, verification fails clearly") {
    LogCapture logs;
    Client client(loop.get(), tls_options(port, "localhost", ""), logs.fn());
    Outcome out = roundtrip(loop, client, {{"PING"}});
    CHECK_FALSE(out.ok());
    CHECK_MESSAGE(out.error().find("certificate verify failed") != std::string::npos, out.error());
    CHECK(out.error().starts_with("redis: TLS handshake with localhost:"));
    CHECK(logs.mentions("certificate verify failed"));
    CHECK_FALSE(logs.mentions("tls-secret"));
    close_client(loop, client);
  }

  SUBCASE("the host name is checked against the certificate") {
    Client client(loop.get(), tls_options(port, "127.0.0.1", certs.ca), nullptr);
    Outcome out = roundtrip(loop, client, {{"PING"}});
    CHECK_FALSE(out.ok());
    CHECK_MESSAGE(out.error().find("mismatch") != std::string::npos, out.error());
    close_client(loop, client);
  }

  SUBCASE("tls_verify=false connects without the CA") {
    Client client(loop.get(), tls_options(port, "127.0.0.1", "", false), nullptr);
    Outcome out = roundtrip(loop, client, {{"PING"}});
    REQUIRE_MESSAGE(out.ok(), out.error());
    CHECK(out.replies().at(0).str == "PONG");
    close_client(loop, client);
  }

  SUBCASE("an unreadable CA file is named") {
    Client client(loop.get(), tls_options(port, "localhost", dir.file("missing.pem")), nullptr);
    Outcome out = roundtrip(loop, client, {{"PING"}});
    CHECK_MESSAGE(out.error().starts_with("redis: cannot load CA file"), out.error());
    close_client(loop, client);
  }

  SUBCASE("plain text to a TLS port fails within the timeout") {
    ClientOptions options = tls_options(port, "localhost", "");
    options.url.scheme = quiesce::redis::Url::Scheme::Tcp;
    options.connect_timeout = 1000ms;
    Client client(loop.get(), options, nullptr);
    Outcome out = roundtrip(loop, client, {{"PING"}});
    CHECK_FALSE(out.ok());
    close_client(loop, client);
  }
}
