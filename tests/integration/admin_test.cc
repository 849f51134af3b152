// SPDX-License-Identifier: Apache-2.0
// The runtime API through real UNIX (and TCP) sockets of the real binary,
// checked the way an operator would: by what the commands print and by what
// happens to traffic afterwards (a drained server gets no new connections,
// a map entry added live routes the next TLS connection, a user-level
// socket changes nothing, live state survives a reload).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "harness.h"

namespace sluice::testing {
namespace {

// Plain-TCP traffic through "plain" goes to Identify servers, which say
// their name; TLS traffic through "tls" is routed by SNI with a map and an
// ACL file that the tests change live.
struct Farm {
  std::string dir = makeTempDir("admin");
  Cert cert = makeCert(dir, "a.test");
  TestServer s1{"s1", TestServer::Mode::Identify};
  TestServer s2{"s2", TestServer::Mode::Identify};
  TestServer tlsMain{"main", TestServer::Mode::Identify, &cert};
  TestServer tlsAlt{"alt", TestServer::Mode::Identify, &cert};
  TestServer holder{"holder", TestServer::Mode::Hold};
  int plain = freePort();
  int tls = freePort();
  int hold = freePort();
  int cliPort = freePort();
  std::string admin = dir + "/admin.sock";
  std::string oper = dir + "/oper.sock";
  std::string user = dir + "/user.sock";

