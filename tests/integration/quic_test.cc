// SPDX-License-Identifier: Apache-2.0
// QUIC passthrough through the real binary (issue 11): real QUIC stacks
// (Debian's ngtcp2 gtlsclient and gtlsserver) routed by SNI and never
// terminated, and raw UDP peers of the test's own for what a real client
// cannot be made to do on demand: a hello split over datagrams and sent out
// of order, garbage, silence, a server port that refuses.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "harness.h"
#include "quic_builder.h"

namespace sluice::testing {
namespace {

using Bytes = std::vector<uint8_t>;

// A UDP socket on a loopback address (IPv4 or IPv6): the test's raw client
// or fake server.
class UdpPeer {
 public:
  explicit UdpPeer(const std::string& host = "127.0.0.1", int port = 0) : v6_(host.find(':') != std::string::npos) {
    fd_ = ::socket(v6_ ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = 0;
    sockaddr_storage a = address(host, port, len);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
    int one = 1;  // report each datagram's ECN bits
    setsockopt(fd_, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
    if (v6_) setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
    len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = portOf(a);
  }
  ~UdpPeer() { ::close(fd_); }
  bool ok() const { return ok_; }
  int port() const { return port_; }

  // The ECN codepoint of what this peer sends from now on.
  void setEcn(int ecn) {
    setsockopt(fd_, v6_ ? IPPROTO_IPV6 : IPPROTO_IP, v6_ ? IPV6_TCLASS : IP_TOS, &ecn, sizeof(ecn));
  }
  // The ECN codepoint of the last datagram received.
  int lastEcn() const { return lastEcn_; }

  // To `port` on 127.0.0.1, or on ::1 for an IPv6 peer, unless `host` says.
  bool sendTo(int port, const Bytes& d, const std::string& host = "") {
    socklen_t len = 0;
    sockaddr_storage a = address(host.empty() ? (v6_ ? "::1" : "127.0.0.1") : host, port, len);
    return ::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&a), len) ==
           static_cast<ssize_t>(d.size());
  }
  // Datagrams of `segment` bytes (the last possibly shorter) in one send
  // with UDP GSO, as QUIC stacks send bursts: the kernel cuts them.
  bool sendCoalesced(int port, const Bytes& all, uint16_t segment) {
    socklen_t len = 0;
    sockaddr_storage a = address(v6_ ? "::1" : "127.0.0.1", port, len);
    iovec iov{const_cast<uint8_t*>(all.data()), all.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t))] = {};
    msghdr m{};
    m.msg_name = &a;
    m.msg_namelen = len;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_UDP;
    c->cmsg_type = 103;  // UDP_SEGMENT
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    std::memcpy(CMSG_DATA(c), &segment, sizeof(segment));
    return ::sendmsg(fd_, &m, 0) == static_cast<ssize_t>(all.size());
  }
  // The next datagram and the port it came from, within `timeoutMs`.
  std::optional<std::pair<Bytes, int>> receive(int timeoutMs) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, scaled(timeoutMs)) <= 0) return std::nullopt;
    Bytes buf(65536);
    sockaddr_storage from{};
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char control[256];
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof(from);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd_, &m, 0);
    if (n < 0) return std::nullopt;
    lastEcn_ = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) lastEcn_ = *CMSG_DATA(c) & 3;
      if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
        int tclass = 0;
        std::memcpy(&tclass, CMSG_DATA(c), sizeof(tclass));
        lastEcn_ = tclass & 3;
      }
    }
    buf.resize(static_cast<size_t>(n));
    return std::make_pair(buf, portOf(from));
  }

 private:
  static sockaddr_storage address(const std::string& host, int port, socklen_t& len) {
    sockaddr_storage s{};
    if (host.find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&s);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
      len = sizeof(sockaddr_in6);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&s);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, host.c_str(), &a->sin_addr);
      len = sizeof(sockaddr_in);
    }
    return s;
  }
  static int portOf(const sockaddr_storage& s) {
    return ntohs(s.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&s)->sin6_port
                                         : reinterpret_cast<const sockaddr_in*>(&s)->sin_port);
  }

  bool v6_ = false;
  int lastEcn_ = -1;
  int fd_ = -1;
  int port_ = 0;
  bool ok_ = false;
};

// The first flight of a client for `sni`: its hello cut in two halves,
// each in an Initial of its own datagram (as a post-quantum hello is).
std::vector<Bytes> firstFlight(const std::string& sni, const Bytes& dcid) {
  Bytes hello = clientHello(sni, 2600);
  const size_t half = hello.size() / 2;
  return {datagram({sealInitial(proto::kQuicV1, dcid, 0, cryptoFrame(hello, 0, half))}),
          datagram({sealInitial(proto::kQuicV1, dcid, 1, cryptoFrame(hello, half, hello.size() - half))})};
}

// A server's Initial-looking answer naming the connection ID it chose (a
// long header in clear; its payload means nothing to sluice).
Bytes serverLongHeader(const Bytes& clientDcid, const Bytes& serverCid) {
  Bytes d = {0xc0, 0x00, 0x00, 0x00, 0x01, static_cast<uint8_t>(clientDcid.size())};
  d.insert(d.end(), clientDcid.begin(), clientDcid.end());
  d.push_back(static_cast<uint8_t>(serverCid.size()));
  d.insert(d.end(), serverCid.begin(), serverCid.end());
  d.resize(300, 0x5a);
  return d;
}

// A short-header packet for the server's connection ID.
Bytes shortHeader(const Bytes& serverCid, uint8_t fill) {
  Bytes d = {0x40};
  d.insert(d.end(), serverCid.begin(), serverCid.end());
  d.resize(200, fill);
  return d;
}

std::string head(const std::string& extraGlobal = "") {
  return "global\n  log stdout format raw local0\n  nbthread 2\n" + extraGlobal +
         "defaults\n  mode tcp\n  log global\n"
         "  log-format \"%ci:%cp %ft %b/%s %Tc/%Tt %U %B %ts rc=%rc sni=%[req.ssl_sni]\"\n"
         "  timeout connect 5s\n  timeout client 3s\n  timeout server 3s\n";
}

// The one log line of the flow from client port `port`.
std::vector<std::string> linesOf(const Sluice& s, int port) {
  return s.logLines("127.0.0.1:" + std::to_string(port) + " ");
}

// The first datagram from a client's new address may be lost, as on any
// network (the thread that reads it may learn the flow's connection ID a
// moment after the server's answer went out): sent again, as a client's
// PTO would, until it arrives; `sentBytes` counts what was sent. The
// resends come well within the flow's `timeout client` (3 s here, which
// a flow that hears nothing reaches: CI once resent only after it).
std::optional<std::pair<Bytes, int>> sendUntilReceived(UdpPeer& from, int port, const Bytes& d, UdpPeer& to,
                                                       size_t* sentBytes = nullptr) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (!from.sendTo(port, d)) return std::nullopt;
    if (sentBytes) *sentBytes += d.size();
    if (auto r = to.receive(100)) return r;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Real stacks

