// SPDX-License-Identifier: Apache-2.0
// Routing through the real binary: SNI ACLs, -m end, -f lists, maps, ALPN,
// default backends, and what happens without a ClientHello. The TLS servers
// answer with their own name and certificate, so each test sees which
// backend it reached and that nothing terminated TLS on the way.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

namespace sluice::testing {
namespace {

class Routing : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(makeTempDir("routing"));
    for (const char* n : {"a.example", "b.example", "c.example", "default.example"}) {
      (*certs())[n] = makeCert(*dir_, n);
    }
  }
  static std::map<std::string, Cert>* certs() {
    static std::map<std::string, Cert> c;
    return &c;
  }
  static std::string* dir_;

  void SetUp() override {
    a_ = std::make_unique<TestServer>("A", TestServer::Mode::Identify, &(*certs())["a.example"]);
    b_ = std::make_unique<TestServer>("B", TestServer::Mode::Identify, &(*certs())["b.example"]);
    c_ = std::make_unique<TestServer>("C", TestServer::Mode::Identify, &(*certs())["c.example"]);
    d_ = std::make_unique<TestServer>("D", TestServer::Mode::Identify, &(*certs())["default.example"]);
    port_ = freePort();
  }

  std::string head() {
    return "global\n  log stdout format raw local0\n  nbthread 2\n"
           "defaults\n  mode tcp\n  log global\n  option tcplog\n"
           "  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";
  }
  std::string backends() {
    return "backend bk_a\n  server a " + addr(*a_) + "\n" +
           "backend bk_b\n  server b " + addr(*b_) + "\n" +
           "backend bk_c\n  server c " + addr(*c_) + "\n" +
           "backend bk_default\n  server d " + addr(*d_) + "\n";
  }
  static std::string addr(const TestServer& s) { return "127.0.0.1:" + std::to_string(s.port()); }

  std::string reach(const std::string& sni, std::vector<std::string> alpn = {}) {
    TlsClientOptions o;
    o.sni = sni;
    o.alpn = std::move(alpn);
    TlsResult r = tlsRequest("127.0.0.1", port_, o);
    if (!r.handshake) return "fail:" + r.error;
    size_t p = r.response.find("server=");
    return p == std::string::npos ? "noanswer" : r.response.substr(p + 7, 1);
  }

  std::unique_ptr<TestServer> a_, b_, c_, d_;
  int port_ = 0;
};
std::string* Routing::dir_ = nullptr;

// Exact SNI match (with -i), suffix match, and the default for everything else.
TEST_F(Routing, SniAclsChooseTheBackend) {
  Sluice s(head() +
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  tcp-request content accept if { req_ssl_hello_type 1 }\n"
               "  use_backend bk_a if { req_ssl_sni -i A.Example }\n"
               "  use_backend bk_b if { req.ssl_sni -m end .b.example }\n"
               "  default_backend bk_default\n" + backends(),
           {port_});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(reach("a.example"), "A");
  EXPECT_EQ(reach("www.b.example"), "B");
  EXPECT_EQ(reach("b.example"), "D");  // "-m end .b.example" needs the dot
  EXPECT_EQ(reach("other.example"), "D");
  EXPECT_EQ(reach(""), "D");           // no SNI at all
  EXPECT_EQ(a_->snis(), std::vector<std::string>{"a.example"});
  EXPECT_TRUE(s.waitForLog("fe bk_b/b "));
}

// Named ACLs, "||", "!", and an -f list file.
TEST_F(Routing, NamedAclsOrNotAndListFiles) {
  std::string dir = makeTempDir("acl");
  writeFile(dir + "/c-names.lst", "# names served by C\nc.example\n  c2.example  \n\n");
  Sluice s(head() +
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  acl is_a req.ssl_sni a.example\n"
               "  acl is_a req.ssl_sni a2.example\n"
               "  acl from_local src 127.0.0.0/8\n"
               "  acl is_c req.ssl_sni -f " + dir + "/c-names.lst\n"
               "  use_backend bk_a if is_a from_local\n"
               "  use_backend bk_c if is_c || { req.ssl_sni -m beg cc. }\n"
               "  use_backend bk_b if !is_a !is_c { req.ssl_sni -m found }\n"
               "  default_backend bk_default\n" + backends(),
           {port_});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(reach("a2.example"), "A");
  EXPECT_EQ(reach("c2.example"), "C");
  EXPECT_EQ(reach("cc.anything"), "C");
  EXPECT_EQ(reach("zzz.example"), "B");
  EXPECT_EQ(reach(""), "D");
}

