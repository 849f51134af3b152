// SPDX-License-Identifier: Apache-2.0
// Stick tables through the real binary, as an operator uses them against
// floods and for persistence: a connection-rate limit and a concurrent
// connection limit per client address, an address blocked and unblocked
// from the runtime API, "stick on src" keeping a client on one server (and
// moving it when that server goes away), and entries surviving a reload.
#include <gtest/gtest.h>

#include <unistd.h>

#include "harness.h"

namespace sluice::testing {
namespace {

struct Farm {
  std::string dir = makeTempDir("stick");
  TestServer s1{"s1", TestServer::Mode::Identify};
  TestServer s2{"s2", TestServer::Mode::Identify};
  TestServer echo{"echo", TestServer::Mode::Echo};
  int limited = freePort();
  int concurrent = freePort();
  int sticky = freePort();
  int metrics = freePort();
  std::string admin = dir + "/admin.sock";

  std::string config(const std::string& rateTable = "size 100 expire 60s") {
    return "global\n  log stdout format raw local0\n  nbthread 2\n"
           "  stats socket " + admin + " mode 600 level admin\n"
           "defaults\n  mode tcp\n  log global\n  option tcplog\n"
           "  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n"
           // At most 5 new connections per 10 s per address; gpc0 > 0 blocks.
           "frontend limited\n  bind 127.0.0.1:" + std::to_string(limited) + "\n"
           "  stick-table type ip " + rateTable + " store conn_cnt,conn_rate(10s),gpc0\n"
           "  tcp-request connection track-sc0 src\n"
           "  tcp-request connection reject if { sc0_get_gpc0 gt 0 }\n"
           "  tcp-request connection reject if { sc0_conn_rate gt 5 }\n"
           "  default_backend identify\n"
           // At most 2 connections at once per address, counted in a table
           // declared in a backend of its own.
           "backend per_ip\n  stick-table type ipv6 size 1k expire 30s store conn_cur\n"
           "frontend concurrent\n  bind 127.0.0.1:" + std::to_string(concurrent) + "\n"
           "  tcp-request connection track-sc1 src table per_ip\n"
           "  tcp-request connection reject if { sc1_conn_cur ge 3 }\n"
           "  default_backend echo\n"
           "backend echo\n  server e 127.0.0.1:" + std::to_string(echo.port()) + "\n"
           "backend identify\n  balance roundrobin\n"
           "  server s1 127.0.0.1:" + std::to_string(s1.port()) + "\n"
           "  server s2 127.0.0.1:" + std::to_string(s2.port()) + "\n"
           "frontend metrics\n  bind 127.0.0.1:" + std::to_string(metrics) + "\n  mode http\n"
           "  http-request use-service prometheus-exporter if { path /metrics }\n"
           "listen sticky\n  bind 127.0.0.1:" + std::to_string(sticky) + "\n  balance roundrobin\n"
           "  stick-table type ip size 1k expire 10m\n  stick on src\n"
           "  server s1 127.0.0.1:" + std::to_string(s1.port()) + "\n"
           "  server s2 127.0.0.1:" + std::to_string(s2.port()) + "\n";
  }
};

// The value of `field=` in the "show table" line of `key`, or "" if absent.
std::string entryField(const std::string& dump, const std::string& key, const std::string& field) {
  size_t at = dump.find(" key=" + key + " ");
  if (at == std::string::npos) return "";
  size_t eol = dump.find('\n', at);
  std::string line = dump.substr(at, eol - at);
  size_t f = line.find(" " + field + "=");
  if (f == std::string::npos) return "";
  size_t start = f + field.size() + 2;
  return line.substr(start, line.find(' ', start) - start);
}

TEST(StickTables, ConnectionRateLimitAndBlockFromTheApi) {
  Farm t;
  Sluice s(t.config(), {t.limited, t.concurrent, t.sticky});
  ASSERT_TRUE(s.started()) << s.log();
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(askServerName(t.limited), "none") << "connection " << i + 1 << " is within the limit";
  }
  EXPECT_EQ(askServerName(t.limited), "none") << "the sixth connection in 10 s is refused";
  EXPECT_EQ(askServerName(t.limited, "127.0.0.2"), "s2")
      << "another address has its own counters (round robin goes on)";

  std::string dump = cliRequest(t.admin, "show table limited\n");
  EXPECT_NE(dump.find("# table: limited, type: ip, size:100, used:2\n"), std::string::npos) << dump;
  EXPECT_EQ(entryField(dump, "127.0.0.1", "conn_cnt"), "6") << dump;
  EXPECT_EQ(entryField(dump, "127.0.0.1", "conn_rate(10000)"), "6") << dump;
  EXPECT_EQ(entryField(dump, "127.0.0.2", "conn_cnt"), "1") << dump;
  std::string metrics = httpBody(httpRequest(t.metrics, "GET", "/metrics"));
  EXPECT_NE(metrics.find("haproxy_sticktable_used{name=\"limited\",type=\"ip\"} 2\n"), std::string::npos)
      << metrics.substr(0, 2000);
  EXPECT_NE(metrics.find("haproxy_sticktable_size{name=\"per_ip\",type=\"ipv6\"} 1024\n"), std::string::npos);

  // Unblocked by the operator: the entry is gone, counting starts again.
  EXPECT_EQ(cliRequest(t.admin, "clear table limited key 127.0.0.1\n"), "\n");
  EXPECT_NE(askServerName(t.limited), "none");

