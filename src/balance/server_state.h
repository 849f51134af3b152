// SPDX-License-Identifier: Apache-2.0
// The live state of one server, shared by every worker thread: whether it is
// up, its administrative state, its effective weight and its connection
// count. Written with atomics so that balancing, health checks and the data
// path never take a lock to read it. Counters for logs and statistics live
// here too.
#pragma once

#include <array>
#include <atomic>
#include <cstring>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "core/address.h"
#include "observe/counters.h"

namespace sluice::balance {

enum class AdminState : uint8_t { Ready, Drain, Maint };

// Raised whenever any server's health, administrative state or weight
// changes. A balancer compares it on each pick and rebuilds its lists of
// usable servers only when it moved, so that a pick costs the same with 10
// servers as with 10,000 instead of looking at every one of them.
inline std::atomic<uint64_t>& stateVersion() {
  static std::atomic<uint64_t> version{0};
  return version;
}

// An atomic whose changes raise stateVersion(): every writer (health checks,
// agents, slow start, the runtime API, server-state files, a reload) is seen
// by the balancers without having to tell them.
template <class T>
class Watched {
 public:
  explicit Watched(T v) : value_(v) {}
  T load(std::memory_order order = std::memory_order_seq_cst) const { return value_.load(order); }
  void store(T v, std::memory_order order = std::memory_order_seq_cst) { exchange(v, order); }
  T exchange(T v, std::memory_order order = std::memory_order_seq_cst) {
    T old = value_.exchange(v, order);
    if (old != v) stateVersion().fetch_add(1, std::memory_order_release);
    return old;
  }
  Watched& operator=(T v) {
    store(v);
    return *this;
  }
  operator T() const { return load(); }

 private:
  std::atomic<T> value_;
};

struct ServerState;

// Told when a server's connection count changes (leastconn keeps its
// servers ordered by load instead of comparing all of them on each pick).
class LoadWatcher {
 public:
  virtual void loadChanged(ServerState& s) = 0;

 protected:
  ~LoadWatcher() = default;
};

struct ServerCounters {
  std::atomic<uint64_t> connections{0};      // connections sent to this server (stot, lbtot)
  std::atomic<uint64_t> connectErrors{0};    // econ
  std::atomic<uint64_t> retries{0};          // wretr
  std::atomic<uint64_t> redispatches{0};     // wredis
  std::atomic<uint64_t> bytesIn{0};          // client -> server
  std::atomic<uint64_t> bytesOut{0};         // server -> client
  std::atomic<uint32_t> maxConnections{0};   // peak of currentConnections
  std::atomic<uint64_t> wentDown{0};         // health transitions (chkdown)
  std::atomic<uint64_t> wentUp{0};
  std::atomic<uint64_t> checkFailures{0};    // failed checks, "chkfail"
  std::atomic<uint64_t> clientAborts{0};     // cli_abrt
  std::atomic<uint64_t> serverAborts{0};     // srv_abrt
  std::atomic<uint64_t> lastSession{0};      // monotonic seconds (lastsess)
  observe::RateCounter sessionRate;
  observe::SlidingAverage queueTime;
  observe::SlidingAverage connectTime;
  observe::SlidingAverage totalTime;
};

// A server's address as DNS or the runtime API last set it, read by every
// connection to the server and written by the control thread: a seqlock
// over atomic words, so that a read takes no lock, never sees half an
// address, and sessions made under an older runtime (queued, retrying)
// use the new address too.
class LiveAddress {
 public:
  void store(const core::Address& a) {
    std::array<uint64_t, kWords> w{};
    std::memcpy(w.data(), a.sockaddrPtr(), std::min<size_t>(a.length(), sizeof(w)));
    seq_.fetch_add(1, std::memory_order_acq_rel);  // odd: being written
    for (size_t i = 0; i < kWords; ++i) words_[i].store(w[i], std::memory_order_relaxed);
    seq_.fetch_add(1, std::memory_order_release);
  }
  core::Address load() const {
    std::array<uint64_t, kWords> w{};
    for (;;) {
      const uint32_t before = seq_.load(std::memory_order_acquire);
      if (before & 1) continue;
      for (size_t i = 0; i < kWords; ++i) w[i] = words_[i].load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);  // the words are read before the check
      if (seq_.load(std::memory_order_relaxed) == before) break;
    }
    sockaddr_storage ss{};
    std::memcpy(&ss, w.data(), sizeof(w));
    const socklen_t len = ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return {};
    return core::Address::fromSockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
  }

 private:
  static constexpr size_t kWords = 4;  // a sockaddr_in6 (28 bytes) fits
  std::atomic<uint32_t> seq_{0};
  std::array<std::atomic<uint64_t>, kWords> words_{};
};

