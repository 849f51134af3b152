// SPDX-License-Identifier: Apache-2.0
// Stick tables shared over HAProxy's peers protocol through the real
// binary: with the real HAProxy 2.6 as the other peer, entries and their
// counters written on one are read on the other, both ways, and again after
// either side restarts (the restarted side asks for a resync); two sluice
// instances hold one per-source limit together; a peer cut off without a
// restart gets what it missed, in flight or written while it was away; a
// peer that answers garbage is counted and connected again, and sluice
// keeps serving.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <poll.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <iostream>
#include <thread>

#include "ci.h"
#include "harness.h"

namespace sluice::testing {
namespace {

std::string haproxyPath() {
  std::string path;
  runCommand("command -v haproxy", &path);
  while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
  return path;
}

std::string peersSection(int hx, int sl) {
  return "peers mesh\n  peer hx 127.0.0.1:" + std::to_string(hx) + "\n  peer sl 127.0.0.1:" + std::to_string(sl) +
         "\n";
}

const char* kTable = "  stick-table type ip size 1k expire 1m store gpc0,conn_rate(10s),server_id peers mesh\n";

struct Haproxy {
  std::string dir;
  std::unique_ptr<Process> p;
  Haproxy(const std::string& d, int hx, int sl) : dir(d) {
    writeFile(dir + "/hx.cfg", "global\n  stats socket " + dir + "/hx.sock level admin\n" + peersSection(hx, sl) +
                                   "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n"
                                   "  timeout server 5s\nbackend st\n" + kTable);
    start();
  }
  void start() {
    p = std::make_unique<Process>(std::vector<std::string>{haproxyPath(), "-f", dir + "/hx.cfg", "-L", "hx", "-db"},
                                  dir + "/haproxy.log");
    eventually([&] { return !cli("show version").empty(); }, 5000);
  }
  std::string cli(const std::string& c) { return cliRequest(dir + "/hx.sock", c + "\n"); }
};

// The number after "<name>=" at `from` or later in a "show peers" text.
std::string fieldAfter(const std::string& text, const std::string& name, size_t from) {
  size_t at = text.find(name + "=", from);
  if (at == std::string::npos) return {};
  at += name.size() + 1;
  return text.substr(at, text.find_first_of(" \n", at) - at);
}

// Every shared table of every peer: something was pushed and all of it was
// acknowledged.
bool acknowledgedAll(const std::string& showPeers) {
  bool any = false;
  for (size_t at = showPeers.find("last_acked="); at != std::string::npos;
       at = showPeers.find("last_acked=", at + 1)) {
    const std::string acked = fieldAfter(showPeers, "last_acked", at);
    if (acked == "0" || acked != fieldAfter(showPeers, "last_pushed", at)) return false;
    any = true;
  }
  return any;
}

std::string sluiceConfig(const std::string& dir, int hx, int sl) {
  return "global\n  stats socket " + dir + "/sl.sock level admin\n" + peersSection(hx, sl) +
         "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
         "backend st\n" + kTable + "  server s 127.0.0.1:1\n";
}

TEST(Peers, SluiceAndHaproxyShareEntriesBothWaysAndAfterRestarts) {
  if (haproxyPath().empty()) SLUICE_SKIP_OR_FAIL("haproxy is needed (scripts/install-deps installs it)");
  std::string dir = makeTempDir("peers-hx");
  int hx = freePort(), sl = freePort();
  Haproxy h(dir, hx, sl);
  auto sluice = std::make_unique<Sluice>(sluiceConfig(dir, hx, sl), std::vector<int>{sl},
                                         std::vector<std::string>{"-L", "sl"});
  ASSERT_TRUE(sluice->started()) << sluice->log();
  const std::string admin = dir + "/sl.sock";
  ASSERT_TRUE(eventually([&] { return cliRequest(admin, "show peers\n").find("last_status=ESTA") != std::string::npos; }, 8000))
      << cliRequest(admin, "show peers\n") << sluice->log();

  // HAProxy -> sluice, and sluice -> HAProxy.
  EXPECT_EQ(h.cli("set table st key 10.0.0.1 data.gpc0 5 data.server_id 3"), "\n");
  EXPECT_EQ(cliRequest(admin, "set table st key 10.0.0.2 data.gpc0 7 data.conn_rate 4\n"), "\n");
  EXPECT_TRUE(eventually([&] {
    std::string t = cliRequest(admin, "show table st\n");
    return t.find("key=10.0.0.1 ") != std::string::npos && t.find("server_id=3 gpc0=5") != std::string::npos;
  }, 5000)) << cliRequest(admin, "show table st\n");
  EXPECT_TRUE(eventually([&] { return h.cli("show table st").find("key=10.0.0.2 use=0") != std::string::npos &&
                                      h.cli("show table st").find("gpc0=7 conn_rate(10000)=4") != std::string::npos; }, 5000))
      << h.cli("show table st");
  // HAProxy acknowledges what sluice sent (its acknowledgements name
  // sluice's table id and update number): nothing is left to send again.
  EXPECT_TRUE(eventually([&] { return acknowledgedAll(cliRequest(admin, "show peers\n")); }, 5000))
      << cliRequest(admin, "show peers\n");
  // A counter that moves keeps moving on the other side.
  EXPECT_EQ(h.cli("set table st key 10.0.0.1 data.gpc0 6"), "\n");
  EXPECT_TRUE(eventually([&] { return cliRequest(admin, "show table st\n").find("gpc0=6") != std::string::npos; }, 5000));

  // sluice restarts: it asks HAProxy for everything and learns it back.
  sluice.reset();
  sluice = std::make_unique<Sluice>(sluiceConfig(dir, hx, sl), std::vector<int>{sl}, std::vector<std::string>{"-L", "sl"});
  ASSERT_TRUE(sluice->started()) << sluice->log();
  EXPECT_TRUE(eventually([&] {
    std::string t = cliRequest(admin, "show table st\n");
    return t.find("key=10.0.0.1 ") != std::string::npos && t.find("key=10.0.0.2 ") != std::string::npos;
  }, 8000)) << cliRequest(admin, "show table st\n") << sluice->log();

  // HAProxy restarts: it asks sluice, which teaches it every entry.
  h.p->stop();
  h.start();
  EXPECT_TRUE(eventually([&] {
    std::string t = h.cli("show table st");
    return t.find("key=10.0.0.1 ") != std::string::npos && t.find("key=10.0.0.2 ") != std::string::npos;
  }, 10000)) << h.cli("show table st");
}

// HAProxy 2.x's "table" lines inside a peers section: named
// "<section>/<table>" in rules and on the CLI, "/<table>" on the wire. The
// same file shape on both sides, with the real HAProxy: entries cross both
// ways, and a sluice rule that tracks into the table counts connections
// HAProxy then reads.
TEST(Peers, TablesDeclaredInPeersSectionsInteroperate) {
  if (haproxyPath().empty()) SLUICE_SKIP_OR_FAIL("haproxy is needed (scripts/install-deps installs it)");
  std::string dir = makeTempDir("peers-table");
  int hx = freePort(), sl = freePort(), front = freePort();
  TestServer backend("B", TestServer::Mode::Identify);
  const std::string section = peersSection(hx, sl) + "  table src type ip size 1k expire 1m store conn_cnt,gpc0\n";
  writeFile(dir + "/hx.cfg", "global\n  stats socket " + dir + "/hx.sock level admin\n" + section +
                                 "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n");
  Process haproxy({haproxyPath(), "-f", dir + "/hx.cfg", "-L", "hx", "-db"}, dir + "/haproxy.log");
  auto hcli = [&](const std::string& c) { return cliRequest(dir + "/hx.sock", c + "\n"); };
  ASSERT_TRUE(eventually([&] { return !hcli("show version").empty(); }, 5000)) << readFile(dir + "/haproxy.log");
  Sluice s("global\n  stats socket " + dir + "/sl.sock level admin\n" + section +
               "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
               "frontend fe\n  bind 127.0.0.1:" + std::to_string(front) + "\n"
               "  tcp-request connection track-sc0 src table mesh/src\n"
               "  tcp-request connection reject if { sc0_conn_cnt(mesh/src) gt 3 }\n"
               "  default_backend be\n"
               "backend be\n  server s 127.0.0.1:" + std::to_string(backend.port()) + "\n",
           {front, sl}, {"-L", "sl"});
  ASSERT_TRUE(s.started()) << s.log();
  auto scli = [&](const std::string& c) { return cliRequest(dir + "/sl.sock", c + "\n"); };
  ASSERT_TRUE(eventually([&] { return scli("show peers").find("last_status=ESTA") != std::string::npos; }, 8000))
      << scli("show peers");
  EXPECT_NE(scli("show table").find("# table: mesh/src, type: ip"), std::string::npos) << scli("show table");

  EXPECT_EQ(hcli("set table mesh/src key 10.0.0.1 data.gpc0 5"), "\n");
  EXPECT_TRUE(eventually([&] { return scli("show table mesh/src").find("key=10.0.0.1 ") != std::string::npos &&
                                      scli("show table mesh/src").find("gpc0=5") != std::string::npos; }, 5000))
      << scli("show table mesh/src");
  // Connections counted by sluice's rule reach HAProxy; the fourth is refused.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(askServerName(front, "127.0.3.1"), "B");
  EXPECT_NE(askServerName(front, "127.0.3.1"), "B");
  EXPECT_TRUE(eventually([&] {
    std::string t = hcli("show table mesh/src");
    return t.find("key=127.0.3.1 ") != std::string::npos && t.find("conn_cnt=4") != std::string::npos;
  }, 5000)) << hcli("show table mesh/src");
  haproxy.stop();
}

// Two sluice instances, one limit: a client that spreads its connections
// over both is refused after 4 in all, as if there were one balancer.
TEST(Peers, TwoInstancesHoldOnePerSourceLimit) {
  std::string dir = makeTempDir("peers-two");
  TestServer backend("B", TestServer::Mode::Identify);
  int pa = freePort(), pb = freePort(), fa = freePort(), fb = freePort();
  auto config = [&](const std::string& self, int front) {
    return "global\n  stats socket " + dir + "/" + self + ".sock level admin\n"
           "peers mesh\n  peer a 127.0.0.1:" + std::to_string(pa) + "\n  peer b 127.0.0.1:" + std::to_string(pb) +
           "\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(front) + "\n"
           "  stick-table type ip size 1k expire 1m store conn_cnt peers mesh\n"
           "  tcp-request connection track-sc0 src\n"
           "  tcp-request connection reject if { sc0_conn_cnt gt 4 }\n"
           "  default_backend be\n"
           "backend be\n  server s 127.0.0.1:" + std::to_string(backend.port()) + "\n";
  };
  Sluice a(config("a", fa), {fa, pa}, {"-L", "a"});
  Sluice b(config("b", fb), {fb, pb}, {"-L", "b"});
  ASSERT_TRUE(a.started()) << a.log();
  ASSERT_TRUE(b.started()) << b.log();
  ASSERT_TRUE(eventually([&] { return cliRequest(dir + "/a.sock", "show peers\n").find("last_status=ESTA") != std::string::npos; }, 8000));
  // How long an update takes from one instance to the other.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(cliRequest(dir + "/a.sock", "set table fe key 127.0.9.9 data.conn_cnt 1\n"), "\n");
  ASSERT_TRUE(eventually([&] { return cliRequest(dir + "/b.sock", "show table fe\n").find("key=127.0.9.9") != std::string::npos; }, 5000));
  std::cout << "[ MEASURED ] an entry written on one instance was listed on the other after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms\n";
  // The connection count of 127.0.2.7 as an instance lists it.
  auto count = [&](const std::string& who) {
    std::string t = cliRequest(dir + "/" + who + ".sock", "show table fe\n");
    size_t at = t.find("key=127.0.2.7 ");
    if (at == std::string::npos) return -1;
    at = t.find("conn_cnt=", at);
    return at == std::string::npos ? -1 : std::atoi(t.c_str() + at + 9);
  };
  int served = 0;
  for (int i = 0; i < 8; ++i) {
    served += askServerName(i % 2 ? fb : fa, "127.0.2.7") == "B";
    // Each count reaches the other instance before the next connection.
    ASSERT_TRUE(eventually([&] { return count("a") == i + 1 && count("b") == i + 1; }, 5000))
        << cliRequest(dir + "/a.sock", "show table fe\n") << cliRequest(dir + "/b.sock", "show table fe\n");
  }
  EXPECT_EQ(served, 4) << cliRequest(dir + "/a.sock", "show table fe\n") << cliRequest(dir + "/b.sock", "show table fe\n");
  // Another client is not limited.
  EXPECT_EQ(askServerName(fa, "127.0.2.8"), "B");
}

// A reload keeps the tables, so it keeps what each peer acknowledged and
// does not ask the peers for everything again: after it, the peer teaches
// nothing it had taught, and what is written next still crosses.
TEST(Peers, ReloadKeepsAcknowledgementsAndAsksNoResync) {
  std::string dir = makeTempDir("peers-reload");
  int pa = freePort(), pb = freePort();
  auto config = [&](const std::string& self) {
    return "global\n  stats socket " + dir + "/" + self + ".sock level admin\n"
           "peers mesh\n  peer a 127.0.0.1:" + std::to_string(pa) + "\n  peer b 127.0.0.1:" + std::to_string(pb) +
           "\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
           "backend st\n  stick-table type ip size 1k expire 10m store gpc0 peers mesh\n  server s 127.0.0.1:1\n";
  };
  Sluice a(config("a"), {pa}, {"-L", "a"});
  Sluice b(config("b"), {pb}, {"-L", "b"});
  ASSERT_TRUE(a.started()) << a.log();
  ASSERT_TRUE(b.started()) << b.log();
  auto cli = [&](const std::string& who, const std::string& c) { return cliRequest(dir + "/" + who + ".sock", c + "\n"); };
  ASSERT_TRUE(eventually([&] { return cli("a", "show peers").find("last_status=ESTA") != std::string::npos; }, 8000));
  for (const char* key : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
    EXPECT_EQ(cli("b", std::string("set table st key ") + key + " data.gpc0 1"), "\n");
  }
  EXPECT_EQ(cli("a", "set table st key 10.0.1.1 data.gpc0 1"), "\n");
  ASSERT_TRUE(eventually([&] {
    return cli("a", "show table st").find("used:4") != std::string::npos && acknowledgedAll(cli("a", "show peers")) &&
           acknowledgedAll(cli("b", "show peers"));
  }, 5000)) << cli("a", "show table st") << cli("a", "show peers") << cli("b", "show peers");

  kill(a.process().pid(), SIGUSR2);
  ASSERT_TRUE(a.waitForLog("configuration reloaded")) << a.log();
  ASSERT_TRUE(eventually([&] { return cli("a", "show peers").find("last_status=ESTA") != std::string::npos; }, 8000))
      << cli("a", "show peers");
  // What b acknowledged before the reload is still known: nothing to send.
  EXPECT_TRUE(acknowledgedAll(cli("a", "show peers"))) << cli("a", "show peers");
  // b writes one entry; once it is on a, a resync a had asked for at the
  // new session would have come before it.
  EXPECT_EQ(cli("b", "set table st key 10.0.2.2 data.gpc0 3"), "\n");
  ASSERT_TRUE(eventually([&] { return cli("a", "show table st").find("key=10.0.2.2 ") != std::string::npos; }, 5000));
  std::string peers = cli("a", "show peers");
  EXPECT_NE(peers.find("updates_in=1 updates_out=0"), std::string::npos) << "a resync after a reload: " << peers;
  EXPECT_NE(cli("a", "show table st").find("used:5"), std::string::npos);
  EXPECT_EQ(cli("a", "set table st key 10.0.1.2 data.gpc0 2"), "\n");
  EXPECT_TRUE(eventually([&] { return cli("b", "show table st").find("key=10.0.1.2 ") != std::string::npos; }, 5000));
}

// A TCP relay between two peers that the test can turn into a black hole
// (connections stay up, every byte is dropped: updates in flight are lost)
// or cut (connections closed, new ones closed at once), and back.
class PeerLink {
 public:
  enum class Mode { Pass, BlackHole, Cut };
  explicit PeerLink(int target) : target_(target) {
    listener_ = listenLoopback(port_);
    thread_ = std::thread([this] { run(); });
  }
  ~PeerLink() {
    stop_ = true;
    thread_.join();
    for (auto& [a, b] : pairs_) ::close(a), ::close(b);
    ::close(listener_);
  }
  int port() const { return port_; }
  void set(Mode m) { mode_ = m; }

