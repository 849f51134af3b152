// SPDX-License-Identifier: Apache-2.0
// Balancing through the real binary: roundrobin with weights, leastconn with
// held connections, source affinity from several client addresses, first,
// backups, and retries that move to another server when one refuses.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>

#include "harness.h"

namespace sluice::testing {
namespace {

std::string head(int nbthread = 2) {
  return "global\n  log stdout format raw local0\n  nbthread " + std::to_string(nbthread) + "\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n";
}

// Sends a plain request through sluice to Identify servers; returns the name.
std::string ask(int port, const std::string& source = "") { return askServerName(port, source); }

struct Farm {
  std::vector<std::unique_ptr<TestServer>> servers;
  std::string lines(const std::vector<std::string>& params = {}) {
    std::string out;
    for (size_t i = 0; i < servers.size(); ++i) {
      out += "  server " + servers[i]->name() + " 127.0.0.1:" + std::to_string(servers[i]->port());
      if (i < params.size()) out += " " + params[i];
      out += "\n";
    }
    return out;
  }
};

Farm farm(int n, TestServer::Mode mode = TestServer::Mode::Identify) {
  Farm f;
  for (int i = 0; i < n; ++i) {
    f.servers.push_back(std::make_unique<TestServer>("s" + std::to_string(i + 1), mode));
  }
  return f;
}

// Weighted roundrobin: weights 3:1 give 3:1, interleaved, on every thread mix.
TEST(Balance, RoundRobinHonoursWeights) {
  Farm f = farm(2);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  balance roundrobin\n" + f.lines({"weight 3", "weight 1"}),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::map<std::string, int> count;
  std::string sequence;
  for (int i = 0; i < 40; ++i) {
    std::string who = ask(port);
    count[who]++;
    sequence += who == "s1" ? "1" : "2";
  }
  EXPECT_EQ(count["s1"], 30) << sequence;
  EXPECT_EQ(count["s2"], 10) << sequence;
  // Smooth: never more than three s1 in a row.
  EXPECT_EQ(sequence.find("1111"), std::string::npos) << sequence;
}

// Equal weights alternate strictly, as users of HAProxy expect.
TEST(Balance, RoundRobinAlternates) {
  Farm f = farm(3);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) + "\n" + f.lines(), {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string seq;
  for (int i = 0; i < 9; ++i) seq += ask(port).substr(1) + ",";
  EXPECT_EQ(seq, "1,2,3,1,2,3,1,2,3,");
}

// leastconn with both threads picking, and connections opening and closing
// on both threads (each open and close moves the server in the balancer's
// order, under the backend's lock: the sanitizer stages run this too): 40
// connections held over 4 servers end up 10 on each, give or take picks
// that raced; after half are closed, 20 more fill the servers back evenly.
// (Which server a close frees is pinned by the unit tests.)
TEST(Balance, LeastConnStaysEvenUnderConcurrentOpensAndCloses) {
  Farm f = farm(4);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) + "\n  balance leastconn\n" + f.lines(),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  auto hold = [&](std::vector<int>& held, int n) {
    for (int i = 0; i < n; ++i) {
      int fd = connectTcp("127.0.0.1", port);
      ASSERT_GE(fd, 0);
      sendAll(fd, "hold");
      held.push_back(fd);
    }
  };
  auto total = [&] {
    int n = 0;
    for (auto& srv : f.servers) n += srv->active();
    return n;
  };
  std::vector<int> held;
  hold(held, 40);
  ASSERT_TRUE(eventually([&] { return total() == 40; })) << total();
  for (auto& srv : f.servers) {
    EXPECT_GE(srv->active(), 8) << srv->name();
    EXPECT_LE(srv->active(), 12) << srv->name();
  }
  for (size_t i = 0; i < 20; ++i) close(held[i]);
  held.erase(held.begin(), held.begin() + 20);
  ASSERT_TRUE(eventually([&] { return total() == 20; })) << total();
  hold(held, 20);
  ASSERT_TRUE(eventually([&] { return total() == 40; })) << total();
  for (auto& srv : f.servers) {
    EXPECT_GE(srv->active(), 8) << srv->name();
    EXPECT_LE(srv->active(), 12) << srv->name();
  }
  for (int fd : held) close(fd);
}

// leastconn: with connections held open on s1 and s2, new ones go to s3.
TEST(Balance, LeastConnPrefersTheIdleServer) {
  Farm f = farm(3);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  balance leastconn\n" + f.lines(),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  // Hold two connections (they never send a full request, so servers wait).
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    int fd = connectTcp("127.0.0.1", port);
    ASSERT_GE(fd, 0);
    sendAll(fd, "hold");
    held.push_back(fd);
  }
  for (int i = 0; i < 100 && f.servers[0]->active() + f.servers[1]->active() + f.servers[2]->active() < 2; ++i) {
    usleep(10000);
  }
  int idle = -1;
  for (int i = 0; i < 3; ++i) {
    if (f.servers[static_cast<size_t>(i)]->active() == 0) idle = i;
  }
  ASSERT_GE(idle, 0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ask(port), "s" + std::to_string(idle + 1));
    // Let the finished session leave the server's count before the next one.
    ASSERT_TRUE(eventually([&] { return s.logLines("lb lb/").size() >= static_cast<size_t>(i + 1); }));
    ASSERT_TRUE(eventually([&] { return f.servers[static_cast<size_t>(idle)]->active() == 0; }));
  }
  for (int fd : held) close(fd);
}

