// SPDX-License-Identifier: Apache-2.0
// The tutorial, unchanged: Debian's stock haproxy.cfg (global and defaults as
// shipped, "mode http" and all) with the tutorial's two sections appended and
// only the server addresses made local. "sluice -c" accepts it; sluice runs
// it; curl through it gets the HTTPS server's 200 and the server's own
// certificate, so nothing was terminated on the way.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "harness.h"

namespace sluice::testing {
namespace {

std::string stockConfig() {
  // The installed file when Debian's haproxy package is there, else our copy.
  if (std::filesystem::exists("/etc/haproxy/haproxy.cfg")) return readFile("/etc/haproxy/haproxy.cfg");
  return readFile(dataDir() + "/debian-haproxy.cfg");
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

std::string tutorialConfig(int port, int s1, int s2) {
  std::string t = readFile(dataDir() + "/tutorial-passthrough.cfg");
  t = replaceAll(t, "192.168.1.10:443", "127.0.0.1:" + std::to_string(s1));
  t = replaceAll(t, "192.168.1.11:443", "127.0.0.1:" + std::to_string(s2));
  t = replaceAll(t, "bind *:443", "bind 127.0.0.1:" + std::to_string(port));
  return stockConfig() + "\n" + t;
}

// "sluice -c" says the file is valid, with warnings that name file:line.
TEST(Tutorial, CheckModeAcceptsTheFile) {
  std::string dir = makeTempDir("tut");
  writeFile(dir + "/haproxy.cfg", tutorialConfig(8443, 9443, 9444));
  std::string out;
  int rc = runCommand(binaryPath() + " -c -f " + dir + "/haproxy.cfg 2>&1", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Configuration file is valid"), std::string::npos) << out;
  EXPECT_NE(out.find(dir + "/haproxy.cfg:"), std::string::npos) << out;
  // One warning for the seven errorfile lines, not seven.
  size_t errorfiles = 0;
  for (size_t p = out.find("'errorfile'"); p != std::string::npos; p = out.find("'errorfile'", p + 1)) {
    ++errorfiles;
  }
  EXPECT_EQ(errorfiles, 1u) << out;
  // HAProxy itself accepts the same file.
  if (runCommand("command -v haproxy >/dev/null") == 0) {
    std::string hout;
    EXPECT_EQ(runCommand("haproxy -c -f " + dir + "/haproxy.cfg 2>&1", &hout), 0) << hout;
  }
}

// The file runs as is, and curl gets each server's 200 and certificate.
TEST(Tutorial, CurlThroughTheTutorialGets200) {
  if (geteuid() != 0) SLUICE_SKIP_OR_FAIL("the stock file says chroot/user haproxy: needs root");
  if (!std::filesystem::exists("/var/lib/haproxy") || runCommand("id haproxy >/dev/null 2>&1") != 0) {
    SLUICE_SKIP_OR_FAIL("Debian's haproxy package (user haproxy, /var/lib/haproxy) is not installed");
  }
  std::string dir = makeTempDir("tut");
  Cert c1 = makeCert(dir, "app.example");
  TestServer s1("server1", TestServer::Mode::Identify, &c1);
  TestServer s2("server2", TestServer::Mode::Identify, &c1);
  int port = freePort();
  // Inside the chroot there is no /proc, which LeakSanitizer needs at exit.
  std::map<std::string, std::string> env;
  if (const char* asan = std::getenv("ASAN_OPTIONS")) env["ASAN_OPTIONS"] = std::string(asan) + ":detect_leaks=0";
  Sluice s(tutorialConfig(port, s1.port(), s2.port()), {port}, {}, 0, "127.0.0.1", env);
  ASSERT_TRUE(s.started()) << s.log();
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    std::string out;
    int rc = runCommand("curl -sS --max-time 5 --cacert " + c1.certFile + " --resolve app.example:" +
                            std::to_string(port) + ":127.0.0.1 -w ' code=%{http_code} verify=%{ssl_verify_result}' https://app.example:" +
                            std::to_string(port) + "/ 2>&1",
                        &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("code=200 verify=0"), std::string::npos) << out;
    if (out.find("server=server1") != std::string::npos) seen.insert("server1");
    if (out.find("server=server2") != std::string::npos) seen.insert("server2");
  }
  EXPECT_EQ(seen.size(), 2u) << "roundrobin over both servers";
  EXPECT_EQ(s1.snis()[0], "app.example");
  // The worker runs as the user the file names.
  std::string status = readFile("/proc/" + std::to_string(s.process().pid()) + "/status");
  std::string uidLine = status.substr(status.find("Uid:"), status.find('\n', status.find("Uid:")) - status.find("Uid:"));
  std::string uid;
  runCommand("id -u haproxy", &uid);
  uid = uid.substr(0, uid.find('\n'));
  EXPECT_NE(uidLine.find("\t" + uid + "\t"), std::string::npos) << uidLine;
}

}  // namespace
}  // namespace sluice::testing