 private:
  void run() {
    char buf[65536];
    while (!stop_) {
      if (mode_ == Mode::Cut) {
        for (auto& [a, b] : pairs_) ::close(a), ::close(b);
        pairs_.clear();
      }
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (auto& [a, b] : pairs_) fds.push_back({a, POLLIN, 0}), fds.push_back({b, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = ::accept(listener_, nullptr, nullptr);
        if (c >= 0 && mode_ == Mode::Cut) {
          ::close(c);
        } else if (c >= 0) {
          int u = connectTcp("127.0.0.1", target_);
          if (u < 0) ::close(c); else pairs_.emplace_back(c, u);
        }
        continue;  // the pair list changed: poll again
      }
      std::vector<size_t> dead;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        auto& pair = pairs_[(i - 1) / 2];
        const int from = fds[i].fd, to = from == pair.first ? pair.second : pair.first;
        ssize_t n = ::recv(from, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          dead.push_back((i - 1) / 2);
        } else if (n > 0 && mode_ == Mode::Pass) {
          ::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        }
      }
      std::sort(dead.begin(), dead.end());
      dead.erase(std::unique(dead.begin(), dead.end()), dead.end());
      for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
        ::close(pairs_[*it].first), ::close(pairs_[*it].second);
        pairs_.erase(pairs_.begin() + static_cast<std::ptrdiff_t>(*it));
      }
    }
  }
  int target_;
  int port_ = 0;
  int listener_ = -1;
  std::atomic<Mode> mode_{Mode::Pass};
  std::atomic<bool> stop_{false};
  std::vector<std::pair<int, int>> pairs_;
  std::thread thread_;
};

// Three instances; the one named c reaches a (and a reaches c) only through
// relays. An update a sends while the link black-holes it, and one written
// while the link is cut, reach c once the link is back: without c
// restarting (so without a resync), while b, connected all along, got both
// at once. Each peer is sent what follows what it acknowledged.
TEST(Peers, PeerCutOffGetsWhatItMissedWithoutRestarting) {
  std::string dir = makeTempDir("peers-cut");
  int pa = freePort(), pb = freePort(), pc = freePort();
  PeerLink toA(pa), toC(pc);
  // Each instance's own file: its own address, and how it reaches the others.
  auto config = [&](const std::string& self, int a, int b, int c) {
    return "global\n  stats socket " + dir + "/" + self + ".sock level admin\n"
           "peers mesh\n  peer a 127.0.0.1:" + std::to_string(a) + "\n  peer b 127.0.0.1:" + std::to_string(b) +
           "\n  peer c 127.0.0.1:" + std::to_string(c) +
           "\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
           "backend st\n  stick-table type ip size 1k expire 10m store gpc0 peers mesh\n"
           "  server s 127.0.0.1:1\n";
  };
  Sluice a(config("a", pa, pb, toC.port()), {pa}, {"-L", "a"});
  Sluice b(config("b", pa, pb, pc), {pb}, {"-L", "b"});
  Sluice c(config("c", toA.port(), pb, pc), {pc}, {"-L", "c"});
  ASSERT_TRUE(a.started()) << a.log();
  ASSERT_TRUE(b.started()) << b.log();
  ASSERT_TRUE(c.started()) << c.log();
  auto cli = [&](const std::string& who, const std::string& command) {
    return cliRequest(dir + "/" + who + ".sock", command + "\n");
  };
  auto established = [&](const std::string& who) {
    std::string p = cli(who, "show peers");
    size_t n = 0;
    for (size_t at = p.find("(remote,active)"); at != std::string::npos; at = p.find("(remote,active)", at + 1)) ++n;
    return n;
  };
  auto has = [&](const std::string& who, const std::string& entry) {
    return cli(who, "show table st").find(entry) != std::string::npos;
  };
  ASSERT_TRUE(eventually([&] { return established("a") == 2 && established("c") == 2; }, 10000))
      << cli("a", "show peers") << cli("c", "show peers");
  EXPECT_EQ(cli("a", "set table st key 10.0.0.1 data.gpc0 1"), "\n");
  ASSERT_TRUE(eventually([&] { return has("c", "key=10.0.0.1 ") && has("b", "key=10.0.0.1 "); }, 5000))
      << cli("c", "show table st");

  // In flight and lost: a sends to c into the black hole.
  toA.set(PeerLink::Mode::BlackHole);
  toC.set(PeerLink::Mode::BlackHole);
  EXPECT_EQ(cli("a", "set table st key 10.0.0.2 data.gpc0 2"), "\n");
  ASSERT_TRUE(eventually([&] { return has("b", "key=10.0.0.2 "); }, 5000));
  // a sent it to c too, into the hole: its update 2 is pushed, not acknowledged.
  auto towardC = [&](const std::string& field) {
    std::string p = cli("a", "show peers");
    size_t at = p.find("id=c(remote");
    return at == std::string::npos ? std::string() : fieldAfter(p, field, at);
  };
  ASSERT_TRUE(eventually([&] { return towardC("last_pushed") == "2"; }, 5000)) << cli("a", "show peers");
  // Cut off: the sessions break; a writes more, and changes what c has.
  toA.set(PeerLink::Mode::Cut);
  toC.set(PeerLink::Mode::Cut);
  auto cutOff = [&](const std::string& who, const std::string& peer) {
    std::string p = cli(who, "show peers");
    size_t at = p.find("id=" + peer + "(remote");
    return at != std::string::npos && p.find("(remote,inactive)", at) == at + 3 + peer.size();
  };
  ASSERT_TRUE(eventually([&] { return cutOff("a", "c") && cutOff("c", "a"); }, 15000))
      << cli("a", "show peers") << cli("c", "show peers");
  EXPECT_EQ(cli("a", "set table st key 10.0.0.3 data.gpc0 3"), "\n");
  EXPECT_EQ(cli("a", "set table st key 10.0.0.1 data.gpc0 11"), "\n");
  ASSERT_TRUE(eventually([&] { return has("b", "key=10.0.0.3 ") && has("b", "gpc0=11"); }, 5000));
  // c has no session with a (checked above), so nothing of a's can be on its way.
  EXPECT_TRUE(cutOff("c", "a")) << cli("c", "show peers");
  EXPECT_FALSE(has("c", "key=10.0.0.2 ")) << "the black hole let an update through";
  EXPECT_FALSE(has("c", "key=10.0.0.3 "));

  // Back: c gets all of it from a, with no restart and so no resync.
  toA.set(PeerLink::Mode::Pass);
  toC.set(PeerLink::Mode::Pass);
  EXPECT_TRUE(eventually([&] {
    return has("c", "key=10.0.0.2 ") && has("c", "key=10.0.0.3 ") && has("c", "gpc0=11");
  }, 15000)) << cli("c", "show table st") << cli("a", "show peers") << c.log();
  // a's view: c acknowledged everything a wrote.
  EXPECT_TRUE(eventually([&] {
    std::string p = cli("a", "show peers");
    size_t at = p.find("id=c(remote");
    return at != std::string::npos && p.find("last_acked=4 last_pushed=4", at) != std::string::npos;
  }, 5000)) << cli("a", "show peers");
}

// A "peer" that answers the handshake with garbage: counted, connected
// again with back-off, and the proxy keeps serving.
TEST(Peers, GarbagePeerIsCountedAndRetried) {
  std::string dir = makeTempDir("peers-bad");
  int badPort = 0;
  int listener = listenLoopback(badPort);
  ASSERT_GE(listener, 0);
  std::atomic<int> accepted{0};
  std::atomic<bool> stop{false};
  std::thread bad([&] {
    timeval tv{0, 100000};
    ::setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (!stop) {
      int c = ::accept(listener, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted;
      const char garbage[] = "HTTP/1.1 400 Bad Request\r\n\r\n\xff\xfe";
      ::send(c, garbage, sizeof(garbage) - 1, MSG_NOSIGNAL);
      ::usleep(50 * 1000);
      ::close(c);
    }
  });
  TestServer backend("B", TestServer::Mode::Identify);
  int self = freePort(), front = freePort();
  Sluice s("global\n  stats socket " + dir + "/sl.sock level admin\n"
           "peers mesh\n  peer sl 127.0.0.1:" + std::to_string(self) + "\n  peer bad 127.0.0.1:" +
               std::to_string(badPort) + "\n"
           "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(front) + "\n"
           "  stick-table type ip size 1k expire 1m store conn_cnt peers mesh\n"
           "  tcp-request connection track-sc0 src\n  default_backend be\n"
           "backend be\n  server s 127.0.0.1:" + std::to_string(backend.port()) + "\n",
           {front, self}, {"-L", "sl"});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(eventually([&] { return accepted >= 3; }, 8000)) << accepted;  // connected again, with back-off
  EXPECT_EQ(askServerName(front), "B");
  std::string peers = cliRequest(dir + "/sl.sock", "show peers\n");
  EXPECT_NE(peers.find("id=bad(remote,inactive)"), std::string::npos) << peers;
  EXPECT_EQ(peers.find("new_conn=0 "), std::string::npos) << peers;
  EXPECT_EQ(peers.find("proto_err=0 "), std::string::npos) << peers;  // the garbage is counted
  EXPECT_EQ(peers.find("last_status=ESTA"), std::string::npos) << peers;
  stop = true;
  bad.join();
  ::close(listener);
}

}  // namespace
}  // namespace sluice::testing