// source: one client address always reaches the same server, and different
// addresses spread over the farm.
TEST(Balance, SourceIsStickyPerClientAddress) {
  Farm f = farm(3);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  balance source\n" + f.lines(),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::map<std::string, std::string> first;
  std::map<std::string, int> spread;
  for (int round = 0; round < 3; ++round) {
    for (int host = 1; host <= 30; ++host) {
      std::string src = "127.0.0." + std::to_string(10 + host);
      std::string who = ask(port, src);
      ASSERT_NE(who, "none");
      if (round == 0) {
        first[src] = who;
        spread[who]++;
      } else {
        EXPECT_EQ(who, first[src]) << src;
      }
    }
  }
  EXPECT_EQ(spread.size(), 3u) << "30 addresses should reach all three servers";
}

// first: everything goes to the lowest id until its maxconn is reached,
// then to the next id; back to the lowest once it has room again.
TEST(Balance, FirstFillsServersInOrder) {
  Farm f = farm(2);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  balance first\n" + f.lines({"maxconn 5 id 2", "maxconn 2 id 1"}),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ask(port), "s2");  // id 1 is s2
  // The client has its answer before sluice has closed the session and
  // given back its slot: wait for the four log lines (written at the end).
  ASSERT_TRUE(eventually([&] { return s.logLines("lb lb/s2 ").size() >= 4; })) << s.log();
  // Two connections that s2 holds open (a request not yet complete) fill
  // its maxconn of 2.
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(connectTcp("127.0.0.1", port));
    ASSERT_TRUE(sendAll(held.back(), "GET / HTTP/1.0\r\n"));
  }
  ASSERT_TRUE(eventually([&] { return f.servers[1]->active() == 2; })) << f.servers[1]->active();
  EXPECT_EQ(ask(port), "s1") << "s2 is at its maxconn: first moves on to the next id";
  EXPECT_EQ(ask(port), "s1");
  for (int fd : held) close(fd);
  // The log line of a held connection is written when sluice closes it.
  ASSERT_TRUE(eventually([&] { return s.logLines("lb lb/s2 ").size() >= 6; })) << s.log();
  EXPECT_EQ(ask(port), "s2") << "s2 has room again";
}

// Backup servers only serve when every active server is unusable: not
// while the active one is up, and at once when it goes down.
TEST(Balance, BackupTakesOverOnlyWhenActiveIsGone) {
  Farm f = farm(2);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  retries 1\n  option redispatch\n" +
               f.lines({"check inter 100ms fall 1 rise 1", "backup"}),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ask(port), "s1");
  EXPECT_EQ(f.servers[1]->connections(), 0);
  f.servers[0]->stop();  // the active server goes away
  ASSERT_TRUE(s.waitForLog("Server lb/s1 is DOWN")) << s.log();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ask(port), "s2") << i;
  EXPECT_EQ(f.servers[1]->connections(), 4);
}

// A refused connection is retried on another server (option redispatch), and
// the log shows the retry with the '+' of a redispatch.
TEST(Balance, RefusedConnectIsRetriedElsewhere) {
  Farm f = farm(1);
  int port = freePort();
  int dead = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  retries 3\n  option redispatch\n"
               "  server dead 127.0.0.1:" + std::to_string(dead) + "\n" + f.lines(),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ask(port), "s1") << i;
  eventually([&] { return s.logLines("lb lb/s1 ").size() >= 6; }, 2000);
  EXPECT_EQ(s.logLines("lb lb/s1 ").size(), 6u) << s.log();
  // Half the requests first went to "dead": those show one retry, redispatched.
  EXPECT_GE(s.logLines("/+1 ").size(), 3u) << s.log();
}

// Without redispatch, retries stay on the same server (with HAProxy's pause
// between attempts) and the session ends with "SC" after the last one.
TEST(Balance, WithoutRedispatchRetriesStayOnTheServer) {
  int port = freePort();
  int dead = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  retries 2\n  timeout connect 200ms\n"
               "  server dead 127.0.0.1:" + std::to_string(dead) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ask(port), "none");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 380);  // two pauses of min(1s, timeout connect)
  ASSERT_TRUE(s.waitForLog(" SC "));
  auto lines = s.logLines(" SC ");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("lb lb/dead "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("/2 0/0"), std::string::npos) << lines[0];
}

