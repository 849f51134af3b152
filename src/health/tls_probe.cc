// SPDX-License-Identifier: Apache-2.0
// OpenSSL-backed TLS pieces of health checks; see tls_probe.h.
#include "health/tls_probe.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/tls.h"

namespace sluice::health {

namespace {

std::string alpnWire(const std::vector<std::string>& alpn) {
  std::string wire;
  for (const std::string& a : alpn) {
    if (a.empty() || a.size() > 255) continue;
    wire.push_back(static_cast<char>(a.size()));
    wire += a;
  }
  return wire;
}

}  // namespace

std::string makeProbeHello(const std::string& sni, const std::vector<std::string>& alpn) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return {};
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  std::string wire = alpnWire(alpn);
  if (!wire.empty()) {
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_connect_state(ssl);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  SSL_do_handshake(ssl);  // writes the ClientHello, then wants to read
  std::string hello;
  char buf[4096];
  int n;
  while ((n = BIO_read(wbio, buf, sizeof(buf))) > 0) hello.append(buf, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

HelloAnswer classifyHelloResponse(const std::string& b) {
  if (b.empty()) return HelloAnswer::NeedMore;
  auto u = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  if (u(0) == 21) return b.size() >= 2 && u(1) != 3 ? HelloAnswer::NotTls : HelloAnswer::Alert;
  if (u(0) != 22) return HelloAnswer::NotTls;
  if (b.size() >= 2 && u(1) != 3) return HelloAnswer::NotTls;
  if (b.size() < 6) return HelloAnswer::NeedMore;
  return u(5) == 2 ? HelloAnswer::ServerHello : HelloAnswer::NotTls;
}

TlsClient::TlsClient(const std::string& sni, const std::vector<std::string>& alpn, bool verify,
                     const std::string& caFile) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) return;
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  if (verify) {
    if (!caFile.empty()) {
      // A bundle that cannot be read fails verification: reported as L6RSP.
      std::string error;
      net::loadCaBundle(ctx_, caFile, error);
    } else {
      SSL_CTX_set_default_verify_paths(ctx_);
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  std::string wire = alpnWire(alpn);
  if (!wire.empty()) {
    SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  ssl_ = SSL_new(ctx_);
  if (ssl_ && !sni.empty()) {
    SSL_set_tlsext_host_name(ssl_, sni.c_str());
    if (verify) SSL_set1_host(ssl_, sni.c_str());
  }
}

TlsClient::~TlsClient() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
}

bool TlsClient::attach(int fd) {
  if (!ssl_) return false;
  SSL_set_connect_state(ssl_);
  return SSL_set_fd(ssl_, fd) == 1;
}

int TlsClient::classify(int ret) {
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_WANT_READ) {
    wantWrite_ = false;
    return 0;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    wantWrite_ = true;
    return 0;
  }
  if (err == SSL_ERROR_ZERO_RETURN) {
    eof_ = true;
    return 0;
  }
  unsigned long e = ERR_get_error();
  char buf[256] = "TLS error";
  if (e) ERR_error_string_n(e, buf, sizeof(buf));
  error_ = buf;
  ERR_clear_error();
  return -1;
}

int TlsClient::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  return r == 1 ? 1 : classify(r);
}

int TlsClient::write(const std::string& data, size_t& written) {
  ERR_clear_error();
  int r = SSL_write(ssl_, data.data() + written, static_cast<int>(data.size() - written));
  if (r > 0) {
    written += static_cast<size_t>(r);
    return 1;
  }
  return classify(r);
}

int TlsClient::read(std::string& into) {
  char buf[16384];
  ERR_clear_error();
  int r = SSL_read(ssl_, buf, sizeof(buf));
  if (r > 0) {
    into.append(buf, static_cast<size_t>(r));
    return 1;
  }
  int c = classify(r);
  if (c < 0 && into.size() > 0 && SSL_get_error(ssl_, r) == SSL_ERROR_SYSCALL) {
    eof_ = true;  // a server that closes without close_notify after answering
    return 0;
  }
  return c;
}

}  // namespace sluice::health