bool haveNgtcp2() { return runCommand("command -v gtlsclient >/dev/null && command -v gtlsserver >/dev/null") == 0; }

class RealQuic : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveNgtcp2()) SLUICE_SKIP_OR_FAIL("needs Debian's ngtcp2-client and ngtcp2-server (gtlsclient, gtlsserver)");
    // gtlsclient sends "localhost" as SNI for a numeric address and takes
    // the name it resolves otherwise: it runs in a mount namespace of its
    // own whose /etc/hosts names the test's hosts.
    if (geteuid() != 0) SLUICE_SKIP_OR_FAIL("needs root for a private /etc/hosts (unshare -m) for gtlsclient");
    dir_ = makeTempDir("quic");
    writeFile(dir_ + "/hosts", "127.0.0.1 localhost app.example other.example\n");
  }

  // A real QUIC server with its own certificate and one file saying its name.
  std::unique_ptr<Process> server(const std::string& name, int port, const std::vector<std::string>& extra = {}) {
    Cert c = makeCert(dir_, name + ".example");
    std::string docs = dir_ + "/docs-" + name;
    runCommand("mkdir -p " + docs);
    writeFile(docs + "/who", "server=" + name + "\n");
    std::string path;
    runCommand("command -v gtlsserver | tr -d '\\n'", &path);
    std::vector<std::string> argv = {path, "-q", "-d", docs};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"127.0.0.1", std::to_string(port), c.keyFile, c.certFile});
    auto p = std::make_unique<Process>(argv, dir_ + "/server-" + name + ".log");
    // Ready once its UDP port is bound (a flow sent earlier would be refused).
    EXPECT_TRUE(eventually([&] {
      std::string out;
      runCommand("ss -Hun state unconnected sport = :" + std::to_string(port), &out);
      return !out.empty();
    })) << "gtlsserver did not bind port " << port;
    return p;
  }

  // Fetches /who over HTTP/3 through `port` with `host` as the name (SNI).
  std::string fetch(const std::string& host, int port) {
    std::string out = dir_ + "/dl-" + host + "-" + std::to_string(fetches_++);
    runCommand("rm -rf " + out + " && mkdir -p " + out);
    std::string cmd = "unshare -m sh -c 'mount --bind " + dir_ + "/hosts /etc/hosts && timeout " +
                      std::to_string(scaled(10000) / 1000 + 1) + " gtlsclient -q --timeout=3s --download=" + out +
                      " --exit-on-all-streams-close " + host + " " + std::to_string(port) + " https://" + host + ":" +
                      std::to_string(port) + "/who' >" + out + ".log 2>&1";
    int rc = runCommand(cmd);
    std::string body = readFile(out + "/who");
    return rc == 0 ? body : "client failed (" + std::to_string(rc) + "): " + readFile(out + ".log") + body;
  }

  std::string dir_;
  int fetches_ = 0;
};

TEST_F(RealQuic, RoutedBySniToTwoRealServersNeverTerminated) {
  int pa = freePort(), pb = freePort(), port = freePort();
  auto a = server("app", pa);
  auto b = server("other", pb);
  std::string cfg = head() +
                    "frontend web\n  bind 127.0.0.1:" + std::to_string(port) + "\n  bind quic4@127.0.0.1:" +
                    std::to_string(port) +
                    "\n  tcp-request inspect-delay 5s\n"
                    "  use_backend app if { req.ssl_sni -i app.example }\n  default_backend other\n"
                    "backend app\n  server a1q quic4@127.0.0.1:" + std::to_string(pa) +
                    "\nbackend other\n  server o1q quic4@127.0.0.1:" + std::to_string(pb) + "\n";
  Sluice s(cfg, {port});
  ASSERT_TRUE(s.started()) << s.log();
  // The reply comes from the server the name chose, over a TLS session only
  // that server could complete with its own certificate.
  EXPECT_EQ(fetch("app.example", port), "server=app\n");
  EXPECT_EQ(fetch("other.example", port), "server=other\n");
  EXPECT_EQ(fetch("app.example", port), "server=app\n");
  // One log line per flow once it falls silent, with the name it was routed by.
  EXPECT_TRUE(eventually([&] { return s.logLines("sni=").size() >= 3; }, 8000)) << s.log();
  EXPECT_EQ(s.logLines("app/a1q").size(), 2u) << s.log();
  EXPECT_EQ(s.logLines("other/o1q").size(), 1u) << s.log();
  EXPECT_EQ(s.logLines("sni=app.example").size(), 2u) << s.log();
}

