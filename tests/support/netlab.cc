// SPDX-License-Identifier: Apache-2.0
// The network lab; see netlab.h.
#include "netlab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

namespace sluice::testing::lab {
namespace {

using Clock = std::chrono::steady_clock;

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr uint64_t kFnvBasis = 1469598103934665603ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

// Fills `out` with stream bytes [offset, offset + n).
void fillStream(uint64_t seed, uint64_t offset, uint8_t* out, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint64_t off = offset + i;
    if (off < 8) {
      out[i++] = static_cast<uint8_t>(seed >> (8 * off));
      continue;
    }
    uint64_t word = mix(seed ^ ((off >> 3) * 0xd6e8feb86659fd93ULL));
    for (unsigned b = off & 7; b < 8 && i < n; ++b) out[i++] = static_cast<uint8_t>(word >> (8 * b));
  }
}

std::string ipPath() {
  static const std::string path = [] {
    std::string out;
    if (runCommand("command -v ip", &out) != 0) return std::string("/usr/sbin/ip");
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }();
  return path;
}

std::atomic<int> labCounter{0};

}  // namespace

uint8_t streamByte(uint64_t seed, uint64_t offset) {
  uint8_t b;
  fillStream(seed, offset, &b, 1);
  return b;
}

uint64_t streamHash(uint64_t seed, uint64_t n) {
  uint64_t h = kFnvBasis;
  uint8_t buf[65536];
  for (uint64_t off = 0; off < n;) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(sizeof buf, n - off));
    fillStream(seed, off, buf, k);
    for (size_t i = 0; i < k; ++i) h = (h ^ buf[i]) * kFnvPrime;
    off += k;
  }
  return h;
}

std::string unavailableReason() {
  if (geteuid() != 0) return "needs root (network namespaces, veth, tc)";
  if (runCommand("command -v ip >/dev/null") != 0) return "iproute2 (ip) is not installed";
  if (runCommand("command -v tc >/dev/null") != 0) return "iproute2 (tc) is not installed";
  if (runCommand("command -v ethtool >/dev/null") != 0) return "ethtool is not installed (scripts/install-deps installs it)";
  if (runCommand("command -v nft >/dev/null") != 0) return "nftables is not installed (scripts/install-deps installs it)";
  return {};
}

bool PeerResult::whole(uint64_t seed, uint64_t n) const {
  return received == n && firstMismatch == UINT64_MAX && eof && !reset && !timedOut && error.empty() &&
         (n < 8 || peerSeed == seed) && hash == streamHash(seed, n);
}

std::string PeerResult::describe() const {
  std::ostringstream o;
  o << "port " << localPort << ": received " << received << " (hash " << std::hex << hash << std::dec
    << ", seed " << std::hex << peerSeed << std::dec << ")";
  if (firstMismatch != UINT64_MAX) o << ", first wrong byte at " << firstMismatch;
  o << ", sent " << sent << (eof ? ", eof" : ", no eof") << (reset ? ", reset" : "")
    << (timedOut ? ", TIMED OUT" : "") << (aborted ? ", aborted" : "");
  if (!error.empty()) o << ", error: " << error;
  return o.str();
}

