// SPDX-License-Identifier: Apache-2.0
// Listening sockets handed over by the parent ("bind fd@N", as VTest and
// wrappers do it): sluice serves on them, keeps them across reloads, and
// says which line is wrong when the descriptor is not a TCP socket.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "harness.h"

namespace sluice::testing {
namespace {

// A TCP socket bound to a free loopback port, not listening, and left
// open across exec (no close-on-exec), as a parent hands it over.
int boundSocket(int& port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

std::string config(const std::string& bind, int server) {
  return "global\n  log stdout format raw local0\n  nbthread 2\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
         "frontend fe\n  bind " + bind + "\n  default_backend be\n"
         "backend be\n  server s1 127.0.0.1:" + std::to_string(server) + "\n";
}

TEST(InheritedSockets, BindFdServesAndSurvivesReloads) {
  TestServer ident("inh", TestServer::Mode::Identify);
  int port = 0;
  int fd = boundSocket(port);
  ASSERT_GE(fd, 0);
  // Unquoted, as VTest writes it: bind "fd@${fe1}" and bind fd@${fe1} alike.
  Sluice s(config("fd@${FE1}", ident.port()), {port}, {}, 0, "127.0.0.1", {{"FE1", std::to_string(fd)}});
  close(fd);  // sluice has its own copy now
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(askServerName(port), "inh");
  kill(s.process().pid(), SIGHUP);
  ASSERT_TRUE(s.waitForLog("[NOTICE] sluice: configuration reloaded")) << s.log();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(askServerName(port), "inh") << i;
}

TEST(InheritedSockets, ADescriptorThatIsNoSocketIsRefusedWithItsLine) {
  int port = freePort();
    // Descriptor 0 is /dev/null in the harness's child.
  Sluice s(config("fd@0", port), {}, {}, 0, "127.0.0.1", {});
  s.expectCleanExit(false);
  EXPECT_NE(s.process().wait(scaled(5000)), 0);
  EXPECT_NE(s.log().find("sluice.cfg:12: error: frontend 'fe': fd@0 is not a stream socket"), std::string::npos)
      << s.log();
}

// The runtime API on a socket the parent made: "stats socket fd@${cli}".
TEST(InheritedSockets, StatsSocketFd) {
  TestServer ident("inh", TestServer::Mode::Identify);
  int port = 0, cliPort = 0;
  int fd = boundSocket(port);
  int cli = boundSocket(cliPort);
  ASSERT_GE(fd, 0);
  ASSERT_GE(cli, 0);
  std::string cfg = config("\"fd@${FE1}\"", ident.port());
  cfg.replace(cfg.find("  nbthread 2\n"), 0, "  stats socket fd@${CLI} level admin\n");
  Sluice s(cfg, {port, cliPort}, {}, 0, "127.0.0.1", {{"FE1", std::to_string(fd)}, {"CLI", std::to_string(cli)}});
  close(fd);
  close(cli);
  ASSERT_TRUE(s.started()) << s.log();
  int c = connectTcp("127.0.0.1", cliPort);
  ASSERT_GE(c, 0);
  ASSERT_TRUE(sendAll(c, "show info\n"));
  std::string info = recvAll(c, scaled(3000));
  close(c);
  EXPECT_EQ(info.rfind("Name: sluice\n", 0), 0u) << info;
  EXPECT_EQ(askServerName(port), "inh");
}


// Passes `fd` over the UNIX socket `channel` (one byte, SCM_RIGHTS), as a
// process feeding "bind sockpair@N" does.
bool passDescriptor(int channel, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(channel, &msg, 0) == 1;
}

// "bind sockpair@N": connections arrive as descriptors over a socketpair;
// each is served as an accepted one, byte for byte.
TEST(InheritedSockets, SockpairReceivesConnections) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int channel[2];
  // channel[1] goes to sluice; channel[0] stays here only (close-on-exec).
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
  fcntl(channel[1], F_SETFD, 0);
  Sluice s(config("sockpair@" + std::to_string(channel[1]), echo.port()), {}, {}, 0, "127.0.0.1", {});
  close(channel[1]);
  ASSERT_TRUE(eventually([&] { return s.log().find("started") != std::string::npos || !s.process().running(); }))
      << s.log();
  for (int i = 0; i < 3; ++i) {
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    ASSERT_TRUE(passDescriptor(channel[0], pair[1]));
    close(pair[1]);
    std::string data(100000 + i, 'x');
    for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<char>(patternByte(k));
    std::thread writer([&] {
      sendAll(pair[0], data);
      shutdown(pair[0], SHUT_WR);
    });
    std::string back = recvAll(pair[0], 5000);
    writer.join();
    close(pair[0]);
    EXPECT_EQ(back.size(), data.size());
    EXPECT_TRUE(back == data);
  }
  close(channel[0]);
  EXPECT_TRUE(s.waitForLog("the sending side closed it")) << s.log();
}

}  // namespace
}  // namespace sluice::testing