// Sites with many names route with a map: use_backend %[req.ssl_sni,lower,map(...)].
TEST_F(Routing, MapFileRouting) {
  std::string dir = makeTempDir("map");
  writeFile(dir + "/sni.map",
            "# sni backend\n"
            "a.example    bk_a\n"
            "b.example    bk_b\n"
            "unknown.example bk_missing\n");
  writeFile(dir + "/dom.map", "c.example bk_c\n");
  Sluice s(head() +
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  tcp-request content accept if { req_ssl_hello_type 1 }\n"
               "  use_backend %[req.ssl_sni,lower,map_dom(" + dir + "/dom.map)] "
               "if { req.ssl_sni,lower,map_dom(" + dir + "/dom.map) -m found }\n"
               "  use_backend %[req.ssl_sni,lower,map(" + dir + "/sni.map,bk_default)]\n"
               "  default_backend bk_a\n" + backends(),
           {port_});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(reach("B.EXAMPLE"), "B");
  // map_dom: c.example matches as a domain of www.c.example
  EXPECT_EQ(reach("www.c.example"), "C");
  // Not in the map: the map's own default value names the backend.
  EXPECT_EQ(reach("nothere.example"), "D");
  // A name that resolves to no backend stops the search: default_backend.
  EXPECT_EQ(reach("unknown.example"), "A");
}

// A dynamic use_backend whose sample is missing (no SNI, and a map without a
// default) ends the search: default_backend, as HAProxy does.
TEST_F(Routing, MissingSampleFallsToDefaultBackend) {
  std::string dir = makeTempDir("map2");
  writeFile(dir + "/sni.map", "a.example bk_a\n");
  Sluice s(head() +
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  use_backend %[req.ssl_sni,map(" + dir + "/sni.map)]\n"
               "  use_backend bk_c\n"
               "  default_backend bk_default\n" + backends(),
           {port_});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(reach("a.example"), "A");
  EXPECT_EQ(reach("b.example"), "D");
  EXPECT_EQ(reach(""), "D");
  EXPECT_EQ(c_->connections(), 0);
}

// req.ssl_alpn matches any protocol the client offers.
TEST_F(Routing, AlpnRouting) {
  Sluice s(head() +
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  use_backend bk_a if { req.ssl_alpn acme-tls/1 }\n"
               "  use_backend bk_c if { req.ssl_alpn h2 }\n"
               "  default_backend bk_default\n" + backends(),
           {port_});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(reach("x.example", {"acme-tls/1"}), "A");
  EXPECT_EQ(reach("x.example", {"http/1.1", "h2"}), "C");
  EXPECT_EQ(reach("x.example", {"http/1.1"}), "D");
}

// With no "tcp-request content" rule at all, a frontend routing on SNI still
// waits for the whole ClientHello, even when it is cut into tiny segments and
// several TLS records (HAProxy issue #3148).
TEST_F(Routing, WaitsForWholeHelloWithoutContentRules) {
  Sluice s(head() +
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  use_backend bk_a if { req.ssl_sni a.example }\n"
               "  default_backend bk_default\n" + backends(),
           {port_});
  ASSERT_TRUE(s.started()) << s.log();
  TlsClientOptions o;
  o.sni = "a.example";
  o.padAlpnTo = 1800;        // as large as a post-quantum hello
  o.maxSendFragment = 512;   // over four TLS records
  o.segment = 7;             // in 7-byte TCP segments
  o.segmentDelayMs = 1;
  TlsResult r = tlsRequest("127.0.0.1", port_, o);
  ASSERT_TRUE(r.handshake) << r.error;
  EXPECT_NE(r.response.find("server=A"), std::string::npos);
}

