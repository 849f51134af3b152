// SPDX-License-Identifier: Apache-2.0
// Timeouts and bad clients through the real binary: inspect-delay against a
// silent client, garbage closed at once by a hardened frontend, neighbours
// unaffected, and each of timeout connect / client / server / tunnel /
// client-fin firing with the termination state HAProxy would log.
#include <gtest/gtest.h>
#include <poll.h>

#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;

long msSince(Clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

std::string head(const std::string& timeouts) {
  return "global\n  log stdout format raw local0\n  nbthread 2\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n" + timeouts;
}

std::string hardened(int port, int backendPort, const std::string& delay) {
  return "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
         "  tcp-request inspect-delay " + delay + "\n"
         "  tcp-request content accept if { req.ssl_hello_type 1 }\n"
         "  tcp-request content reject\n"
         "  default_backend bk\n"
         "backend bk\n  server s 127.0.0.1:" + std::to_string(backendPort) + "\n";
}

// A client that says nothing is closed when inspect-delay ends, logged with
// PR (rejected by the rules), while a TLS client next to it goes through.
TEST(Timeouts, SilentClientClosedAtInspectDelayNeighbourUnaffected) {
  std::string dir = makeTempDir("tmo");
  Cert cert = makeCert(dir, "svc.example");
  TestServer srv("S", TestServer::Mode::Identify, &cert);
  int port = freePort();
  Sluice s(head("  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n") +
               hardened(port, srv.port(), "700ms"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int silent = connectTcp("127.0.0.1", port);
  ASSERT_GE(silent, 0);
  auto t0 = Clock::now();
  TlsClientOptions o;
  o.sni = "svc.example";
  TlsResult r = tlsRequest("127.0.0.1", port, o);
  EXPECT_TRUE(r.handshake) << r.error;
  EXPECT_NE(r.response.find("server=S"), std::string::npos);
  EXPECT_LT(msSince(t0), 500) << "the TLS client must not wait for the silent one";
  EXPECT_TRUE(waitClosed(silent, scaled(3000)));
  long ms = msSince(t0);
  close(silent);
  EXPECT_GE(ms, 650);
  EXPECT_LT(ms, scaled(2000));
  ASSERT_TRUE(s.waitForLog(" PR "));
  auto lines = s.logLines(" PR ");
  ASSERT_EQ(lines.size(), 1u);
  // Rejected before any backend was chosen: the frontend stands in (as HAProxy).
  EXPECT_NE(lines[0].find("fe fe/<NOSRV> "), std::string::npos) << lines[0];
}

// Garbage is refused as soon as it is seen (it cannot become a hello).
TEST(Timeouts, GarbageRejectedAtOnce) {
  TestServer srv("S", TestServer::Mode::Record);
  int port = freePort();
  Sluice s(head("  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n") +
               hardened(port, srv.port(), "5s"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  auto t0 = Clock::now();
  sendAll(fd, std::string("\x00\x01garbage-not-tls\r\n", 19));
  EXPECT_TRUE(waitClosed(fd, scaled(3000)));
  EXPECT_LT(msSince(t0), 1000);
  close(fd);
  EXPECT_TRUE(s.waitForLog(" PR "));
  EXPECT_EQ(srv.connections(), 0);
}

// timeout connect: a server whose accept queue is full never answers the SYN.
TEST(Timeouts, ConnectTimeout) {
  BlackHole hole;
  int blackhole = hole.port();
  int port = freePort();
  Sluice s(head("  timeout connect 300ms\n  timeout client 10s\n  timeout server 10s\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  retries 0\n"
               "  server bh 127.0.0.1:" + std::to_string(blackhole) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  auto t0 = Clock::now();
  EXPECT_TRUE(waitClosed(fd, scaled(3000)));
  long ms = msSince(t0);
  close(fd);
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, scaled(1500));
  EXPECT_TRUE(s.waitForLog(" sC ")) << s.log();
}

// timeout client: both sides idle; the client side expires first ("cD").
TEST(Timeouts, ClientTimeout) {
  TestServer srv("S", TestServer::Mode::Silent);
  int port = freePort();
  Sluice s(head("  timeout connect 2s\n  timeout client 400ms\n  timeout server 5s\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
               "  server s 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, "hello");
  auto t0 = Clock::now();
  EXPECT_TRUE(waitClosed(fd, scaled(3000)));
  long ms = msSince(t0);
  close(fd);
  EXPECT_GE(ms, 350);
  EXPECT_LT(ms, scaled(1500));
  EXPECT_TRUE(s.waitForLog(" cD ")) << s.log();
}

// timeout server: the server side expires first ("sD").
TEST(Timeouts, ServerTimeout) {
  TestServer srv("S", TestServer::Mode::Silent);
  int port = freePort();
  Sluice s(head("  timeout connect 2s\n  timeout client 5s\n  timeout server 400ms\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
               "  server s 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, "hello");
  auto t0 = Clock::now();
  EXPECT_TRUE(waitClosed(fd, scaled(3000)));
  long ms = msSince(t0);
  close(fd);
  EXPECT_GE(ms, 350);
  EXPECT_LT(ms, scaled(1500));
  EXPECT_TRUE(s.waitForLog(" sD ")) << s.log();
}

// timeout tunnel replaces client and server timeouts once connected: with a
// 300 ms client timeout and a 1.2 s tunnel, an idle session lives ~1.2 s;
// activity keeps it alive past both.
TEST(Timeouts, TunnelTimeout) {
  TestServer srv("S", TestServer::Mode::Echo);
  int port = freePort();
  Sluice s(head("  timeout connect 2s\n  timeout client 300ms\n  timeout server 300ms\n"
                "  timeout tunnel 1200ms\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
               "  server s 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) {  // 1.5 s of activity, echoed every 300 ms
    ASSERT_TRUE(sendAll(fd, "ping"));
    EXPECT_EQ(recvAll(fd, scaled(1000), 4), "ping") << i;
    usleep(300000);
  }
  EXPECT_GE(msSince(t0), 1500);
  auto idleFrom = Clock::now();
  EXPECT_TRUE(waitClosed(fd, scaled(4000)));
  long idle = msSince(idleFrom);
  close(fd);
  EXPECT_GE(idle, 800);
  EXPECT_LT(idle, scaled(2500));
}

// timeout client-fin: once the client has half-closed, its side expires on
// client-fin instead of the (long) client timeout.
TEST(Timeouts, ClientFinTimeout) {
  TestServer srv("S", TestServer::Mode::Hold);
  int port = freePort();
  Sluice s(head("  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n"
                "  timeout client-fin 400ms\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
               "  server s 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, "bye");
  shutdown(fd, SHUT_WR);
  auto t0 = Clock::now();
  EXPECT_TRUE(waitClosed(fd, scaled(5000)));
  long ms = msSince(t0);
  close(fd);
  EXPECT_GE(ms, 300);
  EXPECT_LT(ms, scaled(2000));
  EXPECT_TRUE(s.waitForLog(" cD ")) << s.log();
}

// A client that resets mid-stream ends its session with CD; others go on.
TEST(Timeouts, ClientResetIsLogged) {
  TestServer srv("S", TestServer::Mode::Echo);
  int port = freePort();
  Sluice s(head("  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
               "  server s 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, "data");
  // The echo proves the session is forwarding (not still connecting).
  EXPECT_EQ(recvAll(fd, scaled(3000), 4), "data");
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
  EXPECT_TRUE(s.waitForLog(" CD ")) << s.log();
  eventually([&] { return srv.active() == 0; }, 1000);
  EXPECT_EQ(srv.active(), 0) << "the server side must be closed too";
}


// A client whose server cannot be reached is closed cleanly (a FIN, not a
// reset), even though it had sent bytes before: they are read and dropped
// first, as HAProxy has them in its buffer by then. A reset would make
// clients report "connection reset" instead of a closed connection.
TEST(Timeouts, UnreachableServerClosesTheClientWithAFin) {
  int dead = freePort();  // nothing listens: connection refused
  int port = freePort();
  Sluice s(head("  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  retries 1\n"
               "  server d 127.0.0.1:" + std::to_string(dead) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, std::string(300, 'x')));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, scaled(5000)), 1);
  char b;
  ssize_t n = recv(fd, &b, 1, 0);
  int err = errno;
  EXPECT_EQ(n, 0) << "expected end of stream, got " << (n < 0 ? std::strerror(err) : "data");
  close(fd);
  EXPECT_TRUE(s.waitForLog(" SC ")) << s.log();
}

}  // namespace
}  // namespace sluice::testing
