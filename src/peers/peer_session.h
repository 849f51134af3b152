// SPDX-License-Identifier: Apache-2.0
// One connection of HAProxy's peers protocol (proto/peers.h for the wire
// format), in either direction, on the control thread:
//
//   outgoing: TCP connect -> [TLS handshake] -> hello sent -> status read
//   incoming: accepted (from a declared peer's address, within the cap) ->
//             [TLS handshake] -> hello read (naming a peer of that address)
//             -> status sent
//   then both: table definitions, updates (learned into the shared tables),
//   acknowledgements, heartbeats, resync requests answered a chunk at a time
//   as the socket drains.
//
// Every stage before the hello is answered must finish within kHandshakeMs;
// what a session buffers either way is bounded (links.h).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "event/loop.h"
#include "net/tls.h"
#include "peers/links.h"

namespace sluice::peers {

// sluice's stick-table data types and the protocol's share their numbers up
// to gpc1_rate; http_fail_cnt and http_fail_rate come after HAProxy's
// server_key. localType: nothing for the types sluice does not store.
uint8_t wireType(stick::DataType t);
std::optional<stick::DataType> localType(uint8_t w);

// What a session needs from the service that owns it.
class PeerSessionHost {
 public:
  virtual ~PeerSessionHost() = default;
  virtual event::EventLoop& loop() = 0;
  virtual void log(int level, const std::string& message) = 0;
  virtual void sessionEstablished(PeerSession& s) = 0;
  // Called from inside the session; it is freed after the current events.
  virtual void sessionClosed(PeerSession* s, const std::string& why) = 0;
  virtual uint64_t nextSerial() = 0;
};

class PeerSession final : public event::EventHandler {
 public:
  enum class State { Connecting, TlsHandshake, AwaitStatus, AwaitHello, Established, Closed };

  // `link` is set for an outgoing session (the peer it calls); an incoming
  // one learns its peer from the hello, checked against `source`.
  PeerSession(PeerSessionHost& host, Section& section, Link* link, int fd, bool outgoing,
              const core::Address& source = {});
  ~PeerSession() override;

  State state() const { return state_; }
  bool outgoing() const { return outgoing_; }
  Link* link() const { return link_; }
  uint64_t serial() const { return serial_; }
  // Room to queue more: pushing and resyncs wait while the peer reads slowly.
  bool canSend() const { return state_ == State::Established && out_.size() < kSendWatermark && !resyncing_; }
  bool resyncing() const { return resyncing_; }

  void onEvents(uint32_t events) noexcept override;
  void send(const std::string& bytes);
  // Closed without telling the service (it is being reconfigured).
  void detach();
  void close(const std::string& why);
  // The timer's look: handshake deadline, heartbeats, silent peers,
  // acknowledgements, the next chunk of a resync.
  void tick(uint64_t now);
  // An entry of a shared table, as an update message (with the table's
  // definition or a switch to it first when needed).
  void teach(SharedTable& st, const stick::Table::Snapshot& snap, uint64_t id, uint64_t now);

 private:
  struct RemoteTable {
    proto::peers::TableDef def;
    SharedTable* local = nullptr;
    uint32_t lastRx = 0;       // the id of the last update received
    bool ackPending = false;
  };

  void startTls();
  void afterTls();
  ssize_t rawRecv(char* buf, size_t n);
  ssize_t rawSend(const char* data, size_t n);
  void flush();
  void readAll();
  void protocolError(const std::string& why);
  void refuseHandshake(const std::string& why);
  void process();
  bool handle(const proto::peers::Message& m);
  void acknowledged(uint64_t tableId, uint32_t id);
  void learn(SharedTable& st, const proto::peers::Update& u, uint64_t now);
  // A full resync for the peer, a chunk at a time while the socket drains.
  void startResync(uint64_t now);
  void continueResync(uint64_t now);
  void leaveHandshake();

  PeerSessionHost& host_;
  Section& section_;
  Link* link_;
  int fd_;
  bool outgoing_;
  core::Address source_;
  State state_;
  bool handshaking_ = false;   // counted in section_.handshaking
  std::unique_ptr<net::TlsStream> tls_;
  std::string in_, out_;
  uint64_t createdAt_ = 0, lastRx_ = 0, lastTx_ = 0;
  std::map<uint64_t, RemoteTable> remote_;
  RemoteTable* currentRx_ = nullptr;
  std::set<uint64_t> defined_;
  std::set<std::string> toldSkipped_;  // tables of the peer's not shared here, logged
  int64_t currentTx_ = -1;
  uint64_t serial_;
  // Resync in progress: the table, the cursor in it, and where the update
  // log stood when it began (pushing goes on from there once it is done).
  bool resyncing_ = false;
  size_t resyncTable_ = 0;
  stick::Table::ResyncCursor cursor_;
  std::vector<uint64_t> resyncUpTo_;
  uint64_t resyncSent_ = 0, resyncStart_ = 0;
};

}  // namespace sluice::peers
