// SPDX-License-Identifier: Apache-2.0
// QUIC passthrough (issue 11): a client's QUIC connection, seen as a flow of
// UDP datagrams, routed by the ClientHello inside its Initial packets with
// the same rules as a TCP session and forwarded to a QUIC server without
// being terminated.
//
//   QuicFlow: Inspecting (datagrams held, bounded, until the hello is whole
//     or the inspect-delay ends; content rules, switching, server choice
//     among the backend's QUIC servers) -> Connecting (held datagrams
//     replayed in order on a connected UDP socket; on an ICMP refusal or no
//     answer within timeout connect, the backend's retries and redispatch
//     as for TCP: TurnAround then the same server, or another one)
//     -> Forwarding (both ways, as they come) -> idle end (timeout client /
//     timeout server) -> one log line.
//
// Unconfirmed flows (issue 22). A flow is confirmed once its client sends,
// after the server's first answer, a datagram carrying a connection ID the
// server chose: only a client that received the server's packets knows
// it. Until then the flow takes no connection slot (global and frontend
// maxconn count confirmed flows and TCP connections only), lives at most
// tune.quic.unconfirmed-timeout after its first datagram reached a server,
// and belongs to its frontend's budget of unconfirmed flows
// (tune.quic.max-unconfirmed, see QuicFlows).
//
// Paths (RFC 9000 §9). Each client address a flow is seen at is a path
// with its own connected socket towards the server, so the server sees a
// migration as one (a new source port) and validates the new address
// itself before sending it more than three times what it received there
// (§8). sluice holds the same line on its own: until a path is validated
// (the client answered on it, after the server spoke on it, with a
// connection ID of the flow) at most 3x the bytes received on it are sent
// to it. A flow keeps at most kMaxPaths; an old path closes after
// kPathIdleMs without a datagram either way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/address.h"
#include "event/loop.h"
#include "net/udp.h"
#include "proto/quic_initial.h"
#include "runtime/runtime.h"
#include "session/connection_core.h"
#include "session/quic_directory.h"
#include "session/session.h"

namespace sluice::session {

class Worker;
class QuicFlows;
class QuicFlow;
struct UdpEndpoint;

// One client address of a flow and the socket that stands for it at the
// server.
class QuicPath final : public event::EventHandler {
 public:
  QuicPath(QuicFlow& owner, const core::Address& client, const core::Address& localAddress, uint64_t now)
      : flow(owner), peer(client), local(localAddress), lastClient(now), lastServer(now) {}
  ~QuicPath() override;
  // The server socket is readable (or failed).
  void onEvents(uint32_t events) noexcept override;

  QuicFlow& flow;
  core::Address peer;         // the client's address on this path
  core::Address local;        // the local address the client sends to; answers leave from it
  int fd = -1;                // connected to the server
  uint64_t fromClient = 0;    // bytes received from the client on this path
  uint64_t toClient = 0;      // bytes sent to it
  uint64_t lastClient = 0;
  uint64_t lastServer = 0;
  bool serverSpoke = false;   // the server has sent on this path
  bool validated = false;     // the client answered on it: no 3x limit any more
  bool resume = false;        // a read yielded with datagrams left
  QuicCid openedWith;         // a path found by its client's IP: the unknown ID it came with
};

class QuicFlow final : public event::EventHandler, public event::Timer {
 public:
  static constexpr size_t kMaxPaths = 4;
  static constexpr uint64_t kPathIdleMs = 5000;

  // `peer` and `local` are the addresses on the wire (the rules' context
  // may already report others, after set-src / set-dst).
  QuicFlow(Worker& worker, QuicFlows& flows, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend& fe,
           std::shared_ptr<UdpEndpoint> endpoint, RuleContext rc, std::unique_ptr<proto::QuicHelloReader> reader,
           const core::Address& peer, const core::Address& local);
  ~QuicFlow() override;

  // The datagram that opened the flow: held, then the rules run.
  void start(std::span<const uint8_t> first, uint8_t ecn) noexcept;
  // A datagram of the client on one of the flow's paths (with `meta.segment`
  // set, several coalesced by GRO).
  void fromClient(QuicPath& path, std::span<const uint8_t> data, net::DatagramMeta meta) noexcept;
  // A datagram from an address the flow does not know yet, found by a
  // connection ID of its server (`opener` empty) or, with an ID sluice
  // never saw (`opener`), by its client's IP: a new path.
  void migrate(const core::Address& peer, const core::Address& local, std::span<const uint8_t> data,
               net::DatagramMeta meta, const QuicCid& opener) noexcept;
  // Events of a path's server socket.
  void serverEvents(QuicPath& path, uint32_t events) noexcept;
  void onEvents(uint32_t) noexcept override {}  // the paths receive the flow's events
  void onTimer() noexcept override;
  void kill(char cause) noexcept;