PeerResult runPeer(int fd, const PeerPlan& plan, uint64_t peerSeed) {
  PeerResult r;
  r.peerSeed = peerSeed;
  bool learning = peerSeed == 0;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    r.localPort = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(ss).sin_port
                                                : reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int64_t start = nowMs();
  const int64_t deadline = start + scaled(plan.timeoutMs);
  int64_t nextRead = start;
  int64_t nextWrite = start;
  bool shut = false;
  uint64_t hash = kFnvBasis;
  std::vector<uint8_t> wbuf(std::max<size_t>(plan.writeChunk, 1));
  constexpr size_t kFastRead = 262144;
  std::vector<uint8_t> rbuf(std::max(plan.readChunk, kFastRead));
  std::vector<uint8_t> expect(rbuf.size());
  while (true) {
    bool sendingDone = r.sent >= plan.sendBytes;
    if (sendingDone && plan.shutdownAfterSend && !shut && !r.reset) {
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    bool mayWrite = !sendingDone && !r.reset && (!plan.sendAfterEof || r.eof);
    bool mayRead = !r.eof && !r.reset;
    if (!mayRead && !mayWrite) break;
    int64_t t = nowMs();
    if (t >= deadline) {
      r.timedOut = true;
      break;
    }
    bool slowPhase = plan.readDelayMs > 0 && (plan.slowReadForMs < 0 || t - start < plan.slowReadForMs);
    int64_t wait = deadline - t;
    short events = 0;
    if (mayRead) {
      if (t >= nextRead || !slowPhase) {
        events |= POLLIN;
      } else {
        wait = std::min(wait, nextRead - t);
      }
    }
    if (mayWrite) {
      if (t >= nextWrite) {
        events |= POLLOUT;
      } else {
        wait = std::min(wait, nextWrite - t);
      }
    }
    pollfd p{fd, events, 0};
    int pr = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(wait, 1)));
    if (pr < 0 && errno != EINTR) {
      r.error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (pr <= 0) continue;
    if ((events & POLLIN) && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      size_t want = slowPhase ? plan.readChunk : rbuf.size();
      ssize_t n = ::recv(fd, rbuf.data(), want, 0);
      if (n > 0) {
        size_t got = static_cast<size_t>(n);
        uint64_t at = r.received;
        r.received += got;
        for (size_t i = 0; i < got; ++i) hash = (hash ^ rbuf[i]) * kFnvPrime;
        size_t from = 0;
        if (learning) {
          for (; from < got && at + from < 8; ++from) {
            r.peerSeed |= static_cast<uint64_t>(rbuf[from]) << (8 * (at + from));
          }
          if (at + from >= 8) learning = false;
        }
        if (!learning && from < got && r.firstMismatch == UINT64_MAX) {
          fillStream(r.peerSeed, at + from, expect.data(), got - from);
          if (std::memcmp(expect.data(), rbuf.data() + from, got - from) != 0) {
            for (size_t i = from; i < got; ++i) {
              if (expect[i - from] != rbuf[i]) {
                r.firstMismatch = at + i;
                break;
              }
            }
          }
        }
        if (slowPhase) nextRead = nowMs() + plan.readDelayMs;
      } else if (n == 0) {
        r.eof = true;
      } else if (errno == ECONNRESET || errno == EPIPE) {
        r.reset = true;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        r.error = std::string("recv: ") + std::strerror(errno);
        break;
      }
    }
    if ((events & POLLOUT) && (p.revents & (POLLOUT | POLLERR | POLLHUP)) && !r.reset) {
      uint64_t limit = std::min(plan.sendBytes, plan.resetAfter);
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(wbuf.size(), limit - r.sent));
      if (chunk > 0) {
        fillStream(plan.seed, r.sent, wbuf.data(), chunk);
        ssize_t n = ::send(fd, wbuf.data(), chunk, MSG_NOSIGNAL);
        if (n > 0) {
          r.sent += static_cast<uint64_t>(n);
          if (plan.writeDelayMs > 0) nextWrite = nowMs() + plan.writeDelayMs;
        } else if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) {
          r.reset = true;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          r.error = std::string("send: ") + std::strerror(errno);
          break;
        }
      }
      if (r.sent >= plan.resetAfter) {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd);
        r.aborted = true;
        r.hash = hash;
        return r;
      }
    }
  }
  r.hash = hash;
  ::close(fd);
  return r;
}

// ---------------------------------------------------------------------------

Netns::Netns(const std::string& name) : name_(name) {
  ok_ = runCommand(ipPath() + " netns add " + name_ + " 2>/dev/null") == 0 &&
        runCommand(ipPath() + " -n " + name_ + " link set lo up") == 0;
}

Netns::~Netns() { runCommand(ipPath() + " netns del " + name_ + " 2>/dev/null"); }

int Netns::run(const std::string& cmd, std::string* output) const {
  return runCommand(ipPath() + " netns exec " + name_ + " " + cmd, output);
}