  // Blocked by the operator through gpc0, then released.
  EXPECT_EQ(cliRequest(t.admin, "set table limited key 127.0.0.3 data.gpc0 1\n"), "\n");
  EXPECT_EQ(askServerName(t.limited, "127.0.0.3"), "none");
  EXPECT_NE(askServerName(t.limited, "127.0.0.4"), "none");
  std::string flagged = cliRequest(t.admin, "show table limited data.gpc0 gt 0\n");
  EXPECT_NE(flagged.find(" key=127.0.0.3 "), std::string::npos) << flagged;
  EXPECT_EQ(flagged.find(" key=127.0.0.4 "), std::string::npos) << flagged;
  EXPECT_EQ(cliRequest(t.admin, "clear table limited data.gpc0 gt 0\n"), "\n");
  EXPECT_NE(askServerName(t.limited, "127.0.0.3"), "none");

  EXPECT_EQ(cliRequest(t.admin, "show table nosuch\n"), "No such table.\n");
  EXPECT_EQ(cliRequest(t.admin, "show table limited data.conn_cur gt 0\n"),
            "Data type not stored in this table.\n");
}

TEST(StickTables, ConcurrentConnectionLimitFollowsOpenConnections) {
  Farm t;
  Sluice s(t.config(), {t.limited, t.concurrent, t.sticky});
  ASSERT_TRUE(s.started()) << s.log();
  auto openEcho = [&]() {
    int fd = connectTcp("127.0.0.1", t.concurrent);
    if (fd < 0) return -1;
    if (!sendAll(fd, "ping") || recvAll(fd, scaled(2000), 4) != "ping") {
      close(fd);
      return -1;
    }
    return fd;
  };
  int a = openEcho();
  int b = openEcho();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  int c = connectTcp("127.0.0.1", t.concurrent);
  ASSERT_GE(c, 0);
  EXPECT_TRUE(waitClosed(c, scaled(2000))) << "a third connection at once is refused";
  close(c);
  std::string dump = cliRequest(t.admin, "show table per_ip\n");
  EXPECT_EQ(entryField(dump, "::ffff:127.0.0.1", "conn_cur"), "2") << dump;
  EXPECT_EQ(entryField(dump, "::ffff:127.0.0.1", "use"), "2") << dump;

  close(a);
  // conn_cur goes down when the session ends.
  bool down = false;
  for (int i = 0; i < 50 && !down; ++i) {
    down = entryField(cliRequest(t.admin, "show table per_ip\n"), "::ffff:127.0.0.1", "conn_cur") == "1";
    if (!down) usleep(100 * 1000);
  }
  EXPECT_TRUE(down);
  int d = openEcho();
  EXPECT_GE(d, 0) << "one slot is free again";
  close(b);
  if (d >= 0) close(d);
}

TEST(StickTables, StickOnSourceKeepsAClientOnItsServer) {
  Farm t;
  Sluice s(t.config(), {t.limited, t.concurrent, t.sticky});
  ASSERT_TRUE(s.started()) << s.log();
  std::string first = askServerName(t.sticky);
  ASSERT_TRUE(first == "s1" || first == "s2") << first;
  for (int i = 0; i < 8; ++i) EXPECT_EQ(askServerName(t.sticky), first) << "round robin would alternate";
  std::string dump = cliRequest(t.admin, "show table sticky\n");
  EXPECT_EQ(entryField(dump, "127.0.0.1", "server_id"), first == "s1" ? "1" : "2") << dump;

  // Its server goes into maintenance: the client moves, and stays moved.
  std::string other = first == "s1" ? "s2" : "s1";
  EXPECT_EQ(cliRequest(t.admin, "set server sticky/" + first + " state maint\n"), "\n");
  EXPECT_EQ(askServerName(t.sticky), other);
  EXPECT_EQ(cliRequest(t.admin, "set server sticky/" + first + " state ready\n"), "\n");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(askServerName(t.sticky), other);
}

TEST(StickTables, EntriesSurviveAReloadWhenTheTableIsUnchanged) {
  Farm t;
  Sluice s(t.config(), {t.limited, t.concurrent, t.sticky});
  ASSERT_TRUE(s.started()) << s.log();
  for (int i = 0; i < 6; ++i) askServerName(t.limited);
  EXPECT_EQ(askServerName(t.limited), "none");
  std::string before = askServerName(t.sticky);

  // Same tables, another file: the limit still holds, the client stays.
  writeFile(s.dir() + "/sluice.cfg", t.config() + "# reloaded\n");
  std::string answer = cliRequest(t.admin, "reload\n", 10000);
  ASSERT_EQ(answer.substr(0, 10), "Success=1\n") << answer;
  EXPECT_EQ(askServerName(t.limited), "none") << "the rate counted before the reload still counts";
  EXPECT_EQ(askServerName(t.sticky), before);
  EXPECT_EQ(entryField(cliRequest(t.admin, "show table limited\n"), "127.0.0.1", "conn_cnt"), "8");

  // A changed declaration starts empty.
  writeFile(s.dir() + "/sluice.cfg", t.config("size 200 expire 60s"));
  answer = cliRequest(t.admin, "reload\n", 10000);
  ASSERT_EQ(answer.substr(0, 10), "Success=1\n") << answer;
  EXPECT_NE(askServerName(t.limited), "none");
  EXPECT_NE(cliRequest(t.admin, "show table limited\n").find("size:200, used:1"), std::string::npos);
}

}  // namespace
}  // namespace sluice::testing