// gtlsserver -V answers the first Initial with a Retry; the client's second
// Initial (new connection ID, a token) comes from the same address and
// must reach the same server.
TEST_F(RealQuic, RetryFromTheServerKeepsTheFlowOnIt) {
  int pa = freePort(), port = freePort();
  auto a = server("app", pa, {"-V"});
  std::string cfg = head() + "frontend web\n  bind 127.0.0.1:" + std::to_string(port) +
                    "\n  bind quic4@127.0.0.1:" + std::to_string(port) +
                    "\n  tcp-request inspect-delay 5s\n  default_backend app\n"
                    "backend app\n  balance roundrobin\n  server a1q quic4@127.0.0.1:" + std::to_string(pa) +
                    "\n  server dead quic4@127.0.0.1:" + std::to_string(freePort()) + " disabled\n";
  Sluice s(cfg, {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(fetch("app.example", port), "server=app\n");
}

// A QUIC server is checked without TLS: a datagram of a reserved version
// brings back Version Negotiation while it runs; once it is gone the ICMP
// refusal marks it down, and flows then go to the other server.
TEST_F(RealQuic, HealthCheckedByVersionNegotiation) {
  int pa = freePort(), pb = freePort(), port = freePort();
  auto a = server("app", pa);
  auto b = server("other", pb);
  std::string cfg = head() + "frontend web\n  bind 127.0.0.1:" + std::to_string(port) +
                    "\n  bind quic4@127.0.0.1:" + std::to_string(port) +
                    "\n  tcp-request inspect-delay 5s\n  default_backend app\n"
                    "backend app\n  balance first\n  option log-health-checks\n"
                    "  default-server check inter 200 rise 1 fall 2\n"
                    "  server a1q quic4@127.0.0.1:" + std::to_string(pa) +
                    "\n  server a2q quic4@127.0.0.1:" + std::to_string(pb) + "\n";
  Sluice s(cfg, {port});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_TRUE(s.waitForLog("Health check for server app/a1q succeeded, reason: Layer6 check passed", 5000)) << s.log();
  EXPECT_EQ(fetch("app.example", port), "server=app\n");
  a->stop();
  EXPECT_TRUE(s.waitForLog("Server app/a1q is DOWN", 5000)) << s.log();
  EXPECT_NE(s.log().find("Connection refused"), std::string::npos) << s.log();
  EXPECT_EQ(fetch("app.example", port), "server=other\n");
}

// ---------------------------------------------------------------------------
// Raw peers

class Quic : public ::testing::Test {
 protected:
  std::string config(int port, int serverA, int serverB, const std::string& frontendExtra = "",
                     const std::string& extraGlobal = "") {
    return head(extraGlobal) + "frontend web\n  bind 127.0.0.1:" + std::to_string(port) + "\n  bind quic4@127.0.0.1:" +
           std::to_string(port) + "\n  tcp-request inspect-delay 3s\n" + frontendExtra +
           "  use_backend bk_a if { req.ssl_sni -i a.example }\n  default_backend bk_b\n"
           "backend bk_a\n  server a quic4@127.0.0.1:" + std::to_string(serverA) +
           "\nbackend bk_b\n  server b quic4@127.0.0.1:" + std::to_string(serverB) + "\n";
  }
};

// A hello over two datagrams sent second-half first, then a 0-RTT-like
// packet while sluice still waits: all reach the server chosen by the SNI,
// in the order the client sent them; the server's answer comes back from
// the address the client sent to, and the flow carries on both ways.
TEST_F(Quic, HelloAcrossDatagramsOutOfOrderIsHeldAndReplayedInOrder) {
  UdpPeer a, b, client;
  ASSERT_TRUE(a.ok() && b.ok() && client.ok());
  int port = freePort();
  Sluice s(config(port, a.port(), b.port()), {port});
  ASSERT_TRUE(s.started()) << s.log();

  const Bytes dcid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::vector<Bytes> flight = firstFlight("a.example", dcid);
  Bytes zeroRtt = {0xd0, 0, 0, 0, 1, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0x40, 0x20};
  zeroRtt.resize(1200, 0x33);
  ASSERT_TRUE(client.sendTo(port, flight[1]));
  EXPECT_FALSE(a.receive(300)) << "nothing goes out before the route is known";
  ASSERT_TRUE(client.sendTo(port, flight[0]));
  ASSERT_TRUE(client.sendTo(port, zeroRtt));
  int sluiceSide = 0;
  for (const Bytes& expected : {flight[1], flight[0], zeroRtt}) {
    auto got = a.receive(3000);
    ASSERT_TRUE(got) << s.log();
    EXPECT_EQ(got->first, expected);
    if (sluiceSide) {
      EXPECT_EQ(got->second, sluiceSide) << "one socket per flow";
    }
    sluiceSide = got->second;
  }
  EXPECT_FALSE(b.receive(100));

  // The server answers; the client gets it from the address it sent to.
  const Bytes serverCid = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22};
  Bytes answer = serverLongHeader(dcid, serverCid);
  ASSERT_TRUE(a.sendTo(sluiceSide, answer));
  auto back = client.receive(3000);
  ASSERT_TRUE(back) << s.log();
  EXPECT_EQ(back->first, answer);
  EXPECT_EQ(back->second, port);
  for (uint8_t i = 1; i <= 20; ++i) {
    ASSERT_TRUE(client.sendTo(port, shortHeader(serverCid, i)));
    auto got = a.receive(3000);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->first, shortHeader(serverCid, i));
    Bytes reply = shortHeader({9, 9, 9, 9}, i);
    ASSERT_TRUE(a.sendTo(sluiceSide, reply));
    auto r = client.receive(3000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, reply);
  }
  // Silence ends the flow (timeout client 3s here): one line, as TCP's.
  ASSERT_TRUE(eventually([&] { return !linesOf(s, client.port()).empty(); }, 8000)) << s.log();
  std::vector<std::string> lines = linesOf(s, client.port());
  ASSERT_EQ(lines.size(), 1u) << s.log();
  const size_t in = flight[0].size() + flight[1].size() + zeroRtt.size() + 20 * 200;
  const size_t out = answer.size() + 20 * 200;
  EXPECT_NE(lines[0].find("bk_a/a "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(" " + std::to_string(in) + " " + std::to_string(out) + " -- "), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("sni=a.example"), std::string::npos) << lines[0];
}

// A client whose address changes (NAT rebinding) keeps its flow: it is
// found by the connection ID its server chose. The new address is a new
// path, with a server socket of its own (RFC 9000 §9: the server sees the
// move and validates the new address itself); until the client answers on
// it, the server's datagrams reach it only up to three times what it sent
// there. The old path keeps its socket.
TEST_F(Quic, NatRebindingIsANewPathFoundByTheServersConnectionId) {
  UdpPeer a, b, client, moved;
  int port = freePort(), stats = freePort();
  std::string cfg = config(port, a.port(), b.port()) + "frontend stats\n  mode http\n  bind 127.0.0.1:" +
                    std::to_string(stats) + "\n  http-request use-service prometheus-exporter if { path /metrics }\n";
  Sluice s(cfg, {port, stats});
  ASSERT_TRUE(s.started()) << s.log();
  const Bytes dcid = {7, 7, 7, 7, 7, 7, 7, 7};
  for (const Bytes& d : firstFlight("a.example", dcid)) ASSERT_TRUE(client.sendTo(port, d));
  auto got = a.receive(3000);
  ASSERT_TRUE(got) << s.log();
  ASSERT_TRUE(a.receive(3000));
  const int oldSide = got->second;
  const Bytes serverCid = {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c};
  ASSERT_TRUE(a.sendTo(oldSide, serverLongHeader(dcid, serverCid)));
  ASSERT_TRUE(client.receive(3000));
  // The same client, from another port: the same server, from a new socket.
  int newSide = 0;
  for (uint8_t i = 1; i <= 10; ++i) {
    auto r = i == 1 ? sendUntilReceived(moved, port, shortHeader(serverCid, i), a) : std::nullopt;
    if (i > 1) {
      ASSERT_TRUE(moved.sendTo(port, shortHeader(serverCid, i)));
      do r = a.receive(3000);
      while (r && r->first == shortHeader(serverCid, 1));  // a late copy of the first
    }
    ASSERT_TRUE(r) << "datagram " << int(i) << " after the move was lost\n" << s.log();
    if (!newSide) newSide = r->second;
    EXPECT_EQ(r->second, newSide) << "one socket per path";
    EXPECT_EQ(r->first, shortHeader(serverCid, i));
  }
  EXPECT_NE(newSide, oldSide) << "the server must see the client move";
  EXPECT_FALSE(b.receive(50));
  // The server answers on the new path: the client gets it at its new
  // address; the old path still works for what the server sends there.
  Bytes reply = shortHeader({1, 2, 3}, 0x77);
  ASSERT_TRUE(a.sendTo(newSide, reply));
  auto r = moved.receive(3000);
  ASSERT_TRUE(r) << "the answer follows the client to its new address";
  EXPECT_EQ(r->first, reply);
  EXPECT_FALSE(client.receive(200)) << "nothing of the new path goes to the old address";
  Bytes probe = shortHeader({1, 2, 3}, 0x66);
  ASSERT_TRUE(a.sendTo(oldSide, probe));
  auto old = client.receive(3000);
  ASSERT_TRUE(old) << "the old path keeps its socket until the server moves";
  EXPECT_EQ(old->first, probe);
  // The client answered on the new path after the server spoke there: it
  // is validated, and a burst larger than three times what it sent passes.
  ASSERT_TRUE(moved.sendTo(port, shortHeader(serverCid, 0x20)));
  ASSERT_TRUE(a.receive(3000));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(a.sendTo(newSide, shortHeader({4, 4}, static_cast<uint8_t>(i))));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(moved.receive(3000)) << "datagram " << i << " of a validated path";
  std::string metrics = httpBody(httpRequest(stats, "GET", "/metrics"));
  EXPECT_NE(metrics.find("sluice_frontend_quic_paths_opened_total{proxy=\"web\"} 1"), std::string::npos) << metrics;
}

// The reflection attack (issue 22): a client that knows its server's
// connection ID sends one short-header datagram from a victim's address.
// The victim's address becomes a path of its own; whatever the server
// sends there (a fake server here, which sends far more than a real one
// would to an unvalidated address), the victim gets at most three times
// the bytes that came from its address.
TEST_F(Quic, SpoofedMigrationReflectsAtMostThreeTimes) {
  UdpPeer a, b, client, victim;
  int port = freePort(), stats = freePort();
  std::string cfg = config(port, a.port(), b.port()) + "frontend stats\n  mode http\n  bind 127.0.0.1:" +
                    std::to_string(stats) + "\n  http-request use-service prometheus-exporter if { path /metrics }\n";
  Sluice s(cfg, {port, stats});
  ASSERT_TRUE(s.started()) << s.log();
  const Bytes dcid = {7, 6, 7, 6, 7, 6, 7, 6};
  for (const Bytes& d : firstFlight("a.example", dcid)) ASSERT_TRUE(client.sendTo(port, d));
  auto got = a.receive(3000);
  ASSERT_TRUE(got) << s.log();
  ASSERT_TRUE(a.receive(3000));
  const Bytes serverCid = {0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38};
  ASSERT_TRUE(a.sendTo(got->second, serverLongHeader(dcid, serverCid)));
  ASSERT_TRUE(client.receive(3000));
  ASSERT_TRUE(client.sendTo(port, shortHeader(serverCid, 1)));  // the real client confirms its own path
  ASSERT_TRUE(a.receive(3000));
  // 60 bytes "from" the victim (the attacker spoofs its address).
  Bytes spoofed = shortHeader(serverCid, 2);
  spoofed.resize(60);
  size_t fromVictim = 0;
  auto atServer = sendUntilReceived(victim, port, spoofed, a, &fromVictim);
  ASSERT_TRUE(atServer) << s.log();
  ASSERT_NE(atServer->second, got->second) << "a path of its own";
  // The server pours 40 KB onto that path (within the socket's buffer, so
  // that each datagram is read and counted).
  for (int i = 0; i < 40; ++i) {
    Bytes d = shortHeader({9, 9, 9, 9}, static_cast<uint8_t>(i));
    d.resize(1000, static_cast<uint8_t>(i));
    ASSERT_TRUE(a.sendTo(atServer->second, d));
  }
  size_t reflected = 0;
  while (auto r = victim.receive(300)) reflected += r->first.size();
  EXPECT_LE(reflected, 3 * fromVictim) << reflected << " bytes reached the victim for " << fromVictim;
  std::string metrics = httpBody(httpRequest(stats, "GET", "/metrics"));
  EXPECT_NE(metrics.find("reason=\"amplification_limit\"} 40"), std::string::npos) << metrics;
  // The real client's own path is untouched.
  Bytes toClient = shortHeader({1}, 0x55);
  ASSERT_TRUE(a.sendTo(got->second, toClient));
  auto back = client.receive(3000);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->first, toClient);
}

