// SPDX-License-Identifier: Apache-2.0
// Health checks through the real binary: servers marked DOWN and UP with
// HAProxy's log lines, traffic following them, TLS hello probes that carry
// the SNI, HTTP checks over TLS, tcp-check dialogues, PROXY headers on
// checks, backups, and sessions shut down with their server.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <sstream>
#include <mutex>
#include <thread>

#include "harness.h"

namespace sluice::testing {
namespace {

std::string head() {
  return "global\n  log stdout format raw local0\n  nbthread 2\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n"
         "  default-server inter 100ms rise 2 fall 2\n";
}

std::string ask(int port) { return askServerName(port); }

// A refusing server goes DOWN with HAProxy's message; traffic avoids it; it
// comes back UP when it listens again.
TEST(Health, TcpCheckDownAndUp) {
  TestServer good("good", TestServer::Mode::Identify);
  int badPort = freePort();
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server good 127.0.0.1:" + std::to_string(good.port()) + " check\n"
                    "  server bad 127.0.0.1:" + std::to_string(badPort) + " check\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(s.waitForLog("Server l/bad is DOWN, reason: Layer4 connection problem, info: \"ECONNREFUSED returned by OS (Connection refused)\", check duration: "));
  EXPECT_TRUE(s.waitForLog("1 active and 0 backup servers left."));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ask(port), "good");
  EXPECT_EQ(s.logLines(" SC ").size(), 0u) << "no connection may be sent to a DOWN server";
  // Now something listens on the bad port: it comes back, and takes traffic.
  TestServer back("back", TestServer::Mode::Identify, nullptr, "127.0.0.1", badPort);
  ASSERT_TRUE(s.waitForLog("Server l/bad is UP, reason: Layer4 check passed, check duration: "));
  EXPECT_TRUE(s.waitForLog("2 active and 0 backup servers online."));
  std::map<std::string, int> n;
  for (int i = 0; i < 4; ++i) n[ask(port)]++;
  EXPECT_EQ(n["back"], 2);
}

// With "port", the checks go to another port: when only that port stops
// answering, the server is DOWN although its traffic port still works.
TEST(Health, SeparateCheckPortDecides) {
  TestServer a("a", TestServer::Mode::Identify);
  TestServer b("b", TestServer::Mode::Identify);
  TestServer checkB("checkB", TestServer::Mode::Silent);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server a 127.0.0.1:" + std::to_string(a.port()) + " check\n"
                    "  server b 127.0.0.1:" + std::to_string(b.port()) + " check port " +
                    std::to_string(checkB.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  // Both servers' checks have run (a's on its own port, b's on checkB).
  ASSERT_TRUE(eventually([&] { return a.connections() >= 1 && checkB.connections() >= 1; }));
  std::map<std::string, int> n;
  for (int i = 0; i < 6; ++i) n[ask(port)]++;
  EXPECT_EQ(n["a"], 3);
  EXPECT_EQ(n["b"], 3);
  checkB.stop();  // its check port now refuses
  ASSERT_TRUE(s.waitForLog("Server l/b is DOWN"));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ask(port), "a");
}

