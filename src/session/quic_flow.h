// SPDX-License-Identifier: Apache-2.0
// QUIC passthrough (issue 11): a client's QUIC connection, seen as a flow of
// UDP datagrams, routed by the ClientHello inside its Initial packets with
// the same rules as a TCP session and forwarded to a QUIC server without
// being terminated.
//
//   datagram on a quic4@/quic6@ bind (QuicListener, recvmmsg batches)
//     -> QuicFlows: known client address? -> its flow
//        unknown: a client Initial of >= 1200 bytes (RFC 9000 §14.1) that
//        decrypts, within maxconn and the tcp-request connection rules
//        -> new flow; anything else is dropped without a reply and counted
//   QuicFlow: Inspecting (datagrams held, bounded, until the hello is whole
//     or the inspect-delay ends; content rules, switching, server choice
//     among the backend's QUIC servers) -> Connecting (held datagrams
//     replayed in order on a connected UDP socket; another server on an
//     ICMP refusal or no answer within timeout connect) -> Forwarding
//     (both ways, as they come; the server's connection IDs learned from
//     its long headers, so a client whose NAT rebinds is found again)
//     -> idle end (timeout client / timeout server) -> one log line.
//
// Flows live in their worker's QuicFlows, not in a listener: a reload
// replaces listeners while flows keep going on the same sockets.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/address.h"
#include "event/loop.h"
#include "net/udp.h"
#include "proto/quic_initial.h"
#include "runtime/runtime.h"
#include "session/rule_context.h"
#include "session/session.h"

namespace sluice::session {

class Worker;
class QuicFlows;

// A worker's UDP socket for a QUIC bind. Flows keep it to answer their
// clients, so it lives as long as the last of them.
struct UdpEndpoint {
  UdpEndpoint(int f, const core::Address& l);
  ~UdpEndpoint();
  UdpEndpoint(const UdpEndpoint&) = delete;
  UdpEndpoint& operator=(const UdpEndpoint&) = delete;
  int fd = -1;
  core::Address local;   // the bound address (a wildcard: each datagram says its own)
  uint64_t inode = 0;    // the socket itself: duplicates share it
};

// A flow's place in its worker's table: the local address the client sends
// to and the client's address, as bytes (family length, address, port) in
// a fixed array, so that finding the flow of a datagram allocates nothing.
struct FlowKey {
  FlowKey(const core::Address& local, const core::Address& peer);
  std::array<char, 2 * (1 + 16 + 2)> bytes{};
  uint8_t size = 0;
  bool operator==(const FlowKey& o) const {
    return size == o.size && std::equal(bytes.begin(), bytes.begin() + size, o.bytes.begin());
  }
};
struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const { return std::hash<std::string_view>{}({k.bytes.data(), k.size}); }
};

class QuicFlow final : public event::EventHandler, public event::Timer {
 public:
  // `peer` and `local` are the addresses on the wire (the rules' `rc` may
  // already report others, after set-src / set-dst).
  QuicFlow(Worker& worker, QuicFlows& flows, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend& fe,
           std::shared_ptr<UdpEndpoint> endpoint, RuleContext rc, std::unique_ptr<proto::QuicHelloReader> reader,
           const core::Address& peer, const core::Address& local);
  ~QuicFlow() override;

  // The datagram that opened the flow: held, then the rules run.
  void start(std::span<const uint8_t> first, uint8_t ecn) noexcept;
  // A later datagram of the client (`peer`: where it came from now), or with
  // `meta.segment` set several of them coalesced by GRO.
  void fromClient(std::span<const uint8_t> data, const core::Address& peer, const core::Address& local,
                  net::DatagramMeta meta = {}) noexcept;
  // The server socket is readable (or failed).
  void onEvents(uint32_t events) noexcept override;
  void onTimer() noexcept override;
  void kill(char cause) noexcept;