// No usable server at all: closed at once, logged with <NOSRV> and SC.
TEST(Balance, NoServerClosesAtOnce) {
  Farm f = farm(1);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) + "\n" +
               f.lines({"disabled"}),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(waitClosed(fd, scaled(2000)));
  close(fd);
  EXPECT_TRUE(s.waitForLog("lb lb/<NOSRV> "));
  EXPECT_EQ(s.logLines(" SC ").size(), 1u) << s.log();
}

}  // namespace
}  // namespace sluice::testing

namespace sluice::testing {
namespace {

// balance hash req.ssl_sni: one name always reaches one server; names spread.
TEST(BalanceHash, SniHashIsSticky) {
  std::string dir = makeTempDir("hash");
  Cert cert = makeCert(dir, "any.example");
  std::vector<std::unique_ptr<TestServer>> servers;
  std::string lines;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(std::make_unique<TestServer>("h" + std::to_string(i), TestServer::Mode::Identify, &cert));
    lines += "  server h" + std::to_string(i) + " 127.0.0.1:" + std::to_string(servers.back()->port()) + "\n";
  }
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  tcp-request inspect-delay 5s\n  balance hash req.ssl_sni\n  hash-type consistent\n" + lines,
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  auto reach = [&](const std::string& sni) {
    TlsClientOptions o;
    o.sni = sni;
    TlsResult r = tlsRequest("127.0.0.1", port, o);
    size_t p = r.response.find("server=");
    return p == std::string::npos ? std::string("none") : r.response.substr(p + 7, 2);
  };
  std::map<std::string, std::string> first;
  std::set<std::string> used;
  for (int round = 0; round < 2; ++round) {
    for (int n = 0; n < 12; ++n) {
      std::string sni = "name" + std::to_string(n) + ".example";
      std::string who = reach(sni);
      ASSERT_NE(who, "none");
      if (round == 0) {
        first[sni] = who;
        used.insert(who);
      } else {
        EXPECT_EQ(who, first[sni]) << sni;
      }
    }
  }
  EXPECT_GE(used.size(), 2u) << "twelve names should not all hash to one server";
}

// A connect that times out is retried on another server (option redispatch).
TEST(BalanceRetry, TimedOutConnectGoesElsewhere) {
  BlackHole hole;
  int blackhole = hole.port();
  TestServer good("good", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  timeout connect 200ms\n  retries 2\n  option redispatch\n"
               "  server bh 127.0.0.1:" + std::to_string(blackhole) + "\n"
               "  server good 127.0.0.1:" + std::to_string(good.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ask(port), "good") << i;
  eventually([&] { return s.logLines("lb lb/good ").size() >= 4; }, 2000);
  EXPECT_GE(s.logLines("/+1 ").size(), 1u) << s.log();
}

}  // namespace
}  // namespace sluice::testing

namespace sluice::testing {
namespace {

// Counts connections per server under each algorithm (60 sequential
// connections over three servers) and checks the spread it promises.
class Spread : public ::testing::TestWithParam<std::string> {};

TEST_P(Spread, ConnectionsPerServer) {
  const std::string algo = GetParam();
  Farm f = farm(3);
  int port = freePort();
  Sluice s(head() + "listen lb\n  bind 127.0.0.1:" + std::to_string(port) + "\n  balance " + algo + "\n" +
               f.lines(),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::map<std::string, int> n;
  for (int i = 0; i < 60; ++i) {
    std::string src = algo == "source" ? "127.0.0." + std::to_string(20 + i) : "";
    n[ask(port, src)]++;
    if (algo == "leastconn") {
      eventually([&] { return s.logLines("lb lb/").size() >= static_cast<size_t>(i + 1); }, 500);
    }
  }
  EXPECT_EQ(n["none"], 0);
  if (algo == "roundrobin" || algo == "static-rr" || algo == "leastconn") {
    for (const char* srv : {"s1", "s2", "s3"}) EXPECT_EQ(n[srv], 20) << algo << " " << srv;
  } else if (algo == "first") {
    EXPECT_EQ(n["s1"], 60);
  } else {  // random, source: every server gets a fair part
    for (const char* srv : {"s1", "s2", "s3"}) {
      EXPECT_GE(n[srv], 8) << algo << " " << srv;
      EXPECT_LE(n[srv], 35) << algo << " " << srv;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, Spread,
                         ::testing::Values("roundrobin", "static-rr", "leastconn", "first", "random", "source"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace sluice::testing
