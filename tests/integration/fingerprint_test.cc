// SPDX-License-Identifier: Apache-2.0
// JA3/JA4, HAProxy 3.2's ClientHello list fetches and ECH through the real
// binary, checked against tests/data/hellos/fingerprints.py (a reference
// written from the specifications) run on the very bytes the server got:
// logged with log-format, used as a track-sc key to rate-limit one client
// stack, and sent to the server in a PROXY v2 TLV (set-proxy-v2-tlv-fmt).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "ci.h"
#include "harness.h"
#include "hello_builder.h"

namespace sluice::testing {
namespace {

// The reference's report for the hello at the start of `bytes` (after a
// PROXY v2 header, if any).
std::map<std::string, std::string> reference(const std::string& dir, const std::string& bytes) {
  const std::string file = dir + "/hello.bin";
  writeFile(file, bytes);
  std::string out;
  EXPECT_EQ(runCommand("python3 " + dataDir() + "/hellos/fingerprints.py " + file, &out), 0) << out;
  std::map<std::string, std::string> fields;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    std::string line = out.substr(pos, nl - pos);
    size_t sp = line.find(' ');
    if (sp != std::string::npos) fields[line.substr(0, sp)] = line.substr(sp + 1);
    pos = nl == std::string::npos ? out.size() : nl + 1;
  }
  return fields;
}

std::string readBin(const std::string& name) { return readFile(dataDir() + "/hellos/" + name); }

// Sends `bytes`, then ends the stream, so that a Record server gets them whole.
void sendAndClose(int port, const std::string& bytes) {
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, bytes));
  ::shutdown(fd, SHUT_WR);
  recvAll(fd, 3000);
  ::close(fd);
}

std::string head(const std::string& dir) {
  return "global\n  log stdout format raw local0\n  stats socket " + dir + "/admin.sock level admin\n"
         "defaults\n  mode tcp\n  log global\n"
         "  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";
}

