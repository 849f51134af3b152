// SPDX-License-Identifier: Apache-2.0
// Instances that agree without talking (issue 14's active-active case): two
// sluice processes with the same file send each client (by source address)
// to the same server, with "balance source" and "hash-type consistent" or
// "maglev", so that behind ECMP a client that lands on either instance
// reaches the same server.
#include <gtest/gtest.h>

#include "harness.h"

namespace sluice::testing {
namespace {

void sameChoice(const std::string& hashType) {
  std::vector<std::unique_ptr<TestServer>> servers;
  std::string lines;
  for (int i = 0; i < 4; ++i) {
    servers.push_back(std::make_unique<TestServer>("S" + std::to_string(i), TestServer::Mode::Identify));
    lines += "  server s" + std::to_string(i) + " 127.0.0.1:" + std::to_string(servers.back()->port()) + "\n";
  }
  auto config = [&](int port) {
    return "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend be\n"
           "backend be\n  balance source\n  hash-type " + hashType + "\n" + lines;
  };
  int p1 = freePort(), p2 = freePort();
  Sluice a(config(p1), {p1});
  Sluice b(config(p2), {p2});
  ASSERT_TRUE(a.started()) << a.log();
  ASSERT_TRUE(b.started()) << b.log();
  std::map<std::string, int> used;
  for (int c = 2; c < 42; ++c) {
    const std::string source = "127.0.1." + std::to_string(c);
    std::string viaA = askServerName(p1, source);
    std::string viaB = askServerName(p2, source);
    EXPECT_EQ(viaA, viaB) << "client " << source;
    EXPECT_EQ(askServerName(p1, source), viaA) << "client " << source << " moved";
    ++used[viaA];
  }
  EXPECT_EQ(used.size(), 4u);  // the clients spread over every server
}

TEST(ScaleOut, InstancesAgreeWithConsistentHashing) { sameChoice("consistent"); }
TEST(ScaleOut, InstancesAgreeWithMaglev) { sameChoice("maglev"); }

}  // namespace
}  // namespace sluice::testing
