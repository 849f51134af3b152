// SPDX-License-Identifier: Apache-2.0
// The PROXY protocol through the real binary: accept-proxy turns the header's
// addresses into src for rules and logs; expect-proxy only for trusted peers;
// a bad header closes that connection alone; send-proxy / send-proxy-v2 put
// the client's addresses (and the SNI) before its bytes at the server.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "proto/proxy_protocol.h"

namespace sluice::testing {
namespace {

std::string head() {
  return "global\n  log stdout format raw local0\n  nbthread 2\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";
}

std::string sendThrough(int port, const std::string& data) {
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, data);
  shutdown(fd, SHUT_WR);
  std::string r = recvAll(fd, scaled(3000));
  close(fd);
  return r;
}

// accept-proxy: the header's source address is what rules and logs see.
TEST(ProxyProtocol, AcceptProxySetsTheClientAddress) {
  TestServer a("A", TestServer::Mode::Identify);
  TestServer b("B", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s(head() + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + " accept-proxy\n"
                    "  use_backend ba if { src 203.0.113.0/24 }\n  default_backend bb\n"
                    "backend ba\n  server a 127.0.0.1:" + std::to_string(a.port()) + "\n"
                    "backend bb\n  server b 127.0.0.1:" + std::to_string(b.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_NE(sendThrough(port, "PROXY TCP4 203.0.113.7 192.0.2.1 5555 443\r\nGET / HTTP/1.0\r\n\r\n")
                .find("server=A"), std::string::npos);
  std::string v2 = proto::encodeProxyV2(*core::Address::parse("198.51.100.9:6666"),
                                        *core::Address::parse("192.0.2.1:443"), {});
  EXPECT_NE(sendThrough(port, v2 + "GET / HTTP/1.0\r\n\r\n").find("server=B"), std::string::npos);
  EXPECT_TRUE(s.waitForLog("203.0.113.7:5555 ["));
  EXPECT_TRUE(s.waitForLog("198.51.100.9:6666 ["));
  // A client without the header is refused, logged, and alone in that:
  // HAProxy's one line for it (no second, tcplog line).
  EXPECT_EQ(sendThrough(port, "GET / HTTP/1.0\r\n\r\n"), "");
  EXPECT_TRUE(s.waitForLog("] fe/1: Received something which does not look like a PROXY protocol header"))
      << s.log();
  EXPECT_TRUE(s.logLines(" PR ").empty()) << s.log();
  EXPECT_NE(sendThrough(port, "PROXY TCP4 203.0.113.8 192.0.2.1 5556 443\r\nGET / HTTP/1.0\r\n\r\n")
                .find("server=A"), std::string::npos);
}

// The client's PROXY v2 TLVs are fetches, as in HAProxy: fc_pp_authority,
// fc_pp_unique_id, fc_pp_tlv(<type or name>) route and log.
TEST(ProxyProtocol, TlvsOfTheClientsHeaderAreFetches) {
  TestServer a("A", TestServer::Mode::Identify);
  TestServer b("B", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s(head() + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + " accept-proxy\n"
                    "  log-format \"auth=%[fc_pp_authority] id=%[fc_pp_unique_id] alpn=%[fc_pp_tlv(ALPN)] "
                    "own=%[fc_pp_tlv(0xE1)] none=%[fc_pp_tlv(0x30)]\"\n"
                    "  use_backend ba if { fc_pp_authority -m str a.example }\n  default_backend bb\n"
                    "backend ba\n  server a 127.0.0.1:" + std::to_string(a.port()) + "\n"
                    "backend bb\n  server b 127.0.0.1:" + std::to_string(b.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  proto::ProxyV2Options o;
  o.authority = "a.example";
  o.alpn = "h2";
  o.uniqueId = "req-42";
  o.tlvs = {{0xE1, "mine"}};
  std::string v2 = proto::encodeProxyV2(*core::Address::parse("198.51.100.9:6666"),
                                        *core::Address::parse("192.0.2.1:443"), o);
  EXPECT_NE(sendThrough(port, v2 + "GET / HTTP/1.0\r\n\r\n").find("server=A"), std::string::npos);
  EXPECT_TRUE(s.waitForLog("auth=a.example id=req-42 alpn=h2 own=mine none=-")) << s.log();
  o.authority = "b.example";
  v2 = proto::encodeProxyV2(*core::Address::parse("198.51.100.9:6667"), *core::Address::parse("192.0.2.1:443"), o);
  EXPECT_NE(sendThrough(port, v2 + "GET / HTTP/1.0\r\n\r\n").find("server=B"), std::string::npos);
  // No header TLVs (version 1): no values.
  EXPECT_NE(sendThrough(port, "PROXY TCP4 203.0.113.7 192.0.2.1 5555 443\r\nGET / HTTP/1.0\r\n\r\n")
                .find("server=B"), std::string::npos);
  EXPECT_TRUE(s.waitForLog("auth=- id=- alpn=- own=- none=-")) << s.log();

  std::string out;
  std::string dir = makeTempDir("pptlv");
  writeFile(dir + "/bad.cfg", head() + "frontend fe\n  bind 127.0.0.1:1 accept-proxy\n"
                                       "  use_backend b if { fc_pp_tlv(WHATEVER) -m found }\n  default_backend b\n"
                                       "backend b\n  server s 127.0.0.1:2\n");
  EXPECT_EQ(runCommand(binaryPath() + " -c -f " + dir + "/bad.cfg 2>&1", &out), 1);
  EXPECT_NE(out.find("'fc_pp_tlv' expects a TLV type from 0 to 255 or one of ALPN, AUTHORITY"), std::string::npos)
      << out;
}

// expect-proxy only for the peers a rule trusts; others speak plain.
TEST(ProxyProtocol, ExpectProxyOnlyForTrustedPeers) {
  TestServer a("A", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s(head() + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  tcp-request connection expect-proxy layer4 if { src 127.0.0.2 }\n"
                    "  default_backend ba\n"
                    "backend ba\n  server a 127.0.0.1:" + std::to_string(a.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int trusted = connectTcp("127.0.0.1", port, "127.0.0.2");
  sendAll(trusted, "PROXY TCP4 203.0.113.50 192.0.2.1 7777 443\r\nGET / HTTP/1.0\r\n\r\n");
  EXPECT_NE(recvAll(trusted, scaled(3000)).find("server=A"), std::string::npos);
  close(trusted);
  EXPECT_NE(sendThrough(port, "GET / HTTP/1.0\r\n\r\n").find("server=A"), std::string::npos);
  EXPECT_TRUE(s.waitForLog("203.0.113.50:7777 ["));
}

// send-proxy (v1) and send-proxy-v2 with the SNI as authority.
TEST(ProxyProtocol, SendProxyToServers) {
  TestServer rec1("R1", TestServer::Mode::Record);
  TestServer rec2("R2", TestServer::Mode::Record);
  int port = freePort();
  Sluice s(head() + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  tcp-request inspect-delay 5s\n"
                    "  use_backend b2 if { req.ssl_sni -m found }\n  default_backend b1\n"
                    "backend b1\n  server r1 127.0.0.1:" + std::to_string(rec1.port()) + " send-proxy\n"
                    "backend b2\n  server r2 127.0.0.1:" + std::to_string(rec2.port()) +
                    " send-proxy-v2 proxy-v2-options authority,crc32c\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port, "127.0.0.3");
  sendAll(fd, "plain bytes");
  shutdown(fd, SHUT_WR);
  waitClosed(fd, scaled(3000));
  close(fd);
  std::string hello = readFile(dataDir() + "/hellos/curl.bin");
  int tfd = connectTcp("127.0.0.1", port);
  sendAll(tfd, hello);
  shutdown(tfd, SHUT_WR);
  waitClosed(tfd, scaled(3000));
  close(tfd);
  eventually([&] { return !(rec1.recorded().empty() || rec2.recorded().empty()); }, 2000);
  ASSERT_EQ(rec1.recorded().size(), 1u);
  std::string got1 = rec1.recorded()[0];
  EXPECT_EQ(got1.rfind("PROXY TCP4 127.0.0.3 127.0.0.1 ", 0), 0u) << got1;
  EXPECT_EQ(got1.substr(got1.find("\r\n") + 2), "plain bytes");
  ASSERT_EQ(rec2.recorded().size(), 1u);
  std::string got2 = rec2.recorded()[0];
  proto::ProxyHeader h;
  proto::ProxyError e;
  ASSERT_EQ(proto::parseProxyHeader({reinterpret_cast<const uint8_t*>(got2.data()), got2.size()}, h, e),
            proto::ProxyStatus::Done) << proto::toString(e);
  EXPECT_EQ(h.authority, "curl.example");
  EXPECT_TRUE(h.crcChecked);
  EXPECT_EQ(h.dst.port(), port);
  EXPECT_EQ(got2.substr(h.length), hello);
}

}  // namespace
}  // namespace sluice::testing
