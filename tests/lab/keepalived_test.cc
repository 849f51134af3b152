// SPDX-License-Identifier: Apache-2.0
// Failover with keepalived (issue 14): two namespaces on one bridge each run
// sluice and Debian's keepalived, which holds a virtual address (VRRP,
// advert_int 1) and checks its sluice through the runtime API
// (track_script: the backend is UP). Checked: the master serves the virtual
// address; when its sluice is killed the address moves to the other within
// the VRRP bound and new clients are served there; a connection through
// the dead one is lost (its TCP state died with it) while one through the
// survivor is untouched; a sluice that is alive but has no healthy server
// gives the address up too; and a master cut off from the network (its
// link down) loses the address to the other.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>

#include "ci.h"
#include "harness.h"
#include "netlab.h"
#include "scale_out_lab.h"

namespace sluice::testing::lab {
namespace {

std::string answerFrom(const Netns& client, const std::string& addr, int port) { return askIn(client, addr, port); }

// A connection kept open through `addr` to an echo server: echo() proves it
// still carries bytes.
struct HeldEcho {
  int fd = -1;
  HeldEcho(const Netns& client, const std::string& addr, int port) {
    fd = socketIn(client);
    sockaddr_in d = inetAddress(addr, port);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&d), sizeof(d)) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~HeldEcho() {
    if (fd >= 0) ::close(fd);
  }
  bool echo(const std::string& text) {
    if (fd < 0 || ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) return false;
    std::string got;
    char buf[256];
    while (got.size() < text.size()) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
    return got == text;
  }
};

// An echo server in a namespace (for the held connections).
class NsEcho {
 public:
  NsEcho(const Netns& ns, const std::string& addr, int port) {
    fd_ = listenIn(ns, addr, port);
    ok_ = fd_ >= 0;
    thread_ = std::thread([this] {
      std::vector<std::thread> conns;
      while (!stop_) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        conns.emplace_back([this, c] {
          timeval t{0, 100000};
          ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
          char buf[4096];
          while (!stop_) {
            ssize_t n = ::recv(c, buf, sizeof(buf), 0);
            if (n == 0) break;
            if (n < 0) continue;
            (void)::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
          }
          ::close(c);
        });
      }
      for (auto& t : conns) t.join();
    });
  }
  ~NsEcho() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(Keepalived, VirtualAddressFollowsAHealthySluice) {
  std::string why = unavailableReason();
  if (!why.empty()) SLUICE_SKIP_OR_FAIL("the network lab " + why);
  if (runCommand("test -x /usr/sbin/keepalived") != 0) {
    SLUICE_SKIP_OR_FAIL("keepalived is needed (scripts/install-deps installs it)");
  }
  const std::string I = ip();
  const std::string tag = "ka" + std::to_string(getpid() % 100000);
  Netns br(tag + "br"), c(tag + "c"), a(tag + "a"), b(tag + "b"), s(tag + "s");
  ASSERT_TRUE(br.ok() && c.ok() && a.ok() && b.ok() && s.ok());
  ASSERT_TRUE(sh(I + " -n " + br.name() + " link add br0 type bridge") && sh(I + " -n " + br.name() + " link set br0 up"));
  auto join = [&](const Netns& n, const std::string& dev, const std::string& addr) {
    const std::string peer = "br-" + n.name().substr(tag.size());
    return sh(I + " link add " + dev + " netns " + n.name() + " type veth peer name " + peer + " netns " + br.name()) &&
           sh(I + " -n " + br.name() + " link set " + peer + " master br0") &&
           sh(I + " -n " + br.name() + " link set " + peer + " up") &&
           sh(I + " -n " + n.name() + " addr add " + addr + "/24 dev " + dev) &&
           sh(I + " -n " + n.name() + " link set " + dev + " up");
  };
  ASSERT_TRUE(join(c, "eth0", "198.18.50.10"));
  ASSERT_TRUE(join(a, "eth0", "198.18.50.11"));
  ASSERT_TRUE(join(b, "eth0", "198.18.50.12"));
  ASSERT_TRUE(join(s, "eth0", "198.18.50.20"));
  ASSERT_TRUE(sh(I + " -n " + s.name() + " addr add 198.18.50.21/24 dev eth0"));
  ASSERT_TRUE(sh(I + " -n " + s.name() + " addr add 198.18.50.22/24 dev eth0"));
  // Each instance has a server of its own (so that one can fail alone) and
  // an echo server for the held connections.
  auto serverA = std::make_unique<NsServer>(s, "198.18.50.21", 8000, "sa");
  NsServer serverB(s, "198.18.50.22", 8000, "sb");
  NsEcho echo(s, "198.18.50.20", 7000);
  ASSERT_TRUE(serverA->ok() && serverB.ok() && echo.ok());

  std::string dir = makeTempDir("keepalived");
  ::chmod(dir.c_str(), 0755);
  auto setup = [&](const std::string& self, const std::string& server, int priority) {
    writeFile(dir + "/" + self + ".cfg",
              "global\n  stats socket " + dir + "/" + self + ".sock level admin\n"
              "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n"
              "frontend fe\n  bind :443\n  default_backend be\n"
              "frontend held\n  bind :7000\n  default_backend echo\n"
              "backend be\n  server s " + server + ":8000 check inter 200 fall 1 rise 1\n"
              "backend echo\n  server e 198.18.50.20:7000\n");
    // The check keepalived runs: sluice answers and its backend is UP.
    writeFile(dir + "/" + self + "-check.sh",
              "#!/bin/sh\necho 'show stat' | socat -T1 - UNIX-CONNECT:" + dir + "/" + self +
                  ".sock | awk -F, '$1==\"be\" && $2==\"BACKEND\" && $18==\"UP\" {ok=1} END {exit !ok}'\n");
    ::chmod((dir + "/" + self + "-check.sh").c_str(), 0755);
    writeFile(dir + "/" + self + "-keepalived.conf",
              "global_defs {\n  router_id " + self + "\n  script_user root\n}\n"
              "vrrp_script chk_sluice {\n  script \"" + dir + "/" + self + "-check.sh\"\n  interval 1\n  fall 1\n  rise 1\n}\n"
              "vrrp_instance VI {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority " +
                  std::to_string(priority) + "\n  advert_int 1\n"
              "  virtual_ipaddress {\n    198.18.50.100/24\n  }\n  track_script {\n    chk_sluice\n  }\n}\n");
  };
  setup("a", "198.18.50.21", 150);
  setup("b", "198.18.50.22", 100);
  auto startSluice = [&](const Netns& n, const std::string& self) {
    return std::make_unique<Process>(std::vector<std::string>{I, "netns", "exec", n.name(), binaryPath(), "-db", "-f",
                                                              dir + "/" + self + ".cfg"},
                                     dir + "/" + self + "-sluice.log");
  };
  auto startKeepalived = [&](const Netns& n, const std::string& self) {
    return std::make_unique<Process>(
        std::vector<std::string>{I, "netns", "exec", n.name(), "/usr/sbin/keepalived", "-n", "-l", "-P", "-f",
                                 dir + "/" + self + "-keepalived.conf", "-p", dir + "/" + self + "-k.pid", "-r",
                                 dir + "/" + self + "-v.pid"},
        dir + "/" + self + "-keepalived.log");
  };
  auto sluiceA = startSluice(a, "a");
  auto sluiceB = startSluice(b, "b");
  auto kaA = startKeepalived(a, "a");
  auto kaB = startKeepalived(b, "b");
  auto holder = [&]() -> std::string {
    std::string out;
    if (a.run("ip -4 addr show dev eth0", &out) == 0 && out.find("198.18.50.100") != std::string::npos) return "a";
    if (b.run("ip -4 addr show dev eth0", &out) == 0 && out.find("198.18.50.100") != std::string::npos) return "b";
    return "";
  };
  ASSERT_TRUE(eventually([&] { return holder() == "a"; }, 15000)) << kaA->output() << kaB->output();
  ASSERT_TRUE(eventually([&] { return answerFrom(c, "198.18.50.100", 443).find("server=sa") != std::string::npos; }, 5000));

  // Connections held through the master (by the virtual address) and
  // through the backup (by its own address).
  HeldEcho throughA(c, "198.18.50.100", 7000);
  HeldEcho throughB(c, "198.18.50.12", 7000);
  ASSERT_TRUE(throughA.echo("one") && throughB.echo("one"));

  // The master's sluice dies: the address moves to b, new clients are served there.
  const auto killed = std::chrono::steady_clock::now();
  ::kill(sluiceA->pid(), SIGKILL);
  ASSERT_TRUE(eventually([&] { return answerFrom(c, "198.18.50.100", 443).find("server=sb") != std::string::npos; }, 15000))
      << kaA->output() << kaB->output();
  const auto failover = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count();
  std::cout << "[ MEASURED ] sluice killed on the master: the virtual address served by the backup after " << failover
            << " ms (track_script interval 1 s, advert_int 1 s)\n";
  EXPECT_EQ(holder(), "b");
  EXPECT_FALSE(throughA.echo("two")) << "a connection through the dead instance cannot survive it";
  EXPECT_TRUE(throughB.echo("two")) << "a connection through the survivor was touched";

  // a comes back: it takes the address again (higher priority).
  sluiceA = startSluice(a, "a");
  ASSERT_TRUE(eventually([&] { return holder() == "a"; }, 15000)) << kaA->output();
  // Alive but without a healthy server: a gives the address up.
  serverA.reset();
  ASSERT_TRUE(eventually([&] { return holder() == "b"; }, 15000)) << kaA->output();
  EXPECT_NE(answerFrom(c, "198.18.50.100", 443).find("server=sb"), std::string::npos);
  serverA = std::make_unique<NsServer>(s, "198.18.50.21", 8000, "sa");
  ASSERT_TRUE(eventually([&] { return holder() == "a"; }, 15000)) << kaA->output();

  // The master's whole namespace cut off: b takes over when the adverts stop.
  const auto cut = std::chrono::steady_clock::now();
  ASSERT_TRUE(sh(I + " -n " + a.name() + " link set eth0 down"));
  ASSERT_TRUE(eventually([&] { return answerFrom(c, "198.18.50.100", 443).find("server=sb") != std::string::npos; }, 15000));
  const auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - cut).count();
  std::cout << "[ MEASURED ] master cut off: the backup served the virtual address after " << takeover
            << " ms (VRRP's bound: 3 x advert_int + skew, about 3.6 s)\n";
  EXPECT_LT(takeover, 8000);

  kaA->stop();
  kaB->stop();
  sluiceA->stop();
  sluiceB->stop();
}

}  // namespace
}  // namespace sluice::testing::lab
