// SPDX-License-Identifier: Apache-2.0
// The data path through the real binary: 100 MB each way byte for byte (with
// splice and with the copy fallback), half-close in both directions, the
// ClientHello bytes replayed first, and recorded real-stack hellos cut into
// one-byte segments reaching the right server unchanged.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "harness.h"
#include "netlab.h"

namespace sluice::testing {
namespace {

std::string head(bool splice) {
  return std::string("global\n  log stdout format raw local0\n  nbthread 2\n") +
         (splice ? "" : "  nosplice\n") +
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n";
}

constexpr uint64_t kBig = 100ull * 1024 * 1024;

class Forwarding : public ::testing::TestWithParam<bool> {};

// 100 MB from the client arrive whole and unchanged (count and hash).
TEST_P(Forwarding, HundredMegabytesUpload) {
  TestServer sink("sink", TestServer::Mode::Sink);
  int port = freePort();
  Sluice s(head(GetParam()) + "listen up\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  server k 127.0.0.1:" + std::to_string(sink.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  std::string chunk(1 << 20, '\0');
  uint64_t h = 1469598103934665603ULL;
  for (uint64_t off = 0; off < kBig; off += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(patternByte(off + i));
    h = fnv64(chunk, h);
    ASSERT_TRUE(sendAll(fd, chunk, scaled(20000)));
  }
  shutdown(fd, SHUT_WR);  // half-close: the answer must still arrive
  std::string answer = recvAll(fd, scaled(20000));
  close(fd);
  char expected[64];
  snprintf(expected, sizeof(expected), "%llu %016llx\n", static_cast<unsigned long long>(kBig),
           static_cast<unsigned long long>(h));
  EXPECT_EQ(answer, expected);
  EXPECT_TRUE(s.waitForLog(" -- "));
}

// 100 MB from the server arrive whole and unchanged.
TEST_P(Forwarding, HundredMegabytesDownload) {
  TestServer src("src", TestServer::Mode::Source);
  src.setSourceBytes(kBig);
  int port = freePort();
  Sluice s(head(GetParam()) + "listen down\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  server k 127.0.0.1:" + std::to_string(src.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  uint64_t got = 0;
  bool same = true;
  char buf[65536];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && same; ++i) {
      if (static_cast<uint8_t>(buf[i]) != patternByte(got + static_cast<uint64_t>(i))) same = false;
    }
    got += static_cast<uint64_t>(n);
  }
  close(fd);
  EXPECT_EQ(got, kBig);
  EXPECT_TRUE(same);
  ASSERT_TRUE(s.waitForLog(" -- "));
  // The log counts the bytes sent to the client.
  EXPECT_EQ(s.logLines(" " + std::to_string(kBig) + " -- ").size(), 1u) << s.log();
}

INSTANTIATE_TEST_SUITE_P(SpliceAndCopy, Forwarding, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "splice" : "copy"; });

// Echo both ways at once, with the client shutting its side first.
TEST(ForwardingHalfClose, EchoAfterClientShutdown) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  Sluice s(head(true) + "listen e\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  server k 127.0.0.1:" + std::to_string(echo.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  std::string msg(300000, 'x');
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>('a' + i % 26);
  std::string got;
  std::thread reader([&] { got = recvAll(fd, scaled(10000)); });
  ASSERT_TRUE(sendAll(fd, msg));
  shutdown(fd, SHUT_WR);
  reader.join();
  close(fd);
  EXPECT_EQ(got, msg);
  EXPECT_TRUE(s.waitForLog(" -- "));
}

// The server closes first (download done) while the client still sends: the
// client gets EOF and its later bytes still reach the server side's close.
TEST(ForwardingHalfClose, ServerFinishesFirst) {
  // The server sends 1000 bytes and its FIN, then reads on; the client
  // reads to that FIN and only then sends 5000 bytes and its own FIN. The
  // half-closed connection must carry them to the server, whole.
  int serverPort = 0;
  int listenFd = listenLoopback(serverPort);
  ASSERT_GE(listenFd, 0);
  int port = freePort();
  Sluice s(head(true) + "listen d\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  server k 127.0.0.1:" + std::to_string(serverPort) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  lab::PeerPlan serverPlan;
  serverPlan.seed = 0x5e5e5e5e5eULL;
  serverPlan.sendBytes = 1000;
  serverPlan.timeoutMs = 10000;
  lab::PeerResult server;
  std::thread t([&] {
    pollfd p{listenFd, POLLIN, 0};
    if (poll(&p, 1, scaled(5000)) != 1) return;
    int fd = accept(listenFd, nullptr, nullptr);
    if (fd >= 0) server = lab::runPeer(fd, serverPlan, 0xc1c1c1c1c1ULL);
  });
  lab::PeerPlan clientPlan;
  clientPlan.seed = 0xc1c1c1c1c1ULL;
  clientPlan.sendBytes = 5000;
  clientPlan.sendAfterEof = true;
  clientPlan.timeoutMs = 10000;
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  lab::PeerResult client = lab::runPeer(fd, clientPlan, serverPlan.seed);
  t.join();
  close(listenFd);
  EXPECT_TRUE(client.whole(serverPlan.seed, 1000)) << client.describe();
  EXPECT_EQ(client.sent, 5000u);
  EXPECT_TRUE(server.whole(clientPlan.seed, 5000)) << "what the server got after its FIN: " << server.describe();
  EXPECT_TRUE(s.waitForLog(" 1000 --"));
}

// Hellos recorded from real TLS stacks, sent one byte per segment, reach the
// backend chosen by their SNI, byte for byte, after the whole hello arrived.
TEST(ForwardingReplay, RecordedHellosInOneByteSegments) {
  std::vector<std::pair<std::string, std::string>> hellos;  // file, sni
  for (const auto& e : std::filesystem::directory_iterator(dataDir() + "/hellos")) {
    if (e.path().extension() != ".bin") continue;
    std::string expect = readFile(std::filesystem::path(e.path()).replace_extension(".expect").string());
    hellos.emplace_back(e.path().string(), expect.substr(0, expect.find('\n')));
  }
  ASSERT_GE(hellos.size(), 4u);
  TestServer right("right", TestServer::Mode::Record);
  TestServer wrong("wrong", TestServer::Mode::Record);
  int port = freePort();
  std::string acl;
  for (const auto& [f, sni] : hellos) acl += " " + sni;
  Sluice s(head(true) + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  tcp-request inspect-delay 10s\n"
               "  tcp-request content accept if { req_ssl_hello_type 1 }\n"
               "  use_backend bk_right if { req_ssl_sni" + acl + " }\n"
               "  default_backend bk_wrong\n"
               "backend bk_right\n  server r 127.0.0.1:" + std::to_string(right.port()) + "\n"
               "backend bk_wrong\n  server w 127.0.0.1:" + std::to_string(wrong.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::vector<std::thread> clients;
  std::vector<std::string> sent;
  for (const auto& [f, sni] : hellos) {
    std::string bytes = readFile(f) + "after-the-hello";
    sent.push_back(bytes);
    clients.emplace_back([port, bytes] {
      int fd = connectTcp("127.0.0.1", port);
      for (char c : bytes) {
        sendAll(fd, std::string(1, c));
        usleep(200);
      }
      shutdown(fd, SHUT_WR);
      waitClosed(fd, scaled(10000));
      close(fd);
    });
  }
  for (auto& t : clients) t.join();
  eventually([&] { return right.recorded().size() >= hellos.size(); }, 2000);
  EXPECT_EQ(wrong.recorded().size(), 0u);
  auto rec = right.recorded();
  ASSERT_EQ(rec.size(), hellos.size());
  std::sort(rec.begin(), rec.end());
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(rec, sent);
}


// Small records are copied (one recv, one send), bulk data is spliced: the
// counters of "show info" say which bytes went which way.
TEST(ForwardingModes, SmallRecordsCopiedBulkSpliced) {
  TestServer src("src", TestServer::Mode::Source);
  src.setSourceBytes(32ull * 1024 * 1024);
  TestServer echo("echo", TestServer::Mode::Echo);
  int bulk = freePort();
  int small = freePort();
  std::string sock = makeTempDir("modes") + "/admin.sock";
  Sluice s("global\n  stats socket " + sock + " level admin\n"
           "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n"
           "listen bulk\n  bind 127.0.0.1:" + std::to_string(bulk) + "\n"
           "  server s 127.0.0.1:" + std::to_string(src.port()) + "\n"
           "listen small\n  bind 127.0.0.1:" + std::to_string(small) + "\n"
           "  server s 127.0.0.1:" + std::to_string(echo.port()) + "\n",
           {bulk, small});
  ASSERT_TRUE(s.started()) << s.log();
  auto counter = [&](const std::string& name) {
    std::string info = cliRequest(sock, "show info\n");
    size_t p = info.find("\n" + name + ": ");
    return p == std::string::npos ? -1LL : std::atoll(info.c_str() + p + name.size() + 3);
  };
  // 200 small messages echoed: all copied.
  int fd = connectTcp("127.0.0.1", small);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(sendAll(fd, "ping"));
    ASSERT_EQ(recvAll(fd, scaled(2000), 4), "ping");
  }
  close(fd);
  eventually([&] { return counter("CopiedBytes") >= 1600; }, 1000);
  EXPECT_EQ(counter("CopiedBytes"), 1600);
  EXPECT_EQ(counter("SplicedBytes"), 0);
  // 32 MB downloaded: nearly all spliced, no more than the first reads copied.
  fd = connectTcp("127.0.0.1", bulk);
  shutdown(fd, SHUT_WR);
  std::string got = recvAll(fd, scaled(20000));
  close(fd);
  ASSERT_EQ(got.size(), 32ull * 1024 * 1024);
  eventually([&] { return counter("SplicedBytes") >= 31 * 1024 * 1024; }, 1000);
  EXPECT_GE(counter("SplicedBytes"), 31ll * 1024 * 1024);
  EXPECT_LT(counter("CopiedBytes"), 1600 + 1024 * 1024);
}


// One of sluice's sockets, taken with pidfd_getfd: the one whose peer is
// `peerPort` on loopback (the client's accepted socket or the connection to
// a server). -1 if none.
int grabSocketByPeer(pid_t pid, int peerPort) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return -1;
  int found = -1;
  for (int n = 0; n < 4096 && found < 0; ++n) {
    int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, n, 0));
    if (fd < 0) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_INET &&
        ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port) == peerPort) {
      found = fd;
      continue;
    }
    close(fd);
  }
  close(pidfd);
  return found;
}

int intOption(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  getsockopt(fd, level, name, &v, &len);
  return v;
}

// clitcpka-*/srvtcpka-*, tcp-ut (bind and server), set-tos and set-mark reach the sockets.
TEST(ForwardingSocketOptions, KeepAliveAndUserTimeout) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\ndefaults\n  mode tcp\n  timeout connect 1s\n"
           "  timeout client 5s\n  timeout server 5s\n  option clitcpka\n  option srvtcpka\n"
           "  clitcpka-cnt 4\n  clitcpka-idle 77\n  clitcpka-intvl 9s\n"
           "  srvtcpka-cnt 3\n  srvtcpka-idle 2m\n  srvtcpka-intvl 11\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + " tcp-ut 7s\n"
           "  tcp-request connection set-tos 0x20\n  tcp-request connection set-mark 0x2a\n"
           "  server e 127.0.0.1:" + std::to_string(echo.port()) + " tcp-ut 3500ms\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int c = connectTcp("127.0.0.1", port);
  ASSERT_GE(c, 0);
  ASSERT_TRUE(sendAll(c, "ping"));
  char buf[4];
  ASSERT_EQ(recv(c, buf, 4, MSG_WAITALL), 4);
  sockaddr_in me{};
  socklen_t len = sizeof(me);
  getsockname(c, reinterpret_cast<sockaddr*>(&me), &len);
  int client = grabSocketByPeer(s.process().pid(), ntohs(me.sin_port));
  int server = grabSocketByPeer(s.process().pid(), echo.port());
  ASSERT_GE(client, 0) << "pidfd_getfd needs ptrace rights over sluice";
  ASSERT_GE(server, 0);
  EXPECT_EQ(intOption(client, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(intOption(client, IPPROTO_TCP, TCP_KEEPCNT), 4);
  EXPECT_EQ(intOption(client, IPPROTO_TCP, TCP_KEEPIDLE), 77);
  EXPECT_EQ(intOption(client, IPPROTO_TCP, TCP_KEEPINTVL), 9);
  EXPECT_EQ(intOption(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 7000);
  EXPECT_EQ(intOption(client, IPPROTO_IP, IP_TOS), 0x20);
  if (geteuid() == 0) EXPECT_EQ(intOption(client, SOL_SOCKET, SO_MARK), 0x2a) << "SO_MARK needs CAP_NET_ADMIN";
  EXPECT_EQ(intOption(server, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(intOption(server, IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(intOption(server, IPPROTO_TCP, TCP_KEEPIDLE), 120);
  EXPECT_EQ(intOption(server, IPPROTO_TCP, TCP_KEEPINTVL), 11);
  EXPECT_EQ(intOption(server, IPPROTO_TCP, TCP_USER_TIMEOUT), 3500);
  close(client);
  close(server);
  close(c);
}

}  // namespace
}  // namespace sluice::testing
