// SPDX-License-Identifier: Apache-2.0
// The worst case of each listener against a hostile sender (issue 22,
// docs/security.md), through the real binary, asserting counts and ratios,
// never times: descriptors and flows held under a flood of spoofed QUIC
// Initials from thousands of addresses (bench/abuse_sender, each datagram
// from a new 127/8 address), the connections a stats page holds for
// clients that never finish their request, and a real client served
// through each flood. The reflection ratio of a spoofed migration and the
// peers port are in quic_test.cc and peers_security_test.cc.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "harness.h"

namespace sluice::testing {
namespace {

long long infoValue(const std::string& admin, const std::string& key) {
  std::string text = cliRequest(admin, "show info\n");
  size_t at = text.find("\n" + key + ": ");
  return at == std::string::npos ? -1LL : std::atoll(text.c_str() + at + key.size() + 3);
}

// A QUIC frontend under spoofed half hellos from every address of
// 127.1-254.x.y for two seconds: the unconfirmed flows, and with them the
// server sockets sluice holds, stay within the budget; no connection slot
// is taken; a TCP client of the same process is served during the flood.
TEST(Abuse, SpoofedInitialFloodHoldsTheBudgetOfDescriptors) {
  const std::string dir = makeTempDir("abuse-quic");
  const std::string admin = dir + "/admin.sock";
  int port = freePort(), quicServer = freePort();
  TestServer web("web", TestServer::Mode::Identify);
  // The flows' server: a UDP port that takes the datagrams and says nothing.
  int sink = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(quicServer));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(sink, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  }
  constexpr int kBudget = 50;
  Sluice s("global\n  stats socket " + admin + " level admin\n  maxconn 20\n  tune.quic.max-unconfirmed " +
               std::to_string(kBudget) + "\n  nbthread 2\n"
               "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  bind quic4@127.0.0.1:" +
               std::to_string(port) + "\n  tcp-request inspect-delay 2s\n"
               "  use_backend q if { req.ssl_alpn h3 }\n  default_backend web\n"
               "backend q\n  server q1 quic4@127.0.0.1:" + std::to_string(quicServer) +
               "\nbackend web\n  server w 127.0.0.1:" + std::to_string(web.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  const int before = openFdCount(s.process().pid());
  ASSERT_GT(before, 0);
  Process flood({SLUICE_ABUSE_SENDER, "half", std::to_string(port), "2"}, dir + "/flood.out");
  int maxFds = 0;
  long long maxUnconfirmed = 0;
  bool served = false;
  // Sampled while the flood runs: descriptors and flows never pass the budget.
  while (flood.running()) {
    maxFds = std::max(maxFds, openFdCount(s.process().pid()));
    maxUnconfirmed = std::max(maxUnconfirmed, infoValue(admin, "QuicUnconfirmedFlows"));
    served = served || askServerName(port) == "web";
  }
  flood.wait(scaled(5000));
  const long long evicted = infoValue(admin, "QuicUnconfirmedEvicted");
  EXPECT_TRUE(served) << "a TCP client was not served during the flood";
  // One server socket per unconfirmed flow; the budget is exact (each
  // thread evicts within its own share).
  EXPECT_LE(maxUnconfirmed, kBudget);
  EXPECT_LE(maxFds, before + kBudget + 8) << "descriptors before: " << before;
  EXPECT_GT(evicted, 1000) << "the flood did not reach the budget: " << readFile(dir + "/flood.out");
  EXPECT_EQ(infoValue(admin, "CurrConns"), 0);
  ::close(sink);
}

// A stats page's clients that connect and never finish their request
// (slowloris): at most 256 are held.
TEST(Abuse, StatsPageHoldsAtMost256UnfinishedRequests) {
  int stats = freePort();
  Sluice s("global\n  maxconn 2000\ndefaults\n  mode http\n  timeout client 10s\n"
           "listen st\n  bind 127.0.0.1:" + std::to_string(stats) + "\n  stats enable\n  stats uri /stats\n",
           {stats});
  ASSERT_TRUE(s.started()) << s.log();
  const int before = openFdCount(s.process().pid());
  std::vector<int> fds;
  for (int i = 0; i < 400; ++i) {
    int fd = connectTcp("127.0.0.1", stats);
    if (fd >= 0) {
      (void)::send(fd, "GET /st", 7, MSG_NOSIGNAL);  // never finished
      fds.push_back(fd);
    }
  }
  // sluice holds at most 256 of them (the others are closed, or wait in
  // the kernel's accept queue, where they cost sluice nothing).
  ASSERT_TRUE(eventually([&] { return openFdCount(s.process().pid()) >= before + 200; }))
      << "the connections did not reach sluice: " << openFdCount(s.process().pid());
  EXPECT_LE(openFdCount(s.process().pid()), before + 256) << before << " descriptors before";
  for (int fd : fds) ::close(fd);
  // Once they are gone, the page answers.
  EXPECT_TRUE(eventually([&] { return httpStatus(httpRequest(stats, "GET", "/stats")) == 200; }));
}

}  // namespace
}  // namespace sluice::testing