// Datagrams that are not a client's Initial, Initials under 1200 bytes and
// Initials that do not decrypt get no answer, reach no server, and are
// counted; a real flow is served right after.
TEST_F(Quic, GarbageIsDroppedWithoutAReplyAndCounted) {
  UdpPeer a, b, client;
  int port = freePort(), stats = freePort();
  std::string cfg = config(port, a.port(), b.port()) + "frontend stats\n  mode http\n  bind 127.0.0.1:" +
                    std::to_string(stats) + "\n  http-request use-service prometheus-exporter if { path /metrics }\n";
  Sluice s(cfg, {port, stats});
  ASSERT_TRUE(s.started()) << s.log();
  const Bytes dcid = {3, 3, 3, 3, 3, 3, 3, 3};
  Bytes text = {'G', 'E', 'T', ' ', '/', '\r', '\n'};
  Bytes shortInitial = sealInitial(proto::kQuicV1, dcid, 0, cryptoFrame(clientHello("a.example", 0), 0, 100));
  Bytes spoiled = firstFlight("a.example", dcid)[0];
  spoiled[600] ^= 0x10;
  Bytes unknownVersion = spoiled;
  unknownVersion[1] = 0x1a;
  Bytes oneRtt = shortHeader({1, 2, 3, 4, 5, 6, 7, 8}, 0);
  for (const Bytes& d : {text, shortInitial, spoiled, unknownVersion, oneRtt, Bytes(1300, 0xc3)}) {
    ASSERT_TRUE(client.sendTo(port, d));
  }
  EXPECT_FALSE(client.receive(400)) << "sluice never answers an unverified address";
  EXPECT_FALSE(a.receive(50));
  EXPECT_FALSE(b.receive(50));
  std::string metrics = httpBody(httpRequest(stats, "GET", "/metrics"));
  auto count = [&](const std::string& reason) {
    std::string key = "sluice_frontend_quic_dropped_datagrams_total{proxy=\"web\",reason=\"" + reason + "\"} ";
    size_t at = metrics.find(key);
    return at == std::string::npos ? std::string("missing") : metrics.substr(at + key.size(), metrics.find('\n', at) - at - key.size());
  };
  EXPECT_EQ(count("not_quic"), "4") << metrics;
  EXPECT_EQ(count("short_initial"), "1") << metrics;
  EXPECT_EQ(count("undecryptable"), "1") << metrics;
  for (const Bytes& d : firstFlight("a.example", dcid)) ASSERT_TRUE(client.sendTo(port, d));
  EXPECT_TRUE(a.receive(3000)) << s.log();
}

// Bursts sent with UDP GSO, as QUIC stacks send them, both ways: sluice
// takes each burst as one coalesced buffer (GRO) and forwards it as one
// (GSO), or cut into its datagrams with tune.quic.disable-udp-gso; either
// way every datagram arrives whole and in order, the client's first
// flight coalesced too, and the offload counters say what happened.
class QuicOffloads : public Quic, public ::testing::WithParamInterface<bool> {};

