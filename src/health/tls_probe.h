// SPDX-License-Identifier: Apache-2.0
// TLS pieces of health checks. The checker is the one place where sluice
// speaks TLS itself, and it does so through OpenSSL only:
//  - makeProbeHello(): a modern TLS 1.2/1.3 ClientHello (with the SNI of
//    "check-sni" and the protocols of "check-alpn") produced by OpenSSL and
//    captured from a memory BIO, for "option ssl-hello-chk";
//  - classifyHelloResponse(): does what came back start with a ServerHello?
//  - TlsClient: a non-blocking OpenSSL client over a connected socket, for
//    "check-ssl" HTTP checks and "tcp-check connect ssl".
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

namespace sluice::health {

// The bytes of a ClientHello for `sni` offering `alpn`; empty on failure.
std::string makeProbeHello(const std::string& sni, const std::vector<std::string>& alpn);

enum class HelloAnswer { NeedMore, ServerHello, Alert, NotTls };
HelloAnswer classifyHelloResponse(const std::string& bytes);

class TlsClient {
 public:
  TlsClient(const std::string& sni, const std::vector<std::string>& alpn, bool verify,
            const std::string& caFile);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool attach(int fd);
  // Each returns 1 done/progress, 0 would block (wantWrite() says which way), -1 error.
  int handshake();
  int write(const std::string& data, size_t& written);
  int read(std::string& into);  // appends; 0 also on clean EOF (eof() true)
  bool wantWrite() const { return wantWrite_; }
  bool eof() const { return eof_; }
  std::string lastError() const { return error_; }

 private:
  int classify(int ret);

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool wantWrite_ = false;
  bool eof_ = false;
  std::string error_;
};

}  // namespace sluice::health