// What survives a reload: a server with the same backend and name in the new
// configuration keeps this object, so health, drain, live weight, the
// connection count (sessions started before the reload still hold slots) and
// counters carry over.
struct ServerLive {
  // Where the server is, and whether it has an address at all (DNS may
  // give it none): both changed in place by DNS answers and "set server
  // addr", without a new runtime.
  LiveAddress address;
  Watched<bool> resolved{true};
  Watched<bool> up{true};
  Watched<AdminState> admin{AdminState::Ready};
  Watched<uint32_t> weight{1};               // effective weight
  std::atomic<bool> weightSetLive{false};    // "set server weight" overrides the file
  std::atomic<bool> maintInherited{false};   // in maintenance because the server it tracks is
  std::atomic<uint32_t> consecutiveErrors{0};  // "observe layer4": failed connects in a row
  std::atomic<int32_t> currentConnections{0};
  std::atomic<int32_t> throttle{-1};        // slow start: percent of the weight; -1 not ramping
  // "disable health": checks paused, the server counted up (HAProxy's
  // unchecked state). A server added with "check" starts so.
  std::atomic<bool> healthDisabled{false};
  std::atomic<uint64_t> lastChange{0};       // wall-clock seconds of the last up/down change
  ServerCounters counters;
  // Health details for the stats page and "show stat"; control thread only.
  std::string checkStatus;                   // "L4OK", "L7STS", ... empty when not checked
  std::string checkInfo;
  int checkCode = 0;                         // HTTP status of the last check, 0 if none
  uint64_t checkDurationMs = 0;
  uint64_t downSince = 0;                    // wall-clock seconds; 0 while up
  uint64_t downtimeTotal = 0;                // seconds spent down before downSince
  uint32_t checkHealth = 0;
  uint32_t checkRise = 0;
  uint32_t checkFall = 0;
  // Where the health check stands, so that a rebuilt runtime (a reload, a
  // runtime API change, a DNS answer) neither resets its rise/fall count nor
  // moves its next check: consecutive results and the loop time it is due.
  uint32_t checkPassed = 0;
  uint32_t checkFailed = 0;
  uint64_t checkDueAt = 0;                   // 0: never scheduled
  uint64_t rampFrom = 0, rampUntil = 0;      // slow start under way (loop ms), 0: none
  uint64_t agentDueAt = 0;                   // the agent check's next time, 0: never scheduled
};

struct ServerState {
  explicit ServerState(std::shared_ptr<ServerLive> l = std::make_shared<ServerLive>())
      : live(std::move(l)) {}
  ServerState(const ServerState&) = delete;
  ServerState& operator=(const ServerState&) = delete;

  // Fixed at load time.
  std::string name;
  std::string backendName;
  uint32_t id = 0;
  uint32_t position = 0;                     // declaration order within the backend
  core::Address address;
  bool portFromClient = false;
  bool addressFromClient = false;            // 0.0.0.0/::: where the client connected to
  int portOffset = 0;
  bool backup = false;
  bool quic = false;                         // "quic4@"/"quic6@": takes QUIC flows (UDP), never TCP
  std::optional<core::Address> socks4;       // "socks4": connections go through this SOCKS4 proxy
  uint32_t tcpUserTimeout = 0;               // "tcp-ut", ms
  uint32_t errorLimit = 0;                   // "observe layer4": errors in a row before on-error; 0: off
  // "track": this server's health is the tracked one's; those tracking this
  // one follow it (a chain ends at a server with "check").
  ServerState* tracks = nullptr;
  std::vector<ServerState*> trackers;
  uint32_t configWeight = 1;
  std::atomic<uint32_t> maxconn{0};          // 0: unlimited; an agent-check agent may change it
  bool checked = false;                      // has "check"
  bool hasAddress = true;                    // as the runtime was built; live->resolved is what counts
  // The balancer that orders this server by load (leastconn), told of each
  // connection opened and closed; set by the Backend that holds the server.
  LoadWatcher* loadWatcher = nullptr;
  AdminState configAdmin = AdminState::Ready;  // Maint when the file says "disabled"

  // Changed at run time, shared across reloads.
  std::shared_ptr<ServerLive> live;
  Watched<bool>& up{live->up};
  Watched<AdminState>& admin{live->admin};
  Watched<uint32_t>& weight{live->weight};
  std::atomic<int32_t>& currentConnections{live->currentConnections};
  std::atomic<uint64_t>& lastChange{live->lastChange};
  ServerCounters& counters{live->counters};

  // Where it is now, and whether it has an address (DNS may give it none).
  core::Address currentAddress() const { return live->address.load(); }
  bool resolved() const { return live->resolved.load(std::memory_order_relaxed); }

  // Can the balancer send a new connection here?
  bool usable() const {
    return resolved() && up.load(std::memory_order_relaxed) &&
           admin.load(std::memory_order_relaxed) == AdminState::Ready &&
           weight.load(std::memory_order_relaxed) > 0;
  }
  bool full() const {
    uint32_t limit = maxconn.load(std::memory_order_relaxed);
    return limit > 0 && currentConnections.load(std::memory_order_relaxed) >= static_cast<int32_t>(limit);
  }

  void connectionOpened() {
    int32_t now = currentConnections.fetch_add(1, std::memory_order_relaxed) + 1;
    counters.connections.fetch_add(1, std::memory_order_relaxed);
    observe::raiseTo(counters.maxConnections, static_cast<uint32_t>(now));
    uint64_t sec = observe::monotonicSeconds();
    counters.sessionRate.add(sec);
    counters.lastSession.store(sec, std::memory_order_relaxed);
    if (loadWatcher) loadWatcher->loadChanged(*this);
  }
  void connectionClosed() {
    currentConnections.fetch_sub(1, std::memory_order_relaxed);
    if (loadWatcher) loadWatcher->loadChanged(*this);
  }
};

}  // namespace sluice::balance