InNetns::InNetns(const Netns& ns) {
  saved_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = ::open(("/var/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
  if (saved_ >= 0 && fd >= 0) ok_ = ::setns(fd, CLONE_NEWNET) == 0;
  if (fd >= 0) ::close(fd);
}

InNetns::~InNetns() {
  if (ok_) ::setns(saved_, CLONE_NEWNET);
  if (saved_ >= 0) ::close(saved_);
}

// ---------------------------------------------------------------------------

Lab::Lab(const LinkSpec& clientLink, const LinkSpec& serverLink) {
  tag_ = "sl" + std::to_string(getpid() % 100000) + "x" + std::to_string(labCounter.fetch_add(1));
  dir_ = makeTempDir("lab");
  c_ = std::make_unique<Netns>(tag_ + "c");
  p_ = std::make_unique<Netns>(tag_ + "p");
  s_ = std::make_unique<Netns>(tag_ + "s");
  if (!c_->ok() || !p_->ok() || !s_->ok()) {
    fail("cannot create network namespaces");
    return;
  }
  if (!setupLink(*c_, tag_ + "a", std::string(kClientAddr), *p_, tag_ + "b", std::string(kFrontAddr),
                 clientLink)) {
    return;
  }
  if (!setupLink(*s_, tag_ + "d", std::string(kServerAddr), *p_, tag_ + "e", std::string(kBackAddr),
                 serverLink)) {
    return;
  }
  ok_ = true;
}

Lab::~Lab() {
  if (sluice_) stopSluice();
}

bool Lab::fail(const std::string& why) {
  error_ = why;
  ok_ = false;
  return false;
}

bool Lab::setupLink(const Netns& a, const std::string& devA, const std::string& addrA, const Netns& b,
                    const std::string& devB, const std::string& addrB, const LinkSpec& spec) {
  std::string ip = ipPath();
  std::string out;
  if (runCommand(ip + " link add " + devA + " netns " + a.name() + " type veth peer name " + devB + " netns " +
                     b.name() + " 2>&1",
                 &out) != 0) {
    return fail("cannot create a veth pair: " + out);
  }
  struct End {
    const Netns& ns;
    std::string dev, addr;
  };
  for (const End& e : {End{a, devA, addrA}, End{b, devB, addrB}}) {
    std::string n = " -n " + e.ns.name() + " ";
    if (runCommand(ip + n + "addr add " + e.addr + "/24 dev " + e.dev) != 0 ||
        runCommand(ip + n + "link set " + e.dev + " mtu " + std::to_string(spec.mtu) + " up") != 0) {
      return fail("cannot configure " + e.dev);
    }
    std::string k = spec.offloads ? "on" : "off";
    if (e.ns.run("ethtool -K " + e.dev + " tso " + k + " gso " + k + " gro " + k + " >/dev/null 2>&1") != 0) {
      return fail("ethtool -K " + e.dev + " failed");
    }
    if (spec.rateKbit > 0) {
      int burst = std::max(16384, 4 * spec.mtu);
      if (e.ns.run("tc qdisc add dev " + e.dev + " root tbf rate " + std::to_string(spec.rateKbit) +
                       "kbit burst " + std::to_string(burst) + " latency 200ms 2>&1",
                   &out) != 0) {
        return fail("tc tbf refused: " + out);
      }
    }
  }
  if (spec.lossPermille > 0) {
    std::string file = dir_ + "/loss-" + devB + ".nft";
    writeFile(file, "table inet lab_" + devB + " {\n  chain in {\n    type filter hook input priority 0; policy accept;\n"
                    "    iifname \"" + devB + "\" meta l4proto { tcp, udp } numgen random mod 1000 < " +
                    std::to_string(spec.lossPermille) + " counter drop\n  }\n}\n");
    if (b.run("nft -f " + file + " 2>&1", &out) != 0) return fail("nftables refused the loss rule: " + out);
    lossTables_.push_back("lab_" + devB);
  }
  return true;
}

bool Lab::startSluice(const std::string& config, int port) {
  std::string cfg = dir_ + "/sluice.cfg";
  writeFile(cfg, config);
  sluice_ = std::make_unique<Process>(
      std::vector<std::string>{ipPath(), "netns", "exec", p_->name(), binaryPath(), "-db", "-f", cfg},
      dir_ + "/sluice.log");
  std::string probe = "ss -Hltn 'sport = :" + std::to_string(port) + "'";
  bool admin = config.find(adminSocket()) != std::string::npos;
  return eventually([&] {
    std::string out;
    if (p_->run(probe, &out) != 0 || out.find(std::string(kFrontAddr) + ":" + std::to_string(port)) == std::string::npos) {
      return false;
    }
    return !admin || info("Pid") > 0;
  });
}

long long Lab::info(const std::string& name) const {
  std::string text = cliRequest(adminSocket(), "show info\n", scaled(2000));
  size_t at = text.find(name + ": ");
  if (at == std::string::npos || (at > 0 && text[at - 1] != '\n')) return -1;
  return std::atoll(text.c_str() + at + name.size() + 2);
}

uint64_t Lab::droppedPackets() const {
  uint64_t total = 0;
  for (const std::string& table : lossTables_) {
    std::string out;
    if (p_->run("nft list table inet " + table, &out) != 0) continue;
    size_t at = out.find("counter packets ");
    if (at != std::string::npos) total += std::stoull(out.substr(at + 16));
  }
  return total;
}

pid_t Lab::sluicePid() const { return sluice_ ? sluice_->pid() : -1; }

std::string Lab::sluiceLog() const { return sluice_ ? sluice_->output() : std::string(); }

std::string Lab::stopSluice() {
  if (!sluice_) return {};
  int status = sluice_->stop(SIGTERM, scaled(5000));
  std::string out = sluice_->output();
  sluice_.reset();
  if (status != 0) ADD_FAILURE() << "sluice did not exit cleanly on SIGTERM (status " << status << ")\n" << out;
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                             "WARNING: ThreadSanitizer"}) {
    if (out.find(marker) != std::string::npos) {
      ADD_FAILURE() << "sanitizer report in sluice's output:\n" << out;
      break;
    }
  }
  return out;
}