TEST_P(QuicOffloads, CoalescedBurstsArriveWholeAndInOrder) {
  const bool gso = GetParam();
  UdpPeer a, b, client;
  int port = freePort(), stats = freePort();
  std::string cfg = config(port, a.port(), b.port(), "", gso ? "" : "  tune.quic.disable-udp-gso\n") +
                    "frontend stats\n  mode http\n  bind 127.0.0.1:" + std::to_string(stats) +
                    "\n  http-request use-service prometheus-exporter if { path /metrics }\n";
  Sluice s(cfg, {port, stats});
  ASSERT_TRUE(s.started()) << s.log();
  const Bytes dcid = {4, 4, 4, 4, 4, 4, 4, 4, 4};
  std::vector<Bytes> flight = firstFlight("a.example", dcid);
  const size_t size = std::max(flight[0].size(), flight[1].size());
  for (Bytes& d : flight) d.resize(size, 0);  // padded alike: one GSO send takes both
  Bytes both = flight[0];
  both.insert(both.end(), flight[1].begin(), flight[1].end());
  ASSERT_TRUE(client.sendCoalesced(port, both, static_cast<uint16_t>(size)));
  auto first = a.receive(3000);
  ASSERT_TRUE(first) << s.log();
  EXPECT_EQ(first->first, flight[0]);
  auto second = a.receive(3000);
  ASSERT_TRUE(second) << s.log();
  EXPECT_EQ(second->first, flight[1]);
  const int sluiceSide = first->second;

  const Bytes serverCid = {0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68};
  ASSERT_TRUE(a.sendTo(sluiceSide, serverLongHeader(dcid, serverCid)));
  ASSERT_TRUE(client.receive(3000));
  // Ten datagrams of `size` bytes and a shorter last one in one GSO send
  // from `from` to `toPort`; `to` must get each, whole, in order, from
  // `expectFrom`.
  auto burst = [&](UdpPeer& from, int toPort, UdpPeer& to, int expectFrom, const Bytes& cid, uint16_t size,
                   size_t last, uint8_t fill, const char* what) {
    Bytes all;
    std::vector<Bytes> sent;
    for (uint8_t i = 0; i < 11; ++i) {
      Bytes d = shortHeader(cid, i);
      d.resize(i == 10 ? last : size, static_cast<uint8_t>(fill + i));
      sent.push_back(d);
      all.insert(all.end(), d.begin(), d.end());
    }
    ASSERT_TRUE(from.sendCoalesced(toPort, all, size));
    for (size_t i = 0; i < sent.size(); ++i) {
      auto r = to.receive(3000);
      ASSERT_TRUE(r) << "datagram " << i << " of the " << what << "'s burst\n" << s.log();
      EXPECT_EQ(r->first, sent[i]) << what << ", datagram " << i;
      EXPECT_EQ(r->second, expectFrom);
    }
  };
  // The client's burst first: it carries the server's connection ID, which
  // confirms the flow (a server's burst before that would be held to three
  // times what the client sent).
  burst(client, port, a, sluiceSide, serverCid, 900, 77, 0x40, "client");
  burst(a, sluiceSide, client, port, {9, 9, 9, 9}, 1000, 333, 0x80, "server");
  EXPECT_FALSE(b.receive(50));
  std::string metrics = httpBody(httpRequest(stats, "GET", "/metrics"));
  auto count = [&](const std::string& way) {
    std::string key = "sluice_frontend_quic_offloaded_datagrams_total{proxy=\"web\",way=\"" + way + "\"} ";
    size_t at = metrics.find(key);
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + key.size()));
  };
  // Loopback hands a GSO send whole to a socket that asked for GRO.
  EXPECT_EQ(count("gro"), 2 + 11 + 11) << metrics;
  EXPECT_EQ(count("gso"), gso ? 22 : 0) << metrics;
}

INSTANTIATE_TEST_SUITE_P(Gso, QuicOffloads, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "GsoOn" : "GsoOff"; });

// ECN marks cross sluice both ways, as each datagram carried them: the
// held first flight replayed, the server's answers, later datagrams with
// each codepoint (RFC 9000 §13.4: the endpoints validate ECN by counting
// the marks that arrive; a proxy that dropped them would turn ECN off).
TEST_F(Quic, EcnMarksCrossBothWays) {
  UdpPeer a, b, client;
  int port = freePort();
  Sluice s(config(port, a.port(), b.port()), {port});
  ASSERT_TRUE(s.started()) << s.log();
  const Bytes dcid = {8, 8, 8, 8, 8, 8, 8, 8};
  client.setEcn(2);  // ECT(0)
  std::vector<Bytes> flight = firstFlight("a.example", dcid);
  for (const Bytes& d : flight) ASSERT_TRUE(client.sendTo(port, d));
  int sluiceSide = 0;
  for (int i = 0; i < 2; ++i) {
    auto got = a.receive(3000);
    ASSERT_TRUE(got) << s.log();
    EXPECT_EQ(a.lastEcn(), 2) << "held datagram " << i;
    sluiceSide = got->second;
  }
  const Bytes serverCid = {0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78};
  for (int ecn : {3, 1, 0, 2}) {
    a.setEcn(ecn);
    ASSERT_TRUE(a.sendTo(sluiceSide, serverLongHeader(dcid, serverCid)));
    ASSERT_TRUE(client.receive(3000)) << s.log();
    EXPECT_EQ(client.lastEcn(), ecn) << "server to client";
    client.setEcn(ecn);
    ASSERT_TRUE(client.sendTo(port, shortHeader(serverCid, static_cast<uint8_t>(ecn))));
    ASSERT_TRUE(a.receive(3000)) << s.log();
    EXPECT_EQ(a.lastEcn(), ecn) << "client to server";
  }
}

