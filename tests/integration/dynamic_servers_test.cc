// SPDX-License-Identifier: Apache-2.0
// Servers that change without a reload, through the runtime API with
// HAProxy's words and answers: "add server" (the keywords a file accepts,
// default-server applied), "del server" (refused while in service or
// connected), "set server ... addr|check-port", "enable|disable health".
// Established sessions are never cut by a change; stats and Prometheus see
// a change at once; a reload keeps the changes unless the files now say
// otherwise about the same server; a restart keeps them through the server
// state file that "show servers state" wrote.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <sstream>

#include "harness.h"

namespace sluice::testing {
namespace {

struct Dyn {
  std::string dir = makeTempDir("dynsrv");
  std::string admin = dir + "/admin.sock";
  int port = freePort();
  int stats = freePort();

  std::string config(const std::string& backendExtra, const std::string& servers) const {
    return "global\n  log stdout format raw local0\n  stats socket " + admin + " level admin\n"
           "  server-state-file " + dir + "/state\n"
           "defaults\n  mode tcp\n  log global\n  option tcplog\n"
           "  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n"
           "  load-server-state-from-file global\n"
           "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend be\n"
           "backend be\n  balance roundrobin\n" + backendExtra + servers +
           "frontend stats\n  mode http\n  bind 127.0.0.1:" + std::to_string(stats) + "\n"
           "  http-request use-service prometheus-exporter if { path /metrics }\n";
  }
  std::string cli(const std::string& command) const { return cliRequest(admin, command + "\n"); }
  std::string metrics() const { return httpBody(httpRequest(stats, "GET", "/metrics")); }
};

std::string at(const TestServer& s) { return "127.0.0.1:" + std::to_string(s.port()); }

// A connection through sluice to an Echo server, kept open: echo() proves
// it still carries bytes both ways.
struct Held {
  int fd = -1;
  explicit Held(int port) : fd(connectTcp("127.0.0.1", port)) {}
  ~Held() {
    if (fd >= 0) ::close(fd);
  }
  bool echo(const std::string& text) {
    if (!sendAll(fd, text)) return false;
    std::string got;
    for (int i = 0; i < 100 && got.size() < text.size(); ++i) got += recvAll(fd, 50, text.size() - got.size());
    return got == text;
  }
};

TEST(DynamicServers, AddServerInMaintenanceWithDefaultServer) {
  Dyn d;
  TestServer a("A", TestServer::Mode::Identify);
  TestServer b("B", TestServer::Mode::Identify);
  Sluice s(d.config("  default-server weight 7\n", "  server a " + at(a) + "\n"), {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(askServerName(d.port), "A");

  TestServer spare("S", TestServer::Mode::Identify);
  EXPECT_EQ(d.cli("add server be/e " + at(spare) + " weight 1"), "New server registered.\n");
  EXPECT_EQ(d.cli("add server be/e " + at(spare)), "Already exists a server with the same name in backend.\n");
  EXPECT_EQ(d.cli("add server nope/x 127.0.0.1:1"), "No such backend.\n");
  EXPECT_NE(d.cli("add server be/x 127.0.0.1:1 wieght 2").find("did you mean 'weight'?"), std::string::npos);

  // Added in maintenance, as HAProxy does: no traffic yet.
  std::string state = d.cli("show servers state be");
  EXPECT_NE(state.find(" e 127.0.0.1 0 1 1 1 "), std::string::npos) << state;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(askServerName(d.port), "A");

  EXPECT_EQ(d.cli("add server be/b " + at(b)), "New server registered.\n");
  EXPECT_EQ(d.cli("enable server be/b"), "\n");
  // The backend's default-server applies (weight 7, as a's): 1:1 with a.
  state = d.cli("show servers state be");
  EXPECT_NE(state.find(" b 127.0.0.1 2 0 7 7 "), std::string::npos) << state;
  std::map<std::string, int> seen;
  for (int i = 0; i < 8; ++i) ++seen[askServerName(d.port)];
  EXPECT_EQ(seen["A"], 4);
  EXPECT_EQ(seen["B"], 4);

  // A PROXY protocol server, as a file would write it.
  TestServer rec("R", TestServer::Mode::Record);
  EXPECT_EQ(d.cli("add server be/r " + at(rec) + " send-proxy-v2 backup"), "New server registered.\n");
  EXPECT_EQ(d.cli("enable server be/r"), "\n");
  EXPECT_EQ(d.cli("set server be/a state maint"), "\n");
  EXPECT_EQ(d.cli("set server be/b state maint"), "\n");
  {
    int fd = connectTcp("127.0.0.1", d.port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(sendAll(fd, "hello"));
    ::shutdown(fd, SHUT_WR);
    recvAll(fd, 2000);
    ::close(fd);
  }
  ASSERT_TRUE(eventually([&] { return rec.recorded().size() == 1; }, 5000));
  EXPECT_EQ(rec.recorded()[0].substr(0, 12), std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  EXPECT_EQ(rec.recorded()[0].substr(rec.recorded()[0].size() - 5), "hello");
  EXPECT_EQ(d.cli("set server be/a state ready"), "\n");
  EXPECT_EQ(d.cli("set server be/b state ready"), "\n");

  // Stats and Prometheus show the added servers at once.
  EXPECT_NE(d.cli("show stat").find("be,b,"), std::string::npos);
  EXPECT_NE(d.metrics().find("haproxy_server_status{proxy=\"be\",server=\"b\",state=\"UP\"} 1"), std::string::npos);
}

TEST(DynamicServers, DeleteIsRefusedWhileInServiceOrConnected) {
  Dyn d;
  TestServer echo("E", TestServer::Mode::Echo);
  TestServer a("A", TestServer::Mode::Identify);
  Sluice s(d.config("", "  server e " + at(echo) + "\n"), {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  Held held(d.port);
  ASSERT_TRUE(held.echo("before"));
  EXPECT_EQ(d.cli("add server be/a " + at(a)), "New server registered.\n");
  EXPECT_EQ(d.cli("enable server be/a"), "\n");
  ASSERT_TRUE(held.echo("after add"));  // the change did not touch it

  EXPECT_EQ(d.cli("del server be/e"), "Only servers in maintenance mode can be deleted.\n");
  EXPECT_EQ(d.cli("set server be/e state maint"), "\n");
  EXPECT_EQ(d.cli("del server be/e"), "Server still has connections attached to it, cannot remove it.\n");
  ASSERT_TRUE(held.echo("still here"));
  ::close(held.fd);
  held.fd = -1;
  ASSERT_TRUE(eventually([&] { return d.cli("del server be/e") == "Server deleted.\n"; }, 5000));
  EXPECT_EQ(d.cli("del server be/e"), "No such server.\n");
  EXPECT_EQ(d.cli("show stat").find("be,e,"), std::string::npos);
  EXPECT_EQ(d.metrics().find("server=\"e\""), std::string::npos);  // forgotten
  EXPECT_EQ(askServerName(d.port), "A");
}

TEST(DynamicServers, SetAddrMovesNewConnectionsOnly) {
  Dyn d;
  TestServer echo("E", TestServer::Mode::Echo);
  TestServer b("B", TestServer::Mode::Identify);
  Sluice s(d.config("", "  server x " + at(echo) + "\n"), {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  Held held(d.port);
  ASSERT_TRUE(held.echo("hello"));
  EXPECT_EQ(d.cli("set server be/x addr 127.0.0.1 port " + std::to_string(b.port())),
            "IP changed from '127.0.0.1' to '127.0.0.1', port changed from '" + std::to_string(echo.port()) +
                "' to '" + std::to_string(b.port()) + "' by 'stats socket command'\n");
  EXPECT_EQ(askServerName(d.port), "B");
  EXPECT_TRUE(held.echo("still to the old address"));
  EXPECT_EQ(d.cli("set server be/x addr not-an-ip"), "Invalid addr: 'not-an-ip'\n");
  EXPECT_EQ(d.cli("set server be/x check-port 70000"), "provide a valid port number, in the range 1-65535\n");
  EXPECT_EQ(d.cli("set server be/x check-port 9999"), "\n");
  EXPECT_NE(d.cli("show servers state be").find(" " + std::to_string(b.port()) + " - 0 9999 "), std::string::npos);
}

TEST(DynamicServers, HealthChecksWaitForEnableHealth) {
  Dyn d;
  int nothing = freePort();  // nobody listens: a check there fails
  Sluice s(d.config("  default-server inter 100 fall 1 rise 1\n", ""), {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(d.cli("add server be/c 127.0.0.1:" + std::to_string(nothing) + " check"), "New server registered.\n");
  EXPECT_EQ(d.cli("enable server be/c"), "\n");
  // Checks are off until "enable health" (HAProxy's rule): configured (2),
  // up. A server added and enabled the same way with its checks on shows
  // when they have had time to run: it is down by then, c is not.
  EXPECT_EQ(d.cli("add server be/w 127.0.0.1:" + std::to_string(nothing) + " check"), "New server registered.\n");
  EXPECT_EQ(d.cli("enable server be/w"), "\n");
  EXPECT_EQ(d.cli("enable health be/w"), "\n");
  ASSERT_TRUE(eventually([&] {
    std::vector<std::string> row = statRow(d.cli("show stat"), "be", "w");
    return row.size() > 17 && row[17] == "DOWN";
  }, 5000)) << d.cli("show stat");
  std::string state = d.cli("show servers state be");
  EXPECT_NE(state.find(" c 127.0.0.1 2 0 1 1 "), std::string::npos) << state;
  EXPECT_NE(state.find(" 2 0 0 0 - " + std::to_string(nothing)), std::string::npos) << state;
  EXPECT_EQ(d.cli("enable health be/c"), "\n");
  EXPECT_TRUE(eventually([&] { return d.cli("show stat").find("be,c,") != std::string::npos &&
                                       d.cli("show stat").find(",DOWN,") != std::string::npos; }, 5000))
      << d.cli("show stat");
  EXPECT_EQ(d.cli("disable health be/c"), "\n");
  EXPECT_NE(d.cli("show servers state be").find(" c 127.0.0.1 2 0 "), std::string::npos);
}

// "set server addr" moves the running server in place (issue 22: no new
// runtime for what DNS or an operator changes every few seconds), and a
// session already retrying its connect to that server goes to the new
// address at its next attempt.
TEST(DynamicServers, AddressChangesInPlaceReachRetryingSessions) {
  Dyn d;
  int dead = freePort();  // nobody listens: connects are refused
  TestServer live("LIVE", TestServer::Mode::Identify);
  Sluice s(d.config("  retries 3\n  timeout connect 1s\n", "  server x 127.0.0.1:" + std::to_string(dead) + "\n"),
           {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  auto info = [&](const std::string& key) {
    std::string text = d.cli("show info");
    size_t at = text.find("\n" + key + ": ");
    return at == std::string::npos ? -1LL : std::atoll(text.c_str() + at + key.size() + 3);
  };
  // The client's first connect is refused: the session waits 1 s before
  // the same server again (retries, no redispatch). Meanwhile the server moves.
  std::string answer;
  std::thread client([&] { answer = askServerName(d.port, "", scaled(8000)); });
  ASSERT_TRUE(eventually([&] { return d.cli("show stat").find("be,x,") != std::string::npos &&
                                      statRow(d.cli("show stat"), "be", "x").size() > 15 &&
                                      statRow(d.cli("show stat"), "be", "x")[15] != "0"; }, 3000))
      << "no retry under way\n" << d.cli("show stat");  // wretr
  EXPECT_EQ(d.cli("set server be/x addr 127.0.0.1 port " + std::to_string(live.port())).rfind("IP changed from", 0), 0u);
  client.join();
  EXPECT_EQ(answer, "LIVE") << s.log();
  EXPECT_EQ(info("RuntimeRebuilds"), 0) << d.cli("show info");
  EXPECT_EQ(info("InPlaceServerChanges"), 1) << d.cli("show info");
  EXPECT_NE(d.cli("show servers state be").find(" x 127.0.0.1 "), std::string::npos);
  // A structural change still builds a runtime.
  EXPECT_EQ(d.cli("add server be/y 127.0.0.1:" + std::to_string(live.port())), "New server registered.\n");
  EXPECT_EQ(info("RuntimeRebuilds"), 1) << d.cli("show info");
}

// Runtime changes rebuild the runtime as a reload does; the health checks
// of the servers they do not touch go on where they stood. A server that
// stops answering goes DOWN after "fall" checks, and one that answers again
// comes UP after "rise", while another server's address changes four times
// a check interval (before: each rebuild started every count and schedule
// again, so neither ever happened).
TEST(DynamicServers, ChangesDoNotResetOtherServersHealthChecks) {
  Dyn d;
  auto checked = std::make_unique<TestServer>("C", TestServer::Mode::Identify);
  const int checkedPort = checked->port();
  TestServer b("B", TestServer::Mode::Identify), b2("B", TestServer::Mode::Identify);
  Sluice s(d.config("", "  server c " + at(*checked) + " check inter 400 fall 3 rise 3\n  server x " + at(b) + "\n"),
           {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  auto status = [&] {  // "status", field 17 of show stat
    std::vector<std::string> row = statRow(d.cli("show stat"), "be", "c");
    return row.size() > 17 ? row[17] : std::string("?");
  };
  ASSERT_TRUE(eventually([&] { return status() == "UP"; }, 5000)) << d.cli("show stat");
  std::atomic<bool> stop{false};
  std::atomic<int> changes{0};
  std::thread churn([&] {
    for (int i = 0; !stop && i < 400; ++i) {
      d.cli("set server be/x addr 127.0.0.1 port " + std::to_string(i % 2 ? b.port() : b2.port()));
      ++changes;
      ::usleep(100 * 1000);
    }
  });
  checked.reset();  // refuses from now on
  const bool wentDown = eventually([&] { return status() == "DOWN"; }, 6000);
  checked = std::make_unique<TestServer>("C", TestServer::Mode::Identify, nullptr, "127.0.0.1", checkedPort);
  const bool cameBack = wentDown && eventually([&] { return status() == "UP"; }, 6000);
  stop = true;
  churn.join();
  EXPECT_TRUE(wentDown) << "still " << status() << " after " << changes << " address changes";
  EXPECT_TRUE(cameBack) << "still " << status();
  EXPECT_GT(changes, 10);
}

// A reload keeps the runtime changes; a file that now defines the added
// server wins, and the reload says so.
TEST(DynamicServers, ReloadKeepsChangesUnlessTheFilesSayOtherwise) {
  Dyn d;
  TestServer a("A", TestServer::Mode::Identify);
  TestServer b("B", TestServer::Mode::Identify);
  TestServer c("C", TestServer::Mode::Identify);
  Sluice s(d.config("", "  server a " + at(a) + "\n"), {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(d.cli("add server be/b " + at(b)), "New server registered.\n");
  EXPECT_EQ(d.cli("enable server be/b"), "\n");
  EXPECT_EQ(d.cli("set server be/a state maint"), "\n");
  EXPECT_EQ(d.cli("del server be/a"), "Server deleted.\n");
  std::string r = d.cli("reload");
  EXPECT_NE(r.find("configuration reloaded"), std::string::npos) << r;
  EXPECT_EQ(askServerName(d.port), "B");
  EXPECT_EQ(d.cli("show stat").find("be,a,"), std::string::npos);

  // The files now define "b" themselves, at C's address: they win.
  writeFile(s.dir() + "/sluice.cfg", d.config("", "  server a " + at(a) + "\n  server b " + at(c) + "\n"));
  r = d.cli("reload");
  EXPECT_NE(r.find("runtime API change to be/b dropped: the configuration now defines server be/b itself"),
            std::string::npos) << r;
  std::map<std::string, int> seen;
  for (int i = 0; i < 4; ++i) ++seen[askServerName(d.port)];
  EXPECT_EQ(seen["C"], 4) << r;
  // "a" stays deleted: the files still give it the address it had.
  EXPECT_EQ(seen["A"], 0);
}

// A restart keeps the changes through the server state file.
TEST(DynamicServers, RestartRestoresThroughTheServerStateFile) {
  Dyn d;
  TestServer a("A", TestServer::Mode::Identify);
  TestServer b("B", TestServer::Mode::Identify);
  std::string cfg = d.config("", "  server a " + at(a) + "\n  server z " + at(a) + "\n");
  std::string before;
  {
    Sluice s(cfg, {d.port, d.stats});
    ASSERT_TRUE(s.started()) << s.log();
    EXPECT_EQ(d.cli("add server be/b " + at(b) + " weight 3"), "New server registered.\n");
    EXPECT_EQ(d.cli("enable server be/b"), "\n");
    EXPECT_EQ(d.cli("set server be/a state maint"), "\n");
    EXPECT_EQ(d.cli("del server be/a"), "Server deleted.\n");
    before = d.cli("show servers state");
    writeFile(d.dir + "/state", before);
  }
  Sluice s(cfg, {d.port, d.stats});
  ASSERT_TRUE(s.started()) << s.log();
  std::string after = d.cli("show servers state");
  // Each server's be_id .. srv_iweight (the fields a restart must keep),
  // and the "# sluice:" lines.
  auto serverLines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("# sluice:", 0) == 0) out.push_back(line);
      std::istringstream words(line);
      std::vector<std::string> w;
      for (std::string x; words >> x;) w.push_back(x);
      if (w.size() < 9 || w[1] != "be") continue;
      std::string key;
      for (size_t i = 0; i < 9; ++i) key += w[i] + " ";
      out.push_back(key);
    }
    return out;
  };
  EXPECT_EQ(serverLines(after), serverLines(before)) << before << "\n---\n" << after;
  EXPECT_FALSE(serverLines(after).empty()) << after;
  EXPECT_EQ(askServerName(d.port), "B");
}

}  // namespace
}  // namespace sluice::testing
