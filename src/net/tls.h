// SPDX-License-Identifier: Apache-2.0
// TLS over a connected non-blocking socket, through OpenSSL, for the links
// sluice itself speaks on (the peers protocol): contexts made from a
// bind's or a server's TLS parameters, and a stream that reads and writes
// with the socket's readiness. The proxied traffic is never decrypted;
// this is for sluice's own control plane.
//
//   std::string error;
//   auto ctx = net::makeTlsContext(options, /*server=*/false, error);
//   net::TlsStream tls(ctx, fd, /*server=*/false, sni, verifyHost);
//   tls.handshake();  // 1 done, 0 again on readiness (wantWrite()), -1 error()
//   tls.read(buf, n) / tls.write(p, n)  // > 0 bytes, 0 EOF (read), -1 errno EAGAIN or error
#pragma once

#include <openssl/ssl.h>

#include <sys/types.h>

#include <memory>
#include <string>

namespace sluice::net {

struct TlsOptions {
  std::string certFile;      // PEM: certificate, chain, private key
  std::string caFile;        // PEM bundle that must have signed the other side's certificate
  std::string crlFile;
  bool verifyPeer = false;   // the other side's certificate is checked against caFile
  bool requirePeerCert = false;  // a server: a client without a certificate is refused
  std::string ciphers, ciphersuites;
  std::string minVersion, maxVersion;  // "TLSv1.2" / "TLSv1.3"; TLS 1.2 at least always
};

using TlsContext = std::shared_ptr<SSL_CTX>;

// A context for the server or client side; null with `error` (a file that
// cannot be read or parsed, a key that does not match its certificate).
// Files are read through core::readFile, so contexts made again after
// chroot find them.
TlsContext makeTlsContext(const TlsOptions& options, bool server, std::string& error);

// Adds the certificates (and CRLs) of a PEM bundle to `ctx`'s trust store.
bool loadCaBundle(SSL_CTX* ctx, const std::string& path, std::string& error);

class TlsStream {
 public:
  // `sni`: the name sent (client side); `verifyHost`: the name the
  // server's certificate must carry (client side, with verification).
  TlsStream(const TlsContext& ctx, int fd, bool server, const std::string& sni = {},
            const std::string& verifyHost = {});
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  bool ok() const { return ssl_ != nullptr; }
  // 1: established; 0: call again when the socket is ready (wantWrite()
  // says for writing); -1: failed, error() says why.
  int handshake();
  bool established() const { return established_; }
  // Bytes read (> 0), 0 at the peer's close, -1 with errno EAGAIN (again on
  // readiness) or another error (error() says).
  ssize_t read(char* buf, size_t n);
  ssize_t write(const char* data, size_t n);
  bool wantWrite() const { return wantWrite_; }
  const std::string& error() const { return error_; }

 private:
  ssize_t fail(int ret);

  TlsContext ctx_;
  SSL* ssl_ = nullptr;
  bool established_ = false;
  bool wantWrite_ = false;
  std::string error_;
};

}  // namespace sluice::net