// QUIC over IPv6: a quic6@ bind on ::1 routes to a quic6@ server, and a
// dual-stack wildcard bind (quic6@:::port v4v6) answers an IPv4 client from
// the IPv4 address it sent to (its v4-mapped form on the IPv6 socket).
TEST_F(Quic, Ipv6AndDualStackBinds) {
  UdpPeer a6("::1"), client6("::1"), a4, client4;
  ASSERT_TRUE(a6.ok() && client6.ok()) << "no IPv6 on loopback";
  int port = freePort(), wild = freePort();
  std::string cfg = head() + "frontend v6\n  bind quic6@[::1]:" + std::to_string(port) +
                    "\n  bind [::1]:" + std::to_string(port) + "\n  tcp-request inspect-delay 3s\n"
                    "  default_backend six\n"
                    "frontend dual\n  bind quic6@:::" + std::to_string(wild) + " v4v6\n"
                    "  bind 127.0.0.1:" + std::to_string(wild) + "\n  tcp-request inspect-delay 3s\n"
                    "  default_backend four\n"
                    "backend six\n  server s6 quic6@[::1]:" + std::to_string(a6.port()) + "\n"
                    "backend four\n  server s4 quic4@127.0.0.1:" + std::to_string(a4.port()) + "\n";
  Sluice s(cfg, {wild}, {}, 0, "127.0.0.1");
  ASSERT_TRUE(s.started()) << s.log();
  const Bytes dcid = {6, 6, 6, 6, 6, 6, 6, 6};
  const Bytes serverCid = {0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66};
  for (auto [client, server, p] : {std::tuple{&client6, &a6, port}, std::tuple{&client4, &a4, wild}}) {
    std::vector<Bytes> flight = firstFlight("six.example", dcid);
    client->setEcn(2);  // ECT(0): the ECN bits cross as IPV6_TCLASS, or IP_TOS for the v4-mapped client
    for (const Bytes& d : flight) ASSERT_TRUE(client->sendTo(p, d));
    auto got = server->receive(3000);
    ASSERT_TRUE(got) << s.log();
    EXPECT_EQ(got->first, flight[0]);
    EXPECT_EQ(server->lastEcn(), 2) << "port " << p;
    ASSERT_TRUE(server->receive(3000));
    Bytes answer = serverLongHeader(dcid, serverCid);
    server->setEcn(3);  // CE
    ASSERT_TRUE(server->sendTo(got->second, answer));
    auto back = client->receive(3000);
    ASSERT_TRUE(back) << "port " << p << "\n" << s.log();
    EXPECT_EQ(back->first, answer);
    EXPECT_EQ(back->second, p);
    EXPECT_EQ(client->lastEcn(), 3) << "port " << p;
  }
  EXPECT_TRUE(eventually([&] { return s.logLines("six/s6 ").size() == 1 && s.logLines("four/s4 ").size() == 1; },
                         8000))
      << s.log();
}

// QUIC on the stats page and in show stat: the frontend is tagged QUIC and
// its dropped datagrams are told in its errors cell; QUIC servers are
// listed as the file names them; a flow counts in the server's sessions.
TEST_F(Quic, StatsShowQuicFrontendsAndServers) {
  UdpPeer a, b, client;
  int port = freePort(), stats = freePort();
  const std::string sock = makeTempDir("quicstats") + "/admin.sock";
  std::string cfg = config(port, a.port(), b.port(), "", "  stats socket " + sock + " level admin\n") +
                    "listen stats\n  mode http\n  bind 127.0.0.1:" + std::to_string(stats) +
                    "\n  stats enable\n  stats uri /stats\n";
  Sluice s(cfg, {port, stats});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(client.sendTo(port, Bytes(1300, 0xc3)));  // garbage: counted, not answered
  const Bytes dcid = {5, 5, 5, 5, 5, 5, 5, 5};
  for (const Bytes& d : firstFlight("a.example", dcid)) ASSERT_TRUE(client.sendTo(port, d));
  auto opened = a.receive(3000);
  ASSERT_TRUE(opened) << s.log();
  ASSERT_TRUE(a.receive(3000)) << s.log();
  // Not confirmed yet: no session of the frontend, counted apart.
  auto frontendField = [&](size_t column) {
    std::vector<std::string> row = statRow(cliRequest(sock, "show stat\n"), "web", "FRONTEND");
    return row.size() > column ? row[column] : std::string("missing");
  };
  EXPECT_EQ(frontendField(7), "0") << "stot before the client confirmed";
  std::string info = cliRequest(sock, "show info\n");
  EXPECT_NE(info.find("QuicUnconfirmedFlows: 1\n"), std::string::npos) << info;
  EXPECT_NE(info.find("CurrConns: 0\n"), std::string::npos) << "an unconfirmed flow takes no slot\n" << info;
  // The server answers; the client's next datagram names the server's ID.
  const Bytes serverCid = {0x5c, 0x5d, 0x5e, 0x5f};
  ASSERT_TRUE(a.sendTo(opened->second, serverLongHeader(dcid, serverCid)));
  ASSERT_TRUE(client.receive(3000));
  ASSERT_TRUE(client.sendTo(port, shortHeader(serverCid, 1)));
  ASSERT_TRUE(a.receive(3000));
  info = cliRequest(sock, "show info\n");
  EXPECT_NE(info.find("QuicUnconfirmedFlows: 0\n"), std::string::npos) << info;
  EXPECT_NE(info.find("CurrConns: 1\n"), std::string::npos) << info;

  std::string page = httpBody(httpRequest(stats, "GET", "/stats"));
  EXPECT_NE(page.find("<b>FRONTEND</b> <span class=\"tag\">QUIC</span>"), std::string::npos) << page;
  EXPECT_NE(page.find("quic4@127.0.0.1:" + std::to_string(a.port()) + "</span>"), std::string::npos) << page;
  EXPECT_NE(page.find("QUIC datagrams dropped: 1 not QUIC, 0 short Initials, 0 undecryptable"), std::string::npos)
      << page;
  std::string json = httpBody(httpRequest(stats, "GET", "/stats;json"));
  EXPECT_NE(json.find("\"proxy\":\"bk_a\",\"name\":\"a\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"quic\":true"), std::string::npos) << json;
  // show stat: the flow is a session of frontend, backend and server.
  std::string csv = cliRequest(sock, "show stat\n");
  auto field = [&](const std::string& proxy, const std::string& server, size_t column) {
    std::vector<std::string> row = statRow(csv, proxy, server);
    return row.size() > column ? row[column] : std::string("missing");
  };
  EXPECT_EQ(field("bk_a", "a", 4), "1") << csv;   // scur
  EXPECT_EQ(field("bk_a", "a", 7), "1") << csv;   // stot
  EXPECT_EQ(field("web", "FRONTEND", 7), "1") << csv;
}