  std::string config(const std::string& extra = "") {
    writeFile(dir + "/sni.map", "a.test be_tls\n");
    writeFile(dir + "/blocked.lst", "# SNIs refused\nevil.test\n");
    return "global\n  log stdout format raw local0\n  nbthread 2\n"
           "  stats socket " + admin + " mode 600 level admin\n"
           "  stats socket " + oper + " level operator\n"
           "  stats socket " + user + " mode 666 level user\n"
           "  stats socket ipv4@127.0.0.1:" + std::to_string(cliPort) + " level admin\n"
           "  stats timeout 5s\n"
           "defaults\n  mode tcp\n  log global\n  option tcplog\n"
           "  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n"
           "listen plain\n  bind 127.0.0.1:" + std::to_string(plain) + "\n  balance roundrobin\n"
           "  server s1 127.0.0.1:" + std::to_string(s1.port()) + "\n"
           "  server s2 127.0.0.1:" + std::to_string(s2.port()) + "\n"
           "frontend tls\n  bind 127.0.0.1:" + std::to_string(tls) + "\n"
           "  tcp-request inspect-delay 5s\n"
           "  tcp-request content reject if { req_ssl_sni -i -f " + dir + "/blocked.lst }\n"
           "  tcp-request content accept if { req_ssl_hello_type 1 }\n"
           "  use_backend %[req.ssl_sni,lower,map(" + dir + "/sni.map)]\n"
           "  default_backend be_alt\n"
           "backend be_tls\n  server main 127.0.0.1:" + std::to_string(tlsMain.port()) + "\n"
           "backend be_alt\n  server alt 127.0.0.1:" + std::to_string(tlsAlt.port()) + "\n"
           "listen hold\n  bind 127.0.0.1:" + std::to_string(hold) + "\n"
           "  server h 127.0.0.1:" + std::to_string(holder.port()) + "\n" + extra;
  }
};

std::string ask(int port) { return askServerName(port); }

std::map<std::string, int> spread(int port, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) seen[ask(port)]++;
  return seen;
}

std::string sniTarget(int port, const std::string& sni) {
  TlsClientOptions o;
  o.sni = sni;
  TlsResult r = tlsRequest("127.0.0.1", port, o);
  if (!r.handshake) return "refused";
  size_t p = r.response.find("server=");
  return p == std::string::npos ? "none" : r.response.substr(p + 7, r.response.find('\n', p) - p - 7);
}

// Column index in HAProxy's header.
size_t column(const std::string& name) {
  std::string header = readFile(dataDir() + "/haproxy-2.6-show-stat-header.csv");
  std::istringstream in(header.substr(2));
  std::string col;
  for (size_t i = 0; std::getline(in, col, ','); ++i) {
    if (col == name) return i;
  }
  return SIZE_MAX;
}

std::string field(const std::string& csv, const std::string& proxy, const std::string& server,
                  const std::string& name) {
  auto row = statRow(csv, proxy, server);
  size_t i = column(name);
  return i < row.size() ? row[i] : "<missing>";
}

TEST(Admin, ShowCommandsPrintWhatHAProxyPrints) {
  Farm t;
  Sluice s(t.config(), {t.plain, t.tls});
  ASSERT_TRUE(s.started()) << s.log();

  std::string help = cliRequest(t.admin, "help\n");
  for (const char* c : {"show stat", "show info", "show servers state", "show sess", "set server", "add map",
                        "del acl", "shutdown sessions server", "reload", "prompt", "quit"}) {
    EXPECT_NE(help.find(c), std::string::npos) << c << "\n" << help;
  }

  std::string info = cliRequest(t.admin, "show info\n");
  EXPECT_NE(info.find("Name: sluice\n"), std::string::npos) << info;
  EXPECT_NE(info.find("Pid: " + std::to_string(s.process().pid()) + "\n"), std::string::npos) << info;
  EXPECT_NE(info.find("Nbthread: 2\n"), std::string::npos) << info;
  EXPECT_NE(info.find("Uptime_sec: "), std::string::npos);
  EXPECT_NE(info.find("PoolUsed_bytes: "), std::string::npos);

  ask(t.plain);
  std::string stat = cliRequest(t.admin, "show stat\n");
  // HAProxy's columns in HAProxy's order, up to the end of the static ones.
  std::string expected = readFile(dataDir() + "/haproxy-2.6-show-stat-header.csv");
  expected = expected.substr(0, expected.find(",-,") + 3);
  EXPECT_EQ(stat.substr(0, expected.size()), expected);
  EXPECT_EQ(field(stat, "plain", "FRONTEND", "status"), "OPEN");
  EXPECT_EQ(field(stat, "plain", "FRONTEND", "stot"), "1");
  EXPECT_EQ(field(stat, "plain", "s1", "status"), "no check");
  EXPECT_EQ(field(stat, "plain", "s1", "addr"), "127.0.0.1:" + std::to_string(t.s1.port()));
  EXPECT_EQ(field(stat, "plain", "BACKEND", "algo"), "roundrobin");
  EXPECT_EQ(field(stat, "plain", "BACKEND", "act"), "2");
  EXPECT_EQ(field(stat, "plain", "s1", "type"), "2");
  // Filters: "show stat <iid> <type mask> <sid>": servers of one proxy.
  std::string iid = field(stat, "plain", "FRONTEND", "iid");
  std::string servers = cliRequest(t.admin, "show stat " + iid + " 4 -1\n");
  EXPECT_FALSE(statRow(servers, "plain", "s1").empty());
  EXPECT_TRUE(statRow(servers, "plain", "FRONTEND").empty());
  EXPECT_TRUE(statRow(servers, "tls", "FRONTEND").empty());

  std::string state = cliRequest(t.admin, "show servers state plain\n");
  EXPECT_EQ(state.substr(0, 2), "1\n");
  EXPECT_NE(state.find(" plain 1 s1 127.0.0.1 2 0 1 1 "), std::string::npos) << state;
  EXPECT_NE(state.find(" " + std::to_string(t.s2.port()) + " "), std::string::npos) << state;
  EXPECT_EQ(cliRequest(t.admin, "show servers state nosuch\n"), "Can't find backend.\n");

  EXPECT_EQ(cliRequest(t.admin, "show backend\n"), "# name\nplain\nbe_tls\nbe_alt\nhold\n\n");
  EXPECT_EQ(cliRequest(t.admin, "show version\n"), std::string(SLUICE_TEST_VERSION) + "\n\n");
  EXPECT_EQ(cliRequest(t.admin, "show cli level\n"), "admin\n\n");
  EXPECT_NE(cliRequest(t.admin, "bogus\n").find("Unknown command"), std::string::npos);
  // Several commands on one line, as HAProxy takes them.
  std::string both = cliRequest(t.admin, "show version; show cli level\n");
  EXPECT_EQ(both, std::string(SLUICE_TEST_VERSION) + "\n\nadmin\n\n");
}

TEST(Admin, ServerStatesSteerNewConnections) {
  Farm t;
  Sluice s(t.config(), {t.plain});
  ASSERT_TRUE(s.started()) << s.log();
  auto before = spread(t.plain, 8);
  EXPECT_EQ(before["s1"], 4);
  EXPECT_EQ(before["s2"], 4);

  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 state drain\n"), "\n");
  EXPECT_EQ(spread(t.plain, 6)["s2"], 6);
  std::string stat = cliRequest(t.admin, "show stat\n");
  EXPECT_EQ(field(stat, "plain", "s1", "status"), "DRAIN");
  EXPECT_EQ(field(stat, "plain", "BACKEND", "act"), "1");

  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 state maint\n"), "\n");
  EXPECT_EQ(field(cliRequest(t.admin, "show stat\n"), "plain", "s1", "status"), "MAINT");
  EXPECT_EQ(spread(t.plain, 4)["s2"], 4);

  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 state ready\n"), "\n");
  auto after = spread(t.plain, 8);
  EXPECT_EQ(after["s1"], 4);

  // The older words do the same.
  EXPECT_EQ(cliRequest(t.admin, "disable server plain/s2\n"), "\n");
  EXPECT_EQ(field(cliRequest(t.admin, "show stat\n"), "plain", "s2", "status"), "MAINT");
  EXPECT_EQ(spread(t.plain, 4)["s1"], 4);
  EXPECT_EQ(cliRequest(t.admin, "enable server plain/s2\n"), "\n");
  EXPECT_EQ(spread(t.plain, 8)["s2"], 4);

  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 state sleepy\n"),
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n");
  EXPECT_EQ(cliRequest(t.admin, "disable server plain/nosuch\n"), "No such server.\n");
  EXPECT_EQ(cliRequest(t.admin, "disable server nosuch/s1\n"), "No such backend.\n");
  EXPECT_EQ(cliRequest(t.admin, "disable server plain\n"), "Require 'backend/server'.\n");
}

TEST(Admin, WeightsSetLiveChangeTheSplit) {
  Farm t;
  Sluice s(t.config(), {t.plain});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 weight 3\n"), "\n");
  EXPECT_EQ(cliRequest(t.admin, "get weight plain/s1\n"), "3 (initial 1)\n\n");
  auto seen = spread(t.plain, 8);
  EXPECT_EQ(seen["s1"], 6);
  EXPECT_EQ(seen["s2"], 2);
  EXPECT_EQ(field(cliRequest(t.admin, "show stat\n"), "plain", "s1", "weight"), "3");

  EXPECT_EQ(cliRequest(t.admin, "set weight plain/s1 0\n"), "\n");
  EXPECT_EQ(spread(t.plain, 4)["s2"], 4);
  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 weight 300\n"),
            "Absolute weight can only be between 0 and 256 inclusive.\n");
  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 weight abc\n"),
            "Empty weight string empty or preceded by garbage\n");
  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 weight 100%\n"), "\n");
  EXPECT_EQ(cliRequest(t.admin, "get weight plain/s1\n"), "1 (initial 1)\n\n");
}