// A live openssl s_client and a recorded Chromium hello (GREASE, post-quantum
// key share, GREASE ECH): what sluice logs equals the reference's reading
// of the bytes the server received.
TEST(Fingerprints, LoggedValuesMatchTheReference) {
  if (runCommand("command -v python3 >/dev/null && command -v openssl >/dev/null") != 0) {
    SLUICE_SKIP_OR_FAIL("python3 and openssl are needed (scripts/install-deps installs them)");
  }
  std::string dir = makeTempDir("fingerprint");
  TestServer rec("R", TestServer::Mode::Record);
  int port = freePort();
  Sluice s(head(dir) + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  tcp-request inspect-delay 5s\n"
           "  tcp-request content accept if { req.ssl_hello_type 1 }\n"
           "  log-format \"fp ja4=%[req.ssl_ja4] ja4_r=%[req.ssl_ja4_r] ja4_o=%[req.ssl_ja4_o] ja3=%[req.ssl_ja3] "
           "ja3_r=%[req.ssl_ja3_r] ciphers=%[req.ssl_cipherlist,hex] sigalgs=%[req.ssl_sigalgs,hex] "
           "groups=%[req.ssl_supported_groups,hex] shares=%[req.ssl_keyshare_groups,hex] ech=%[req.ssl_ech] "
           "echtype=%[req.ssl_ech_type] echid=%[req.ssl_ech_config_id] sni=%[req.ssl_sni] end\"\n"
           "  default_backend be\n"
           "backend be\n  server r 127.0.0.1:" + std::to_string(rec.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();

  runCommand("timeout 3 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
             " -servername live.example -alpn h2,http/1.1 </dev/null >/dev/null 2>&1");
  sendAndClose(port, readBin("chromium.bin"));
  ASSERT_TRUE(eventually([&] { return rec.recorded().size() == 2 && s.logLines("fp ").size() == 2; }, 8000))
      << s.log();

  auto lower = [](std::string v) {
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  };
  std::vector<std::string> lines = s.logLines("fp ");
  std::vector<std::string> got = rec.recorded();
  for (size_t i = 0; i < 2; ++i) {
    auto ref = reference(dir, got[i]);
    // This connection's log line: the one with its SNI.
    const bool chromium = got[i].find("chromium.example") != std::string::npos;
    std::string line;
    for (const auto& l : lines) {
      if (l.find(std::string("sni=") + (chromium ? "chromium.example " : "live.example ")) != std::string::npos) line = l;
    }
    ASSERT_FALSE(line.empty()) << s.log();
    EXPECT_NE(line.find(" ja4=" + ref["ja4"] + " "), std::string::npos) << line;
    EXPECT_NE(line.find(" ja4_r=" + ref["ja4_r"] + " "), std::string::npos) << line;
    EXPECT_NE(line.find(" ja4_o=" + ref["ja4_o"] + " "), std::string::npos) << line;
    EXPECT_NE(line.find(" ja3=" + ref["ja3"] + " "), std::string::npos) << line;
    EXPECT_NE(line.find(" ja3_r=" + ref["ja3_r"] + " "), std::string::npos) << line;
    EXPECT_NE(lower(line).find(" ciphers=" + ref["cipherlist"] + " "), std::string::npos) << line;
    EXPECT_NE(lower(line).find(" sigalgs=" + ref["sigalgs"] + " "), std::string::npos) << line;
    EXPECT_NE(lower(line).find(" groups=" + ref["supported_groups"] + " "), std::string::npos) << line;
    EXPECT_NE(lower(line).find(" shares=" + ref["keyshare_groups"] + " "), std::string::npos) << line;
    if (ref["ech"] == "-1 -1") {
      EXPECT_NE(line.find(" ech=0 echtype=- echid=- "), std::string::npos) << line;
    } else {
      EXPECT_EQ(ref["ech"], "0 128");  // Chromium's GREASE ECH: an outer one
      EXPECT_NE(line.find(" ech=1 echtype=0 echid=128 "), std::string::npos) << line;
    }
  }
}

// A rate limit per fingerprint: the third connection of one client stack
// within the period is refused, another stack is not, and "show table"
// lists the fingerprints as keys.
TEST(Fingerprints, RateLimitPerFingerprint) {
  std::string dir = makeTempDir("fprate");
  TestServer rec("R", TestServer::Mode::Record);
  int port = freePort();
  Sluice s(head(dir) + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  stick-table type string len 40 size 1k expire 1m store conn_rate(60s)\n"
           "  tcp-request inspect-delay 5s\n"
           "  tcp-request content accept unless { req.ssl_hello_type 1 }\n"
           "  tcp-request content track-sc0 req.ssl_ja4\n"
           "  tcp-request content reject if { sc0_conn_rate gt 2 }\n"
           "  default_backend be\n"
           "backend be\n  server r 127.0.0.1:" + std::to_string(rec.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  const std::string gnutls = readBin("gnutls-cli.bin");
  const std::string java = readBin("java-jsse.bin");
  for (int i = 0; i < 4; ++i) sendAndClose(port, gnutls);
  sendAndClose(port, java);
  ASSERT_TRUE(eventually([&] { return rec.recorded().size() == 3; }, 5000)) << rec.recorded().size();
  // Two gnutls connections and the Java one reached the server.
  size_t javaSeen = 0;
  for (const auto& r : rec.recorded()) javaSeen += r.find("java.example") != std::string::npos;
  EXPECT_EQ(javaSeen, 1u);
  std::string table = cliRequest(dir + "/admin.sock", "show table fe\n");
  auto gRef = reference(dir, gnutls);
  auto jRef = reference(dir, java);
  EXPECT_NE(table.find("key=" + gRef["ja4"] + " "), std::string::npos) << table;
  EXPECT_NE(table.find("key=" + jRef["ja4"] + " "), std::string::npos) << table;
}

// The fingerprint reaches the server in a PROXY v2 TLV of the type the
// configuration names, with HAProxy's other TLVs (authority, crc32c) intact.
TEST(Fingerprints, SentToTheServerInAProxyV2Tlv) {
  std::string dir = makeTempDir("fptlv");
  TestServer rec("R", TestServer::Mode::Record);
  int port = freePort();
  Sluice s(head(dir) + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  tcp-request inspect-delay 5s\n"
           "  tcp-request content accept if { req.ssl_hello_type 1 }\n"
           "  default_backend be\n"
           "backend be\n  server r 127.0.0.1:" + std::to_string(rec.port()) +
           " send-proxy-v2 proxy-v2-options authority,crc32c set-proxy-v2-tlv-fmt(0xE1) %[req.ssl_ja4]"
           " set-proxy-v2-tlv-fmt(226) ja3:%[req.ssl_ja3]\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  const std::string hello = readBin("node-tls.bin");
  sendAndClose(port, hello);
  ASSERT_TRUE(eventually([&] { return rec.recorded().size() == 1; }, 5000));
  const std::string got = rec.recorded()[0];
  ASSERT_GE(got.size(), 16u);
  ASSERT_EQ(got.substr(0, 12), std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  const size_t len = (static_cast<uint8_t>(got[14]) << 8) | static_cast<uint8_t>(got[15]);
  ASSERT_GE(got.size(), 16 + len);
  EXPECT_EQ(got.substr(16 + len), hello);  // the hello follows, unchanged
  // TLVs after the IPv4 addresses and ports (12 bytes).
  std::map<int, std::string> tlvs;
  for (size_t p = 16 + 12; p + 3 <= 16 + len;) {
    int type = static_cast<uint8_t>(got[p]);
    size_t n = (static_cast<uint8_t>(got[p + 1]) << 8) | static_cast<uint8_t>(got[p + 2]);
    tlvs[type] = got.substr(p + 3, n);
    p += 3 + n;
  }
  auto ref = reference(dir, got);
  EXPECT_EQ(tlvs[0xE1], ref["ja4"]);
  EXPECT_EQ(tlvs[0xE2], "ja3:" + ref["ja3"]);
  EXPECT_EQ(tlvs[0x02], "node.example");  // authority
  EXPECT_EQ(tlvs[0x03].size(), 4u);        // crc32c, checked by the PROXY v2 unit tests
}

// A hand-made ECH hello (an "inner" one, as a client that fronts it would
// never send outside, and an outer one with config_id 7): routed on
// req.ssl_ech_type, while req.ssl_sni keeps the outer name.
TEST(Fingerprints, EchRouting) {
  std::string dir = makeTempDir("fpech");
  TestServer ech("E", TestServer::Mode::Record);
  TestServer plain("P", TestServer::Mode::Record);
  int port = freePort();
  Sluice s(head(dir) + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  tcp-request inspect-delay 5s\n"
           "  tcp-request content accept if { req.ssl_hello_type 1 }\n"
           "  log-format \"ech sni=%[req.ssl_sni] type=%[req.ssl_ech_type] id=%[req.ssl_ech_config_id]\"\n"
           "  use_backend be_ech if { req.ssl_ech } { req.ssl_ech_config_id 7 }\n"
           "  default_backend be_plain\n"
           "backend be_ech\n  server e 127.0.0.1:" + std::to_string(ech.port()) + "\n"
           "backend be_plain\n  server p 127.0.0.1:" + std::to_string(plain.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  HelloSpec outer;
  outer.sni = "public.example";
  // ECHClientHello outer: type 0, HPKE suite (HKDF-SHA256, AES-128-GCM), config_id 7, enc, payload.
  Bytes echExt = {0x00, 0x00, 0x01, 0x00, 0x01, 0x07, 0x00, 0x02, 0xaa, 0xbb, 0x00, 0x03, 0x01, 0x02, 0x03};
  outer.extraExtensions.push_back({0xfe0d, echExt});
  Bytes o = buildHello(outer);
  HelloSpec other = outer;
  other.extraExtensions[0].second[5] = 9;  // another config id
  Bytes p = buildHello(other);
  HelloSpec none;
  none.sni = "public.example";
  Bytes n = buildHello(none);
  sendAndClose(port, std::string(o.begin(), o.end()));
  sendAndClose(port, std::string(p.begin(), p.end()));
  sendAndClose(port, std::string(n.begin(), n.end()));
  ASSERT_TRUE(eventually([&] { return ech.recorded().size() == 1 && plain.recorded().size() == 2; }, 5000))
      << s.log();
  EXPECT_TRUE(s.waitForLog("ech sni=public.example type=0 id=7")) << s.log();
  EXPECT_TRUE(s.waitForLog("ech sni=public.example type=0 id=9")) << s.log();
  EXPECT_TRUE(s.waitForLog("ech sni=public.example type=- id=-")) << s.log();
}

}  // namespace
}  // namespace sluice::testing
