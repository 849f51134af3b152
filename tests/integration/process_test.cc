// SPDX-License-Identifier: Apache-2.0
// The life of the process as systemd and operators drive it: SIGUSR1 stops
// listening and lets sessions finish (bounded by hard-stop-after), SIGTERM
// stops now, "-sf" hands the ports over to a new process, -Ws tells systemd
// READY/RELOADING/STOPPING over $NOTIFY_SOCKET, -p writes the pid file, and
// a reload can bind a port below 1024 after privileges were dropped.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

namespace sluice::testing {
namespace {

std::string config(int port, int server, const std::string& global = "") {
  return "global\n  log stdout format raw local0\n  nbthread 2\n" + global +
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n"
         "listen echo\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
         "  server e 127.0.0.1:" + std::to_string(server) + "\n";
}

bool echoes(int fd, const std::string& text) {
  if (!sendAll(fd, text)) return false;
  std::string got;
  for (int i = 0; i < 100 && got.size() < text.size(); ++i) got += recvAll(fd, scaled(50), text.size() - got.size());
  return got == text;
}

TEST(Process, SoftStopLetsSessionsFinish) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  Sluice s(config(port, echo.port()), {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(echoes(fd, "before"));

  kill(s.process().pid(), SIGUSR1);
  ASSERT_TRUE(s.waitForLog("soft stop")) << s.log();
  // No new connections...
  bool refused = false;
  for (int i = 0; i < 50 && !refused; ++i) {
    int probe = connectTcp("127.0.0.1", port, "", 300);
    refused = probe < 0;
    if (probe >= 0) close(probe);
    if (!refused) usleep(20000);
  }
  EXPECT_TRUE(refused) << "the listener is closed during a soft stop";
  // ...but the one in flight still works, and the process waits for it.
  EXPECT_TRUE(echoes(fd, "during"));
  EXPECT_TRUE(s.process().running());
  close(fd);
  EXPECT_EQ(s.process().wait(scaled(5000)), 0) << s.log();
}

TEST(Process, HardStopAfterEndsStragglers) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  Sluice s(config(port, echo.port(), "  hard-stop-after 1s\n"), {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_TRUE(echoes(fd, "x"));
  kill(s.process().pid(), SIGUSR1);
  EXPECT_EQ(s.process().wait(scaled(4000)), 0) << s.log();
  EXPECT_NE(s.log().find("hard-stop-after reached"), std::string::npos) << s.log();
  EXPECT_TRUE(waitClosed(fd, scaled(1000)));
  close(fd);
}

TEST(Process, SigtermStopsNowAndLogsTheKill) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  Sluice s(config(port, echo.port()), {port});
  ASSERT_TRUE(s.started()) << s.log();
  int fd = connectTcp("127.0.0.1", port);
  ASSERT_TRUE(echoes(fd, "x"));
  EXPECT_EQ(s.process().stop(SIGTERM, scaled(3000)), 0);
  EXPECT_TRUE(waitClosed(fd, scaled(1000)));
  close(fd);
  EXPECT_EQ(countStates(s.log(), "KD"), 1u) << s.log();
}

// HAProxy's classic reload: a new process binds the same ports (SO_REUSEPORT)
// and asks the old one to finish with -sf; no connection is refused.
TEST(Process, SoftFinishHandsPortsToANewProcess) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  std::string dir = makeTempDir("sf");
  Sluice old(config(port, echo.port()), {port});
  ASSERT_TRUE(old.started()) << old.log();
  int held = connectTcp("127.0.0.1", port);
  ASSERT_TRUE(echoes(held, "old"));
  Sluice next(config(port, echo.port()), {port}, {"-sf", std::to_string(old.process().pid())});
  ASSERT_TRUE(next.started()) << next.log();
  ASSERT_TRUE(old.waitForLog("soft stop")) << old.log();
  for (int i = 0; i < 20; ++i) {
    int fd = connectTcp("127.0.0.1", port);
    ASSERT_GE(fd, 0) << "connection " << i << " refused during the hand-over";
    EXPECT_TRUE(echoes(fd, "new"));
    close(fd);
  }
  EXPECT_TRUE(old.process().running()) << "the old process waits for its session";
  EXPECT_TRUE(echoes(held, "still"));
  close(held);
  EXPECT_EQ(old.process().wait(scaled(5000)), 0);
}

TEST(Process, PidFile) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  std::string pidfile = makeTempDir("pid") + "/sluice.pid";
  Sluice s(config(port, echo.port()), {port}, {"-p", pidfile});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(readFile(pidfile), std::to_string(s.process().pid()) + "\n");
}

// systemd's notify protocol, received the way systemd does: datagrams on the
// socket named by $NOTIFY_SOCKET.
TEST(Process, TellsSystemdReadyReloadingStopping) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  std::string sock = makeTempDir("notify") + "/notify.sock";
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, sock.c_str(), sock.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
  auto receive = [&](int timeoutMs) {
    timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };
  {
    Sluice s(config(port, echo.port()), {port}, {"-Ws"}, 0, "127.0.0.1", {{"NOTIFY_SOCKET", sock}});
    ASSERT_TRUE(s.started()) << s.log();
    EXPECT_EQ(receive(scaled(3000)), "READY=1");
    kill(s.process().pid(), SIGHUP);
    std::string reloading = receive(scaled(3000));
    EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading;
    EXPECT_EQ(receive(scaled(3000)), "READY=1");
    // As HAProxy's master: 128 + SIGTERM, which the unit lists in SuccessExitStatus.
    EXPECT_EQ(s.process().stop(SIGTERM, scaled(3000)), 128 + SIGTERM);
    EXPECT_EQ(receive(scaled(3000)), "STOPPING=1");
    s.expectCleanExit(false);
  }
  close(fd);
}