int Lab::listenServer(int port, int rcvbuf) {
  InNetns in(*s_);
  if (!in.ok()) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, kServerAddr, &a.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 256) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int Lab::connectClient(int port, int rcvbuf, int timeoutMs) {
  int fd;
  {
    InNetns in(*c_);
    if (!in.ok()) return -1;
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  }
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, kFrontAddr, &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof err;
  if (::poll(&p, 1, scaled(timeoutMs)) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// ---------------------------------------------------------------------------

ConversationResult converse(Lab& lab, int frontPort, int serverPort, const Conversation& c) {
  ConversationResult result;
  result.clients.resize(static_cast<size_t>(c.connections));
  int listenFd = lab.listenServer(serverPort, c.server.rcvbuf);
  if (listenFd < 0) {
    ADD_FAILURE() << "cannot listen in the server namespace on port " << serverPort;
    return result;
  }
  constexpr uint64_t kTinySeed = 0x7e57c11e47ULL;
  std::mutex mu;
  std::vector<std::thread> serverThreads;
  std::thread acceptor([&] {
    int64_t until = nowMs() + scaled(c.server.timeoutMs);
    for (int accepted = 0; accepted < c.connections && nowMs() < until;) {
      pollfd p{listenFd, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted;
      std::lock_guard<std::mutex> lock(mu);
      serverThreads.emplace_back([&, fd] {
        PeerResult r = runPeer(fd, c.server, c.client.sendBytes < 8 ? kTinySeed : 0);
        std::lock_guard<std::mutex> l(mu);
        result.servers.push_back(r);
      });
    }
  });
  std::vector<std::thread> clients;
  for (int i = 0; i < c.connections; ++i) {
    clients.emplace_back([&, i] {
      PeerPlan plan = c.client;
      plan.seed = c.client.sendBytes < 8 ? kTinySeed : 0xc11e000000ULL + static_cast<uint64_t>(i) + 1;
      int fd = lab.connectClient(frontPort, plan.rcvbuf);
      if (fd < 0) {
        result.clients[static_cast<size_t>(i)].error = "connect failed";
        return;
      }
      result.clients[static_cast<size_t>(i)] = runPeer(fd, plan, c.server.seed);
    });
  }
  for (std::thread& t : clients) t.join();
  acceptor.join();
  ::close(listenFd);
  std::vector<std::thread> finishing;
  {
    std::lock_guard<std::mutex> lock(mu);
    finishing.swap(serverThreads);
  }
  for (std::thread& t : finishing) t.join();
  return result;
}

}  // namespace sluice::testing::lab
