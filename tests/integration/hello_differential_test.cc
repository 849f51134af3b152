// SPDX-License-Identifier: Apache-2.0
// Differential test of the ClientHello reader against OpenSSL: the same
// hellos - recorded from real TLS stacks (tests/data/hellos) and produced
// live by OpenSSL clients with many settings - are cut into TLS records of
// every size and fed in TCP-sized pieces of every size to sluice's reader,
// and given whole to an OpenSSL server whose client-hello callback reads
// the server_name and ALPN extensions it received. Both must find the same
// SNI and the same protocol list for every input.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include <filesystem>
#include <string>
#include <vector>

#include "harness.h"
#include "proto/client_hello.h"

namespace sluice::testing {
namespace {

struct Seen {
  bool called = false;
  bool hasSni = false;
  std::string sni;
  std::vector<std::string> alpn;
};

// RFC 6066 section 3: the first host_name of the server_name list.
bool readServerName(const unsigned char* p, size_t len, Seen& out) {
  if (len < 2) return false;
  size_t listLen = (size_t(p[0]) << 8) | p[1];
  if (listLen + 2 != len) return false;
  size_t i = 2;
  while (i + 3 <= len) {
    uint8_t type = p[i];
    size_t n = (size_t(p[i + 1]) << 8) | p[i + 2];
    if (i + 3 + n > len) return false;
    if (type == TLSEXT_NAMETYPE_host_name) {
      out.hasSni = true;
      out.sni.assign(reinterpret_cast<const char*>(p + i + 3), n);
      return true;
    }
    i += 3 + n;
  }
  return true;
}

// RFC 7301 section 3.1: a list of length-prefixed protocol names.
void readAlpn(const unsigned char* p, size_t len, Seen& out) {
  if (len < 2) return;
  size_t i = 2;
  while (i < len) {
    size_t n = p[i];
    if (i + 1 + n > len) return;
    out.alpn.emplace_back(reinterpret_cast<const char*>(p + i + 1), n);
    i += 1 + n;
  }
}

int onClientHello(SSL* ssl, int* alert, void* arg) {
  (void)alert;
  auto* seen = static_cast<Seen*>(arg);
  seen->called = true;
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len)) readServerName(p, len, *seen);
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &len)) {
    readAlpn(p, len, *seen);
  }
  // What was received is all we want: stop the handshake here.
  return SSL_CLIENT_HELLO_ERROR;
}

// What OpenSSL's server finds in `wire` (one or more TLS records).
Seen openSslView(const std::string& wire) {
  Seen seen;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, 0);
  SSL_CTX_set_client_hello_cb(ctx, onClientHello, &seen);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  BIO_write(in, wire.data(), static_cast<int>(wire.size()));
  SSL_set_bio(ssl, in, out);
  (void)SSL_accept(ssl);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return seen;
}

// What sluice's reader finds when the bytes arrive in pieces of `chunk`.
proto::ClientHelloInfo sluiceView(const std::string& wire, size_t chunk, proto::HelloStatus& status) {
  proto::ClientHelloParser parser;
  std::vector<uint8_t> buffered;
  status = proto::HelloStatus::NeedMore;
  for (size_t at = 0; at < wire.size() && status == proto::HelloStatus::NeedMore; at += chunk) {
    std::string_view piece = std::string_view(wire).substr(at, chunk);
    buffered.insert(buffered.end(), piece.begin(), piece.end());
    status = parser.parse(buffered);
  }
  return parser.info();
}

// The handshake bytes of the records at the start of `wire`, and the
// version of the first record.
std::string handshakeBytes(const std::string& wire, uint16_t& version) {
  std::string out;
  size_t i = 0;
  version = 0x0301;
  while (i + 5 <= wire.size() && static_cast<uint8_t>(wire[i]) == 22) {
    if (i == 0) version = static_cast<uint16_t>((uint8_t(wire[1]) << 8) | uint8_t(wire[2]));
    size_t n = (size_t(uint8_t(wire[i + 3])) << 8) | uint8_t(wire[i + 4]);
    out += wire.substr(i + 5, n);
    i += 5 + n;
  }
  return out;
}

// The same handshake bytes in records of at most `size` bytes.
std::string refragment(const std::string& handshake, uint16_t version, size_t size) {
  std::string out;
  for (size_t at = 0; at < handshake.size(); at += size) {
    size_t n = std::min(size, handshake.size() - at);
    out += static_cast<char>(22);
    out += static_cast<char>(version >> 8);
    out += static_cast<char>(version & 0xff);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
    out += handshake.substr(at, n);
  }
  return out;
}

struct ClientSetup {
  std::string label;
  std::string sni;                  // empty: none sent
  std::vector<std::string> alpn;    // empty: none sent
  int maxVersion = TLS1_3_VERSION;
  std::string groups;               // empty: OpenSSL's default
  bool ticket = true;
};