// Plain HTTP to a TLS frontend: the TLS fetches are empty and the rules
// decide at once; the default backend receives the bytes unchanged.
TEST_F(Routing, NonTlsClientFallsToTheRules) {
  TestServer rec("R", TestServer::Mode::Record);
  Sluice s(head() +
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  use_backend bk_a if { req.ssl_sni -m found }\n"
               "  default_backend bk_rec\n" + backends() +
               "backend bk_rec\n  server r 127.0.0.1:" + std::to_string(rec.port()) + "\n",
           {port_});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port_);
  ASSERT_GE(fd, 0);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sendAll(fd, "GET / HTTP/1.0\r\n\r\n"));
  shutdown(fd, SHUT_WR);
  EXPECT_TRUE(waitClosed(fd, scaled(3000)));
  close(fd);
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_LT(elapsed.count(), 2000) << "not-TLS is known at once; no need to wait for inspect-delay";
  eventually([&] { return !rec.recorded().empty(); }, 2000);
  ASSERT_EQ(rec.recorded().size(), 1u);
  EXPECT_EQ(rec.recorded()[0], "GET / HTTP/1.0\r\n\r\n");
}

// Over IPv6 on both sides.
TEST_F(Routing, Ipv6BothSides) {
  TestServer a6("A", TestServer::Mode::Identify, &(*certs())["a.example"], "::1");
  int port = freePort("::1");
  Sluice s(head() +
               "frontend fe\n  bind [::1]:" + std::to_string(port) + "\n"
               "  tcp-request inspect-delay 5s\n"
               "  use_backend bk6 if { req.ssl_sni a.example }\n"
               "backend bk6\n  server a6 [::1]:" + std::to_string(a6.port()) + "\n",
           {}, {}, 0, "::1");
  ASSERT_TRUE(waitForPort("::1", port, scaled(5000))) << s.log();
  TlsClientOptions o;
  o.sni = "a.example";
  TlsResult r = tlsRequest("::1", port, o);
  ASSERT_TRUE(r.handshake) << r.error;
  EXPECT_NE(r.response.find("server=A"), std::string::npos);
  EXPECT_TRUE(s.waitForLog("::1:"));
}


// An RDP client's first packet: TPKT, X.224 Connection Request, a cookie
// line, and the RDP negotiation request (MS-RDPBCGR 2.2.1.1).
std::string rdpConnectionRequest(const std::string& cookieLine) {
  std::string body = cookieLine + std::string("\x01\x00\x08\x00\x03\x00\x00\x00", 8);
  std::string x224 = std::string(1, static_cast<char>(6 + body.size())) + std::string("\xe0\x00\x00\x00\x00\x00", 6);
  size_t total = 4 + x224.size() + body.size();
  return std::string("\x03\x00", 2) + static_cast<char>(total >> 8) + static_cast<char>(total & 0xff) + x224 + body;
}

std::string askRdp(int port, const std::string& packet) {
  int fd = connectTcp("127.0.0.1", port);
  if (fd < 0) return "";
  sendAll(fd, packet);
  ::shutdown(fd, SHUT_WR);
  std::string answer = recvAll(fd, 3000);
  ::close(fd);
  size_t at = answer.find("server=");
  return at == std::string::npos ? answer : answer.substr(at + 7, answer.find('\n', at) - at - 7);
}