// A server written without a port (its traffic goes to the client's
// destination port) is checked on the port of the first "tcp-check
// connect port N", as HAProxy does for database pools: the check reaches
// that port, and the server is DOWN when it stops answering there.
TEST(Health, FirstTcpCheckConnectGivesThePort) {
  TestServer db("db", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  option tcp-check\n  tcp-check connect port " + std::to_string(db.port()) + "\n"
                    "  server db1 127.0.0.1 check\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(eventually([&] { return db.connections() >= 2; })) << s.log();
  EXPECT_EQ(s.logLines("is DOWN").size(), 0u) << s.log();
  db.stop();
  EXPECT_TRUE(s.waitForLog("Server l/db1 is DOWN, reason: Layer4 connection problem")) << s.log();
}

// Routing on what the checks say, as database files do ("writes to the
// node the checks call master"): srv_is_up and nbsrv follow the server's
// health, and be_conn/connslots read the backend's load.
TEST(Health, StateFetchesFollowTheChecks) {
  TestServer primary("primary", TestServer::Mode::Identify);
  TestServer standby("standby", TestServer::Mode::Identify);
  int port = freePort(), port2 = freePort();
  Sluice s(head() + "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  use_backend writer if { srv_is_up(writer/p1) }\n  default_backend reader\n"
                    "frontend fe2\n  bind 127.0.0.1:" + std::to_string(port2) + "\n"
                    "  acl writer_ok nbsrv(writer) ge 1\n  acl roomy connslots(reader) gt 0\n"
                    "  use_backend writer if writer_ok { be_conn(writer) lt 100 }\n"
                    "  use_backend reader if roomy\n"
                    "backend writer\n  server p1 127.0.0.1:" + std::to_string(primary.port()) + " check\n"
                    "backend reader\n  server s1 127.0.0.1:" + std::to_string(standby.port()) +
                    " check maxconn 10 maxqueue 5\n",
           {port, port2});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(ask(port), "primary");
  EXPECT_EQ(ask(port2), "primary");
  primary.stop();
  ASSERT_TRUE(s.waitForLog("Server writer/p1 is DOWN")) << s.log();
  EXPECT_EQ(ask(port), "standby");
  EXPECT_EQ(ask(port2), "standby") << "nbsrv(writer) is 0 and the reader has free slots";
}

// ssl-hello-chk sends a real ClientHello with check-sni: a server that
// refuses that name is DOWN, one that serves it is UP; a plain TCP server
// that speaks no TLS is DOWN too.
TEST(Health, SslHelloCheckCarriesTheSni) {
  std::string dir = makeTempDir("hchk");
  Cert cert = makeCert(dir, "svc.example");
  TestServer serves("serves", TestServer::Mode::Identify, &cert);
  serves.requireSni("svc.example");
  TestServer other("other", TestServer::Mode::Identify, &cert);
  other.requireSni("other.example");
  TestServer plain("plain", TestServer::Mode::Source);  // answers bytes that are not TLS
  plain.setSourceBytes(64);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  option ssl-hello-chk\n  timeout check 2s\n"
                    "  default-server inter 100ms rise 2 fall 2 check check-sni svc.example check-alpn h2,http/1.1\n"
                    "  server serves 127.0.0.1:" + std::to_string(serves.port()) + "\n"
                    "  server other 127.0.0.1:" + std::to_string(other.port()) + "\n"
                    "  server plain 127.0.0.1:" + std::to_string(plain.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("Server l/other is DOWN, reason: Layer6 invalid response, info: \"TLS alert"));
  EXPECT_TRUE(s.waitForLog("Server l/plain is DOWN, reason: Layer6 invalid response, info: \"not a TLS ServerHello\""));
  // Enough checks of `serves` for rise/fall 2 to have decided.
  ASSERT_TRUE(eventually([&] { return serves.connections() >= 4; }));
  EXPECT_EQ(s.logLines("Server l/serves is DOWN").size(), 0u) << s.log();
  auto snis = serves.snis();
  ASSERT_FALSE(snis.empty());
  EXPECT_EQ(snis[0], "svc.example");
}

// option httpchk over TLS (check-ssl): 200 is UP, 503 is DOWN with its code.
TEST(Health, HttpCheckOverTls) {
  std::string dir = makeTempDir("hchk");
  Cert cert = makeCert(dir, "api.example");
  TestServer ok("ok", TestServer::Mode::Identify, &cert);
  TestServer sick("sick", TestServer::Mode::Identify, &cert);
  sick.setStatus(503);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  option httpchk GET /health\n  http-check expect status 200\n  timeout check 2s\n"
                    "  default-server inter 100ms rise 2 fall 2 check check-ssl check-sni api.example verify none\n"
                    "  server ok 127.0.0.1:" + std::to_string(ok.port()) + "\n"
                    "  server sick 127.0.0.1:" + std::to_string(sick.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("Server l/sick is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\""))
      << s.log();
  ASSERT_TRUE(eventually([&] { return ok.connections() >= 4; }));
  EXPECT_EQ(s.logLines("Server l/ok is DOWN").size(), 0u) << s.log();
  EXPECT_EQ(ok.snis().empty() ? "" : ok.snis()[0], "api.example");
}

// tcp-check: a dialogue that matches is UP, one that does not is DOWN.
TEST(Health, TcpCheckDialogue) {
  TestServer echo("echo", TestServer::Mode::Echo);
  TestServer echo2("echo2", TestServer::Mode::Echo);
  int port = freePort();
  // Options after the pattern, as HAProxy's own tests write them.
  Sluice s(head() + "backend good\n  option tcp-check\n  tcp-check send PING\\r\\n\n"
                    "  tcp-check expect string PING comment \"echo answers\" min-recv 4\n"
                    "  server e 127.0.0.1:" + std::to_string(echo.port()) + " check\n"
                    "backend bad\n  option tcp-check\n  tcp-check send PING\\r\\n\n"
                    "  tcp-check expect string PONG\n"
                    "  server e2 127.0.0.1:" + std::to_string(echo2.port()) + " check\n"
                    "frontend f\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend good\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("Server bad/e2 is DOWN, reason: Layer7 timeout, info: \"at step 3 of tcp-check (expect string 'PONG')\""))
      << s.log();
  // e's check ran at least as often as e2's did before it was DOWN.
  ASSERT_TRUE(eventually([&] { return echo.connections() >= 3; }));
  EXPECT_EQ(s.logLines("Server good/e is DOWN").size(), 0u) << s.log();
}

