// SPDX-License-Identifier: Apache-2.0
// TLS for sluice's own links, through OpenSSL; see tls.h.
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>

#include "core/files.h"

namespace sluice::net {

namespace {

std::string opensslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return what;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return what + " (" + buf + ")";
}

int protocolVersion(const std::string& v) {
  if (v == "TLSv1.3") return TLS1_3_VERSION;
  return TLS1_2_VERSION;
}

// The PEM file at `path` (read through core::readFile, so also after
// chroot) and a memory BIO over it; `pem` holds the bytes and must outlive
// the BIO. Null with `error`.
BIO* pemBio(const std::string& path, std::string& pem, std::string& error) {
  if (!core::readFile(path, pem, error)) return nullptr;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) error = "out of memory reading '" + path + "'";
  return bio;
}

// A PEM file with a certificate, the chain after it and the private key,
// as HAProxy's "crt" takes it.
bool loadCertificate(SSL_CTX* ctx, const std::string& path, std::string& error) {
  std::string pem;
  BIO* bio = pemBio(path, pem, error);
  if (!bio) return false;
  X509* cert = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
  bool ok = cert && SSL_CTX_use_certificate(ctx, cert) == 1;
  if (cert) X509_free(cert);
  if (!ok) {
    BIO_free(bio);
    error = opensslError("no certificate in '" + path + "'");
    return false;
  }
  SSL_CTX_clear_chain_certs(ctx);
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) X509_free(extra);
  }
  ERR_clear_error();  // the end of the chain reads as an error
  BIO_free(bio);
  // The key may come before or after the certificates: read it on its own.
  bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  if (bio) BIO_free(bio);
  ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  if (key) EVP_PKEY_free(key);
  if (!ok) {
    error = opensslError("no private key for the certificate in '" + path + "'");
    return false;
  }
  return true;
}

}  // namespace

bool loadCaBundle(SSL_CTX* ctx, const std::string& path, std::string& error) {
  std::string pem;
  BIO* bio = pemBio(path, pem, error);
  if (!bio) return false;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  int added = 0;
  if (infos) {
    for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
      X509_INFO* info = sk_X509_INFO_value(infos, i);
      if (info->x509 && X509_STORE_add_cert(store, info->x509) == 1) ++added;
      if (info->crl && X509_STORE_add_crl(store, info->crl) == 1) ++added;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
  }
  ERR_clear_error();
  if (added == 0) {
    error = "no certificate in '" + path + "'";
    return false;
  }
  return true;
}

TlsContext makeTlsContext(const TlsOptions& o, bool server, std::string& error) {
  SSL_CTX* raw = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!raw) {
    error = opensslError("cannot make a TLS context");
    return nullptr;
  }
  TlsContext ctx(raw, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(raw, protocolVersion(o.minVersion.empty() ? "TLSv1.2" : o.minVersion));
  if (!o.maxVersion.empty()) SSL_CTX_set_max_proto_version(raw, protocolVersion(o.maxVersion));
  SSL_CTX_set_mode(raw, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(raw, o.ciphers.c_str()) != 1) {
    error = opensslError("bad 'ciphers' list '" + o.ciphers + "'");
    return nullptr;
  }
  if (!o.ciphersuites.empty() && SSL_CTX_set_ciphersuites(raw, o.ciphersuites.c_str()) != 1) {
    error = opensslError("bad 'ciphersuites' list '" + o.ciphersuites + "'");
    return nullptr;
  }
  if (!o.certFile.empty() && !loadCertificate(raw, o.certFile, error)) return nullptr;
  if (!o.caFile.empty() && !loadCaBundle(raw, o.caFile, error)) return nullptr;
  if (!o.crlFile.empty()) {
    if (!loadCaBundle(raw, o.crlFile, error)) return nullptr;
    X509_STORE_set_flags(SSL_CTX_get_cert_store(raw), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  if (o.verifyPeer) {
    int mode = SSL_VERIFY_PEER;
    if (server && o.requirePeerCert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(raw, mode, nullptr);
    if (server && !o.caFile.empty()) {
      // Tell clients which authorities their certificate must come from.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.caFile.c_str())) SSL_CTX_set_client_CA_list(raw, names);
      ERR_clear_error();
    }
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

TlsStream::TlsStream(const TlsContext& ctx, int fd, bool server, const std::string& sni,
                     const std::string& verifyHost)
    : ctx_(ctx) {
  if (!ctx_) return;
  ssl_ = SSL_new(ctx_.get());
  if (!ssl_) return;
  if (SSL_set_fd(ssl_, fd) != 1) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl_, sni.c_str());
    if (!verifyHost.empty()) SSL_set1_host(ssl_, verifyHost.c_str());
  }
}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
}

ssize_t TlsStream::fail(int ret) {
  const int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    wantWrite_ = err == SSL_ERROR_WANT_WRITE;
    errno = EAGAIN;
    return -1;
  }
  if (err == SSL_ERROR_ZERO_RETURN) return 0;
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    if (errno == 0) errno = ECONNRESET;  // closed without close_notify
    error_ = "connection closed during TLS";
    return -1;
  }
  if (SSL_get_verify_result(ssl_) != X509_V_OK) {
    error_ = std::string("certificate not accepted: ") + X509_verify_cert_error_string(SSL_get_verify_result(ssl_));
    ERR_clear_error();
  } else {
    error_ = opensslError("TLS error");
  }
  errno = EPROTO;
  return -1;
}

int TlsStream::handshake() {
  if (!ssl_) {
    error_ = "no TLS context";
    return -1;
  }
  if (established_) return 1;
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    established_ = true;
    wantWrite_ = false;
    return 1;
  }
  if (fail(r) < 0 && errno == EAGAIN) return 0;
  if (error_.empty()) error_ = "closed during the TLS handshake";
  return -1;
}

ssize_t TlsStream::read(char* buf, size_t n) {
  ERR_clear_error();
  const int r = SSL_read(ssl_, buf, static_cast<int>(n));
  return r > 0 ? r : fail(r);
}

ssize_t TlsStream::write(const char* data, size_t n) {
  ERR_clear_error();
  const int r = SSL_write(ssl_, data, static_cast<int>(n));
  if (r > 0) {
    wantWrite_ = false;
    return r;
  }
  const ssize_t f = fail(r);
  if (f == 0) {  // a write cannot meet the peer's close_notify cleanly
    errno = EPIPE;
    return -1;
  }
  return f;
}

}  // namespace sluice::net
