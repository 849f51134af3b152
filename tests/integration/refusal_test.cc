// SPDX-License-Identifier: Apache-2.0
// "tcp-request content tls-alert": a refused client is told why in its own
// TLS language. Real clients (curl, openssl s_client, in TLS 1.3 and 1.2)
// must report the alert, not a reset; a hand-made hello from an old client
// gets the record in the version it offered; a client that sends more after
// its hello still reads the alert and a clean end; a client that is not TLS
// gets the plain close of "reject"; the refusal is logged and counted.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "ci.h"
#include "harness.h"
#include "hello_builder.h"

namespace sluice::testing {
namespace {

class Refusal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = makeTempDir("refusal");
    cert_ = makeCert(dir_, "good.example");
    server_ = std::make_unique<TestServer>("G", TestServer::Mode::Identify, &cert_);
    port_ = freePort();
    stats_ = freePort();
  }

  std::string config(const std::string& rules) {
    return "global\n  log stdout format raw local0\n  stats socket " + dir_ + "/admin.sock level admin\n"
           "defaults\n  mode tcp\n  log global\n  option tcplog\n"
           "  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
           "  tcp-request inspect-delay 5s\n" + rules + "  default_backend be\n"
           "backend be\n  server g 127.0.0.1:" + std::to_string(server_->port()) + "\n"
           "frontend stats\n  mode http\n  bind 127.0.0.1:" + std::to_string(stats_) + "\n"
           "  http-request use-service prometheus-exporter if { path /metrics }\n";
  }

  std::string curl(const std::string& name, std::string* out) {
    std::string cmd = "curl -sS --max-time 5 --cacert " + cert_.certFile + " --resolve " + name + ":" +
                      std::to_string(port_) + ":127.0.0.1 https://" + name + ":" + std::to_string(port_) +
                      "/ 2>&1";
    return std::to_string(runCommand(cmd, out));
  }

  std::string sClient(const std::string& name, const std::string& extra) {
    std::string out;
    runCommand("timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port_) + " -servername " +
                   name + " " + extra + " </dev/null 2>&1",
               &out);
    return out;
  }

  uint64_t alertsCounted() {
    std::string body = httpBody(httpRequest(stats_, "GET", "/metrics"));
    std::string key = "sluice_frontend_tls_alerts_total{proxy=\"fe\"} ";
    size_t p = body.find(key);
    return p == std::string::npos ? UINT64_MAX : std::stoull(body.substr(p + key.size()));
  }

  std::string dir_;
  Cert cert_;
  std::unique_ptr<TestServer> server_;
  int port_ = 0;
  int stats_ = 0;
};

// curl and openssl report the alert by name, in TLS 1.3 and in TLS 1.2; a
// name the rule lets through still reaches the server.
TEST_F(Refusal, RealClientsReportTheAlert) {
  if (runCommand("command -v curl >/dev/null && command -v openssl >/dev/null") != 0) {
    SLUICE_SKIP_OR_FAIL("curl and openssl are needed (scripts/install-deps installs them)");
  }
  Sluice s(config("  tcp-request content tls-alert unrecognized_name if !{ req.ssl_sni -i good.example }\n"),
           {port_, stats_});
  ASSERT_TRUE(s.started()) << s.log();

  std::string out;
  EXPECT_EQ(curl("good.example", &out), "0") << out;
  EXPECT_NE(out.find("server=G"), std::string::npos) << out;

  EXPECT_EQ(curl("bad.example", &out), "35") << out;  // CURLE_SSL_CONNECT_ERROR
  EXPECT_NE(out.find("unrecognized name"), std::string::npos) << out;

  std::string tls13 = sClient("bad.example", "-tls1_3");
  EXPECT_NE(tls13.find("unrecognized name"), std::string::npos) << tls13;
  EXPECT_NE(tls13.find("alert number 112"), std::string::npos) << tls13;
  std::string tls12 = sClient("bad.example", "-tls1_2");
  EXPECT_NE(tls12.find("unrecognized name"), std::string::npos) << tls12;
  EXPECT_NE(tls12.find("alert number 112"), std::string::npos) << tls12;

  EXPECT_TRUE(eventually([&] { return alertsCounted() == 3; })) << alertsCounted();
  EXPECT_TRUE(s.waitForLog(" PR ")) << s.log();
  std::string stat = cliRequest(dir_ + "/admin.sock", "show stat\n");
  EXPECT_NE(stat.find("fe,FRONTEND,"), std::string::npos);
  EXPECT_EQ(server_->connections(), 1);  // only the client that was let through
}

// Another alert by name: openssl prints it.
TEST_F(Refusal, NamedAlert) {
  if (runCommand("command -v openssl >/dev/null") != 0) SLUICE_SKIP_OR_FAIL("openssl is needed");
  Sluice s(config("  tcp-request content tls-alert handshake_failure if { req.ssl_sni -i old.example }\n"),
           {port_, stats_});
  ASSERT_TRUE(s.started()) << s.log();
  std::string out = sClient("old.example", "");
  EXPECT_NE(out.find("alert handshake failure"), std::string::npos) << out;
  EXPECT_NE(out.find("alert number 40"), std::string::npos) << out;
}

// A TLS 1.0 hello gets a TLS 1.0 record, then a FIN. What the client sends
// next is read and dropped: a closed socket would answer it with a reset,
// and a reset can make a client's stack throw the unread alert away.
TEST_F(Refusal, RecordVersionAndCleanEnd) {
  Sluice s(config("  tcp-request content tls-alert if { req.ssl_sni -i bad.example }\n"), {port_, stats_});
  ASSERT_TRUE(s.started()) << s.log();
  HelloSpec spec;
  spec.recordVersion = 0x0301;
  spec.legacyVersion = 0x0301;
  spec.supportedVersions.clear();
  spec.sni = "bad.example";
  Bytes hello = buildHello(spec);
  int fd = connectTcp("127.0.0.1", port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, std::string(hello.begin(), hello.end())));
  EXPECT_EQ(recvAll(fd, 3000), std::string("\x15\x03\x01\x00\x02\x02\x70", 7));  // then EOF
  // An impatient client keeps talking after the alert.
  ASSERT_TRUE(sendAll(fd, std::string(3000, 'x')));
  ::usleep(static_cast<useconds_t>(scaled(300)) * 1000);
  ASSERT_TRUE(sendAll(fd, std::string(100, 'y')));
  ::usleep(static_cast<useconds_t>(scaled(300)) * 1000);
  int err = 0;
  socklen_t len = sizeof(err);
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0) << "the client's connection was reset: " << strerror(err);
  ::close(fd);
}

// A client that is not TLS cannot read an alert: it gets reject's close.
TEST_F(Refusal, NotTlsIsClosedPlainly) {
  Sluice s(config("  tcp-request content tls-alert if !{ req.ssl_sni -i good.example }\n"), {port_, stats_});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, "GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(recvAll(fd, 6000), "");
  ::close(fd);
  EXPECT_EQ(alertsCounted(), 0u);
  EXPECT_TRUE(s.waitForLog(" PR ")) << s.log();
}

}  // namespace
}  // namespace sluice::testing