// A server port that refuses (ICMP port unreachable) before answering
// sends the flow, held datagrams and all, to the next server.
TEST_F(Quic, RefusingServerHandsTheFlowToTheNext) {
  UdpPeer good, client;
  int port = freePort();
  int closed = freePort();
  std::string cfg = head() + "frontend web\n  bind 127.0.0.1:" + std::to_string(port) + "\n  bind quic4@127.0.0.1:" +
                    std::to_string(port) + "\n  tcp-request inspect-delay 3s\n  default_backend bk\n"
                    "backend bk\n  balance first\n  retries 2\n  option redispatch 1\n  server dead quic4@127.0.0.1:" +
                    std::to_string(closed) + "\n  server good quic4@127.0.0.1:" + std::to_string(good.port()) + "\n";
  Sluice s(cfg, {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::vector<Bytes> flight = firstFlight("x.example", {4, 4, 4, 4, 4, 4, 4, 4});
  // Three datagrams held while the hello is read (a 0-RTT packet between
  // its halves): the refusal shows on the socket after the first is sent,
  // and the next server gets each of them once, in order.
  Bytes zeroRtt = {0xd0, 0, 0, 0, 1, 8, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0x40, 0x20};
  zeroRtt.resize(1200, 0x44);
  ASSERT_TRUE(client.sendTo(port, flight[0]));
  ASSERT_TRUE(client.sendTo(port, zeroRtt));
  ASSERT_TRUE(client.sendTo(port, flight[1]));
  auto got = good.receive(1500);
  if (!got) {
    // The refusal came only after the replay: the client's retransmission
    // (as a real client's PTO would) carries on.
    ASSERT_TRUE(client.sendTo(port, flight[0]));
    got = good.receive(3000);
  }
  ASSERT_TRUE(got) << s.log();
  EXPECT_EQ(got->first, flight[0]);
  for (const Bytes& expected : {zeroRtt, flight[1]}) {
    auto next = good.receive(3000);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->first, expected);
  }
  EXPECT_FALSE(good.receive(300)) << "a held datagram reached the next server twice";
}

// maxconn counts flows; tcp-request connection rules and stick-table
// tracking on src apply once per flow, not per datagram.
TEST_F(Quic, MaxconnRulesAndTrackingArePerFlow) {
  UdpPeer a, b, first, second, banned("127.0.0.2");
  int port = freePort();
  std::string admin = makeTempDir("quic-admin") + "/admin.sock";
  std::string extra = "  maxconn 1\n  stick-table type ip size 100 expire 1m store conn_cnt\n"
                      "  tcp-request connection reject if { src 127.0.0.2 }\n"
                      "  tcp-request connection track-sc0 src\n";
  Sluice s(config(port, a.port(), b.port(), extra, "  stats socket " + admin + " level admin\n"), {port});
  ASSERT_TRUE(s.started()) << s.log();
  for (const Bytes& d : firstFlight("a.example", {5, 5, 5, 5, 5, 5, 5, 5})) ASSERT_TRUE(first.sendTo(port, d));
  auto opened = a.receive(3000);
  ASSERT_TRUE(opened);
  ASSERT_TRUE(a.receive(3000));
  // The server answers, so the flow is established: no "timeout connect"
  // retry (which replays the held datagrams) on a slow, sanitized run.
  ASSERT_TRUE(a.sendTo(opened->second, serverLongHeader({5, 5, 5, 5, 5, 5, 5, 5}, {5, 1})));
  ASSERT_TRUE(first.receive(3000));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(first.sendTo(port, shortHeader({5}, static_cast<uint8_t>(i))));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(a.receive(3000));
  // A second flow is over the frontend's maxconn: dropped.
  for (const Bytes& d : firstFlight("a.example", {6, 6, 6, 6, 6, 6, 6, 6})) ASSERT_TRUE(second.sendTo(port, d));
  EXPECT_FALSE(a.receive(400));
  // A refused source never opens one.
  for (const Bytes& d : firstFlight("a.example", {8, 8, 8, 8, 8, 8, 8, 8})) ASSERT_TRUE(banned.sendTo(port, d));
  EXPECT_FALSE(a.receive(300));
  std::string table = cliRequest(admin, "show table web\n");
  EXPECT_NE(table.find("key=127.0.0.1 use=1 exp="), std::string::npos) << table;
  EXPECT_NE(table.find("conn_cnt=1"), std::string::npos) << "one flow, one connection\n" << table;
  std::string sess = cliRequest(admin, "show sess\n");
  EXPECT_NE(sess.find("proto=quic4 src=127.0.0.1:" + std::to_string(first.port())), std::string::npos) << sess;
  EXPECT_NE(sess.find("state=quic-forwarding sni=a.example"), std::string::npos) << sess;
}

// "Slots" (issue 22): 40 spoofed half hellos from 40 addresses that never
// speak again, with global maxconn 20. They are unconfirmed flows: they take
// no connection slot, so a TCP client of another frontend is served at
// once; they live in their own budget and are counted.
TEST_F(Quic, SpoofedHalfHellosTakeNoConnectionSlot) {
  UdpPeer a, b;
  TestServer web("web", TestServer::Mode::Identify);
  int port = freePort(), tcpPort = freePort();
  const std::string sock = makeTempDir("quicslots") + "/admin.sock";
  std::string cfg = config(port, a.port(), b.port(), "", "  maxconn 20\n  stats socket " + sock + " level admin\n") +
                    "frontend plain\n  bind 127.0.0.1:" + std::to_string(tcpPort) +
                    "\n  default_backend web\nbackend web\n  server w 127.0.0.1:" + std::to_string(web.port()) + "\n";
  Sluice s(cfg, {port, tcpPort});
  ASSERT_TRUE(s.started()) << s.log();
  std::vector<std::unique_ptr<UdpPeer>> spoofed;
  for (int i = 0; i < 40; ++i) {
    spoofed.push_back(std::make_unique<UdpPeer>());
    const Bytes dcid = {9, 9, static_cast<uint8_t>(i), 9, 9, 9, 9, 9};
    ASSERT_TRUE(spoofed.back()->sendTo(port, firstFlight("a.example", dcid)[0]));  // half a hello, never the rest
  }
  ASSERT_TRUE(eventually([&] {
    return cliRequest(sock, "show info\n").find("QuicUnconfirmedFlows: 40\n") != std::string::npos;
  })) << cliRequest(sock, "show info\n");
  EXPECT_EQ(askServerName(tcpPort), "web") << s.log();
  // Once that connection is over, the 40 flows hold no slot.
  EXPECT_TRUE(eventually([&] { return cliRequest(sock, "show info\n").find("CurrConns: 0\n") != std::string::npos; }))
      << cliRequest(sock, "show info\n");
  // And a real QUIC client after them still gets through.
  UdpPeer client;
  const Bytes dcid = {1, 1, 1, 2, 2, 2, 3, 3};
  for (const Bytes& d : firstFlight("a.example", dcid)) ASSERT_TRUE(client.sendTo(port, d));
  auto got = a.receive(3000);
  ASSERT_TRUE(got) << s.log();
}

// The budget of unconfirmed flows (an equal share on each thread): past
// it, the oldest unconfirmed flow of the frontend on the thread that
// received the new one makes room, so a storm of spoofed Initials cannot
// keep a real client's handshake from starting, whichever thread its
// datagrams reach; and an unconfirmed flow ends at
// tune.quic.unconfirmed-timeout, logged cC (the server answered, the client
// never confirmed).
TEST_F(Quic, UnconfirmedFlowsHaveABudgetAndALifetime) {
  UdpPeer a, b;
  int port = freePort();
  const std::string sock = makeTempDir("quicbudget") + "/admin.sock";
  std::string cfg = config(port, a.port(), b.port(), "",
                           "  tune.quic.max-unconfirmed 4\n  tune.quic.unconfirmed-timeout 700ms\n"
                           "  stats socket " + sock + " level admin\n");
  Sluice s(cfg, {port});
  ASSERT_TRUE(s.started()) << s.log();
  std::vector<std::unique_ptr<UdpPeer>> storm;
  for (int i = 0; i < 30; ++i) {
    storm.push_back(std::make_unique<UdpPeer>());
    const Bytes dcid = {7, 7, static_cast<uint8_t>(i), 7, 7, 7, 7, 7};
    for (const Bytes& d : firstFlight("a.example", dcid)) ASSERT_TRUE(storm.back()->sendTo(port, d));
  }
  ASSERT_TRUE(eventually([&] {
    std::string info = cliRequest(sock, "show info\n");
    auto value = [&](const std::string& k) {
      size_t at = info.find(k + ": ");
      return at == std::string::npos ? -1 : std::stoll(info.substr(at + k.size() + 2));
    };
    // At least 26 of the 30 made room (more when a flow's second datagram
    // came after it was evicted: it starts again).
    return value("QuicUnconfirmedEvicted") >= 26 && value("QuicUnconfirmedFlows") <= 4;
  })) << cliRequest(sock, "show info\n");
  // A flow whose server answers but whose client never confirms ends at
  // its timeout, logged cC; the server's answer was passed on once. It
  // starts while the storm's last flows still fill the budget.
  while (a.receive(100)) {
  }
  UdpPeer quiet;
  const Bytes dcid = {6, 6, 6, 6, 1, 1, 1, 1};
  for (const Bytes& d : firstFlight("a.example", dcid)) ASSERT_TRUE(quiet.sendTo(port, d));
  auto got = a.receive(3000);
  ASSERT_TRUE(got) << cliRequest(sock, "show info\n") << s.log();
  ASSERT_TRUE(a.sendTo(got->second, serverLongHeader(dcid, {6, 6, 6, 6})));
  ASSERT_TRUE(quiet.receive(3000));
  ASSERT_TRUE(eventually([&] { return !linesOf(s, quiet.port()).empty(); }, 5000)) << s.log();
  EXPECT_NE(linesOf(s, quiet.port())[0].find(" cC "), std::string::npos) << linesOf(s, quiet.port())[0];
  EXPECT_NE(cliRequest(sock, "show info\n").find("QuicUnconfirmedExpired: "), std::string::npos);
}

// A QUIC flow's bytes reach the stick table entry it tracks (bytes_in_cnt,
// bytes_out_cnt), as a TCP session's do.
TEST_F(Quic, TrackedFlowsCountTheirBytes) {
  UdpPeer a, b, client;
  int port = freePort();
  const std::string sock = makeTempDir("quicbytes") + "/admin.sock";
  std::string extra = "  stick-table type ip size 100 expire 1m store bytes_in_cnt,bytes_out_cnt\n"
                      "  tcp-request connection track-sc0 src\n";
  Sluice s(config(port, a.port(), b.port(), extra, "  stats socket " + sock + " level admin\n"), {port});
  ASSERT_TRUE(s.started()) << s.log();
  const Bytes dcid = {4, 3, 2, 1, 4, 3, 2, 1};
  std::vector<Bytes> flight = firstFlight("a.example", dcid);
  for (const Bytes& d : flight) ASSERT_TRUE(client.sendTo(port, d));
  auto got = a.receive(3000);
  ASSERT_TRUE(got) << s.log();
  ASSERT_TRUE(a.receive(3000));
  Bytes answer = serverLongHeader(dcid, {4, 4, 4, 4});
  ASSERT_TRUE(a.sendTo(got->second, answer));
  ASSERT_TRUE(client.receive(3000));
  // Silence ends the flow (timeout client 3s); its bytes are then counted.
  ASSERT_TRUE(eventually([&] { return !linesOf(s, client.port()).empty(); }, 8000)) << s.log();
  const size_t in = flight[0].size() + flight[1].size();
  std::string table = cliRequest(sock, "show table web\n");
  EXPECT_NE(table.find("bytes_in_cnt=" + std::to_string(in)), std::string::npos) << table;
  EXPECT_NE(table.find("bytes_out_cnt=" + std::to_string(answer.size())), std::string::npos) << table;
}

// set-src / set-dst change what the rules and the log report, never where
// the flow's datagrams go: the answer still reaches the real client.
TEST_F(Quic, SetSrcChangesTheReportNotTheWire) {
  UdpPeer a, b, client;
  int port = freePort();
  Sluice s(config(port, a.port(), b.port(),
                  "  tcp-request connection set-src str(127.0.0.9)\n"
                  "  tcp-request connection set-dst str(127.0.0.8)\n"),
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  // The whole hello in one datagram: the answer comes before the client
  // sends anything else.
  const Bytes dcid = {9, 9, 9, 9, 9, 9, 9, 9};
  Bytes hello = clientHello("a.example", 0);
  ASSERT_TRUE(client.sendTo(port, datagram({sealInitial(proto::kQuicV1, dcid, 0, cryptoFrame(hello, 0, hello.size()))})));
  auto got = a.receive(3000);
  ASSERT_TRUE(got) << s.log();
  Bytes reply = serverLongHeader(dcid, {1, 2, 3, 4, 5, 6, 7, 8});
  ASSERT_TRUE(a.sendTo(got->second, reply));
  auto back = client.receive(3000);
  ASSERT_TRUE(back) << "the answer went to the address the rules reported\n" << s.log();
  EXPECT_EQ(back->first, reply);
  EXPECT_EQ(back->second, port);
  ASSERT_TRUE(eventually([&] { return !s.logLines("127.0.0.9:").empty(); }, 8000)) << s.log();
  EXPECT_NE(s.logLines("127.0.0.9:")[0].find(" bk_a/a "), std::string::npos) << s.log();
}

// A reload keeps flows going on the same sockets, and new flows start on
// the new configuration.
TEST_F(Quic, FlowsSurviveAReload) {
  UdpPeer a, b, client, later;
  int port = freePort();
  Sluice s(config(port, a.port(), b.port()), {port});
  ASSERT_TRUE(s.started()) << s.log();
  for (const Bytes& d : firstFlight("a.example", {2, 2, 2, 2, 2, 2, 2, 2})) ASSERT_TRUE(client.sendTo(port, d));
  auto got = a.receive(3000);
  ASSERT_TRUE(got);
  ASSERT_TRUE(a.receive(3000));
  ASSERT_TRUE(a.sendTo(got->second, serverLongHeader({2, 2, 2, 2, 2, 2, 2, 2}, {2, 1})));  // established
  ASSERT_TRUE(client.receive(3000));
  kill(s.process().pid(), SIGHUP);
  ASSERT_TRUE(s.waitForLog("configuration reloaded", 5000)) << s.log();
  for (uint8_t i = 0; i < 30; ++i) {
    ASSERT_TRUE(client.sendTo(port, shortHeader({2}, i)));
    auto r = a.receive(3000);
    ASSERT_TRUE(r) << "datagram " << int(i) << " lost across the reload\n" << s.log();
    EXPECT_EQ(r->second, got->second);
    usleep(20000);
  }
  ASSERT_TRUE(a.sendTo(got->second, shortHeader({1}, 1)));
  EXPECT_TRUE(client.receive(3000));
  for (const Bytes& d : firstFlight("b.example", {3, 2, 3, 2, 3, 2, 3, 2})) ASSERT_TRUE(later.sendTo(port, d));
  EXPECT_TRUE(b.receive(3000)) << s.log();
}

}  // namespace
}  // namespace sluice::testing
