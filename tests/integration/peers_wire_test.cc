// SPDX-License-Identifier: Apache-2.0
// The peers protocol's wire format against the real HAProxy 2.6 from
// Debian, both ways: HAProxy connects to a peer the test plays, which reads
// HAProxy's handshake, table definition and entry updates with
// proto/peers.h; and the test connects to HAProxy as a peer and teaches it
// an entry, which HAProxy's own "show table" then lists with its counters,
// and acknowledges.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ci.h"
#include "harness.h"
#include "proto/peers.h"

namespace sluice::testing {
namespace {

namespace peers = proto::peers;

std::span<const uint8_t> bytesOf(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Reads from `fd` into `buffer` until `done(buffer)` or the time is over.
bool readUntil(int fd, std::string& buffer, const std::function<bool(const std::string&)>& done, int timeoutMs) {
  for (int waited = 0; waited < scaled(timeoutMs); waited += 20) {
    if (done(buffer)) return true;
    std::string more = recvAll(fd, 20, 65536);
    buffer += more;
  }
  return done(buffer);
}

struct HaproxyPeer {
  std::string dir = makeTempDir("peers-wire");
  int hxPort = freePort();
  int slPort = freePort();
  std::unique_ptr<Process> haproxy;

  bool start() {
    writeFile(dir + "/h.cfg",
              "global\n  stats socket " + dir + "/hx.sock level admin\n"
              "peers mesh\n  peer hx 127.0.0.1:" + std::to_string(hxPort) + "\n"
              "  peer sl 127.0.0.1:" + std::to_string(slPort) + "\n"
              "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
              "backend st\n  stick-table type ip size 1k expire 1m store gpc0,conn_rate(10s),server_id peers mesh\n");
    std::string path;
    runCommand("command -v haproxy", &path);
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    haproxy = std::make_unique<Process>(std::vector<std::string>{path, "-f", dir + "/h.cfg", "-L", "hx", "-db"},
                                        dir + "/haproxy.log");
    return waitForPort("127.0.0.1", hxPort, scaled(5000)) &&
           eventually([&] { return cliRequest(dir + "/hx.sock", "show version\n").size() > 0; }, 5000);
  }
  std::string cli(const std::string& command) { return cliRequest(dir + "/hx.sock", command + "\n"); }
};

bool haveHaproxy() { return runCommand("command -v haproxy >/dev/null") == 0; }

TEST(PeersWire, HaproxyTeachesAnEntryWeRead) {
  if (!haveHaproxy()) SLUICE_SKIP_OR_FAIL("haproxy is needed (scripts/install-deps installs it)");
  HaproxyPeer hx;
  int listener = listenLoopback(hx.slPort);  // HAProxy's peer "sl" listens here
  ASSERT_GE(listener, 0);
  ASSERT_TRUE(hx.start()) << hx.haproxy->output();

  // HAProxy connects to its peer "sl": the test.
  timeval tv{static_cast<time_t>(scaled(5000) / 1000), 0};
  ::setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int fd = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(fd, 0) << "HAProxy did not connect to its peer";
  std::string in;
  peers::Hello hello;
  size_t used = 0;
  ASSERT_TRUE(readUntil(fd, in, [&](const std::string& b) { return peers::parseHello(b, hello, used) == peers::Status::Done; }, 5000))
      << in;
  EXPECT_EQ(hello.protocol, "HAProxyS");
  EXPECT_EQ(hello.major, 2);
  EXPECT_EQ(hello.remotePeer, "sl");
  EXPECT_EQ(hello.localPeer, "hx");
  in.erase(0, used);
  ASSERT_TRUE(sendAll(fd, peers::encodeStatus(peers::kSucceeded)));

  // An entry written on HAProxy comes as a definition, then an update.
  peers::TableDef def;
  peers::Update update;
  bool defined = false, updated = false;
  bool resynced = false;
  auto drain = [&](const std::string& b) {
    std::span<const uint8_t> rest = bytesOf(b);
    peers::Message m;
    while (!updated && peers::parseMessage(rest, m, used) == peers::Status::Done) {
      // A new HAProxy asks its peers for everything they know first: the
      // test knows nothing, and says so.
      if (m.cls == peers::kControl && m.type == peers::kResyncRequest && !resynced) {
        resynced = sendAll(fd, peers::encodeMessage(peers::kControl, peers::kResyncFinished));
      }
      if (m.cls == peers::kStickTable && m.type == peers::kDefine) defined = peers::parseDefine(m.data, def);
      if (m.cls == peers::kStickTable && defined &&
          (m.type == peers::kUpdate || m.type == peers::kUpdateTimed || m.type == peers::kIncrementalUpdate ||
           m.type == peers::kIncrementalUpdateTimed)) {
        const bool withId = m.type == peers::kUpdate || m.type == peers::kUpdateTimed;
        const bool timed = m.type == peers::kUpdateTimed || m.type == peers::kIncrementalUpdateTimed;
        updated = peers::parseUpdate(m.data, def, withId, timed, update);
        EXPECT_TRUE(updated) << "an update HAProxy sent does not parse";
      }
      rest = rest.subspan(used);
    }
    return updated;
  };
  // Wait for the resync request before writing the entry.
  ASSERT_TRUE(readUntil(fd, in, [&](const std::string& b) { drain(b); return resynced; }, 5000)) << "no resync request";
  EXPECT_EQ(hx.cli("set table st key 10.0.0.1 data.gpc0 5 data.server_id 3"), "\n");
  ASSERT_TRUE(readUntil(fd, in, drain, 5000)) << "no update from HAProxy; defined=" << defined << " bytes: " << [&] {
    std::string hex;
    for (unsigned char c : in) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15], hex += ' ';
    return hex;
  }();
  EXPECT_EQ(def.name, "st");
  EXPECT_EQ(def.keyType, peers::kKeyIpv4);
  EXPECT_EQ(def.keyLength, 4u);
  EXPECT_TRUE(def.has(peers::kGpc0) && def.has(peers::kConnRate) && def.has(peers::kServerId));
  EXPECT_EQ(def.params[peers::kConnRate], std::vector<uint64_t>{10000});
  EXPECT_EQ(def.expireMs, 60000u);
  EXPECT_EQ(update.key, std::string("\x0a\x00\x00\x01", 4));
  bool sawGpc0 = false, sawServer = false;
  for (const auto& v : update.values) {
    if (v.type == peers::kGpc0) sawGpc0 = v.ints == std::vector<uint64_t>{5};
    if (v.type == peers::kServerId) sawServer = v.ints == std::vector<uint64_t>{3};
  }
  EXPECT_TRUE(sawGpc0);
  EXPECT_TRUE(sawServer);
  ::close(fd);
  ::close(listener);
}

TEST(PeersWire, WeTeachHaproxyAnEntry) {
  if (!haveHaproxy()) SLUICE_SKIP_OR_FAIL("haproxy is needed (scripts/install-deps installs it)");
  HaproxyPeer hx;
  ASSERT_TRUE(hx.start()) << hx.haproxy->output();
  int fd = connectTcp("127.0.0.1", hx.hxPort);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, peers::encodeHello("hx", "sl", static_cast<uint64_t>(getpid()))));
  std::string in;
  int code = 0;
  size_t used = 0;
  ASSERT_TRUE(readUntil(fd, in, [&](const std::string& b) { return peers::parseStatus(b, code, used) == peers::Status::Done; }, 5000));
  ASSERT_EQ(code, peers::kSucceeded) << in;
  in.erase(0, used);

