// SPDX-License-Identifier: Apache-2.0
// Logs a user can grep: the tcplog line sent to a UDP syslog server and to a
// UNIX datagram socket with the syslog header, dontlognull, logasap, the
// default "Connect from" line, and log-format printing the SNI read from the
// ClientHello without any set-var.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <thread>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <regex>

#include "harness.h"

namespace sluice::testing {
namespace {

// A datagram receiver (UDP on loopback, or a UNIX socket path).
class DgramReceiver {
 public:
  explicit DgramReceiver(const std::string& unixPath = "") {
    if (unixPath.empty()) {
      fd_ = socket(AF_INET, SOCK_DGRAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(0x7f000001);
      bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      socklen_t len = sizeof(a);
      getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    } else {
      fd_ = socket(AF_UNIX, SOCK_DGRAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, unixPath.c_str(), sizeof(a.sun_path) - 1);
      bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
  }
  ~DgramReceiver() { close(fd_); }
  int port() const { return port_; }
  // Next datagram containing `needle`, or "" after the timeout.
  std::string next(const std::string& needle, int timeoutMs) {
    auto start = std::chrono::steady_clock::now();
    char buf[4096];
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(timeoutMs)) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) != 1) continue;
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      std::string d(buf, static_cast<size_t>(n));
      if (d.find(needle) != std::string::npos) return d;
    }
    return "";
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string ask(int port) {
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, "GET / HTTP/1.0\r\n\r\n");
  std::string r = recvAll(fd, scaled(3000));
  close(fd);
  return r;
}

// tcplog to a UDP syslog server: "<PRI>Mon dd hh:mm:ss sluice[pid]: " then
// HAProxy's TCP format, field for field.
TEST(Logging, TcplogToUdpSyslog) {
  DgramReceiver syslog;
  TestServer srv("S", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s("global\n  log 127.0.0.1:" + std::to_string(syslog.port()) + " local0 info\n"
           "defaults\n  log global\n  mode tcp\n  option tcplog\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend web\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend app\n"
           "backend app\n  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ask(port);
  std::string line = syslog.next(" web app/s1 ", scaled(3000));
  ASSERT_FALSE(line.empty());
  // local0 (16) * 8 + info (6) = 134
  std::regex re(R"(^<134>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d sluice\[\d+\]: )"
                R"(127\.0\.0\.1:\d+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] web app/s1 )"
                R"(0/\d+/\d+ \d+ -- \d+/\d+/\d+/\d+/0 0/0$)");
  EXPECT_TRUE(std::regex_search(line, re)) << line;
}

// The same to a UNIX datagram socket, as "log /dev/log" does.
TEST(Logging, UnixDatagramSocket) {
  std::string dir = makeTempDir("log");
  DgramReceiver syslog(dir + "/log.sock");
  TestServer srv("S", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s("global\n  log " + dir + "/log.sock local1 notice\n  log " + dir + "/log.sock local2\n"
           "defaults\n  log global\n  mode tcp\n  option tcplog\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "listen web\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ask(port);
  // local2 gets the info-level traffic log; local1 is limited to notice.
  std::string line = syslog.next(" web web/s1 ", scaled(3000));
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.rfind("<150>", 0), 0u) << line;  // local2*8+6
}

// dontlognull: a connection that sends nothing is not logged; one that does is.
TEST(Logging, DontLogNull) {
  TestServer srv("S", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\n"
           "defaults\n  log global\n  mode tcp\n  option tcplog\n  option dontlognull\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "listen web\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  close(fd);
  ask(port);
  ASSERT_TRUE(s.waitForLog("web web/s1"));
  // Both sessions are over on the server's side (sluice logs a session as
  // it closes the server's socket): a line for the empty one would be there.
  ASSERT_TRUE(eventually([&] { return srv.connections() >= 2 && srv.active() == 0; }));
  EXPECT_EQ(s.logLines("web web/s1").size(), 1u) << s.log();
}

// Without tcplog, HAProxy's default format logs "Connect from" at accept.
TEST(Logging, DefaultFormatConnectFrom) {
  TestServer srv("S", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\n"
           "defaults\n  log global\n  mode tcp\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "listen web\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ask(port);
  EXPECT_TRUE(s.waitForLog("Connect from 127.0.0.1:"));
  EXPECT_TRUE(s.waitForLog(" to 127.0.0.1:" + std::to_string(port) + " (web/TCP)"));
}

// log-format can print what the ClientHello said for the whole connection:
// %[req.ssl_sni] and %[req.ssl_alpn] at the end of the session, no set-var.
TEST(Logging, LogFormatPrintsSni) {
  std::string dir = makeTempDir("lf");
  Cert cert = makeCert(dir, "logged.example");
  TestServer srv("S", TestServer::Mode::Identify, &cert);
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\n"
           "defaults\n  log global\n  mode tcp\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  tcp-request inspect-delay 5s\n"
           "  log-format \"%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts sni=%[req.ssl_sni] "
           "alpn=%[req.ssl_alpn] ver=%[req.ssl_ver]\"\n"
           "  default_backend bk\n"
           "backend bk\n  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  TlsClientOptions o;
  o.sni = "logged.example";
  o.alpn = {"h2", "http/1.1"};
  TlsResult r = tlsRequest("127.0.0.1", port, o);
  ASSERT_TRUE(r.handshake) << r.error;
  ASSERT_TRUE(s.waitForLog("sni=logged.example")) << s.log();
  auto lines = s.logLines("sni=logged.example");
  EXPECT_NE(lines[0].find(" fe bk/s1 "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("alpn=h2 "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("ver=196611"), std::string::npos) << lines[0];  // 3.3 = 3*65536+3
}

// option logasap: logged when the server connection is up, with '+' counts.
TEST(Logging, LogAsap) {
  TestServer srv("S", TestServer::Mode::Hold);
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\n"
           "defaults\n  log global\n  mode tcp\n  option tcplog\n  option logasap\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "listen web\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, "x");
  EXPECT_TRUE(s.waitForLog("web web/s1 0/"));
  auto lines = s.logLines("web web/s1");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("/+"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(" +0 "), std::string::npos) << lines[0];
  close(fd);
}


// Every variable operators put in a TCP log-format, with the SNI: each one
// renders as HAProxy documents it (numbers where numbers are expected).
TEST(Logging, LogFormatVariablesOperatorsUse) {
  std::string dir = makeTempDir("lfv");
  Cert cert = makeCert(dir, "vars.example");
  TestServer srv("S", TestServer::Mode::Identify, &cert);
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\n"
           "defaults\n  log global\n  mode tcp\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  tcp-request inspect-delay 5s\n"
           "  tcp-request content accept if { req_ssl_hello_type 1 }\n"
           "  log-format \"ci=%ci cp=%cp t=[%t] ft=%ft b=%b s=%s Tw=%Tw Tc=%Tc Tt=%Tt B=%B ts=%ts "
           "conns=%ac/%fc/%bc/%sc/%rc queues=%sq/%bq sni=%[req.ssl_sni]\"\n"
           "  default_backend bk\n"
           "backend bk\n  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  TlsClientOptions o;
  o.sni = "vars.example";
  ASSERT_TRUE(tlsRequest("127.0.0.1", port, o).handshake);
  ASSERT_TRUE(s.waitForLog("sni=vars.example")) << s.log();
  std::string line = s.logLines("sni=vars.example")[0];
  EXPECT_NE(line.find("ci=127.0.0.1 cp="), std::string::npos) << line;
  EXPECT_NE(line.find(" ft=fe b=bk s=s1 Tw=0 Tc="), std::string::npos) << line;
  EXPECT_NE(line.find(" ts=-- conns=1/1/0/0/0 queues=0/0 "), std::string::npos) << line;
  EXPECT_EQ(line.find(" B=0 "), std::string::npos) << "bytes were sent to the client: " << line;
  EXPECT_NE(line.find(" t=["), std::string::npos) << line;
}

// option log-health-checks, as HAProxy's check tests read it: results go to
// the backend's own log target (not the global one), the first success is
// logged, and a failure comes before the "is DOWN" line it leads to, each
// with HAProxy's words and its status counter.
TEST(Logging, HealthChecksToTheBackendsOwnLog) {
  DgramReceiver global;
  DgramReceiver backend;
  auto srv = std::make_unique<TestServer>("hc", TestServer::Mode::Silent);
  int port = freePort();
  Sluice s("global\n  log 127.0.0.1:" + std::to_string(global.port()) + " local0\n"
           "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend be1\n"
           "backend be1\n  option log-health-checks\n"
           "  log 127.0.0.1:" + std::to_string(backend.port()) + " daemon\n"
           "  server srv 127.0.0.1:" + std::to_string(srv->port()) + " check inter 100ms rise 1 fall 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string first = backend.next("Health check for server be1/srv", scaled(3000));
  EXPECT_NE(first.find("]: Health check for server be1/srv succeeded, reason: Layer4 check passed, check duration: "),
            std::string::npos) << first;
  EXPECT_NE(first.find("ms, status: 1/1 UP."), std::string::npos) << first;
  srv.reset();  // connections are refused from now on
  std::string failed = backend.next("Health check for server be1/srv failed", scaled(3000));
  // A check that was connected when the server stopped is reset instead.
  EXPECT_TRUE(failed.find("failed, reason: Layer4 connection problem, info: \"ECONNREFUSED returned by OS (Connection refused)\", check duration: ") !=
                  std::string::npos ||
              failed.find("failed, reason: Layer4 connection problem, info: \"ECONNRESET returned by OS (Connection reset by peer)\", "
                          "check duration: ") != std::string::npos)
      << failed;
  EXPECT_NE(failed.find("ms, status: 0/1 DOWN."), std::string::npos) << failed;
  std::string down = backend.next("Server be1/srv is DOWN", scaled(3000));
  EXPECT_FALSE(down.empty()) << "the state change goes to the backend's log too";
  EXPECT_EQ(global.next("Health check for server", 300), "") << "check results went to the global log";
}

// Forced maintenance from the runtime API is logged as HAProxy logs it, in
// the backend's own log: going down, "no server available", coming back.
TEST(Logging, MaintenanceFromTheRuntimeApi) {
  DgramReceiver backend;
  TestServer srv("m", TestServer::Mode::Silent);
  int port = freePort();
  std::string sock = makeTempDir("maint") + "/admin.sock";
  Sluice s("global\n  stats socket " + sock + " level admin\n"
           "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend be1\n"
           "backend be1\n  log 127.0.0.1:" + std::to_string(backend.port()) + " daemon\n"
           "  server srv 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(cliRequest(sock, "disable server be1/srv\n"), "\n");
  EXPECT_NE(backend.next("is going DOWN", scaled(3000)).find(
                "]: Server be1/srv is going DOWN for maintenance. 0 active and 0 backup servers left. "
                "0 sessions active, 0 requeued, 0 remaining in queue."),
            std::string::npos);
  EXPECT_NE(backend.next("no server available", scaled(3000)).find("]: backend be1 has no server available!"),
            std::string::npos);
  // HAProxy's "show servers state" of a server in forced maintenance: op
  // state 0 (stopped), admin state 1 (forced maintenance).
  std::string state = cliRequest(sock, "show servers state be1\n");
  EXPECT_NE(state.find(" be1 1 srv 127.0.0.1 0 1 1 1 "), std::string::npos) << state;
  EXPECT_EQ(cliRequest(sock, "disable server be1/srv\n"), "\n");  // already: nothing more said
  EXPECT_EQ(cliRequest(sock, "enable server be1/srv\n"), "\n");
  std::string back = backend.next("Server be1/srv", scaled(3000));
  EXPECT_NE(back.find("]: Server be1/srv is UP/READY (leaving forced maintenance)."), std::string::npos) << back;
}

// option redis-check: a real PING on the wire; "+PONG" is up ("Redis server
// is ok"), any other line is a wrong status with that line as its info.
TEST(Logging, RedisCheck) {
  // Two tiny Redis servers: each reads the inline PING and answers a line.
  auto redis = [](const char* answer, int& port, std::string& got) {
    int l = listenLoopback(port);
    return std::thread([l, answer, &got] {
      pollfd p{l, POLLIN, 0};
      if (poll(&p, 1, scaled(5000)) == 1) {
        int c = accept(l, nullptr, nullptr);
        got = recvAll(c, scaled(500), 14);
        sendAll(c, answer);
        waitClosed(c, scaled(2000));
        close(c);
      }
      close(l);
    });
  };
  int okPort = 0, badPort = 0;
  std::string okGot, badGot;
  std::thread ok = redis("+PONG\r\n", okPort, okGot);
  std::thread bad = redis("-ERR unknown command\r\n", badPort, badGot);
  DgramReceiver logs;
  int port = freePort();
  Sluice s("defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend up\n"
           "backend up\n  option redis-check\n  option log-health-checks\n"
           "  log 127.0.0.1:" + std::to_string(logs.port()) + " daemon\n"
           "  server r 127.0.0.1:" + std::to_string(okPort) + " check inter 5s rise 1 fall 1\n"
           "backend down\n  option redis-check\n  option log-health-checks\n"
           "  log 127.0.0.1:" + std::to_string(logs.port()) + " daemon\n"
           "  server r 127.0.0.1:" + std::to_string(badPort) + " check inter 5s rise 1 fall 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string first = logs.next("Health check for server", scaled(3000));
  std::string second = logs.next("Health check for server", scaled(3000));
  std::string both = first + second;
  EXPECT_NE(both.find("Health check for server up/r succeeded, reason: Layer7 check passed, info: \"Redis server is ok\""),
            std::string::npos) << both;
  EXPECT_NE(both.find("Health check for server down/r failed, reason: Layer7 wrong status, info: \"-ERR unknown command\""),
            std::string::npos) << both;
  ok.join();
  bad.join();
  EXPECT_EQ(okGot, "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(badGot, "*1\r\n$4\r\nPING\r\n");
}

// tcp-check expects before a send share what the server said (HAProxy's
// semantics), and "min-recv" makes a mismatch over that many bytes final:
// the server below speaks once, waits for 10 bytes, then speaks again.
TEST(Logging, TcpCheckExpectsShareTheBufferAndMinRecvDecides) {
  int serverPort = 0;
  int l = listenLoopback(serverPort);
  ASSERT_GE(l, 0);
  std::thread server([l] {
    pollfd p{l, POLLIN, 0};
    if (poll(&p, 1, scaled(5000)) == 1) {
      int c = accept(l, nullptr, nullptr);
      sendAll(c, "valid");
      std::string got = recvAll(c, scaled(2000), 10);
      if (got == "0123456789") sendAll(c, "valid");
      waitClosed(c, scaled(2000));
      close(c);
    }
    close(l);
  });
  DgramReceiver logs;
  int port = freePort();
  Sluice s("defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "  timeout check 2s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend be\n"
           "backend be\n  option tcp-check\n  option log-health-checks\n"
           "  log 127.0.0.1:" + std::to_string(logs.port()) + " daemon\n"
           "  tcp-check connect\n"
           "  tcp-check expect min-recv 5 !rstring \"^error\" comment \"negative check\"\n"
           "  tcp-check expect string \"valid\" comment \"the same bytes again\"\n"
           "  tcp-check send \"0123456789\"\n"
           "  tcp-check expect string \"valid\" comment \"the answer to the send\"\n"
           "  server srv 127.0.0.1:" + std::to_string(serverPort) + " check inter 5s rise 1 fall 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string line = logs.next("Health check for server be/srv", scaled(4000));
  EXPECT_NE(line.find("Health check for server be/srv succeeded, reason: Layer7 check passed"), std::string::npos)
      << line;
  server.join();
}


// tcp-request actions on the connection: "capture" fills %hr and
// capture.req.hdr(), "set-src"/"set-src-port" change the client address the
// log and the PROXY header give, "set-log-level silent" drops the line.
TEST(Logging, CaptureSetSrcAndSilentLevel) {
  std::string dir = makeTempDir("capture");
  Cert cert = makeCert(dir, "captured.example");
  TestServer srv("S", TestServer::Mode::Identify, &cert);
  TestServer rec("R", TestServer::Mode::Record);
  int port = freePort();
  int quiet = freePort();
  int proxied = freePort();
  Sluice s("global\n  log stdout format raw local0\n"
           "defaults\n  log global\n  mode tcp\n"
           "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  tcp-request inspect-delay 5s\n"
           "  tcp-request content capture req.ssl_sni len 9\n"
           "  tcp-request content capture req.ssl_alpn len 20\n"
           "  log-format \"cap %hr %hrl first=%[capture.req.hdr(0)] from=%ci\"\n"
           "  default_backend bk\n"
           "frontend quiet\n  bind 127.0.0.1:" + std::to_string(quiet) + "\n"
           "  option tcplog\n  tcp-request content set-log-level silent\n  default_backend bk\n"
           "frontend masked\n  bind 127.0.0.1:" + std::to_string(proxied) + "\n"
           "  tcp-request connection set-src str(192.0.2.7)\n  tcp-request connection set-src-port int(4242)\n"
           "  log-format \"masked from=%ci:%cp\"\n  default_backend rec\n"
           "backend bk\n  server s1 127.0.0.1:" + std::to_string(srv.port()) + "\n"
           "backend rec\n  server r 127.0.0.1:" + std::to_string(rec.port()) + " send-proxy\n",
           {port, quiet, proxied});
  ASSERT_TRUE(s.started()) << s.log();
  TlsClientOptions o;
  o.sni = "captured.example";
  o.alpn = {"h2"};
  ASSERT_TRUE(tlsRequest("127.0.0.1", port, o).handshake);
  ASSERT_TRUE(s.waitForLog("cap {")) << s.log();
  EXPECT_EQ(s.logLines("cap {captured.|h2} captured. h2 first=captured. from=127.0.0.1").size(), 1u) << s.log();

  ASSERT_TRUE(tlsRequest("127.0.0.1", quiet, o).handshake);
  int fd = connectTcp("127.0.0.1", proxied);
  sendAll(fd, "hello");
  ::shutdown(fd, SHUT_WR);
  recvAll(fd, 2000);
  close(fd);
  ASSERT_TRUE(s.waitForLog("masked from=192.0.2.7:4242")) << s.log();
  EXPECT_EQ(s.logLines(" quiet bk/s1 ").size(), 0u) << "set-log-level silent\n" << s.log();
  ASSERT_TRUE(eventually([&] { return !rec.recorded().empty(); }));
  EXPECT_EQ(rec.recorded()[0].rfind("PROXY TCP4 192.0.2.7 127.0.0.1 4242 " + std::to_string(proxied) + "\r\n", 0), 0u)
      << rec.recorded()[0];
}

}  // namespace
}  // namespace sluice::testing