TEST(Admin, SessionsAreListedAndShutDown) {
  Farm t;
  Sluice s(t.config(), {t.hold});
  ASSERT_TRUE(s.started()) << s.log();
  int a = connectTcp("127.0.0.1", t.hold);
  int b = connectTcp("127.0.0.1", t.hold);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  sendAll(a, "x");
  sendAll(b, "y");
  // Both sessions reach the server, then show up.
  std::string sess;
  for (int i = 0; i < 50; ++i) {
    sess = cliRequest(t.admin, "show sess\n");
    size_t n = 0;
    for (size_t p = sess.find("fe=hold"); p != std::string::npos; p = sess.find("fe=hold", p + 1)) ++n;
    if (n == 2 && sess.find("srv=h ") != std::string::npos) break;
    usleep(20000);
  }
  EXPECT_NE(sess.find("fe=hold be=hold srv=h"), std::string::npos) << sess;
  EXPECT_NE(sess.find("src=127.0.0.1:"), std::string::npos) << sess;

  // One session by its id...
  std::string id = sess.substr(0, sess.find(':'));
  ASSERT_EQ(id.rfind("0x", 0), 0u) << sess;
  EXPECT_EQ(cliRequest(t.admin, "shutdown session " + id + "\n"), "\n");
  // ...then every session on the server.
  EXPECT_EQ(cliRequest(t.admin, "shutdown sessions server hold/h\n"), "\n");
  EXPECT_TRUE(waitClosed(a, scaled(3000)));
  EXPECT_TRUE(waitClosed(b, scaled(3000)));
  close(a);
  close(b);
  for (int i = 0; i < scaled(3000) / 20 && countStates(s.log(), "KD") < 2; ++i) usleep(20000);
  EXPECT_EQ(countStates(s.log(), "KD"), 2u) << s.log();
  EXPECT_EQ(cliRequest(t.admin, "shutdown session 0x999999\n"), "No such session (use 'show sess').\n");
}

