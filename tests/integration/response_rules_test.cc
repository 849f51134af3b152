// SPDX-License-Identifier: Apache-2.0
// "tcp-response content" rules: the server's first bytes wait for the
// backend's rules (res.payload, res.len, converters), then reach the client
// whole, or the session ends (PD) and the backend counts a denied response.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "harness.h"

namespace sluice::testing {
namespace {

std::string head() {
  return "global\n  log stdout format raw local0\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n";
}

// A server that says `banner`, then sends `after` bytes of the pattern (or
// closes at once with `closeAfterBanner`).
class BannerServer {
 public:
  BannerServer(std::string banner, uint64_t after, int delayMs = 0)
      : banner_(std::move(banner)), after_(after), delayMs_(delayMs) {
    fd_ = listenLoopback(port_);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string first = banner_.substr(0, banner_.size() / 2);
      sendAll(c, first);
      if (delayMs_) std::this_thread::sleep_for(std::chrono::milliseconds(delayMs_));
      sendAll(c, banner_.substr(first.size()));
      std::string chunk;
      for (uint64_t i = 0; i < after_; ++i) {
        chunk.push_back(static_cast<char>(patternByte(i)));
        if (chunk.size() == 65536 || i + 1 == after_) {
          if (!sendAll(c, chunk)) break;
          chunk.clear();
        }
      }
      ::shutdown(c, SHUT_WR);
      char buf[256];
      while (::recv(c, buf, sizeof(buf), 0) > 0) {
      }
      ::close(c);
    });
  }
  ~BannerServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string banner_;
  uint64_t after_;
  int delayMs_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::string config(int port, int serverPort, const std::string& rules) {
  return head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  server s 127.0.0.1:" +
         std::to_string(serverPort) + "\n" + rules;
}

// Reads to EOF: the bytes before the pattern (the banner) and whether the
// pattern after it is whole.
struct Received {
  std::string banner;
  uint64_t patternBytes = 0;
  bool patternIntact = true;
};

Received receive(int port, size_t bannerSize) {
  Received r;
  int fd = connectTcp("127.0.0.1", port);
  if (fd < 0) return r;
  std::string all;
  char buf[65536];
  uint64_t at = 0;
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (r.banner.size() < bannerSize) {
        r.banner.push_back(buf[i]);
        continue;
      }
      if (static_cast<uint8_t>(buf[i]) != patternByte(at)) r.patternIntact = false;
      ++at;
    }
  }
  r.patternBytes = at;
  ::close(fd);
  return r;
}

TEST(ResponseRules, AcceptedResponseArrivesWhole) {
  const std::string banner = "SSH-2.0-OpenSSH_9.2p1\r\n";
  const uint64_t kBig = 4 * 1024 * 1024;
  BannerServer srv(banner, kBig, 50);  // the banner in two parts, 50 ms apart
  int port = freePort();
  Sluice s(config(port, srv.port(),
                  "  tcp-response inspect-delay 2s\n"
                  "  tcp-response content accept if { res.payload(0,8) -m str SSH-2.0- } { res.payload(0,0),cut_crlf -m end p1 }\n"
                  "  tcp-response content reject\n"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  Received r = receive(port, banner.size());
  EXPECT_EQ(r.banner, banner);
  EXPECT_EQ(r.patternBytes, kBig);
  EXPECT_TRUE(r.patternIntact);
  ASSERT_TRUE(s.waitForLog(" -- "));
  EXPECT_EQ(s.logLines(" " + std::to_string(banner.size() + kBig) + " -- ").size(), 1u) << s.log();
}

TEST(ResponseRules, RejectedResponseClosesAndCounts) {
  BannerServer srv("HTTP/1.1 400 Bad Request\r\n\r\n", 1000);
  int port = freePort();
  std::string dir = makeTempDir("resprules");
  Sluice s(head() + "global\n  stats socket " + dir + "/admin.sock level admin\n" +
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  server s 127.0.0.1:" +
               std::to_string(srv.port()) +
               "\n  tcp-response inspect-delay 2s\n  tcp-response content reject unless { res.payload(0,4) -m str SSH- }\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  Received r = receive(port, 1000000);
  EXPECT_EQ(r.banner, "") << "not one byte of a rejected response reaches the client";
  ASSERT_TRUE(eventually([&] { return countStates(s.log(), "PD") == 1; })) << s.log();
  std::string stat = cliRequest(dir + "/admin.sock", "show stat\n");
  auto split = [](const std::string& line) {
    std::vector<std::string> out(1);
    for (char c : line) {
      if (c == ',') {
        out.emplace_back();
      } else {
        out.back().push_back(c);
      }
    }
    return out;
  };
  std::vector<std::string> names = split(stat.substr(2, stat.find('\n') - 2));  // after "# "
  size_t at = stat.find("\nl,BACKEND,");
  ASSERT_NE(at, std::string::npos) << stat;
  std::vector<std::string> row = split(stat.substr(at + 1, stat.find('\n', at + 1) - at - 1));
  auto dresp = std::find(names.begin(), names.end(), "dresp");
  ASSERT_NE(dresp, names.end());
  EXPECT_EQ(row.at(static_cast<size_t>(dresp - names.begin())), "1") << stat;
}

// A server that answers too little within the delay: the rules decide at
// its end with what came; one that closes early is judged on what it sent.
TEST(ResponseRules, DelayAndEarlyCloseDecide) {
  {
    BannerServer srv("ab", 0, 600);  // "a", then "b" after 600 ms
    int port = freePort();
    Sluice s(config(port, srv.port(),
                    "  tcp-response inspect-delay 200ms\n"
                    "  tcp-response content reject if { res.len lt 2 }\n"),
             {port});
    ASSERT_TRUE(s.started()) << s.log();
    Received r = receive(port, 10);
    EXPECT_EQ(r.banner, "");
    EXPECT_TRUE(eventually([&] { return countStates(s.log(), "PD") == 1; })) << s.log();
  }
  {
    BannerServer srv("OK", 0);  // says "OK" and closes
    int port = freePort();
    Sluice s(config(port, srv.port(),
                    "  tcp-response inspect-delay 5s\n"
                    "  tcp-response content accept if { res.payload(0,0) -m str OK-fine }\n"
                    "  tcp-response content reject if { res.len lt 2 }\n"),
             {port});
    ASSERT_TRUE(s.started()) << s.log();
    Received r = receive(port, 10);
    EXPECT_EQ(r.banner, "OK") << "no rule refused it: the client gets it, then the close";
    EXPECT_TRUE(eventually([&] { return countStates(s.log(), "--") == 1; })) << s.log();
  }
}

TEST(ResponseRules, ActionsAreChecked) {
  std::string out;
  const std::string base = "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
                           "backend b\n  server s 127.0.0.1:80\n";
  EXPECT_NE(checkConfig(base + "  tcp-response content track-sc0 src\n", out), 0);
  EXPECT_NE(out.find("c.cfg:8: error: rule action 'track-sc0' is not allowed here"), std::string::npos) << out;
  EXPECT_NE(checkConfig(base + "  tcp-response content close\n", out), 0);
  EXPECT_NE(out.find("rule action 'close' is not supported by sluice yet"), std::string::npos) << out;
  EXPECT_EQ(checkConfig(base + "  tcp-response content set-log-level silent if { res.len gt 0 }\n", out), 0) << out;
}

}  // namespace
}  // namespace sluice::testing