// After "user nobody", a reload that adds a port below 1024 still binds it:
// CAP_NET_BIND_SERVICE is kept (permitted, raised only to bind).
TEST(Process, ReloadBindsAPrivilegedPortAfterDroppingRoot) {
  if (geteuid() != 0) SLUICE_SKIP_OR_FAIL("needs root to drop privileges");
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  int low = 0;
  for (int p = 1000; p < 1024 && !low; ++p) {
    int probe = connectTcp("127.0.0.1", p, "", 100);
    if (probe < 0) low = p;
    else close(probe);
  }
  ASSERT_NE(low, 0);
  std::string base = config(port, echo.port(), "  user nobody\n");
  Sluice s(base, {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string status = readFile("/proc/" + std::to_string(s.process().pid()) + "/status");
  EXPECT_NE(status.find("Uid:\t65534\t65534\t65534"), std::string::npos) << status;
  writeFile(s.dir() + "/sluice.cfg", base + "listen low\n  bind 127.0.0.1:" + std::to_string(low) +
                                         "\n  server e 127.0.0.1:" + std::to_string(echo.port()) + "\n");
  kill(s.process().pid(), SIGHUP);
  ASSERT_TRUE(s.waitForLog("configuration reloaded")) << s.log();
  int fd = connectTcp("127.0.0.1", low);
  ASSERT_GE(fd, 0) << s.log();
  EXPECT_TRUE(echoes(fd, "low"));
  close(fd);
  // The capability is not left raised.
  status = readFile("/proc/" + std::to_string(s.process().pid()) + "/status");
  EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
}


// Nothing listens where the file does not say: the frontend's port, the
// stats page's port and the runtime API's UNIX socket, nothing else (no
// default port, no UDP socket, no listener on another address).
TEST(Process, ListensOnlyWhereTheFileSays) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  int statsPort = freePort();
  std::string dir = makeTempDir("listen");
  std::string sock = dir + "/admin.sock";
  Sluice s(config(port, echo.port(), "  stats socket " + sock + " mode 600 level admin\n") +
               "listen stats\n  bind 127.0.0.1:" + std::to_string(statsPort) + "\n  mode http\n"
               "  stats enable\n  stats uri /stats\n",
           {port, statsPort});
  ASSERT_TRUE(s.started()) << s.log();
  std::string out;
  ASSERT_EQ(runCommand("ss -H -lnp -A inet,unix", &out), 0);
  std::string tag = "pid=" + std::to_string(s.process().pid()) + ",";
  std::vector<std::string> mine;
  size_t at = 0;
  while (at < out.size()) {
    size_t eol = out.find('\n', at);
    std::string line = out.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    at = eol == std::string::npos ? out.size() : eol + 1;
    if (line.find(tag) != std::string::npos) mine.push_back(line);
  }
  size_t tcp = 0, unixSockets = 0;
  for (const std::string& l : mine) {
    if (l.rfind("tcp", 0) == 0) {
      ++tcp;
      bool expected = l.find("127.0.0.1:" + std::to_string(port) + " ") != std::string::npos ||
                      l.find("127.0.0.1:" + std::to_string(statsPort) + " ") != std::string::npos;
      EXPECT_TRUE(expected) << "unexpected listener: " << l;
    } else if (l.rfind("u_str", 0) == 0 || l.rfind("u_seq", 0) == 0 || l.rfind("u_dgr", 0) == 0) {
      ++unixSockets;
      EXPECT_NE(l.find(sock), std::string::npos) << "unexpected UNIX socket: " << l;
    } else {
      ADD_FAILURE() << "unexpected socket: " << l;
    }
  }
  // One listening socket per thread on each port (SO_REUSEPORT), shown once
  // per descriptor; at least the two ports.
  EXPECT_GE(tcp, 2u);
  EXPECT_EQ(unixSockets, 1u) << out;
}


// How many listening sockets `ss` shows on `port`, and how many of
// sluice's descriptors point at them.
std::pair<int, int> listenersOn(int port, pid_t pid) {
  std::string out;
  runCommand("ss -H -ltnp 'sport = :" + std::to_string(port) + "'", &out);
  int sockets = 0, fds = 0;
  std::string tag = "pid=" + std::to_string(pid) + ",fd=";
  size_t at = 0;
  while ((at = out.find("LISTEN", at)) != std::string::npos) {
    ++sockets;
    ++at;
  }
  for (at = 0; (at = out.find(tag, at)) != std::string::npos; ++at) ++fds;
  return {sockets, fds};
}

// Default: one socket per thread (SO_REUSEPORT). With "noreuseport": one
// socket that every thread watches (before, only the first thread did).
TEST(Process, ListeningSocketsPerThreadOrShared) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  {
    Sluice s(config(port, echo.port()), {port});
    ASSERT_TRUE(s.started()) << s.log();
    auto [sockets, fds] = listenersOn(port, s.process().pid());
    EXPECT_EQ(sockets, 2) << "one per thread";
  }
  int port2 = freePort();
  Sluice s(config(port2, echo.port(), "  noreuseport\n"), {port2});
  ASSERT_TRUE(s.started()) << s.log();
  auto [sockets, fds] = listenersOn(port2, s.process().pid());
  EXPECT_EQ(sockets, 1);
  EXPECT_EQ(fds, 3) << "kept for reloads, plus one per thread";
  int fd = connectTcp("127.0.0.1", port2);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(echoes(fd, "shared"));
  close(fd);
}


