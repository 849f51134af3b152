// SPDX-License-Identifier: Apache-2.0
// Servers behind a SOCKS4 proxy ("socks4" on the server line): traffic and
// health checks (check-via-socks4) go through a real SOCKS4 proxy on
// loopback, byte-exact; a refusing proxy is a failed connect.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "harness.h"

namespace sluice::testing {
namespace {

// A SOCKS4 proxy: reads a CONNECT request, connects (or refuses with 0x5b),
// answers, then relays both ways until both sides are done.
class Socks4Proxy {
 public:
  explicit Socks4Proxy(bool refuse) : refuse_(refuse) {
    fd_ = listenLoopback(port_);
    thread_ = std::thread([this] { acceptLoop(); });
  }
  ~Socks4Proxy() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::thread& t : workers_) t.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }

 private:
  void acceptLoop() {
    while (!stopping_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::lock_guard<std::mutex> lock(mutex_);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int c) {
    std::string req;
    char buf[65536];
    // Version, command, port, address, then the user id up to its NUL.
    while (req.size() < 9 || req.find('\0', 8) == std::string::npos) {
      ssize_t n = ::recv(c, buf, 1, 0);
      if (n <= 0 || req.size() > 300) {
        ::close(c);
        return;
      }
      req.append(buf, 1);
    }
    ++requests_;
    uint16_t port = static_cast<uint16_t>((static_cast<uint8_t>(req[2]) << 8) | static_cast<uint8_t>(req[3]));
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, req.data() + 4, ip, sizeof(ip));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen_.push_back(std::to_string(req[0]) + " " + std::to_string(req[1]) + " " + ip + ":" + std::to_string(port) +
                      " " + req.substr(8, req.size() - 9));
    }
    int up = refuse_ ? -1 : connectTcp(ip, port);
    const char ok[8] = {0, 0x5a, 0, 0, 0, 0, 0, 0};
    const char no[8] = {0, 0x5b, 0, 0, 0, 0, 0, 0};
    ::send(c, up >= 0 ? ok : no, 8, MSG_NOSIGNAL);
    if (up < 0) {
      ::close(c);
      return;
    }
    bool open[2] = {true, true};
    int fds[2] = {c, up};
    for (int rounds = 0; (open[0] || open[1]) && rounds < 1000000; ++rounds) {
      pollfd p[2] = {{c, static_cast<short>(open[0] ? POLLIN : 0), 0}, {up, static_cast<short>(open[1] ? POLLIN : 0), 0}};
      if (::poll(p, 2, 10000) <= 0) break;
      for (int i = 0; i < 2; ++i) {
        if (!open[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::recv(fds[i], buf, sizeof(buf), 0);
        if (n <= 0) {
          open[i] = false;
          ::shutdown(fds[1 - i], SHUT_WR);
          continue;
        }
        if (!sendAll(fds[1 - i], std::string(buf, static_cast<size_t>(n)))) open[0] = open[1] = false;
      }
    }
    ::close(up);
    ::close(c);
  }

  bool refuse_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<std::string> seen_;
};

std::string head() {
  return "global\n  log stdout format raw local0\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n  option log-health-checks\n"
         "  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n";
}

// Every byte of a 2 MiB upload crosses sluice and the proxy to the server,
// which the proxy was asked to reach by its address and port.
TEST(Socks4, TrafficGoesThroughTheProxyWhole) {
  TestServer sink("sink", TestServer::Mode::Sink);
  Socks4Proxy proxy(false);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  server s 127.0.0.1:" +
               std::to_string(sink.port()) + " socks4 127.0.0.1:" + std::to_string(proxy.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string data;
  for (uint64_t i = 0; i < 2 * 1024 * 1024; ++i) data.push_back(static_cast<char>(patternByte(i)));
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, data));
  ::shutdown(fd, SHUT_WR);
  std::string answer = recvAll(fd, 10000);
  ::close(fd);
  char expected[64];
  snprintf(expected, sizeof(expected), "%zu %016llx\n", data.size(), static_cast<unsigned long long>(fnv64(data)));
  EXPECT_EQ(answer, expected);
  ASSERT_EQ(proxy.requests(), 1);
  EXPECT_EQ(proxy.seen()[0], "4 1 127.0.0.1:" + std::to_string(sink.port()) + " HAProxy");
}

// A proxy that refuses (0x5b) is a failed connect to the server: the client
// is closed and the log says SC.
TEST(Socks4, RefusalIsAConnectionFailure) {
  TestServer sink("sink", TestServer::Mode::Sink);
  Socks4Proxy proxy(true);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  retries 1\n  server s 127.0.0.1:" +
               std::to_string(sink.port()) + " socks4 127.0.0.1:" + std::to_string(proxy.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  sendAll(fd, "hello");
  EXPECT_TRUE(waitClosed(fd, 5000));
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return countStates(s.log(), "SC") == 1; })) << s.log();
  EXPECT_EQ(sink.connections(), 0);
  EXPECT_EQ(proxy.requests(), 2) << "one try and one retry, both through the proxy";
}

// check-via-socks4: the health checks go through the proxy too, and a
// refusal says so in the server's DOWN line.
TEST(Socks4, ChecksGoThroughTheProxy) {
  TestServer srv("srv", TestServer::Mode::Identify);
  Socks4Proxy good(false);
  Socks4Proxy bad(true);
  int port = freePort();
  Sluice s(head() + "backend b\n  option httpchk GET /\n"
                    "  server up 127.0.0.1:" + std::to_string(srv.port()) + " socks4 127.0.0.1:" +
               std::to_string(good.port()) + " check-via-socks4 check inter 100ms rise 1 fall 1\n"
               "  server refused 127.0.0.1:" + std::to_string(srv.port()) + " socks4 127.0.0.1:" +
               std::to_string(bad.port()) + " check-via-socks4 check inter 100ms rise 1 fall 1\n"
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  server x 127.0.0.1:1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("Health check for server b/up succeeded, reason: Layer7 check passed, code: 200"));
  EXPECT_TRUE(s.waitForLog("Health check for server b/refused failed, reason: Layer4 connection problem, info: "
                           "\"SOCKS4 proxy refused the connection (code 0x5b)\""))
      << s.log();
  EXPECT_TRUE(s.waitForLog("Server b/refused is DOWN. ")) << s.log();
  EXPECT_GE(good.requests(), 1);
  EXPECT_GE(srv.connections(), 1);
}

TEST(Socks4, ConfigurationErrors) {
  auto check = [](const std::string& server, std::string& out) {
    return checkConfig(head() + "backend b\n  " + server + "\n", out);
  };
  std::string out;
  EXPECT_NE(check("server s 127.0.0.1:80 socks4 [::1]:1080", out), 0);
  EXPECT_NE(out.find("c.cfg:12: error: invalid SOCKS4 proxy address '[::1]:1080'"), std::string::npos) << out;
  EXPECT_NE(check("server s [::1]:80 socks4 127.0.0.1:1080", out), 0);
  EXPECT_NE(out.find("IPv4 addresses only"), std::string::npos) << out;
  EXPECT_NE(check("server s 127.0.0.1:80 check check-via-socks4", out), 0);
  EXPECT_NE(out.find("'check-via-socks4' but no 'socks4 <address>'"), std::string::npos) << out;
  EXPECT_EQ(check("server s 127.0.0.1:80 socks4 127.0.0.1:1080 check-via-socks4 check", out), 0) << out;
}

}  // namespace
}  // namespace sluice::testing