// "balance rdp-cookie": one user's sessions land on one server; "persist
// rdp-cookie": a routing token names the server to go back to.
TEST(RoutingRdp, CookieBalanceAndPersistence) {
  TestServer a("a", TestServer::Mode::Identify);
  TestServer b("b", TestServer::Mode::Identify);
  TestServer c("c", TestServer::Mode::Identify);
  int port = freePort();
  int persisted = freePort();
  std::string servers = "  server a 127.0.0.1:" + std::to_string(a.port()) + "\n  server b 127.0.0.1:" +
                        std::to_string(b.port()) + "\n  server c 127.0.0.1:" + std::to_string(c.port()) + "\n";
  Sluice s("defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
           "listen rdp\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  tcp-request inspect-delay 5s\n  tcp-request content accept if RDP_COOKIE\n"
           "  balance rdp-cookie\n" + servers +
           "listen farm\n  bind 127.0.0.1:" + std::to_string(persisted) + "\n"
           "  tcp-request inspect-delay 5s\n  tcp-request content accept if RDP_COOKIE\n"
           "  persist rdp-cookie\n  balance roundrobin\n" + servers,
           {port, persisted});
  ASSERT_TRUE(s.started()) << s.log();
  std::map<std::string, std::set<std::string>> seen;
  for (const char* user : {"alice", "bob", "carol", "dave", "erin", "frank"}) {
    for (int i = 0; i < 3; ++i) {
      seen[user].insert(askRdp(port, rdpConnectionRequest(std::string("Cookie: mstshash=") + user + "\r\n")));
    }
    EXPECT_EQ(seen[user].size(), 1u) << user << " went to several servers";
  }
  std::set<std::string> used;
  for (const auto& [user, servers] : seen) used.insert(*servers.begin());
  EXPECT_GE(used.size(), 2u) << "six users on one server";
  // The token for 127.0.0.1 and b's port: the address as a little-endian
  // number, the port byte-swapped.
  uint32_t ip = 1u << 24 | 127u;
  uint16_t p = static_cast<uint16_t>(b.port());
  std::string token = std::to_string(ip) + "." + std::to_string(((p & 0xff) << 8) | (p >> 8)) + ".0000";
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(askRdp(persisted, rdpConnectionRequest("Cookie: msts=" + token + "\r\n")), "b");
  }
  // No cookie: plain roundrobin, and the bytes still reach a server.
  std::set<std::string> rr;
  for (int i = 0; i < 3; ++i) rr.insert(askRdp(persisted, rdpConnectionRequest("")));
  EXPECT_EQ(rr.size(), 3u);
}

// A server at 0.0.0.0, written ":<port>" or ":" (two unset variables, which
// HAProxy accepts), is the address the client connected to: intercepted
// traffic goes on where it was going, and set-dst / set-dst-port choose it.
TEST(RoutingDestination, ServerAtTheClientsDestination) {
  TestServer here("here", TestServer::Mode::Identify, nullptr, "127.0.0.1");
  TestServer there("there", TestServer::Mode::Identify, nullptr, "127.0.0.3", here.port());
  ASSERT_EQ(there.port(), here.port());
  const std::string sp = std::to_string(here.port());
  int p1 = freePort();
  int p2 = freePort();
  int p3 = freePort();
  unsetenv("SLUICE_TEST_UNSET_ADDR");
  Sluice s("defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "listen any\n  bind 127.0.0.1:" + std::to_string(p1) + "\n  server s 0.0.0.0:" + sp + "\n"
           "listen moved\n  bind 127.0.0.1:" + std::to_string(p2) + "\n"
           "  tcp-request connection set-dst ipv4(127.0.0.3)\n  server s :" + sp + "\n"
           "listen unset\n  bind 127.0.0.1:" + std::to_string(p3) + "\n"
           "  tcp-request connection set-dst ipv4(127.0.0.3)\n  tcp-request connection set-dst-port int(" + sp + ")\n"
           "  server s ${SLUICE_TEST_UNSET_ADDR}:${SLUICE_TEST_UNSET_ADDR}\n",
           {p1, p2, p3});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(askServerName(p1), "here");
  EXPECT_EQ(askServerName(p2), "there");
  EXPECT_EQ(askServerName(p3), "there");
  EXPECT_EQ(here.connections(), 1);
  EXPECT_EQ(there.connections(), 2);
}

}  // namespace
}  // namespace sluice::testing