  peers::TableDef def;
  def.id = 1;
  def.name = "st";
  def.keyType = peers::kKeyIpv4;
  def.keyLength = 4;
  def.dataTypes = (1u << peers::kServerId) | (1u << peers::kGpc0) | (1u << peers::kConnRate);
  def.expireMs = 60000;
  def.params[peers::kConnRate] = {10000};
  peers::Update u;
  u.id = 1;
  u.expireMs = 50000;
  u.key = std::string("\x0a\x00\x00\x02", 4);
  u.values = {{peers::kServerId, {2}, {}, {}, {}},
              {peers::kGpc0, {7}, {}, {}, {}},
              {peers::kConnRate, {}, {{100, 4, 0}}, {}, {}}};
  ASSERT_TRUE(sendAll(fd, peers::encodeDefine(def) + peers::encodeUpdate(def, u)));

  // HAProxy lists it, with the counters taught.
  ASSERT_TRUE(eventually([&] { return hx.cli("show table st").find("key=10.0.0.2") != std::string::npos; }, 5000))
      << hx.cli("show table st") << hx.haproxy->output();
  std::string table = hx.cli("show table st");
  EXPECT_NE(table.find("gpc0=7"), std::string::npos) << table;
  EXPECT_NE(table.find("server_id=2"), std::string::npos) << table;
  EXPECT_NE(table.find("conn_rate(10000)=4"), std::string::npos) << table;

  // And acknowledges the update, for the table number we gave.
  bool acked = false;
  ASSERT_TRUE(readUntil(fd, in, [&](const std::string& b) {
    std::span<const uint8_t> rest = bytesOf(b);
    peers::Message m;
    while (peers::parseMessage(rest, m, used) == peers::Status::Done) {
      uint64_t table = 0;
      uint32_t id = 0;
      if (m.cls == peers::kStickTable && m.type == peers::kAck && peers::parseAck(m.data, table, id)) {
        acked = table == 1 && id == 1;
      }
      rest = rest.subspan(used);
    }
    return acked;
  }, 8000)) << "no acknowledgement from HAProxy";
  ::close(fd);
}

}  // namespace
}  // namespace sluice::testing