// check-send-proxy with send-proxy-v2: checks carry a v2 LOCAL header.
TEST(Health, CheckSendProxyV2IsLocal) {
  TestServer rec("rec", TestServer::Mode::Record);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server r 127.0.0.1:" + std::to_string(rec.port()) + " send-proxy-v2 check check-send-proxy\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  eventually([&] { return !rec.recorded().empty(); }, 2000);
  ASSERT_FALSE(rec.recorded().empty());
  std::string got = rec.recorded()[0];
  ASSERT_GE(got.size(), 16u);
  EXPECT_EQ(got.substr(0, 12), std::string("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12));
  EXPECT_EQ(static_cast<uint8_t>(got[12]), 0x20) << "version 2, LOCAL command";
}

// "pp2-never-send-local": the old behaviour some servers need, a PROXY
// command with the check connection's addresses.
TEST(Health, Pp2NeverSendLocalSendsProxy) {
  TestServer rec("rec", TestServer::Mode::Record);
  int port = freePort();
  std::string h = head();
  h.insert(h.find("defaults"), "  pp2-never-send-local\n");
  Sluice s(h + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
               "  server r 127.0.0.1:" + std::to_string(rec.port()) + " send-proxy-v2 check check-send-proxy\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  eventually([&] { return !rec.recorded().empty(); }, 2000);
  ASSERT_FALSE(rec.recorded().empty());
  std::string got = rec.recorded()[0];
  ASSERT_GE(got.size(), 16u);
  EXPECT_EQ(static_cast<uint8_t>(got[12]), 0x21) << "version 2, PROXY command";
  EXPECT_EQ(static_cast<uint8_t>(got[13]), 0x11) << "TCP over IPv4, with addresses";
}

// All active servers down: the backup serves; none at all: closed at once.
TEST(Health, BackupTakesOverAndNoServerCloses) {
  TestServer backup("backup", TestServer::Mode::Identify);
  int dead1 = freePort();
  int port = freePort();
  {
    Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                      "  server a 127.0.0.1:" + std::to_string(dead1) + " check\n"
                      "  server bk 127.0.0.1:" + std::to_string(backup.port()) + " check backup\n",
             {port});
    ASSERT_TRUE(s.started()) << s.log();
    ASSERT_TRUE(s.waitForLog("Server l/a is DOWN"));
    EXPECT_TRUE(s.waitForLog("0 active and 1 backup servers left."));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ask(port), "backup");
  }
  int port2 = freePort();
  Sluice s2(head() + "listen l2\n  bind 127.0.0.1:" + std::to_string(port2) + "\n"
                     "  server a 127.0.0.1:" + std::to_string(dead1) + " check\n",
            {port2});
  ASSERT_TRUE(s2.waitForLog("backend l2 has no server available!"));
  int fd = connectTcp("127.0.0.1", port2);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(waitClosed(fd, scaled(2000)));
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count(), 300);
  close(fd);
  EXPECT_TRUE(s2.waitForLog("l2 l2/<NOSRV> "));
}

// on-marked-down shutdown-sessions: the server's live sessions end ("D").
TEST(Health, ShutdownSessionsWhenMarkedDown) {
  TestServer hold("hold", TestServer::Mode::Hold);
  TestServer checkPort("cp", TestServer::Mode::Silent);
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server h 127.0.0.1:" + std::to_string(hold.port()) + " check port " +
                    std::to_string(checkPort.port()) + " on-marked-down shutdown-sessions\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(eventually([&] { return checkPort.connections() >= 1; }));
  int fd = connectTcp("127.0.0.1", port);
  sendAll(fd, "x");
  eventually([&] { return hold.active() != 0; }, 1000);
  checkPort.stop();
  ASSERT_TRUE(s.waitForLog("Server l/h is DOWN"));
  EXPECT_TRUE(waitClosed(fd, scaled(2000)));
  close(fd);
  EXPECT_TRUE(s.waitForLog(" DD ")) << s.log();
}


