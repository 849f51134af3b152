// SPDX-License-Identifier: Apache-2.0
// A worker's QUIC flows (issue 11, issue 22): each found by the client
// address a datagram comes from (every path of a flow is filed), by a
// connection ID its server chose, or, for a client that moved to a new
// port with an ID sluice never saw, by its IP; new flows admitted within
// the frontend's budget of unconfirmed flows; refused flows remembered for
// a while, in a bounded table.
//
//   datagram on a quic4@/quic6@ bind (QuicListener, recvmmsg batches)
//     -> known client address? -> its flow's path
//        unknown, short header: a server's connection ID, or the one
//          confirmed flow from that IP -> a new path of that flow, on this
//          worker or posted to the one that holds it (QuicDirectory: a
//          lookup without a shared lock or an allocation)
//        unknown, long header: a v1/v2 Initial, >= 1200 bytes, room under
//          maxconn (confirmed flows and TCP only), tcp-request connection
//          rules (before any AES), then it must decrypt -> new QuicFlow in
//          the unconfirmed budget (the oldest unconfirmed flow of the
//          frontend here is evicted when it is full)
//        anything else is dropped without a reply and counted.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/address.h"
#include "net/udp.h"
#include "runtime/runtime.h"
#include "session/quic_directory.h"
#include "session/session.h"

namespace sluice::session {

class Worker;
class QuicFlow;
class QuicPath;
struct UdpEndpoint;

// A path's place in its worker's table: the local address the client sends
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

class QuicFlows {
 public:
  // Refused flows remembered at once on one worker; past it the oldest is
  // forgotten (its client's next Initial would then open a flow again).
  static constexpr size_t kMaxDropping = 4096;
  QuicFlows(Worker& worker, QuicDirectory& directory);
  ~QuicFlows();
  QuicFlows(const QuicFlows&) = delete;
  QuicFlows& operator=(const QuicFlows&) = delete;

  // One datagram received on `ep` for `fe` (or, with `meta.segment` set,
  // several of one client coalesced by GRO); `accepting` is false while the
  // worker drains (then only known flows get datagrams).
  void received(const std::shared_ptr<UdpEndpoint>& ep, const std::shared_ptr<const runtime::Runtime>& rt,
                runtime::Frontend& fe, bool accepting, std::span<const uint8_t> data, net::DatagramMeta meta,
                const core::Address& peer, const core::Address& local) noexcept;

  net::DatagramBatch& batch() { return batch_; }
  size_t count() const { return count_; }
  size_t droppingCount() const { return dropping_.size; }
  void killAll(char cause) noexcept;
  void killOn(const balance::ServerState* server, char cause) noexcept;
  void describe(std::vector<SessionInfo>& out) const;
  bool shutdown(uint64_t id) noexcept;

  // A datagram another worker received for flow `id` of this one, from an
  // address the flow may not know yet (`opener`: as QuicFlow::migrate).
  void deliverMigrated(uint64_t id, std::span<const uint8_t> data, const core::Address& peer,
                       const core::Address& local, net::DatagramMeta meta, const QuicCid& opener) noexcept;

  // Called by flows.
  void pathOpened(QuicPath& path);
  void pathClosed(QuicPath& path);
  void learned(QuicFlow& flow, const QuicCid& cid);
  // The client confirmed the flow: out of the unconfirmed budget; its
  // client IP becomes known to every worker.
  void confirmed(QuicFlow& flow);
  // The flow was refused: out of the unconfirmed budget, into the bounded
  // table of refused flows.
  void dropping(QuicFlow& flow);
  void closed(QuicFlow* flow) noexcept;

 private:
  struct Queue {
    QuicFlow* head = nullptr;   // the oldest
    QuicFlow* tail = nullptr;
    size_t size = 0;
    void push(QuicFlow* f);
    void remove(QuicFlow* f);
  };
  // A short-header datagram from an unknown address: passed to the flow
  // that owns it, here or on another worker. False when no flow does.
  bool migrate(runtime::Frontend& fe, std::span<const uint8_t> data, uint8_t ecn, const core::Address& peer,
               const core::Address& local) noexcept;
  // Room for one more unconfirmed flow of `fe` on this worker: its oldest
  // one here is evicted when this worker's share of the budget is full.
  void makeRoom(const std::shared_ptr<const runtime::Runtime>& rt, runtime::Frontend& fe) noexcept;
  void leaveQueues(QuicFlow& flow);
  // Applies a change to every worker's directory (this one's at once).
  template <typename F>
  void publish(F change);

  Worker& worker_;
  QuicDirectory& directory_;
  net::DatagramBatch batch_;
  std::unordered_map<FlowKey, QuicPath*, FlowKeyHash> byAddress_;
  std::unordered_map<uint64_t, QuicFlow*> byId_;
  QuicFlow* flows_ = nullptr;
  size_t count_ = 0;
  // Unconfirmed flows of each frontend (by its counters, which outlive
  // reloads), in the order they started.
  std::unordered_map<const void*, Queue> unconfirmed_;
  Queue dropping_;      // in the order they were refused
};

}  // namespace sluice::session
