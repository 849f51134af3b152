// SPDX-License-Identifier: Apache-2.0
// Limits through the real binary: global and frontend maxconn stop accepting
// and resume when a slot frees; running out of descriptors (EMFILE) neither
// crashes sluice nor spins a core, and service resumes afterwards.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

namespace sluice::testing {
namespace {

std::string head(const std::string& global) {
  return "global\n  log stdout format raw local0\n  nbthread 1\n" + global +
         "defaults\n  log global\n  mode tcp\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n";
}

// maxconn 2: a third client waits in the kernel's queue until a slot frees.
TEST(Limits, GlobalMaxconnPausesAccepting) {
  TestServer hold("H", TestServer::Mode::Silent);
  int port = freePort();
  Sluice s(head("  maxconn 2\n") + "listen l\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  server h 127.0.0.1:" + std::to_string(hold.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int a = connectTcp("127.0.0.1", port);
  int b = connectTcp("127.0.0.1", port);
  eventually([&] { return hold.connections() >= 2; }, 2000);
  ASSERT_EQ(hold.connections(), 2);
  int c = connectTcp("127.0.0.1", port);  // completes in the kernel backlog
  ASSERT_GE(c, 0);
  usleep(300000);
  EXPECT_EQ(hold.connections(), 2) << "the third connection must wait";
  close(a);
  eventually([&] { return hold.connections() >= 3; }, 2000);
  EXPECT_EQ(hold.connections(), 3) << "a freed slot lets the waiting one in";
  close(b);
  close(c);
}

// Frontend maxconn limits that frontend only.
TEST(Limits, FrontendMaxconn) {
  TestServer hold("H", TestServer::Mode::Silent);
  int p1 = freePort();
  int p2 = freePort();
  Sluice s(head("") +
               "listen l1\n  bind 127.0.0.1:" + std::to_string(p1) + "\n  maxconn 1\n"
               "  server h 127.0.0.1:" + std::to_string(hold.port()) + "\n"
               "listen l2\n  bind 127.0.0.1:" + std::to_string(p2) + "\n"
               "  server h 127.0.0.1:" + std::to_string(hold.port()) + "\n",
           {p1, p2});
  ASSERT_TRUE(s.started()) << s.log();
  int a = connectTcp("127.0.0.1", p1);
  int b = connectTcp("127.0.0.1", p1);
  int c = connectTcp("127.0.0.1", p2);
  eventually([&] { return hold.connections() >= 2; }, 2000);
  usleep(200000);
  EXPECT_EQ(hold.connections(), 2) << "one through l1 (maxconn 1) and one through l2";
  close(a);
  eventually([&] { return hold.connections() >= 3; }, 2000);
  EXPECT_EQ(hold.connections(), 3);
  close(b);
  close(c);
}

// With 40 descriptors and 60 clients, sluice runs out of descriptors: it must
// stay up, not burn CPU, log what happened, and serve again once clients leave.
TEST(Limits, OutOfDescriptorsNeitherCrashesNorSpins) {
  TestServer hold("H", TestServer::Mode::Silent);
  TestServer ident("I", TestServer::Mode::Identify);
  int port = freePort();
  int port2 = freePort();
  Sluice s(head("  maxconn 1000\n  ulimit-n 40\n") +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
               // Clients wait in inspection (one descriptor each), so that
               // it is accept() that runs out.
               "  tcp-request inspect-delay 20s\n"
               "  tcp-request content accept if { req.len gt 100 }\n"
               "  server h 127.0.0.1:" + std::to_string(hold.port()) + "\n"
               "listen l2\n  bind 127.0.0.1:" + std::to_string(port2) + "\n"
               "  server i 127.0.0.1:" + std::to_string(ident.port()) + "\n",
           {port, port2});
  ASSERT_TRUE(s.started()) << s.log();
  std::vector<int> clients;
  for (int i = 0; i < 60; ++i) {
    int fd = connectTcp("127.0.0.1", port);
    if (fd >= 0) {
      sendAll(fd, "x");
      clients.push_back(fd);
    }
  }
  // It did run out: accept() failed with EMFILE, and the log says so.
  ASSERT_TRUE(s.waitForLog("accept(): Too many open files on frontend 'l'", 5000)) << s.log();
  ASSERT_TRUE(s.process().running()) << s.log();
  long cpu0 = cpuTimeMs(s.process().pid());
  usleep(1000000);
  long cpu1 = cpuTimeMs(s.process().pid());
  EXPECT_LT(cpu1 - cpu0, 300) << "sluice must not spin while out of descriptors";
  EXPECT_LE(openFdCount(s.process().pid()), 41);  // the limit, plus /proc's own view
  for (int fd : clients) close(fd);
  clients.clear();
  // Service resumes (as soon as sluice has seen the clients go).
  std::string r;
  for (int i = 0; i < 50 && r.find("server=I") == std::string::npos; ++i) {
    int fd = connectTcp("127.0.0.1", port2);
    if (fd >= 0) {
      sendAll(fd, "GET / HTTP/1.0\r\n\r\n");
      r = recvAll(fd, scaled(2000));
      close(fd);
    }
    if (r.find("server=I") == std::string::npos) usleep(100000);
  }
  EXPECT_NE(r.find("server=I"), std::string::npos) << s.log();
  EXPECT_TRUE(s.process().running());
}

}  // namespace
}  // namespace sluice::testing
