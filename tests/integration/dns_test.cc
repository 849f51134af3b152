// SPDX-License-Identifier: Apache-2.0
// DNS service discovery against a real DNS server (Debian's dnsmasq on
// loopback) whose records the tests change while traffic flows: servers
// follow A records (an established session stays on the old address),
// server-template slots fill and empty, SRV records give ports and weights,
// and a name server that is silent or answers garbage leaves the servers as
// they were for the "hold" period, counted in "show resolvers".
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "ci.h"
#include "harness.h"

namespace sluice::testing {
namespace {

bool haveDnsmasq() { return runCommand("command -v dnsmasq >/dev/null || test -x /usr/sbin/dnsmasq") == 0; }

// dnsmasq on 127.0.0.1:<port>, authoritative for .test, its A records in a
// hosts file the test rewrites (SIGHUP re-reads it), SRV records fixed at start.
class Dnsmasq {
 public:
  Dnsmasq(const std::string& dir, int port, const std::string& hosts, const std::vector<std::string>& srv = {})
      : dir_(dir), port_(port) {
    writeFile(dir_ + "/hosts", hosts);
    std::vector<std::string> argv = {runCommand("test -x /usr/sbin/dnsmasq") == 0 ? "/usr/sbin/dnsmasq" : "dnsmasq",
                                     "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                                     "--port=" + std::to_string(port), "--listen-address=127.0.0.1",
                                     "--bind-interfaces", "--addn-hosts=" + dir_ + "/hosts", "--local=/test/",
                                     "--pid-file=", "--log-facility=-",
                                     std::string("--user=") + (geteuid() == 0 ? "root" : std::getenv("USER"))};
    for (const auto& s : srv) argv.push_back("--srv-host=" + s);
    p_ = std::make_unique<Process>(argv, dir_ + "/dnsmasq.log");
    ready_ = p_->waitForOutput("started", scaled(5000));
  }
  ~Dnsmasq() { p_->stop(); }
  bool ready() const { return ready_; }
  void setHosts(const std::string& hosts) {
    writeFile(dir_ + "/hosts", hosts);
    ::kill(p_->pid(), SIGHUP);
  }
  void stop() { p_->stop(); }
  std::string log() const { return p_->output(); }