  bool closed() const { return state_ == State::Closed; }
  uint64_t id() const { return id_; }
  const balance::ServerState* server() const { return server_; }
  SessionInfo describe() const;
  FlowKey key() const { return {replyFrom_, peer_}; }
  const std::vector<std::string>& connectionIds() const { return cids_; }

  QuicFlow* prev = nullptr;
  QuicFlow* next = nullptr;

 private:
  enum class State : uint8_t { Inspecting, Connecting, Forwarding, Dropping, Closed };

  route::SessionView view(bool final) noexcept;
  void evaluate() noexcept;
  void decide() noexcept;
  void connect() noexcept;
  void connectFailed(int error, bool timedOut) noexcept;
  void replayHeld() noexcept;
  void toServer(std::span<const uint8_t> data, net::DatagramMeta meta) noexcept;
  // What a send lost or coalesced, into the frontend's counters.
  void countSent(const net::SendResult& sent) noexcept;
  // A batch of the server's buffers, sent on to the client at once.
  void fromServer(const net::DatagramBatch& batch, int count) noexcept;
  void learnConnectionId(std::span<const uint8_t> datagram) noexcept;
  // The frontend's or backend's rules, decided at once; false when they
  // refused the flow (counted, logged, remembered).
  bool rulesAdmit(const std::vector<runtime::Rule>& rules) noexcept;
  // How long each side may stay silent before the flow ends.
  struct IdleLimits {
    uint32_t client;
    uint32_t server;
  };
  IdleLimits idleLimits() const noexcept;
  void rearmTimer() noexcept;
  // Stops forwarding but keeps the client's address in the table for a
  // while, so its retransmitted Initials are dropped quietly instead of
  // opening (and logging) a new flow each.
  void refuse(char cause, char stage) noexcept;
  void finish(char cause, char stage) noexcept;
  void emitLog() noexcept;
  void release() noexcept;
  void accountBytes(bool final) noexcept;
  void closeServerSide() noexcept;
  uint64_t now() const noexcept;
  char stageLetter() const noexcept;

  Worker& worker_;
  QuicFlows& flows_;
  std::shared_ptr<const runtime::Runtime> rt_;
  runtime::Frontend& fe_;
  std::shared_ptr<UdpEndpoint> endpoint_;
  RuleContext rc_;
  core::Address peer_;        // the client's address on the wire (rules may report another)
  core::Address replyFrom_;   // the local address the client sends to
  std::unique_ptr<proto::QuicHelloReader> reader_;   // until the route is chosen
  std::unique_ptr<proto::ClientHelloInfo> hello_;    // kept when the log line prints from it
  std::string sni_;
  std::vector<std::string> cids_;   // the server's connection IDs, as learned

  runtime::Backend* be_ = nullptr;
  balance::ServerState* server_ = nullptr;
  int serverFd_ = -1;
  int serverFamily_ = AF_INET;  // of the server the socket is connected to (how ECN is set)
  State state_ = State::Inspecting;
  bool helloFinal_ = false;
  bool windowOver_ = false;
  bool logged_ = false;
  bool released_ = false;   // counters and server slot given back
  bool resume_ = false;     // a read yielded with datagrams left
  uint64_t id_ = 0;

  // Datagrams held while inspecting and until the server first answers
  // (replayed to another server if this one refuses).
  // Datagrams held while the hello is read, with their ECN bits.
  struct Held {
    std::vector<uint8_t> bytes;
    uint8_t ecn = 0;
  };
  std::vector<Held> held_;
  size_t heldBytes_ = 0;

  std::vector<balance::ServerState*> tried_;
  uint32_t retries_ = 0;
  uint32_t attempts_ = 0;   // connect() calls: a replay stops when a newer one took over
  bool redispatched_ = false;
  int lastError_ = 0;
  bool timedOut_ = false;

  uint64_t startMono_ = 0;
  int64_t startWallMicros_ = 0;
  uint64_t inspectDeadline_ = 0;
  uint64_t connectStart_ = 0;
  uint64_t connectDeadline_ = 0;
  uint64_t lastClient_ = 0;
  uint64_t lastServer_ = 0;
  uint64_t dropUntil_ = 0;
  int64_t connectMs_ = -1;
  char termCause_ = '-';
  char termStage_ = '-';

