// SPDX-License-Identifier: Apache-2.0
// Stick tables shared with other instances (sluice or HAProxy) over
// HAProxy's peers protocol, on the control thread. For each "peers" section
// that names this instance (-L, "localpeer", else the host name), sluice
// listens on its own peer address and connects to every other peer, with
// back-off after a failure; either connection may carry the traffic.
// Entries written here are sent to every connected peer every 100 ms, from
// the table's update log (stick/table.h) past what that peer acknowledged,
// so a peer that was cut off or whose session broke with updates in flight
// gets them when it is back; those peers send are learned (conn_cur
// excepted, as HAProxy); a peer that asks for a full resync gets every
// entry; at start (and after a reload that changed a shared table) sluice
// asks one. Heartbeats
// keep idle connections checked; a silent peer (10 s) or one that breaks the
// protocol is disconnected, counted and connected again later. The wire
// format is proto/peers.h.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "event/loop.h"
#include "stick/table.h"

namespace sluice::peers {

class PeersService final : public event::Timer {
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

  class Session;
  class Listener;
  struct Link;
  struct Section;

 private:
  friend class Session;
  friend class Listener;
  void connectDue(uint64_t now);
  void sessionEstablished(Session& s);
  void sessionClosed(Session* s, const std::string& why);
  void incoming(Section& section, int fd);
  void pushChanges(uint64_t now);

  event::EventLoop& loop_;
  Log log_;
  std::shared_ptr<const void> keep_;
  std::vector<std::unique_ptr<Section>> sections_;
  uint64_t sessionSerial_ = 0;
};

}  // namespace sluice::peers
