// SPDX-License-Identifier: Apache-2.0
// Stick tables shared with other instances (sluice or HAProxy) over
// HAProxy's peers protocol, on the control thread. For each "peers" section
// that names this instance (-L, "localpeer", else the host name), sluice
// listens on its own peer address and connects to every other peer, with
// back-off after a failure; either connection may carry the traffic, in
// clear or over TLS ("ssl" on the section's bind and peer lines).
// Entries written here are sent to every connected peer every 100 ms, from
// the table's update log (stick/table.h) past what that peer acknowledged,
// so a peer that was cut off or whose session broke with updates in flight
// gets them when it is back; those peers send are learned (conn_cur
// excepted, as HAProxy); a peer that asks for a full resync gets every
// entry, a chunk at a time as it reads; at start (and after a reload that
// changed a shared table) sluice asks one. Heartbeats keep idle connections
// checked; a silent peer (10 s) or one that breaks the protocol is
// disconnected, counted and connected again later.
//
// The listener is for the declared peers only (issue 22): a connection from
// another address is closed at once, handshakes at once are capped, each
// must end within 5 s, and a hello must name a peer of the address it came
// from; refusals are counted ("show peers"). peer_session.h is one
// connection; proto/peers.h the wire format.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "event/loop.h"
#include "peers/links.h"
#include "peers/peer_session.h"
#include "stick/table.h"

namespace sluice::peers {

class PeersService final : public event::Timer, private PeerSessionHost {
 public:
  using Log = std::function<void(int level, const std::string& message)>;
  PeersService(event::EventLoop& loop, Log log);
  ~PeersService() override;
  PeersService(const PeersService&) = delete;
  PeersService& operator=(const PeersService&) = delete;

  // At start and after each reload: the sections, this instance's name,
  // and the tables of the running configuration (kept alive by `keep`).
  void configure(const config::Config& cfg, const std::string& localName, std::shared_ptr<const void> keep,
                 const stick::TableSet& tables);
  // "show peers".
  std::string show() const;

  void onTimer() noexcept override;

 private:
  friend class PeersListener;
  // PeerSessionHost
  event::EventLoop& loop() override { return loop_; }
  void log(int level, const std::string& message) override { log_(level, message); }
  void sessionEstablished(PeerSession& s) override;
  void sessionClosed(PeerSession* s, const std::string& why) override;
  uint64_t nextSerial() override { return ++sessionSerial_; }

  void connectDue(uint64_t now);
  void incoming(Section& section, int fd, const core::Address& from);
  void pushChanges(uint64_t now);

  event::EventLoop& loop_;
  Log log_;
  std::shared_ptr<const void> keep_;
  std::vector<std::unique_ptr<Section>> sections_;
  uint64_t sessionSerial_ = 0;
};

}  // namespace sluice::peers