  uint64_t bytesIn_ = 0;
  uint64_t bytesOut_ = 0;
  uint64_t accountedIn_ = 0;
  uint64_t accountedOut_ = 0;
};

// A worker's QUIC flows: found by the client's address (and the local
// socket), or by a connection ID the server chose when the client's
// address changed.
class QuicFlows {
 public:
  explicit QuicFlows(Worker& worker);
  ~QuicFlows();
  QuicFlows(const QuicFlows&) = delete;
  QuicFlows& operator=(const QuicFlows&) = delete;

  // One datagram received on `ep` for `fe` (or, with `meta.segment` set, several
  // of one client coalesced by GRO); `accepting` is false while the worker
  // drains (then only known flows get datagrams).
  void received(const std::shared_ptr<UdpEndpoint>& ep, const std::shared_ptr<const runtime::Runtime>& rt,
                runtime::Frontend& fe, bool accepting, std::span<const uint8_t> data, net::DatagramMeta meta,
                const core::Address& peer, const core::Address& local) noexcept;

  net::DatagramBatch& batch() { return batch_; }
  size_t count() const { return count_; }
  void killAll(char cause) noexcept;
  void killOn(const balance::ServerState* server, char cause) noexcept;
  void describe(std::vector<SessionInfo>& out) const;
  bool shutdown(uint64_t id) noexcept;

  // A datagram another worker received for flow `id` of this one (its
  // client's address changed and the kernel hashed it there).
  void deliverMigrated(uint64_t id, std::span<const uint8_t> data, const core::Address& peer,
                       const core::Address& local, net::DatagramMeta meta) noexcept;

  // Called by flows.
  void learned(QuicFlow* flow, const std::string& cid);
  // Before a flow takes its client's new address: files it under that one.
  void rekey(QuicFlow* flow, const core::Address& local, const core::Address& peer);
  void closed(QuicFlow* flow) noexcept;

 private:
  // A short-header datagram from an unknown address: passed to the flow
  // whose server chose its destination connection ID, here or on another
  // worker. False when no flow knows the ID.
  bool migrate(runtime::Frontend& fe, std::span<const uint8_t> data, uint8_t ecn, const core::Address& peer,
               const core::Address& local) noexcept;

  Worker& worker_;
  net::DatagramBatch batch_;
  std::unordered_map<FlowKey, QuicFlow*, FlowKeyHash> byAddress_;
  std::unordered_map<uint64_t, QuicFlow*> byId_;
  QuicFlow* flows_ = nullptr;
  size_t count_ = 0;
};

// The reader of one QUIC bind's socket on one worker.
class QuicListener final : public event::EventHandler, public event::Timer {
 public:
  QuicListener(Worker& w, QuicFlows& flows, std::shared_ptr<UdpEndpoint> endpoint, runtime::Frontend* fe,
               std::shared_ptr<const runtime::Runtime> rt);
  ~QuicListener() override;
  bool start();
  // No more events or timer (the object may still be freed later).
  void close();
  void onEvents(uint32_t events) noexcept override;
  void onTimer() noexcept override;
  // Draining (soft stop, or a reload that removed the bind): datagrams of
  // known flows still pass, no new flow starts.
  void stopAccepting() { accepting_ = false; }
  bool accepting() const { return accepting_; }
  const std::shared_ptr<UdpEndpoint>& endpoint() const { return endpoint_; }

 private:
  void readSome() noexcept;

  Worker& w_;
  QuicFlows& flows_;
  std::shared_ptr<UdpEndpoint> endpoint_;
  runtime::Frontend* fe_;
  std::shared_ptr<const runtime::Runtime> rt_;
  bool accepting_ = true;
  bool registered_ = false;
};

}  // namespace sluice::session