// A runtime API change rebuilds the runtime; a slow start under way goes on
// where it stood (before: it ended at once, full weight on a server that
// had just come back).
TEST(HealthSlowstart, GoesOnAcrossARuntimeChange) {
  std::string dir = makeTempDir("slowstart-change");
  TestServer a("a", TestServer::Mode::Identify);
  int checkPort = freePort();
  int port = freePort();
  Sluice s("global\n  stats socket " + dir + "/admin.sock level admin\n" +
               head().substr(std::string("global\n").size()) + "listen l\n  bind 127.0.0.1:" + std::to_string(port) +
               "\n  server a 127.0.0.1:" + std::to_string(a.port()) + "\n"
               "  server b 127.0.0.1:" + std::to_string(a.port()) + " check port " + std::to_string(checkPort) +
               " slowstart 4s\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  auto cli = [&](const std::string& c) { return cliRequest(dir + "/admin.sock", c + "\n"); };
  auto throttle = [&] {  // "throttle", field 29 of show stat, for l/b
    std::vector<std::string> row = statRow(cli("show stat"), "l", "b");
    return row.size() > 29 ? row[29] : std::string("?");
  };
  ASSERT_TRUE(s.waitForLog("Server l/b is DOWN"));
  TestServer cp("cp", TestServer::Mode::Silent, nullptr, "127.0.0.1", checkPort);
  ASSERT_TRUE(s.waitForLog("Server l/b is UP"));
  // A quarter of the way into the slow start, the runtime is rebuilt.
  ASSERT_TRUE(eventually([&] { return std::atoi(throttle().c_str()) >= 15; }, 5000)) << throttle();
  EXPECT_EQ(cli("add server l/z 127.0.0.1:1"), "New server registered.\n");
  const std::string after = throttle();
  ASSERT_FALSE(after.empty()) << "the slow start ended with the change";
  const int percent = std::atoi(after.c_str());
  EXPECT_GE(percent, 15) << after;
  EXPECT_LE(percent, 85) << after;
  EXPECT_TRUE(eventually([&] { return throttle().empty(); }, 6000)) << "the slow start ends on time";
}

// slowstart: a server that comes back takes a growing share, not half at once.
TEST(HealthSlowstart, WeightRampsUp) {
  TestServer a("a", TestServer::Mode::Identify);
  TestServer b("b", TestServer::Mode::Identify);
  int checkPort = freePort();
  int port = freePort();
  const std::string dir = makeTempDir("slowstart");
  Sluice s("global\n  stats socket " + dir + "/admin.sock level admin\n" +
               head().substr(std::string("global\n").size()) + "listen l\n  bind 127.0.0.1:" +
               std::to_string(port) + "\n"
               "  server a 127.0.0.1:" + std::to_string(a.port()) + " weight 10 check\n"
               "  server b 127.0.0.1:" + std::to_string(b.port()) + " weight 10 check port " +
               std::to_string(checkPort) + " slowstart 3s\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(s.waitForLog("Server l/b is DOWN"));
  TestServer cp("cp", TestServer::Mode::Silent, nullptr, "127.0.0.1", checkPort);
  ASSERT_TRUE(s.waitForLog("Server l/b is UP"));
  std::map<std::string, int> early;
  for (int i = 0; i < 20; ++i) early[ask(port)]++;
  // The slow start is over when "show stat" has no throttle for b.
  EXPECT_TRUE(eventually([&] {
    std::vector<std::string> row = statRow(cliRequest(dir + "/admin.sock", "show stat\n"), "l", "b");
    return row.size() > 29 && row[29].empty();
  }, 8000));
  std::map<std::string, int> late;
  for (int i = 0; i < 20; ++i) late[ask(port)]++;
  EXPECT_LE(early["b"], 6) << "right after coming up, b must take a small share";
  EXPECT_GE(late["b"], 8) << "after slowstart, b takes its full share";
  EXPECT_LE(late["b"], 12);
}


using Clock = std::chrono::steady_clock;

long msSince(Clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

// Timing: with inter 200ms, fall 3 and rise 2, a stopped server is DOWN
// after about three checks (not before the second), and back UP after two.
TEST(HealthTiming, FallAndRiseFollowInter) {
  TestServer a("a", TestServer::Mode::Identify);
  auto b = std::make_unique<TestServer>("b", TestServer::Mode::Identify);
  int bPort = b->port();
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\ndefaults\n  mode tcp\n  log global\n  option tcplog\n"
           "  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  server a 127.0.0.1:" + std::to_string(a.port()) + " check inter 200ms fall 3 rise 2\n"
           "  server b 127.0.0.1:" + std::to_string(bPort) + " check inter 200ms fall 3 rise 2\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(eventually([&] { return b->connections() >= 2; }));  // b's checks passed
  b.reset();  // stopped: connections are refused from now on
  auto t0 = Clock::now();
  ASSERT_TRUE(s.waitForLog("Server l/b is DOWN", 3000));
  long down = msSince(t0);
  EXPECT_GE(down, 380) << "three failed checks 200 ms apart take at least 400 ms";
  EXPECT_LT(down, scaled(1200));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ask(port), "a") << "only live servers get clients";
  auto t1 = Clock::now();
  TestServer back("b2", TestServer::Mode::Identify, nullptr, "127.0.0.1", bPort);
  ASSERT_TRUE(s.waitForLog("Server l/b is UP", 3000));
  long up = msSince(t1);
  EXPECT_GE(up, 180) << "two passed checks take at least one interval";
  EXPECT_LT(up, scaled(1000));
}

// A black-holed server (SYNs unanswered) is DOWN with a Layer4 timeout.
TEST(HealthTiming, BlackHoleIsLayer4Timeout) {
  BlackHole hole;
  int blackhole = hole.port();
  int port = freePort();
  Sluice s(head() + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server bh 127.0.0.1:" + std::to_string(blackhole) + " check\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("Server l/bh is DOWN, reason: Layer4 timeout"));
}


// An agent-check agent on loopback: answers each connection with the line
// currently set, after reading what sluice sends (agent-send).
class Agent {
 public:
  Agent() {
    fd_ = listenLoopback(port_);
    thread_ = std::thread([this] {
      while (!stopping_) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[64];
        ssize_t n = ::recv(c, buf, sizeof(buf), 0);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          if (n > 0) received_.assign(buf, static_cast<size_t>(n));
          sendAll(c, line_);
        }
        ::close(c);
      }
    });
  }
  ~Agent() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  void say(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    line_ = line;
  }
  std::string received() {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::string line_ = "up\n";
  std::string received_;
};

// The agent's words act on the server as HAProxy's manual says: weight in
// percent, maxconn, maint and ready, down and up, and traffic follows.
TEST(Health, AgentCheckSetsWeightMaxconnStateAndHealth) {
  TestServer a("a", TestServer::Mode::Identify);
  TestServer b("b", TestServer::Mode::Identify);
  Agent agent;
  agent.say("50%, maxconn:7\n");
  int port = freePort();
  std::string dir = makeTempDir("agent");
  std::string sock = dir + "/admin.sock";
  Sluice s("global\n  log stdout format raw local0\n  stats socket " + sock + " level admin\n"
           "defaults\n  mode tcp\n  log global\n  option tcplog\n  timeout connect 500ms\n"
           "  timeout client 5s\n  timeout server 5s\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  option log-health-checks\n"
           "  server a 127.0.0.1:" + std::to_string(a.port()) + " weight 20 agent-check agent-port " +
               std::to_string(agent.port()) + " agent-inter 50ms agent-send \"ping\\n\"\n"
           "  server b 127.0.0.1:" + std::to_string(b.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  auto stateOf = [&] {
    std::string st = cliRequest(sock, "show servers state l\n");
    size_t at = st.find(" a 127.0.0.1 ");
    return at == std::string::npos ? st : st.substr(at + 13, st.find('\n', at) - at - 13);
  };
  // "op_state admin_state uweight iweight ...": weight 10 of 20, maxconn 7.
  EXPECT_TRUE(eventually([&] { return stateOf().starts_with("2 0 10 20 "); })) << stateOf();
  EXPECT_TRUE(eventually([&] { return cliRequest(sock, "show stat\n").find("l,a,0,0,0,0,7,") != std::string::npos; }));
  EXPECT_EQ(agent.received(), "ping\n");
  agent.say("maint\n");
  EXPECT_TRUE(s.waitForLog("Server l/a is going DOWN for maintenance."));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(askServerName(port), "b");
  agent.say("ready up 100%\n");
  EXPECT_TRUE(s.waitForLog("Server l/a is UP/READY (leaving forced maintenance)."));
  EXPECT_TRUE(eventually([&] { return stateOf().starts_with("2 0 20 20 "); })) << stateOf();
  agent.say("down # disk full\n");
  // With "option log-health-checks" the agent's line says why, and the
  // state change does not repeat it (as HAProxy).
  EXPECT_TRUE(s.waitForLog("Agent check for server l/a failed, reason: Layer7 wrong status, info: \"disk full\""));
  EXPECT_TRUE(s.waitForLog("Server l/a is DOWN. "));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(askServerName(port), "b");
  agent.say("up\n");
  EXPECT_TRUE(s.waitForLog("Server l/a is UP. "));
  std::map<std::string, int> n;
  for (int i = 0; i < 4; ++i) n[askServerName(port)]++;
  EXPECT_GE(n["a"], 1);
}

const char* const kDefaults = "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";

TEST(Health, AgentCheckNeedsItsPort) {
  std::string out;
  EXPECT_NE(checkConfig(std::string(kDefaults) + "backend b\n  server s 127.0.0.1:80 agent-check\n", out), 0);
  EXPECT_NE(out.find("c.cfg:7: error: server 's' has 'agent-check' but no 'agent-port'"), std::string::npos) << out;
}


// "track": a server takes the health and the maintenance of another one,
// possibly in another backend, and says "via" in its log lines.
TEST(Health, TrackFollowsTheTrackedServer) {
  int tracked = freePort();
  TestServer other("other", TestServer::Mode::Identify);
  int port = freePort();
  std::string dir = makeTempDir("track");
  std::string sock = dir + "/admin.sock";
  Sluice s("global\n  log stdout format raw local0\n  stats socket " + sock + " level admin\n"
           "defaults\n  mode tcp\n  log global\n  option tcplog\n  timeout connect 500ms\n"
           "  timeout client 5s\n  timeout server 5s\n  default-server inter 100ms rise 1 fall 1\n"
           "backend b1\n  server s1 127.0.0.1:" + std::to_string(tracked) + " check\n"
           "listen b2\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  server t 127.0.0.1:" + std::to_string(other.port()) + " track b1/s1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(s.waitForLog("Server b1/s1 is DOWN, reason: Layer4 connection problem")) << s.log();
  EXPECT_TRUE(s.waitForLog("Server b2/t is DOWN via b1/s1. 0 active and 0 backup servers left.")) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  EXPECT_TRUE(waitClosed(fd, 2000)) << "b2 has no usable server while b1/s1 is down";
  close(fd);
  {
    TestServer back("back", TestServer::Mode::Identify, nullptr, "127.0.0.1", tracked);
    ASSERT_TRUE(s.waitForLog("Server b1/s1 is UP")) << s.log();
    EXPECT_TRUE(s.waitForLog("Server b2/t is UP via b1/s1. 1 active and 0 backup servers online.")) << s.log();
    EXPECT_EQ(askServerName(port), "other");
    cliRequest(sock, "disable server b1/s1\n");
    std::string st = cliRequest(sock, "show servers state b2\n");
    EXPECT_NE(st.find(" t 127.0.0.1 0 2 "), std::string::npos) << "inherited maintenance (2)\n" << st;
    EXPECT_TRUE(s.waitForLog("Server b2/t is going DOWN for maintenance.")) << s.log();
    cliRequest(sock, "enable server b1/s1\n");
    st = cliRequest(sock, "show servers state b2\n");
    EXPECT_NE(st.find(" t 127.0.0.1 2 0 "), std::string::npos) << st;
    EXPECT_EQ(askServerName(port), "other");
  }
}

TEST(Health, TrackConfigurationErrors) {
  auto check = [&](const std::string& servers, std::string& out) {
    return checkConfig(std::string(kDefaults) + "backend b\n" + servers, out);
  };
  std::string out;
  EXPECT_NE(check("  server a 127.0.0.1:1 check\n  server t 127.0.0.1:2 track a check\n", out), 0);
  EXPECT_NE(out.find("c.cfg:8: error: server 't': unable to enable checks and tracking at the same time"),
            std::string::npos) << out;
  EXPECT_NE(check("  server t 127.0.0.1:2 track nosuch/a\n", out), 0);
  EXPECT_NE(out.find("unable to find the tracked server 'nosuch/a'"), std::string::npos) << out;
  EXPECT_NE(check("  server a 127.0.0.1:1\n  server t 127.0.0.1:2 track a\n", out), 0);
  EXPECT_NE(out.find("which has no 'check'"), std::string::npos) << out;
  EXPECT_NE(check("  server a 127.0.0.1:1 track t\n  server t 127.0.0.1:2 track a\n", out), 0);
  EXPECT_NE(out.find("chain loops"), std::string::npos) << out;
  EXPECT_EQ(check("  server a 127.0.0.1:1 check\n  server t 127.0.0.1:2 track a\n  server u 127.0.0.1:3 track t\n", out), 0)
      << out;
}


// "observe layer4": failed connections to a server whose checks still pass
// trigger "on-error" after "error-limit" in a row.
TEST(Health, ObserveLayer4MarksDownAfterTheErrorLimit) {
  TestServer good("good", TestServer::Mode::Identify);
  TestServer checkPort("check", TestServer::Mode::Silent);
  int dead = freePort();
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\ndefaults\n  mode tcp\n  log global\n  option tcplog\n"
           "  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n  retries 0\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  balance first\n  option log-health-checks\n"
           "  server bad 127.0.0.1:" + std::to_string(dead) + " check port " + std::to_string(checkPort.port()) +
               " inter 20s rise 2 fall 2 observe layer4 error-limit 3 on-error mark-down\n"
           "  server good 127.0.0.1:" + std::to_string(good.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  // "rise 2": the first regular check comes at a random time within inter/4
  // (its port accepts); with "rise 1" one landing between the mark-down
  // and the last connection below revived "bad" at once (seen in CI).
  // "first" sends everything to "bad" while it is up: three refusals.
  for (int i = 0; i < 3; ++i) {
    int fd = connectTcp("127.0.0.1", port);
    EXPECT_TRUE(waitClosed(fd, 2000));
    close(fd);
  }
  ASSERT_TRUE(s.waitForLog("Health check for server l/bad failed, reason: Health analyze, info: \"Detected 3 "
                           "consecutive errors, last one was: L4 unsuccessful connection\""))
      << s.log();
  EXPECT_TRUE(s.waitForLog("Server l/bad is DOWN. ")) << s.log();
  EXPECT_EQ(askServerName(port), "good");
  EXPECT_EQ(countStates(s.log(), "SC"), 3u);
}

TEST(Health, ObserveOptionsAreChecked) {
  std::string out;
  EXPECT_NE(checkConfig(std::string(kDefaults) + "backend b\n  server s 127.0.0.1:80 check observe layer4 on-error explode\n",
                        out),
            0);
  EXPECT_NE(out.find("c.cfg:7: error: unknown 'on-error explode'"), std::string::npos) << out;
}


// "option external-check": the command's exit status decides, with
// HAProxy's arguments and HAPROXY_* variables; a command that hangs is
// killed at the check's timeout.
TEST(Health, ExternalCheckRunsTheCommand) {
  TestServer a("a", TestServer::Mode::Identify);
  std::string dir = makeTempDir("extcheck");
  std::string script = dir + "/check.sh";
  // Passes while the file "ok" exists; writes what it was given.
  writeFile(script, "#!/bin/sh\necho \"$@|$HAPROXY_PROXY_NAME|$HAPROXY_SERVER_NAME|$HAPROXY_SERVER_ADDR|"
                    "$HAPROXY_SERVER_PORT|$PATH\" > " + dir + "/seen\n"
                    "[ -e " + dir + "/ok ] || exit 3\nexit 0\n");
  chmod(script.c_str(), 0755);
  writeFile(dir + "/hang.sh", "#!/bin/sh\nexec sleep 30\n");
  chmod((dir + "/hang.sh").c_str(), 0755);
  writeFile(dir + "/ok", "");
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\n  external-check\n"
           "defaults\n  mode tcp\n  log global\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n"
           "  timeout check 300ms\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  option log-health-checks\n"
           "  option external-check\n  external-check path /usr/bin:/bin:" + dir + "\n  external-check command check.sh\n"
           "  server a 127.0.0.1:" + std::to_string(a.port()) + " check inter 100ms rise 1 fall 1\n"
           "backend stuck\n  option external-check\n  external-check command " + dir + "/hang.sh\n"
           "  server h 127.0.0.1:" + std::to_string(a.port()) + " check inter 100ms rise 1 fall 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(s.waitForLog("Health check for server l/a succeeded, reason: External check passed")) << s.log();
  EXPECT_TRUE(eventually([&] {
    return readFile(dir + "/seen") == "127.0.0.1 " + std::to_string(port) + " 127.0.0.1 " + std::to_string(a.port()) +
                                         "|l|a|127.0.0.1|" + std::to_string(a.port()) + "|/usr/bin:/bin:" + dir + "\n";
  })) << readFile(dir + "/seen");
  ::unlink((dir + "/ok").c_str());
  EXPECT_TRUE(s.waitForLog("Health check for server l/a failed, reason: External check error, info: \"exit status 3\""))
      << s.log();
  EXPECT_TRUE(s.waitForLog("Server l/a is DOWN. ")) << s.log();
  EXPECT_TRUE(s.waitForLog("Server stuck/h is DOWN, reason: External check timeout")) << s.log();
}

TEST(Health, ExternalCheckNeedsTheGlobalKeyword) {
  std::string out;
  EXPECT_NE(checkConfig(std::string(kDefaults) + "backend b\n  option external-check\n  external-check command /bin/true\n"
                                                 "  server s 127.0.0.1:80 check\n",
                        out),
            0);
  EXPECT_NE(out.find("c.cfg:7: error: 'option external-check' in backend 'b' needs 'external-check' in the global section"),
            std::string::npos) << out;
}


// An SMTP server that accepts every mail and keeps each session's transcript.
class SmtpServer {
 public:
  SmtpServer() {
    fd_ = listenLoopback(port_);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::string transcript;
        sendAll(c, "220 mail.test ESMTP\r\n");
        std::string in;
        bool data = false;
        char buf[4096];
        for (int guard = 0; guard < 1000; ++guard) {
          ssize_t n = ::recv(c, buf, sizeof(buf), 0);
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
          size_t eol;
          while ((eol = data ? in.find("\r\n.\r\n") : in.find("\r\n")) != std::string::npos) {
            std::string line = in.substr(0, eol + (data ? 5 : 2));
            in.erase(0, line.size());
            transcript += line;
            if (data) {
              data = false;
              sendAll(c, "250 queued\r\n");
            } else if (line.starts_with("EHLO")) {
              sendAll(c, "250-mail.test\r\n250 SIZE 1000000\r\n");
            } else if (line.starts_with("DATA")) {
              data = true;
              sendAll(c, "354 go ahead\r\n");
            } else if (line.starts_with("QUIT")) {
              sendAll(c, "221 bye\r\n");
            } else {
              sendAll(c, "250 ok\r\n");
            }
          }
        }
        ::close(c);
        std::lock_guard<std::mutex> lock(mutex_);
        mails_.push_back(transcript);
      }
    });
  }
  ~SmtpServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> mails() {
    std::lock_guard<std::mutex> lock(mutex_);
    return mails_;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> mails_;
};

// "email-alert": a server going DOWN (and, at level notice, coming back)
// is mailed to every mailer, as HAProxy's mails say it.
TEST(Health, EmailAlertsOnServerStateChanges) {
  SmtpServer smtp;
  int deadMailer = freePort();
  int dead = freePort();
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\n"
           "mailers m\n  mailer smtp1 127.0.0.1:" + std::to_string(smtp.port()) + "\n"
           "  mailer smtp2 127.0.0.1:" + std::to_string(deadMailer) + "\n  timeout mail 2s\n"
           "defaults\n  mode tcp\n  log global\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
           "  email-alert mailers m\n  email-alert from lb@example.com\n  email-alert to ops@example.com\n"
           "  email-alert level notice\n  email-alert myhostname lb1.example.com\n"
           "  server s 127.0.0.1:" + std::to_string(dead) + " check inter 100ms rise 1 fall 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(eventually([&] { return !smtp.mails().empty(); })) << s.log();
  std::string mail = smtp.mails()[0];
  EXPECT_TRUE(mail.starts_with("EHLO lb1.example.com\r\nMAIL FROM:<lb@example.com>\r\nRCPT TO:<ops@example.com>\r\n"
                               "DATA\r\nFrom: <lb@example.com>\r\nTo: <ops@example.com>\r\nDate: "))
      << mail;
  EXPECT_NE(mail.find("\r\nSubject: [HAproxy Alert] Server l/s is DOWN, reason: Layer4 connection problem"),
            std::string::npos) << mail;
  EXPECT_TRUE(mail.ends_with("\r\n.\r\nQUIT\r\n")) << mail;
  EXPECT_TRUE(s.waitForLog("Email alert for proxy 'l' to mailer 127.0.0.1:" + std::to_string(deadMailer) +
                           " was not delivered: Connection refused")) << s.log();
  {
    TestServer back("back", TestServer::Mode::Identify, nullptr, "127.0.0.1", dead);
    ASSERT_TRUE(eventually([&] {
      for (const std::string& m : smtp.mails()) {
        if (m.find("Subject: [HAproxy Alert] Server l/s is UP") != std::string::npos) return true;
      }
      return false;
    })) << s.log();
  }
}

TEST(Health, EmailAlertConfiguration) {
  auto check = [](const std::string& text, std::string& out) { return checkConfig(text, out); };
  const std::string d = kDefaults;
  std::string out;
  EXPECT_NE(check(d + "backend b\n  email-alert mailers nope\n  email-alert from a@b\n  email-alert to c@d\n"
                      "  server s 127.0.0.1:1\n", out), 0);
  EXPECT_NE(out.find("no mailers section named 'nope'"), std::string::npos) << out;
  EXPECT_EQ(check(d + "backend b\n  email-alert from a@b\n  server s 127.0.0.1:1\n", out), 0);
  EXPECT_NE(out.find("need 'email-alert mailers', 'from' and 'to'"), std::string::npos) << out;
  EXPECT_NE(check("mailers m\n  mailer x localhost\n" + d, out), 0);
  EXPECT_NE(out.find("invalid mailer address 'localhost'"), std::string::npos) << out;
}

// As HAProxy, a server starts UP but its first failed check takes it DOWN;
// "init-state fully-up" waits for "fall" of them, "down" keeps a new server
// out until its first passed check. With "option log-health-checks" the
// state change gives no reason of its own (the check's line gave it).
TEST(HealthStart, FirstFailedCheckOrInitState) {
  TestServer up("up", TestServer::Mode::Identify);
  int dead = freePort();
  int port = freePort();
  Sluice s("global\n  log stdout format raw local0\ndefaults\n  mode tcp\n  log global\n"
           "  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  option log-health-checks\n"
           "  server plain 127.0.0.1:" + std::to_string(dead) + " check inter 300ms fall 3 rise 2\n"
           "  server patient 127.0.0.1:" + std::to_string(dead) + " check inter 300ms fall 3 rise 2 init-state fully-up\n"
           "  server careful 127.0.0.1:" + std::to_string(up.port()) + " check inter 300ms fall 3 rise 2 init-state down\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(s.waitForLog("Server l/plain is DOWN. ", scaled(3000))) << s.log();
  EXPECT_NE(s.log().find("Health check for server l/plain failed, reason: Layer4 connection problem"), std::string::npos)
      << s.log();
  EXPECT_NE(s.log().find("status: 0/2 DOWN."), std::string::npos) << "one failure from the start\n" << s.log();
  ASSERT_TRUE(s.waitForLog("Server l/patient is DOWN. ", scaled(3000))) << s.log();
  EXPECT_NE(s.log().find("Health check for server l/patient failed, reason: Layer4 connection problem, info: \"ECONNREFUSED "
                         "returned by OS (Connection refused)\", check duration: "),
            std::string::npos) << s.log();
  EXPECT_NE(s.log().find("status: 2/3 UP."), std::string::npos) << "fully-up counts down from full\n" << s.log();
  ASSERT_TRUE(s.waitForLog("Server l/careful is UP. ", scaled(3000))) << s.log();
  EXPECT_EQ(askServerName(port), "up");

  std::string out;
  std::string dir = makeTempDir("initstate");
  writeFile(dir + "/bad.cfg", "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
                              "listen l\n  bind 127.0.0.1:1\n  server a 127.0.0.1:2 check\n"
                              "  server b 127.0.0.1:3 track a init-state up\n  server c 127.0.0.1:4 init-state maybe\n");
  EXPECT_EQ(runCommand(binaryPath() + " -c -f " + dir + "/bad.cfg 2>&1", &out), 1);
  EXPECT_NE(out.find("bad.cfg:9: error: server 'b': 'init-state' cannot be used with 'track'"), std::string::npos) << out;
  EXPECT_NE(out.find("bad.cfg:10: error: unknown init-state 'maybe'"), std::string::npos) << out;
}

}  // namespace
}  // namespace sluice::testing