// Two connections at once go to two threads, even when the kernel's
// SO_REUSEPORT hash gives both to the same listening socket: the thread
// that accepts the second passes it to the idle one.
TEST(Process, ConcurrentConnectionsSpreadOverThreads) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  std::string dir = makeTempDir("spread");
  std::string sock = dir + "/admin.sock";
  Sluice s(config(port, echo.port(), "  stats socket " + sock + " level admin\n"), {port});
  ASSERT_TRUE(s.started()) << s.log();
  for (int trial = 0; trial < 6; ++trial) {
    int a = connectTcp("127.0.0.1", port);
    int b = connectTcp("127.0.0.1", port);
    ASSERT_TRUE(echoes(a, "a") && echoes(b, "b"));
    std::string sess = cliRequest(sock, "show sess\n");
    bool t0 = sess.find("thread=0") != std::string::npos;
    bool t1 = sess.find("thread=1") != std::string::npos;
    EXPECT_TRUE(t0 && t1) << "trial " << trial << ":\n" << sess;
    close(a);
    close(b);
    for (int i = 0; i < 50 && cliRequest(sock, "show sess\n").find("thread=") != std::string::npos; ++i) {
      usleep(20 * 1000);
    }
  }
}

// cpu-map auto:1/1-2 0-1 binds thread 1 to CPU 0 and thread 2 to CPU 1, and
// with tune.listener.cpu-steering on a connection goes to the thread of the
// CPU that received it: a client
// pinned to one CPU is served by that CPU's thread (on loopback the SYN is
// handled on the sender's CPU), every time, whatever the kernel's hash says.
TEST(Process, CpuMapBindsThreadsAndSteersConnections) {
  std::vector<uint32_t> cpus;
  {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    for (uint32_t c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.size() < 2) {
    if (std::getenv("CI")) FAIL() << "this test needs two CPUs to bind two threads to";
    GTEST_SKIP() << "needs two CPUs";
  }
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  std::string dir = makeTempDir("cpumap");
  std::string sock = dir + "/admin.sock";
  std::string a = std::to_string(cpus[0]), b = std::to_string(cpus[1]);
  Sluice s(config(port, echo.port(), "  cpu-map auto:1/1-2 " + a + "," + b + "\n  tune.listener.cpu-steering on\n  stats socket " + sock +
                                         " level admin\n"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("thread 1 bound to CPU " + a)) << s.log();
  EXPECT_TRUE(s.waitForLog("thread 2 bound to CPU " + b)) << s.log();
  EXPECT_TRUE(s.waitForLog("new connections go to the thread of the CPU that received them")) << s.log();

  // The workers' own affinity, from /proc: one thread on each CPU.
  std::string lists;
  std::string tasks = "/proc/" + std::to_string(s.process().pid()) + "/task";
  DIR* taskDir = opendir(tasks.c_str());
  ASSERT_NE(taskDir, nullptr);
  while (dirent* e = readdir(taskDir)) {
    if (e->d_name[0] == '.') continue;
    std::string status = readFile(tasks + "/" + e->d_name + "/status");
    size_t at = status.find("Cpus_allowed_list:");
    if (at != std::string::npos) lists += status.substr(at + 18, status.find('\n', at) - at - 18) + ";";
  }
  closedir(taskDir);
  EXPECT_NE(lists.find("\t" + a + ";"), std::string::npos) << lists;
  EXPECT_NE(lists.find("\t" + b + ";"), std::string::npos) << lists;

  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  for (int trial = 0; trial < 8; ++trial) {
    int thread = trial % 2;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[static_cast<size_t>(thread)], &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // this thread only (the caller's tid)
    int fd = connectTcp("127.0.0.1", port);
    sched_setaffinity(0, sizeof saved, &saved);
    ASSERT_TRUE(echoes(fd, "x"));
    std::string sess = cliRequest(sock, "show sess\n");
    EXPECT_NE(sess.find("thread=" + std::to_string(thread)), std::string::npos)
        << "client on CPU " << cpus[static_cast<size_t>(thread)] << ":\n" << sess;
    close(fd);
    for (int i = 0; i < 50 && cliRequest(sock, "show sess\n").find("thread=") != std::string::npos; ++i) {
      usleep(20 * 1000);
    }
  }
}

// -cc evaluates a condition as an .if line would, with HAProxy's exit
// statuses (the cases of HAProxy's startup/check_condition test).
TEST(Process, CheckConditionExitStatus) {
  struct Case {
    const char* condition;
    int status;
  } cases[] = {
      {"1 && !0 && !((streq(a,b) || !streq(a,a) && 1) || strneq(a,a))", 0},
      {"1&&!0&&!((streq(a,b)||!streq(a,a)&&1)||strneq(a,a))", 0},
      {"-1000 && 200", 0},
      {"streq(\"foo bar\",'foo bar')", 0},
      {"streq(foo,'foo')", 0},
      {"version_atleast(2.4)", 0},
      {"feature(OPENSSL) || !feature(OPENSSL)", 0},
      {"defined(SLUICE_CC_VAR) && streq(\"$SLUICE_CC_VAR\",\"1\")", 0},
      {"", 1},
      {"streq(foo,bar)", 1},
      {"version_atleast(1024)", 1},
      {"1 && !0 && !((streq(a,a) || !streq(a,a) && 1) || strneq(a,a))", 1},
      {"!(0))", 2},
      {"200rrr", 2},
      {"streq(a,\"a)", 2},
  };
  for (const Case& c : cases) {
    std::string quoted;
    for (char ch : std::string(c.condition)) {
      if (ch == '\'') {
        quoted += "'\\''";
      } else {
        quoted += ch;
      }
    }
    int rc = runCommand("SLUICE_CC_VAR=1 " + binaryPath() + " -cc '" + quoted + "' 2>/dev/null");
    EXPECT_EQ(rc, c.status) << c.condition;
  }
}


// -v and -vv in HAProxy's layout: what HAProxy's run-regtests.sh reads (the
// version as the third word of the first line, the "Feature list"), with
// sluice's name on that line, and a feature list that -cc agrees with.
TEST(Process, VersionInHaproxysLayout) {
  std::string v;
  ASSERT_EQ(runCommand(binaryPath() + " -v", &v), 0);
  std::string first = v.substr(0, v.find('\n'));
  EXPECT_TRUE(first.starts_with("HAProxy version 3.2-sluice-")) << first;
  EXPECT_NE(first.find(" - sluice "), std::string::npos) << first;
  EXPECT_EQ(v.find("Feature list"), std::string::npos) << "-v is short";
  std::string vv;
  ASSERT_EQ(runCommand(binaryPath() + " -vv", &vv), 0);
  EXPECT_TRUE(vv.starts_with(first));
  size_t at = vv.find("\nFeature list :");
  ASSERT_NE(at, std::string::npos) << vv;
  std::string list = vv.substr(at + 15, vv.find('\n', at + 1) - at - 15);
  int checked = 0;
  size_t i = 0;
  while (i < list.size()) {
    size_t j = list.find(' ', i + 1);
    std::string item = list.substr(i + 1, (j == std::string::npos ? list.size() : j) - i - 1);
    i = j == std::string::npos ? list.size() : j;
    if (item.size() < 2) continue;
    bool present = item[0] == '+';
    int status = runCommand(binaryPath() + " -cc 'feature(" + item.substr(1) + ")'");
    EXPECT_EQ(status, present ? 0 : 1) << item;
    ++checked;
  }
  EXPECT_GE(checked, 10);
  EXPECT_NE(list.find("+OPENSSL"), std::string::npos);
  EXPECT_NE(list.find("+PCRE2"), std::string::npos);
  EXPECT_NE(vv.find("\n  OPTIONS = "), std::string::npos);
  EXPECT_NE(vv.find("\nAvailable services : prometheus-exporter"), std::string::npos);

  // HAProxy 2.6's answers when asked, by option or environment; the option wins.
  std::string old;
  ASSERT_EQ(runCommand(binaryPath() + " --dialect 2.6 -v", &old), 0);
  EXPECT_TRUE(old.starts_with("HAProxy version 2.6-sluice-")) << old;
  EXPECT_EQ(runCommand("SLUICE_DIALECT=2.6 " + binaryPath() + " -cc 'version_atleast(2.7)'"), 1);
  EXPECT_EQ(runCommand("SLUICE_DIALECT=2.6 " + binaryPath() + " --dialect=3.0 -cc 'version_atleast(2.7)'"), 0);
  std::string bad;
  EXPECT_EQ(runCommand(binaryPath() + " --dialect 1.8 -v 2>&1", &bad), 1);
  EXPECT_NE(bad.find("dialect '1.8' is outside the releases sluice can answer as (2.6 to 3.2)"), std::string::npos) << bad;
}


bool processAlive(pid_t pid) { return kill(pid, 0) == 0 && readFile("/proc/" + std::to_string(pid) + "/stat").find(") Z ") == std::string::npos; }

// The -S socket is HAProxy's master CLI: "show proc" lists the process as
// master and worker 1 and the "program" sections' commands; "@1" and
// "@!<pid>" reach the worker. Programs restart on reload unless told not
// to, stop with sluice, and with -W sluice exits 128 + the signal.
TEST(Process, MasterCliAndPrograms) {
  TestServer echo("echo", TestServer::Mode::Echo);
  int port = freePort();
  std::string dir = makeTempDir("mcli");
  std::string sock = dir + "/master.sock";
  std::string cfg = "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
                    "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  server e 127.0.0.1:" +
                    std::to_string(echo.port()) + "\n"
                    "program restarted\n  command sleep 30\n"
                    "program kept\n  command sleep 31\n  no option start-on-reload\n"
                    "program quitter\n  command sh -c \"exit 3\"\n";
  Sluice s(cfg, {port}, {"-W", "-S", sock});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(s.waitForLog("current program 'quitter'")) << s.log();
  EXPECT_TRUE(s.waitForLog("exited with code 3")) << s.log();
  auto procs = [&] { return cliRequest(sock, "show proc\n"); };
  auto pidOf = [&](const std::string& name) -> pid_t {
    std::string p = procs();
    size_t at = p.find(" " + name + " ");
    if (at == std::string::npos) return 0;
    size_t start = p.rfind('\n', at) + 1;
    return static_cast<pid_t>(std::stol(p.substr(start, at - start)));
  };
  std::string p = procs();
  const std::string self = std::to_string(s.process().pid());
  EXPECT_TRUE(p.starts_with("#<PID>          <type>          <reloads>       <uptime>        <version>")) << p;
  EXPECT_NE(p.find("\n" + self + std::string(16 - self.size(), ' ') + "master          0 [failed: 0]"), std::string::npos) << p;
  EXPECT_NE(p.find("# workers\n" + self + " "), std::string::npos) << p;
  EXPECT_NE(p.find("# programs\n"), std::string::npos) << p;
  EXPECT_EQ(p.find("quitter"), std::string::npos) << "an exited program is not listed\n" << p;
  pid_t restarted = pidOf("restarted");
  pid_t kept = pidOf("kept");
  ASSERT_GT(restarted, 0) << p;
  ASSERT_GT(kept, 0) << p;
  EXPECT_TRUE(processAlive(restarted));
  EXPECT_NE(readFile("/proc/" + std::to_string(kept) + "/cmdline").find("31"), std::string::npos);

  EXPECT_NE(cliRequest(sock, "@1 show info\n").find("\nPid: " + self + "\n"), std::string::npos);
  EXPECT_NE(cliRequest(sock, "@!" + self + " show info\n").find("Process_num: 1\n"), std::string::npos);
  EXPECT_EQ(cliRequest(sock, "@!1 show info\n"), "Can't find the target PID matching the prefix '@!1'\n");
  EXPECT_NE(cliRequest(sock, "help\n").find("show proc"), std::string::npos);
  std::string interactive = cliRequest(sock, "prompt\n@1\nshow version\n@\nquit\n");
  EXPECT_NE(interactive.find(self + "> "), std::string::npos) << interactive;
  EXPECT_NE(interactive.find("master> "), std::string::npos) << interactive;

  kill(s.process().pid(), SIGHUP);
  ASSERT_TRUE(s.waitForLog("configuration reloaded")) << s.log();
  EXPECT_TRUE(eventually([&] { return pidOf("restarted") > 0 && pidOf("restarted") != restarted; })) << procs();
  EXPECT_EQ(pidOf("kept"), kept) << procs();
  EXPECT_FALSE(processAlive(restarted)) << "the old instance was stopped";
  pid_t restarted2 = pidOf("restarted");

  EXPECT_EQ(s.process().stop(SIGINT, scaled(5000)), 128 + SIGINT);
  s.expectCleanExit(false);
  EXPECT_FALSE(processAlive(kept));
  EXPECT_FALSE(processAlive(restarted2));
}

TEST(Process, ProgramSectionErrors) {
  std::string out;
  EXPECT_NE(checkConfig("program p\n  user nobody\nprogram p\n  command true\n  restart always\n", out), 0);
  EXPECT_NE(out.find("c.cfg:3: error: program 'p' is defined twice"), std::string::npos) << out;
  EXPECT_NE(out.find("c.cfg:5: error: unknown keyword 'restart' in program 'p'"), std::string::npos) << out;
  EXPECT_NE(out.find("c.cfg:1: error: program 'p' has no 'command'"), std::string::npos) << out;
}


// A frontend with a plain bind and a TLS-terminating one (a common :80 +
// :443 ssl layout, or SNI routing beside an ssl port): the plain listener is
// served, the TLS one is not opened, and the warning names that line.
TEST(Process, PlainBindsOfAFrontendWithTlsBindsAreServed) {
  TestServer srv("plain", TestServer::Mode::Identify);
  int plain = freePort(), tls = freePort();
  Sluice s("defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend f\n  bind 127.0.0.1:" + std::to_string(plain) + "\n  bind 127.0.0.1:" + std::to_string(tls) +
               " ssl crt /nonexistent.pem\n  default_backend b\n"
           "backend b\n  server s 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {plain});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(askServerName(plain), "plain");
  EXPECT_LT(connectTcp("127.0.0.1", tls), 0) << "the TLS listener must not be opened";
  EXPECT_NE(s.log().find(":8: warning: this bind line of frontend 'f' terminates TLS ('ssl'), which sluice never "
                         "does: it is not opened"),
            std::string::npos)
      << s.log();
}

// A stats page behind userlist logins (http_auth, "stats http-request
// auth"), which sluice does not check yet, is never served open: that
// proxy is left out with a warning, and the file's TCP proxies run.
TEST(Process, StatsPageBehindUserlistLoginsIsLeftOutNotOpened) {
  TestServer srv("tcp", TestServer::Mode::Identify);
  int port = freePort(), stats = freePort();
  Sluice s("defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
           "userlist admins\n  user alice insecure-password secret\n"
           "listen stats\n  bind 127.0.0.1:" + std::to_string(stats) + "\n  mode http\n"
           "  acl auth_ok http_auth(admins)\n  stats enable\n  stats uri /stats\n"
           "  stats http-request auth realm Stats unless auth_ok\n"
           "frontend f\n  bind 127.0.0.1:" + std::to_string(port) + "\n  default_backend b\n"
           "backend b\n  server s 127.0.0.1:" + std::to_string(srv.port()) + "\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(askServerName(port), "tcp");
  EXPECT_LT(connectTcp("127.0.0.1", stats), 0) << "the page must not be served without its login";
  EXPECT_NE(s.log().find("listen 'stats' serves its stats page behind logins of a userlist"), std::string::npos)
      << s.log();
}

// "zero-warning" makes a warning as fatal as an error; "node" and
// "description" name the instance in "show info".
TEST(Process, ZeroWarningNodeAndDescription) {
  std::string dir = makeTempDir("zerowarn");
  std::string base = "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
                     "listen l\n  bind 127.0.0.1:" + std::to_string(freePort()) + "\n  server s 127.0.0.1:80\n";
  writeFile(dir + "/warn.cfg", "global\n  zero-warning\n  thread-groups 1\n" + base);
  std::string out;
  EXPECT_EQ(runCommand(binaryPath() + " -c -f " + dir + "/warn.cfg 2>&1", &out), 1) << out;
  EXPECT_NE(out.find("'zero-warning' (or -dW) is set"), std::string::npos) << out;
  writeFile(dir + "/ok.cfg", "global\n  zero-warning\n" + base);
  EXPECT_EQ(runCommand(binaryPath() + " -c -f " + dir + "/ok.cfg 2>&1", &out), 0) << out;
  // -dW on the command line, as HAProxy's: the same refusal without the keyword.
  writeFile(dir + "/plain.cfg", "global\n  thread-groups 1\n" + base);
  EXPECT_EQ(runCommand(binaryPath() + " -c -f " + dir + "/plain.cfg 2>&1", &out), 0) << out;
  EXPECT_EQ(runCommand(binaryPath() + " -dW -c -f " + dir + "/plain.cfg 2>&1", &out), 1) << out;
  EXPECT_NE(out.find("warning: 'thread-groups' is accepted but ignored"), std::string::npos) << out;

  int port = freePort();
  std::string sock = dir + "/admin.sock";
  Sluice s("global\n  node lb-east-1\n  description edge balancer, rack 4\n  stats socket " + sock + " level admin\n" +
               "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n"
               "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n  server s 127.0.0.1:80\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::string info = cliRequest(sock, "show info\n");
  EXPECT_NE(info.find("\nnode: lb-east-1\n"), std::string::npos) << info;
  EXPECT_NE(info.find("\ndescription: edge balancer, rack 4\n"), std::string::npos) << info;
}

}  // namespace
}  // namespace sluice::testing