TEST(Admin, MapsChangeRoutingWithoutReload) {
  Farm t;
  Sluice s(t.config(), {t.tls});
  ASSERT_TRUE(s.started()) << s.log();
  std::string map = t.dir + "/sni.map";
  EXPECT_EQ(sniTarget(t.tls, "a.test"), "main");
  EXPECT_EQ(sniTarget(t.tls, "c.test"), "alt");

  std::string list = cliRequest(t.admin, "show map\n");
  EXPECT_NE(list.find("(" + map + ")"), std::string::npos) << list;
  EXPECT_NE(list.find("entry_cnt=1"), std::string::npos) << list;

  EXPECT_EQ(cliRequest(t.admin, "add map " + map + " c.test be_tls\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "c.test"), "main");
  std::string content = cliRequest(t.admin, "show map " + map + "\n");
  EXPECT_NE(content.find(" a.test be_tls\n"), std::string::npos) << content;
  EXPECT_NE(content.find(" c.test be_tls\n"), std::string::npos) << content;
  EXPECT_EQ(cliRequest(t.admin, "get map " + map + " c.test\n"),
            "type=str, case=sensitive, found=yes, key=\"c.test\", value=\"be_tls\"\n\n");

  EXPECT_EQ(cliRequest(t.admin, "set map " + map + " a.test be_alt\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "a.test"), "alt");
  EXPECT_EQ(cliRequest(t.admin, "del map " + map + " c.test\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "c.test"), "alt");
  EXPECT_EQ(cliRequest(t.admin, "del map " + map + " c.test\n"), "Key not found.\n");

  // Several entries at once, with a payload.
  EXPECT_EQ(cliRequest(t.admin, "add map " + map + " <<\nd.test be_tls\ne.test be_tls\n\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "d.test"), "main");
  EXPECT_EQ(sniTarget(t.tls, "e.test"), "main");
  // By reference id, as "show map" prints it.
  content = cliRequest(t.admin, "show map " + map + "\n");
  std::string ref = content.substr(content.find("0x"), content.find(' ', content.find("0x")) - content.find("0x"));
  EXPECT_EQ(cliRequest(t.admin, "del map " + map + " #" + ref + "\n"), "\n");

  EXPECT_EQ(cliRequest(t.admin, "clear map " + map + "\n"), "\n");
  EXPECT_EQ(cliRequest(t.admin, "show map " + map + "\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "d.test"), "alt");
  EXPECT_EQ(cliRequest(t.admin, "add map /no/such.map k v\n"),
            "Unknown map identifier. Please use #<id> or <file>.\n");
  // The file on disk is not touched: live changes last until the next reload.
  EXPECT_EQ(readFile(map), "a.test be_tls\n");
}

TEST(Admin, AclsChangeWithoutReload) {
  Farm t;
  Sluice s(t.config(), {t.tls});
  ASSERT_TRUE(s.started()) << s.log();
  std::string lst = t.dir + "/blocked.lst";
  std::string list = cliRequest(t.admin, "show acl\n");
  EXPECT_NE(list.find("(" + lst + ")"), std::string::npos) << list;
  EXPECT_NE(list.find("pattern loaded from file '" + lst + "' used by acl at file '"), std::string::npos) << list;
  EXPECT_NE(list.find("() acl 'req_ssl_hello_type' file '"), std::string::npos) << list;
  EXPECT_EQ(sniTarget(t.tls, "evil.test"), "refused");
  EXPECT_EQ(sniTarget(t.tls, "bad.test"), "alt");

  EXPECT_EQ(cliRequest(t.admin, "add acl " + lst + " bad.test\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "bad.test"), "refused");
  EXPECT_NE(cliRequest(t.admin, "show acl " + lst + "\n").find(" bad.test\n"), std::string::npos);
  EXPECT_EQ(cliRequest(t.admin, "del acl " + lst + " evil.test\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "evil.test"), "alt");
  EXPECT_EQ(cliRequest(t.admin, "clear acl " + lst + "\n"), "\n");
  EXPECT_EQ(sniTarget(t.tls, "bad.test"), "alt");
}

TEST(Admin, LevelsAreEnforced) {
  Farm t;
  Sluice s(t.config(), {t.plain, t.tls});
  ASSERT_TRUE(s.started()) << s.log();
  std::string map = t.dir + "/sni.map";
  // A user may look...
  EXPECT_NE(cliRequest(t.user, "show stat\n").find("plain,s1,"), std::string::npos);
  EXPECT_NE(cliRequest(t.user, "show info\n").find("Name: sluice"), std::string::npos);
  EXPECT_EQ(cliRequest(t.user, "show cli level\n"), "user\n\n");
  // ...and change nothing.
  for (const std::string& cmd : std::vector<std::string>{"set server plain/s1 state maint", "disable server plain/s1",
                                 "set server plain/s1 weight 0", "shutdown sessions server plain/s1",
                                 "add map " + map + " c.test be_tls", "del map " + map + " a.test",
                                 "clear map " + map, "add acl " + t.dir + "/blocked.lst x", "show sess",
                                 "reload"}) {
    EXPECT_EQ(cliRequest(t.user, cmd + "\n"), "Permission denied\n") << cmd;
  }
  EXPECT_EQ(field(cliRequest(t.admin, "show stat\n"), "plain", "s1", "status"), "no check");
  EXPECT_EQ(cliRequest(t.admin, "show map " + map + "\n").find("c.test"), std::string::npos);
  EXPECT_EQ(spread(t.plain, 4)["s1"], 2);
  // An operator may change maps and see sessions, not servers.
  EXPECT_EQ(cliRequest(t.oper, "add map " + map + " c.test be_tls\n"), "\n");
  EXPECT_EQ(cliRequest(t.oper, "set server plain/s1 state maint\n"), "Permission denied\n");
  EXPECT_EQ(cliRequest(t.oper, "show sess\n").find("Permission"), std::string::npos);
  // An admin session may lower its own level, not raise it.
  CliSession cli(t.admin);
  ASSERT_TRUE(cli.connected());
  EXPECT_EQ(cli.command("user"), "\n");
  EXPECT_EQ(cli.command("set server plain/s1 state maint"), "Permission denied\n");
  EXPECT_EQ(cli.command("show cli level"), "user\n\n");
}

TEST(Admin, PromptKeepsOneConnectionForManyCommands) {
  Farm t;
  Sluice s(t.config(), {t.plain});
  ASSERT_TRUE(s.started()) << s.log();
  CliSession cli(t.admin);
  ASSERT_TRUE(cli.connected());
  EXPECT_EQ(cli.command("show cli level"), "admin\n\n");
  EXPECT_EQ(cli.command("set server plain/s2 state drain"), "\n");
  EXPECT_NE(cli.command("show stat").find("plain,s2,"), std::string::npos);
  EXPECT_EQ(cli.command("set server plain/s2 state ready"), "\n");
  EXPECT_EQ(cli.command("quit"), "");
  // Without "prompt", one line is answered and the connection closes.
  EXPECT_EQ(cliRequest(t.admin, "show cli level\nshow version\n"), "admin\n\n");
}

TEST(Admin, TcpSocketAndSocat) {
  Farm t;
  Sluice s(t.config(), {t.plain, t.cliPort});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", t.cliPort);
  ASSERT_GE(fd, 0);
  sendAll(fd, "show info\n");
  EXPECT_NE(recvAll(fd, scaled(3000)).find("Name: sluice"), std::string::npos);
  close(fd);
  // The line operators type, with the tool they use.
  std::string out;
  if (runCommand("command -v socat >/dev/null") != 0) SLUICE_SKIP_OR_FAIL("socat is not installed (scripts/install-deps installs it)");
  ASSERT_EQ(runCommand("echo 'show stat' | socat stdio " + t.admin, &out), 0);
  EXPECT_NE(out.find("plain,s1,"), std::string::npos) << out;
  ASSERT_EQ(runCommand("echo 'set server plain/s1 state drain' | socat stdio " + t.admin, &out), 0);
  EXPECT_EQ(field(cliRequest(t.admin, "show stat\n"), "plain", "s1", "status"), "DRAIN");
}

TEST(Admin, ReloadKeepsLiveStateAndReportsErrors) {
  Farm t;
  Sluice s(t.config(), {t.plain});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(cliRequest(t.admin, "set server plain/s1 state drain\n"), "\n");
  EXPECT_EQ(cliRequest(t.admin, "set server plain/s2 weight 5\n"), "\n");
  int extra = freePort();
  writeFile(s.dir() + "/sluice.cfg",
            t.config("listen extra\n  bind 127.0.0.1:" + std::to_string(extra) + "\n  server x 127.0.0.1:" +
                     std::to_string(t.s1.port()) + "\n"));
  std::string answer = cliRequest(t.admin, "reload\n", 10000);
  EXPECT_EQ(answer.substr(0, 10), "Success=1\n") << answer;
  EXPECT_TRUE(waitForPort("127.0.0.1", extra, scaled(3000)));
  std::string stat = cliRequest(t.admin, "show stat\n");
  EXPECT_EQ(field(stat, "plain", "s1", "status"), "DRAIN") << "drain survives the reload";
  EXPECT_EQ(field(stat, "plain", "s2", "weight"), "5") << "a weight set live survives the reload";
  EXPECT_EQ(spread(t.plain, 4)["s2"], 4);
  EXPECT_EQ(cliRequest(t.admin, "show cli level\n"), "admin\n\n") << "the socket itself survives";

  writeFile(s.dir() + "/sluice.cfg", t.config("listen broken\n  bind 127.0.0.1:1\n  balance nonsense\n"));
  answer = cliRequest(t.admin, "reload\n", 10000);
  EXPECT_EQ(answer.substr(0, 10), "Success=0\n") << answer;
  EXPECT_NE(answer.find("sluice.cfg:"), std::string::npos) << answer;
  EXPECT_NE(answer.find("nonsense"), std::string::npos) << answer;
  EXPECT_EQ(spread(t.plain, 2)["s2"], 2) << "the old configuration still serves";
}


// "stats maxconn": idle runtime API clients cannot take the control thread
// hostage; beyond the limit a connection is closed at once, and traffic
// is not affected.
TEST(Admin, ConnectionLimitHoldsOffIdleClients) {
  Farm t;
  Sluice s(t.config(), {t.plain});
  ASSERT_TRUE(s.started()) << s.log();
  writeFile(s.dir() + "/sluice.cfg", [&] {
    std::string c = t.config();
    c.insert(c.find("  stats timeout"), "  stats maxconn 2\n");
    return c;
  }());
  ASSERT_EQ(cliRequest(t.admin, "reload\n", 10000).substr(0, 10), "Success=1\n");
  CliSession a(t.admin), b(t.admin);
  ASSERT_TRUE(a.connected() && b.connected());
  EXPECT_EQ(a.command("show cli level"), "admin\n\n");
  EXPECT_EQ(cliRequest(t.admin, "show cli level\n"), "") << "a third client is turned away";
  EXPECT_EQ(ask(t.plain), "s1");
  EXPECT_EQ(b.command("quit"), "");
  std::string answer;
  for (int i = 0; i < 50 && answer.empty(); ++i) {
    answer = cliRequest(t.admin, "show cli level\n");
    if (answer.empty()) usleep(20000);
  }
  EXPECT_EQ(answer, "admin\n\n") << "a slot freed is usable again";
}


// "show servers state" saved to a file before a restart is what the next
// process starts from, with load-server-state-from-file: forced
// maintenance, a weight set at run time, a server its checks found down.
TEST(ServerStateFile, RestartResumesFromTheSavedState) {
  TestServer a("a", TestServer::Mode::Identify);
  TestServer b("b", TestServer::Mode::Identify);
  TestServer c("c", TestServer::Mode::Identify);
  int port = freePort();
  std::string dir = makeTempDir("state");
  std::string sock = dir + "/admin.sock";
  auto config = [&](bool load) {
    return "global\n  log stdout format raw local0\n  stats socket " + sock + " level admin\n" +
           (load ? "  server-state-base " + dir + "\n  server-state-file saved\n" : std::string()) +
           "defaults\n  mode tcp\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n" +
           (load ? "  load-server-state-from-file global\n" : std::string()) +
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  balance roundrobin\n"
           "  server a 127.0.0.1:" + std::to_string(a.port()) + "\n"
           "  server b 127.0.0.1:" + std::to_string(b.port()) + " weight 10\n"
           "  server c 127.0.0.1:" + std::to_string(c.port()) + " check inter 30s\n";
  };
  std::string saved;
  {
    Sluice s(config(false), {port});
    ASSERT_TRUE(s.started()) << s.log();
    cliRequest(sock, "disable server l/a\n");
    cliRequest(sock, "set weight l/b 3\n");
    saved = cliRequest(sock, "show servers state\n");
  }
  // c was up; say its checks had found it down, as a file from a day when it was.
  size_t at = saved.find(" c 127.0.0.1 2 ");
  ASSERT_NE(at, std::string::npos) << saved;
  saved.replace(at, 15, " c 127.0.0.1 0 ");
  writeFile(dir + "/saved", saved);
  Sluice s(config(true), {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string st = cliRequest(sock, "show servers state l\n");
  EXPECT_NE(st.find(" a 127.0.0.1 0 1 "), std::string::npos) << "a in forced maintenance\n" << st;
  EXPECT_NE(st.find(" b 127.0.0.1 2 0 3 10 "), std::string::npos) << "b at weight 3 of 10\n" << st;
  EXPECT_NE(st.find(" c 127.0.0.1 0 0 "), std::string::npos) << "c down until its checks pass\n" << st;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(askServerName(port), "b");
}

TEST(ServerStateFile, MissingFileIsAWarning) {
  TestServer a("a", TestServer::Mode::Identify);
  int port = freePort();
  Sluice s("global\n  server-state-file /nonexistent/state\ndefaults\n  mode tcp\n  timeout connect 500ms\n"
           "  timeout client 5s\n  timeout server 5s\n  load-server-state-from-file global\n"
           "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  server a 127.0.0.1:" + std::to_string(a.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("cannot read the server state file '/nonexistent/state'")) << s.log();
  EXPECT_EQ(askServerName(port), "a");
}

// HAProxy 3.0's stats-file: "dump stats-file" writes the totals of what has
// a GUID; a restart with "stats-file" starts from them. Lines, values, GUIDs
// and sections that do not fit are skipped, as HAProxy skips them.
TEST(StatsFile, CountersGoOnAcrossARestart) {
  TestServer a("a", TestServer::Mode::Identify);
  int port = freePort();
  std::string dir = makeTempDir("statsfile");
  std::string sock = dir + "/admin.sock";
  auto config = [&](bool load) {
    return "global\n  stats socket " + sock + " level admin\n" +
           (load ? "  stats-file " + dir + "/saved\n" : std::string()) +
           "defaults\n  mode tcp\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n"
           "frontend fe\n  guid guid-fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend be\n"
           "backend be\n  guid guid-be\n  server a 127.0.0.1:" + std::to_string(a.port()) + " guid guid-a\n"
           "  server nog 127.0.0.1:" + std::to_string(a.port()) + " weight 0\n";
  };
  std::string dumped;
  {
    Sluice s(config(false), {port});
    ASSERT_TRUE(s.started()) << s.log();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(askServerName(port), "a");
    // The counters are the sessions' once they have ended.
    for (int i = 0; i < 100 && cliRequest(sock, "show stat typed\n").find("F.2.0.7.stot.1:MCP:u64:3\n") == std::string::npos;
         ++i) {
      usleep(20000);
    }
    dumped = cliRequest(sock, "dump stats-file\n");
  }
  EXPECT_TRUE(dumped.starts_with("#fe guid,stot,bin,bout,")) << dumped;
  EXPECT_NE(dumped.find("\nguid-fe,3,"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("\n#be guid,stot,"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("\nguid-be,3,"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("\nguid-a,3,"), std::string::npos) << dumped;
  EXPECT_EQ(dumped.find("nog"), std::string::npos) << "no GUID, not dumped\n" << dumped;
  // What a hand or another program may add: all of it skipped.
  writeFile(dir + "/saved", dumped + "guid-fe,999,\nguid-unknown,5,\n#other guid,stot,\nguid-a,777,\n"
                                     "#be guid,stot,\nguid-fe,555,\nguid-a,abc,\n");
  Sluice s(config(true), {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(askServerName(port), "a");
  std::string typed;
  for (int i = 0; i < 100; ++i) {
    typed = cliRequest(sock, "show stat typed\n");
    if (typed.find("S.3.1.7.stot.1:MCP:u64:4\n") != std::string::npos) break;
    usleep(20000);
  }
  EXPECT_NE(typed.find("F.2.0.0.pxname.1:KNS:str:fe\n"), std::string::npos) << typed;
  EXPECT_NE(typed.find("F.2.0.7.stot.1:MCP:u64:4\n"), std::string::npos) << "3 before, 1 now\n" << typed;
  EXPECT_NE(typed.find("B.3.0.7.stot.1:MCP:u64:4\n"), std::string::npos) << typed;
  EXPECT_NE(typed.find("S.3.1.7.stot.1:MCP:u64:4\n"), std::string::npos) << typed;
  EXPECT_NE(typed.find("S.3.2.7.stot.1:MCP:u64:0\n"), std::string::npos) << typed;
}

}  // namespace
}  // namespace sluice::testing