// The ClientHello an OpenSSL client with `c` sends.
std::string openSslClientHello(const ClientSetup& c) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, c.maxVersion);
  if (!c.groups.empty()) SSL_CTX_set1_groups_list(ctx, c.groups.c_str());
  if (!c.ticket) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL* ssl = SSL_new(ctx);
  if (!c.sni.empty()) SSL_set_tlsext_host_name(ssl, c.sni.c_str());
  if (!c.alpn.empty()) {
    std::string wire;
    for (const auto& p : c.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  (void)SSL_connect(ssl);
  std::string hello;
  char buf[4096];
  int n;
  while ((n = BIO_read(out, buf, sizeof buf)) > 0) hello.append(buf, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

std::vector<std::pair<std::string, std::string>> allHellos() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : std::filesystem::directory_iterator(dataDir() + "/hellos")) {
    if (e.path().extension() == ".bin") out.emplace_back(e.path().filename().string(), readFile(e.path().string()));
  }
  std::string longName;
  for (int i = 0; i < 4; ++i) longName += std::string(60, static_cast<char>('a' + i)) + ".";
  longName += "example";
  std::vector<std::string> manyProtocols;
  for (int i = 0; i < 120; ++i) manyProtocols.push_back("proto-" + std::to_string(i));
  auto mk = [](std::string label, std::string sni, std::vector<std::string> alpn,
               int maxVersion = TLS1_3_VERSION, std::string groups = "", bool ticket = true) {
    return ClientSetup{std::move(label), std::move(sni), std::move(alpn), maxVersion, std::move(groups), ticket};
  };
  const std::vector<ClientSetup> setups = {
      mk("plain", "www.example.com", {}),
      mk("alpn", "api.example.net", {"h2", "http/1.1"}),
      mk("no-sni", "", {"h2"}),
      mk("nothing", "", {}),
      mk("tls12", "legacy.example.org", {"http/1.1"}, TLS1_2_VERSION),
      mk("punycode", "xn--bcher-kva.example", {"h2"}),
      mk("trailing-dot", "trailing.example.com.", {}),
      mk("upper-case", "MiXeD.Example.COM", {"h2"}),
      mk("long-name", longName, {"h2"}),
      mk("ip-literal", "192.0.2.1", {}),
      mk("many-alpn", "big.example", manyProtocols),
      mk("odd-alpn", "odd.example", {"x", std::string(255, 'p'), "\x01\x02"}),
      mk("p256-only", "groups.example", {"h2"}, TLS1_3_VERSION, "P-256"),
      mk("many-groups", "groups2.example", {}, TLS1_3_VERSION, "X25519:P-256:P-384:P-521:ffdhe2048:ffdhe3072"),
      mk("no-ticket", "noticket.example", {"h2"}, TLS1_3_VERSION, "", false),
  };
  for (const auto& c : setups) out.emplace_back("openssl-" + c.label, openSslClientHello(c));
  return out;
}

TEST(HelloDifferential, SluiceAndOpenSslAgreeOnSniAndAlpn) {
  size_t compared = 0;
  size_t withSni = 0, withAlpn = 0;
  for (const auto& [name, wire] : allHellos()) {
    ASSERT_FALSE(wire.empty()) << name;
    uint16_t version = 0;
    std::string handshake = handshakeBytes(wire, version);
    ASSERT_FALSE(handshake.empty()) << name << ": no handshake record";
    std::vector<std::pair<std::string, std::string>> variants = {{"as recorded", wire}};
    for (size_t size : {1u, 2u, 3u, 5u, 64u, 100u, 255u, 512u, 1000u, 16384u}) {
      variants.emplace_back("records of " + std::to_string(size), refragment(handshake, version, size));
    }
    for (const auto& [how, bytes] : variants) {
      Seen ossl = openSslView(bytes);
      ASSERT_TRUE(ossl.called) << name << ", " << how << ": OpenSSL did not read the hello";
      withSni += ossl.hasSni;
      withAlpn += !ossl.alpn.empty();
      for (size_t chunk : {size_t(1), size_t(7), size_t(536), size_t(1460), bytes.size()}) {
        proto::HelloStatus status;
        proto::ClientHelloInfo info = sluiceView(bytes, chunk, status);
        SCOPED_TRACE(name + ", " + how + ", TCP pieces of " + std::to_string(chunk));
        ASSERT_EQ(status, proto::HelloStatus::Done) << proto::toString(status);
        EXPECT_EQ(info.hasSni, ossl.hasSni);
        EXPECT_EQ(info.sni, ossl.sni);
        EXPECT_EQ(info.alpn, ossl.alpn);
        ++compared;
      }
    }
  }
  // 7 recorded and 15 generated hellos, 11 record cuts, 5 TCP cuts each.
  EXPECT_GE(compared, 22u * 11 * 5);
  // The comparison means something only if OpenSSL saw names and protocols.
  EXPECT_GE(withSni, 19u * 11);
  EXPECT_GE(withAlpn, 14u * 11);
}

}  // namespace
}  // namespace sluice::testing
