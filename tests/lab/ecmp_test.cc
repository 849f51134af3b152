// SPDX-License-Identifier: Apache-2.0
// Active-active behind ECMP (issue 14): a client namespace routes a virtual
// address over two next hops (L4 hashing), each a namespace running sluice
// with the same file (balance source, hash-type consistent) in front of
// three servers in a server namespace. Each server answers with its name
// and the address the connection came from, which names the instance.
// Checked: both instances take clients; a client reaches the same server
// whichever instance its connection lands on; when one instance dies and
// its next hop is withdrawn, its clients' new connections reach the same
// servers through the other; a fourth server moves about a quarter of the
// clients (measured against the ideal 1/4).
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "ci.h"
#include "harness.h"
#include "netlab.h"
#include "scale_out_lab.h"

namespace sluice::testing::lab {
namespace {

// From `source` in the client namespace to the virtual address: the answer.
std::string ask(const Netns& client, const std::string& source) { return askIn(client, "198.18.100.1", 443, source); }

std::string serverOf(const std::string& answer) {
  size_t p = answer.find("server=");
  return p == std::string::npos ? "" : answer.substr(p + 7, answer.find(' ', p) - p - 7);
}
std::string instanceOf(const std::string& answer) {
  if (answer.find("via=198.18.21.1") != std::string::npos) return "a";
  if (answer.find("via=198.18.22.1") != std::string::npos) return "b";
  return "";
}

TEST(Ecmp, TwoInstancesBehindAMultipathRouteAgree) {
  std::string why = unavailableReason();
  if (!why.empty()) SLUICE_SKIP_OR_FAIL("the network lab " + why);
  const std::string tag = "ec" + std::to_string(getpid() % 100000);
  Netns c(tag + "c"), a(tag + "a"), b(tag + "b"), s(tag + "s");
  ASSERT_TRUE(c.ok() && a.ok() && b.ok() && s.ok());
  const std::string I = ip();
  auto link = [&](const Netns& x, const std::string& dx, const std::string& ax, const Netns& y, const std::string& dy,
                  const std::string& ay) {
    return sh(I + " link add " + dx + " netns " + x.name() + " type veth peer name " + dy + " netns " + y.name()) &&
           sh(I + " -n " + x.name() + " addr add " + ax + "/24 dev " + dx) &&
           sh(I + " -n " + y.name() + " addr add " + ay + "/24 dev " + dy) &&
           sh(I + " -n " + x.name() + " link set " + dx + " up") && sh(I + " -n " + y.name() + " link set " + dy + " up");
  };
  ASSERT_TRUE(link(c, tag + "ca", "198.18.11.2", a, tag + "ac", "198.18.11.1"));
  ASSERT_TRUE(link(c, tag + "cb", "198.18.12.2", b, tag + "bc", "198.18.12.1"));
  ASSERT_TRUE(link(a, tag + "as", "198.18.21.1", s, tag + "sa", "198.18.21.2"));
  ASSERT_TRUE(link(b, tag + "bs", "198.18.22.1", s, tag + "sb", "198.18.22.2"));
  // The virtual address on both instances; 40 client addresses; 4 server addresses.
  for (const Netns* n : {&a, &b}) ASSERT_TRUE(sh(I + " -n " + n->name() + " addr add 198.18.100.1/32 dev lo"));
  for (int i = 1; i <= 40; ++i) ASSERT_TRUE(sh(I + " -n " + c.name() + " addr add 198.18.30." + std::to_string(i) + "/32 dev lo"));
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(sh(I + " -n " + s.name() + " addr add 198.18.40." + std::to_string(i) + "/32 dev lo"));
  // Routes: the client spreads over both next hops by L4 hash; each side knows the way back.
  ASSERT_TRUE(c.run("sysctl -qw net.ipv4.fib_multipath_hash_policy=1") == 0);
  ASSERT_TRUE(sh(I + " -n " + c.name() + " route add 198.18.100.1/32 nexthop via 198.18.11.1 nexthop via 198.18.12.1"));
  ASSERT_TRUE(sh(I + " -n " + a.name() + " route add 198.18.30.0/24 via 198.18.11.2"));
  ASSERT_TRUE(sh(I + " -n " + b.name() + " route add 198.18.30.0/24 via 198.18.12.2"));
  ASSERT_TRUE(sh(I + " -n " + a.name() + " route add 198.18.40.0/24 via 198.18.21.2"));
  ASSERT_TRUE(sh(I + " -n " + b.name() + " route add 198.18.40.0/24 via 198.18.22.2"));

  std::vector<std::unique_ptr<NsServer>> servers;
  for (int i = 1; i <= 4; ++i) {
    servers.push_back(std::make_unique<NsServer>(s, "198.18.40." + std::to_string(i), 8000, "s" + std::to_string(i)));
    ASSERT_TRUE(servers.back()->ok());
  }
  std::string dir = makeTempDir("ecmp");
  auto config = [&](int count) {
    std::string cfg = "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n"
                      "frontend fe\n  bind 198.18.100.1:443\n  default_backend be\n"
                      "backend be\n  balance source\n  hash-type consistent\n";
    for (int i = 1; i <= count; ++i) {
      cfg += "  server s" + std::to_string(i) + " 198.18.40." + std::to_string(i) + ":8000 id " + std::to_string(i) + "\n";
    }
    return cfg;
  };
  writeFile(dir + "/lb.cfg", config(3));
  auto start = [&](const Netns& n) {
    auto p = std::make_unique<Process>(std::vector<std::string>{I, "netns", "exec", n.name(), binaryPath(), "-db", "-f",
                                                                dir + "/lb.cfg"},
                                       dir + "/" + n.name() + ".log");
    eventually([&] {
      std::string out;
      return n.run("ss -Hltn 'sport = :443'", &out) == 0 && out.find("198.18.100.1:443") != std::string::npos;
    });
    return p;
  };
  auto lbA = start(a);
  auto lbB = start(b);

  // Every client, four times: the same server, whichever instance served it.
  std::map<std::string, std::string> serverOfClient;
  std::set<std::string> instances;
  size_t bothInstances = 0;
  for (int i = 1; i <= 40; ++i) {
    const std::string src = "198.18.30." + std::to_string(i);
    std::set<std::string> seen, via;
    for (int k = 0; k < 4; ++k) {
      std::string answer = ask(c, src);
      ASSERT_FALSE(serverOf(answer).empty()) << src << ": " << answer << lbA->output() << lbB->output();
      seen.insert(serverOf(answer));
      via.insert(instanceOf(answer));
    }
    EXPECT_EQ(seen.size(), 1u) << "client " << src << " reached several servers";
    serverOfClient[src] = *seen.begin();
    instances.insert(via.begin(), via.end());
    bothInstances += via.size() == 2;
  }
  EXPECT_EQ(instances, (std::set<std::string>{"a", "b"})) << "ECMP did not spread the clients";
  EXPECT_GT(bothInstances, 0u) << "no client landed on both instances";

  // Instance a dies and its next hop is withdrawn: everyone goes through b,
  // to the same server as before.
  lbA->stop();
  ASSERT_TRUE(sh(I + " -n " + c.name() + " route replace 198.18.100.1/32 via 198.18.12.1"));
  for (const auto& [src, server] : serverOfClient) {
    std::string answer = ask(c, src);
    EXPECT_EQ(serverOf(answer), server) << src;
    EXPECT_EQ(instanceOf(answer), "b") << src;
  }

  // A fourth server: about a quarter of the clients move (ideal 1/4).
  writeFile(dir + "/lb.cfg", config(4));
  ::kill(lbB->pid(), SIGUSR2);
  ASSERT_TRUE(eventually([&] {
    for (int i = 1; i <= 40; ++i) {
      if (serverOf(ask(c, "198.18.30." + std::to_string(i))) == "s4") return true;
    }
    return false;
  }, 5000)) << "the reload with a fourth server did not take";
  int moved = 0;
  for (const auto& [src, server] : serverOfClient) {
    std::string now = serverOf(ask(c, src));
    if (now != server) {
      ++moved;
      EXPECT_EQ(now, "s4") << src << " moved between old servers";
    }
  }
  std::cout << "[ MEASURED ] a 4th server moved " << moved << " of 40 clients (ideal 10)\n";
  EXPECT_GT(moved, 2);
  EXPECT_LT(moved, 20);
  lbB->stop();
}

}  // namespace
}  // namespace sluice::testing::lab