 private:
  std::string dir_;
  int port_;
  std::unique_ptr<Process> p_;
  bool ready_ = false;
};

// A name server that answers every query with a DNS header and garbage.
class GarbageDns {
 public:
  GarbageDns() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    thread_ = std::thread([this] {
      while (!stop_) {
        unsigned char buf[1500];
        sockaddr_in from{};
        socklen_t fl = sizeof(from);
        ssize_t n = ::recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 12) continue;
        ++queries;
        // The query's id and question, "response, no error", five answers:
        // then noise where the answers should be.
        std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
        out[2] = static_cast<char>(0x81);
        out[3] = static_cast<char>(0x80);
        out[6] = 0;
        out[7] = 5;
        out[8] = out[9] = out[10] = out[11] = 0;  // no authority, no additional (EDNS) records
        size_t q = 12;
        while (q < out.size() && out[q] != 0) q += 1 + static_cast<unsigned char>(out[q]);
        out.resize(std::min(out.size(), q + 5));  // the name, its end, type and class
        for (int i = 0; i < 20; ++i) out.push_back(static_cast<char>(0xc0 + i));
        ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
      }
    });
  }
  ~GarbageDns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::atomic<int> queries{0};

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string state(const std::string& admin) { return cliRequest(admin, "show servers state be\n"); }

// The srv_addr of a server in "show servers state", or "".
std::string addrOf(const std::string& st, const std::string& server) {
  size_t p = st.find(" " + server + " ");
  if (p == std::string::npos) return "";
  p += server.size() + 2;
  return st.substr(p, st.find(' ', p) - p);
}

// The fields srv_admin_state, srv_uweight, srv_port of a server.
std::vector<std::string> fieldsOf(const std::string& st, const std::string& server) {
  size_t p = st.find(" " + server + " ");
  if (p == std::string::npos) return {};
  size_t start = st.rfind('\n', p) + 1;
  std::istringstream words(st.substr(start, st.find('\n', p) - start));
  std::vector<std::string> w;
  for (std::string x; words >> x;) w.push_back(x);
  if (w.size() < 19) return {};
  return {w[6], w[7], w[18]};
}

std::string config(const std::string& dir, int port, const std::string& resolvers, const std::string& servers,
                   int statsPort = 0) {
  return "global\n  log stdout format raw local0\n  stats socket " + dir + "/admin.sock level admin\n" +
         (statsPort ? "frontend stats\n  mode http\n  bind 127.0.0.1:" + std::to_string(statsPort) +
                          "\n  http-request use-service prometheus-exporter if { path /metrics }\n"
                    : std::string()) +
         "resolvers dns\n" + resolvers +
         "  timeout resolve 200ms\n  timeout retry 200ms\n"
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n"
         "frontend fe\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend be\n"
         "backend be\n" + servers;
}

TEST(Dns, ServersFollowARecordsAndTemplatesFillAndEmpty) {
  if (!haveDnsmasq()) SLUICE_SKIP_OR_FAIL("dnsmasq is needed (scripts/install-deps installs dnsmasq-base)");
  std::string dir = makeTempDir("dns-a");
  int dnsPort = freePort();
  int port = freePort();
  int backPort = freePort();
  TestServer oldOne("OLD", TestServer::Mode::Echo, nullptr, "127.0.0.2", backPort);
  TestServer newOne("NEW", TestServer::Mode::Identify, nullptr, "127.0.0.3", backPort);
  int stats = freePort();
  // Both families for v6.test: resolve-prefer (ipv6 by default) takes ::1.
  Dnsmasq dns(dir, dnsPort, "127.0.0.2 web.test\n127.0.0.4 tpl.test\n127.0.0.5 tpl.test\n::1 v6.test\n127.0.0.9 v6.test\n");
  ASSERT_TRUE(dns.ready()) << dns.log();
  Sluice s(config(dir, port, "  nameserver ns1 127.0.0.1:" + std::to_string(dnsPort) + "\n",
                  "  server web web.test:" + std::to_string(backPort) + " resolvers dns resolve-prefer ipv4\n"
                  "  server-template t 3 tpl.test:9 resolvers dns resolve-prefer ipv4 init-addr none weight 0\n"
                  "  server v6 v6.test:9 resolvers dns init-addr none weight 0\n",
                  stats),
           {port, stats});
  ASSERT_TRUE(s.started()) << s.log();
  const std::string admin = dir + "/admin.sock";
  ASSERT_TRUE(eventually([&] { return addrOf(state(admin), "web") == "127.0.0.2"; }, 5000)) << state(admin);
  // Two addresses for three template slots: the third has none.
  ASSERT_TRUE(eventually([&] {
    std::string st = state(admin);
    return addrOf(st, "t1") == "127.0.0.4" && addrOf(st, "t2") == "127.0.0.5" && fieldsOf(st, "t3").size() == 3 &&
           fieldsOf(st, "t3")[0] == "32";
  }, 5000)) << state(admin);
  EXPECT_TRUE(eventually([&] { return addrOf(state(admin), "v6") == "::1"; }, 5000)) << state(admin);
  const std::string metrics = httpBody(httpRequest(stats, "GET", "/metrics"));
  EXPECT_NE(metrics.find("sluice_resolver_answers_total{resolvers=\"dns\",nameserver=\"ns1\",result=\"valid\"}"),
            std::string::npos) << metrics.substr(0, 300);
  EXPECT_NE(metrics.find("sluice_resolver_updates_total{resolvers=\"dns\",nameserver=\"ns1\"}"), std::string::npos);
  EXPECT_NE(cliRequest(admin, "show stat\n").find("be,t3,"), std::string::npos);
  EXPECT_NE(cliRequest(admin, "show stat\n").find("MAINT (resolution)"), std::string::npos);

  // A session on the current address.
  int held = connectTcp("127.0.0.1", port);
  ASSERT_GE(held, 0);
  ASSERT_TRUE(sendAll(held, "ping"));
  EXPECT_EQ(recvAll(held, 500, 4), "ping");

  // The record changes: new connections go to the new address, the held
  // session stays where it is; one template address goes away.
  dns.setHosts("127.0.0.3 web.test\n127.0.0.5 tpl.test\n");
  ASSERT_TRUE(eventually([&] { return askServerName(port) == "NEW"; }, 5000)) << state(admin);
  ASSERT_TRUE(sendAll(held, "pong"));
  EXPECT_EQ(recvAll(held, 500, 4), "pong");
  ::close(held);
  std::string st = state(admin);
  EXPECT_EQ(addrOf(st, "t2"), "127.0.0.5") << st;  // kept: still listed
  EXPECT_EQ(fieldsOf(st, "t1")[0], "32") << st;     // its address is gone
  EXPECT_NE(cliRequest(admin, "show resolvers\n").find(" nameserver ns1:"), std::string::npos);
  dns.stop();
}

// A name whose answer changes every round moves its server in place: no
// new runtime, no listener swapped (issue 22). A held session stays.
TEST(Dns, ChangingAnswersMoveServersInPlace) {
  if (!haveDnsmasq()) SLUICE_SKIP_OR_FAIL("dnsmasq is needed (scripts/install-deps installs dnsmasq-base)");
  std::string dir = makeTempDir("dns-inplace");
  int dnsPort = freePort(), port = freePort(), backPort = freePort();
  TestServer one("ONE", TestServer::Mode::Identify, nullptr, "127.0.0.2", backPort);
  TestServer two("TWO", TestServer::Mode::Identify, nullptr, "127.0.0.3", backPort);
  Dnsmasq dns(dir, dnsPort, "127.0.0.2 web.test\n");
  ASSERT_TRUE(dns.ready()) << dns.log();
  Sluice s(config(dir, port, "  nameserver ns1 127.0.0.1:" + std::to_string(dnsPort) + "\n",
                  "  server web web.test:" + std::to_string(backPort) + " resolvers dns resolve-prefer ipv4\n"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  const std::string admin = dir + "/admin.sock";
  auto info = [&](const std::string& key) {
    std::string text = cliRequest(admin, "show info\n");
    size_t at = text.find("\n" + key + ": ");
    return at == std::string::npos ? -1LL : std::atoll(text.c_str() + at + key.size() + 3);
  };
  ASSERT_TRUE(eventually([&] { return askServerName(port) == "ONE"; }, 5000)) << state(admin);
  for (int round = 0; round < 4; ++round) {
    const bool toTwo = round % 2 == 0;
    dns.setHosts(toTwo ? "127.0.0.3 web.test\n" : "127.0.0.2 web.test\n");
    ASSERT_TRUE(eventually([&] { return askServerName(port) == (toTwo ? "TWO" : "ONE"); }, 5000))
        << "round " << round << "\n" << state(admin);
  }
  EXPECT_EQ(info("RuntimeRebuilds"), 0) << cliRequest(admin, "show info\n");
  EXPECT_GE(info("InPlaceServerChanges"), 4) << cliRequest(admin, "show info\n");
  EXPECT_EQ(s.logLines("configuration reloaded").size(), 0u);
}

// "set server <b>/<s> fqdn <name>": the server's resolvers look the new
// name up and traffic follows it; a server without resolvers refuses.
TEST(Dns, SetServerFqdnFollowsTheNewName) {
  if (!haveDnsmasq()) SLUICE_SKIP_OR_FAIL("dnsmasq is needed (scripts/install-deps installs dnsmasq-base)");
  std::string dir = makeTempDir("dns-fqdn");
  int dnsPort = freePort(), port = freePort(), backPort = freePort();
  TestServer one("ONE", TestServer::Mode::Identify, nullptr, "127.0.0.2", backPort);
  TestServer two("TWO", TestServer::Mode::Identify, nullptr, "127.0.0.3", backPort);
  Dnsmasq dns(dir, dnsPort, "127.0.0.2 web.test\n127.0.0.3 other.test\n");
  ASSERT_TRUE(dns.ready()) << dns.log();
  Sluice s(config(dir, port, "  nameserver ns1 127.0.0.1:" + std::to_string(dnsPort) + "\n",
                  "  server web web.test:" + std::to_string(backPort) + " resolvers dns resolve-prefer ipv4\n"
                  "  server fixed 127.0.0.9:" + std::to_string(backPort) + " disabled\n"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  const std::string admin = dir + "/admin.sock";
  ASSERT_TRUE(eventually([&] { return askServerName(port) == "ONE"; }, 5000)) << state(admin);
  EXPECT_EQ(cliRequest(admin, "set server be/web fqdn other.test\n"),
            "be/web changed its FQDN to 'other.test' by 'stats socket command'\n");
  EXPECT_TRUE(eventually([&] { return askServerName(port) == "TWO"; }, 5000)) << state(admin);
  EXPECT_NE(cliRequest(admin, "set server be/fixed fqdn other.test\n").find("no resolution is configured"),
            std::string::npos);
  EXPECT_NE(cliRequest(admin, "set server be/web fqdn bad/name\n").find("invalid FQDN"), std::string::npos);
}

TEST(Dns, SrvRecordsGivePortsAndWeights) {
  if (!haveDnsmasq()) SLUICE_SKIP_OR_FAIL("dnsmasq is needed (scripts/install-deps installs dnsmasq-base)");
  std::string dir = makeTempDir("dns-srv");
  int dnsPort = freePort();
  int port = freePort();
  TestServer a("A", TestServer::Mode::Identify);
  TestServer b("B", TestServer::Mode::Identify);
  Dnsmasq dns(dir, dnsPort, "127.0.0.1 a.svc.test\n127.0.0.1 b.svc.test\n",
              {"_app._tcp.svc.test,a.svc.test," + std::to_string(a.port()) + ",0,512",
               "_app._tcp.svc.test,b.svc.test," + std::to_string(b.port()) + ",0,256"});
  ASSERT_TRUE(dns.ready()) << dns.log();
  Sluice s(config(dir, port, "  nameserver ns1 127.0.0.1:" + std::to_string(dnsPort) + "\n",
                  "  balance roundrobin\n"
                  "  server-template s 3 _app._tcp.svc.test resolvers dns resolve-prefer ipv4 init-addr none\n"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  const std::string admin = dir + "/admin.sock";
  // weight = SRV weight / 256 + 1: 512 -> 3, 256 -> 2.
  auto hasPortWeight = [&](const std::string& st, int p, const std::string& w) {
    for (const char* srv : {"s1", "s2", "s3"}) {
      auto f = fieldsOf(st, srv);
      if (f.size() == 3 && f[0] == "0" && f[2] == std::to_string(p) && f[1] == w) return true;
    }
    return false;
  };
  ASSERT_TRUE(eventually([&] {
    std::string st = state(admin);
    return hasPortWeight(st, a.port(), "3") && hasPortWeight(st, b.port(), "2");
  }, 5000)) << state(admin);
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[askServerName(port)];
  EXPECT_EQ(seen["A"], 6);
  EXPECT_EQ(seen["B"], 4);
  EXPECT_NE(state(admin).find("_app._tcp.svc.test"), std::string::npos);  // srvrecord column
}

// A name server that never answers, or answers garbage, changes nothing
// for "hold"; then the servers lose their address.
TEST(Dns, SilentOrGarbageResolversLeaveServersAsTheyWereForHold) {
  if (!haveDnsmasq()) SLUICE_SKIP_OR_FAIL("dnsmasq is needed (scripts/install-deps installs dnsmasq-base)");
  std::string dir = makeTempDir("dns-bad");
  int dnsPort = freePort();
  int port = freePort();
  TestServer web("W", TestServer::Mode::Identify, nullptr, "127.0.0.2");
  GarbageDns garbage;
  Dnsmasq dns(dir, dnsPort, "127.0.0.2 web.test\n");
  ASSERT_TRUE(dns.ready()) << dns.log();
  Sluice s(config(dir, port,
                  "  nameserver good 127.0.0.1:" + std::to_string(dnsPort) + "\n"
                  "  nameserver bad 127.0.0.1:" + std::to_string(garbage.port()) + "\n"
                  "  hold timeout 5s\n  hold other 5s\n  hold refused 5s\n  resolve_retries 1\n",
                  "  server web web.test:" + std::to_string(web.port()) + " resolvers dns resolve-prefer ipv4\n"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  const std::string admin = dir + "/admin.sock";
  ASSERT_TRUE(eventually([&] { return askServerName(port) == "W"; }, 5000)) << state(admin);
  // The good one answers first; the garbage is counted, not used.
  ASSERT_TRUE(eventually([&] { return garbage.queries > 2; }, 5000));
  std::string counters = cliRequest(admin, "show resolvers dns\n");
  EXPECT_NE(counters.find(" nameserver bad:"), std::string::npos) << counters;
  size_t bad = counters.find(" nameserver bad:");
  size_t invalid = counters.find("invalid:", bad);
  ASSERT_NE(invalid, std::string::npos);
  EXPECT_NE(counters.substr(invalid, counters.find('\n', invalid) - invalid), "invalid:     0") << counters;
  EXPECT_EQ(cliRequest(admin, "show resolvers nope\n"), "Can't find resolvers section.\n");

  // The good name server goes away: within "hold" (5 s) nothing changes.
  // The look comes 1 s after (unscaled: a slower machine must still look
  // within the hold), and the test says how long it really took.
  const auto stopped = std::chrono::steady_clock::now();
  dns.stop();
  ::usleep(1000 * 1000);
  EXPECT_EQ(addrOf(state(admin), "web"), "127.0.0.2")
      << "looked " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stopped).count()
      << " ms after the name server stopped; hold is 5000 ms";
  EXPECT_EQ(askServerName(port), "W");
  // After it, the server has no address and takes no traffic.
  EXPECT_TRUE(eventually([&] { return fieldsOf(state(admin), "web").size() == 3 && fieldsOf(state(admin), "web")[0] == "32"; },
                         12000)) << state(admin);
  EXPECT_NE(askServerName(port), "W");
}

}  // namespace
}  // namespace sluice::testing