  bool closed() const { return state_ == State::Closed; }
  bool dropping() const { return state_ == State::Dropping; }
  bool confirmed() const { return confirmed_; }
  uint64_t id() const { return core_.id; }
  const runtime::Frontend& frontend() const { return core_.fe; }
  const balance::ServerState* server() const { return core_.server; }
  SessionInfo describe() const;
  const std::vector<std::unique_ptr<QuicPath>>& paths() const { return paths_; }
  const std::vector<QuicCid>& connectionIds() const { return cids_; }
  // The client address the flow was opened from.
  const QuicPath& firstPath() const { return *paths_.front(); }
  // Set once confirmed: the flow's client IP in the workers' directories.
  std::optional<QuicClientKey> clientKey;

  // The worker's lists of all flows and of unconfirmed or dropping ones.
  QuicFlow* prev = nullptr;
  QuicFlow* next = nullptr;
  enum class Queued : uint8_t { None, Unconfirmed, Dropping };
  Queued queue = Queued::None;
  QuicFlow* queuePrev = nullptr;
  QuicFlow* queueNext = nullptr;

 private:
  enum class State : uint8_t { Inspecting, TurnAround, Connecting, Forwarding, Dropping, Closed };

  route::SessionView view(bool final) noexcept;
  void evaluate() noexcept;
  void decide() noexcept;
  // Picks a server and connects (or waits in TurnAround before the same one).
  void assignServer() noexcept;
  void connect() noexcept;
  void connectFailed(int error, bool timedOut) noexcept;
  // A socket connected to the server for `path`, from where "source" and
  // "usesrc" say for a client seen at `client`.
  bool openServerSocket(QuicPath& path, const core::Address& client) noexcept;
  void toServer(QuicPath& path, std::span<const uint8_t> data, net::DatagramMeta meta) noexcept;
  void countSent(const net::SendResult& sent) noexcept;
  // A batch of the server's buffers on `path`, sent on to its client.
  void fromServer(QuicPath& path, const net::DatagramBatch& batch, int count) noexcept;
  void learnConnectionId(std::span<const uint8_t> datagram) noexcept;
  // Whether a client datagram names a connection ID of this flow (one the
  // server chose, or the one the path was opened with).
  bool carriesFlowId(std::span<const uint8_t> datagram, const QuicPath& path) const noexcept;
  void confirm() noexcept;
  void closePath(QuicPath& path) noexcept;
  bool rulesAdmit(const std::vector<runtime::Rule>& rules) noexcept;
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
  void closeServerSockets() noexcept;
  uint64_t now() const noexcept;
  char stageLetter() const noexcept;

  Worker& worker_;
  QuicFlows& flows_;
  ConnectionCore core_;
  std::shared_ptr<UdpEndpoint> endpoint_;
  std::vector<std::unique_ptr<QuicPath>> paths_;   // [0]: the client's first address
  QuicPath* current_ = nullptr;                    // where the client sent from last
  std::unique_ptr<proto::QuicHelloReader> reader_;  // until the route is chosen
  std::unique_ptr<proto::ClientHelloInfo> hello_;   // kept when the log line prints from it
  std::string sni_;
  std::vector<QuicCid> cids_;   // the server's connection IDs, as learned

  int serverFamily_ = AF_INET;  // of the server the sockets are connected to (how ECN is set)
  State state_ = State::Inspecting;
  bool helloFinal_ = false;
  bool windowOver_ = false;
  bool logged_ = false;
  bool released_ = false;   // counters and server slot given back
  bool confirmed_ = false;
  bool counted_ = false;    // a connection slot is taken (confirmed and admitted)
  uint32_t attempts_ = 0;   // connect() calls: a replay stops when a newer one took over

  // Datagrams held while the hello is read and until the server first
  // answers (replayed to another server if this one refuses), with their
  // ECN bits.
  struct Held {
    std::vector<uint8_t> bytes;
    uint8_t ecn = 0;
  };
  std::vector<Held> held_;
  size_t heldBytes_ = 0;

  uint64_t inspectDeadline_ = 0;
  uint64_t retryAt_ = 0;
  uint64_t connectDeadline_ = 0;
  uint64_t unconfirmedDeadline_ = 0;
  uint64_t lastClient_ = 0;
  uint64_t lastServer_ = 0;
  uint64_t dropUntil_ = 0;

  uint64_t bytesIn_ = 0;
  uint64_t bytesOut_ = 0;
};

}  // namespace sluice::session
