// SPDX-License-Identifier: Apache-2.0
// The shapes the peers service and its sessions share (internal to
// src/peers/): a peers section as configured and running, each remote peer
// ("link") with its counters and how far it got in each shared table, and
// the limits every session obeys.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/address.h"
#include "net/tls.h"
#include "proto/peers.h"
#include "stick/table.h"

namespace sluice::peers {

class PeerSession;
class PeersListener;

// What one unauthenticated connection to a peers port may cost (issue 22).
inline constexpr uint64_t kHandshakeMs = 5000;      // TCP accept to hello answered (TLS included)
inline constexpr size_t kMaxHelloBytes = 1024;     // HAProxy's hello is three short lines
inline constexpr size_t kMaxUnreadBytes = 1 << 20; // a message that long and still not whole: broken
inline constexpr size_t kMaxPending = 4 << 20;     // bytes queued for a peer that does not read
inline constexpr size_t kSendWatermark = 256 << 10;  // pushing and resyncs wait below this
inline constexpr size_t kMaxRemoteTables = 256;    // table definitions one session may send
inline constexpr size_t kExtraHandshakes = 4;      // incoming handshakes at once beyond one per peer

struct SharedTable {
  stick::Table* table = nullptr;
  proto::peers::TableDef def;
};

// How far one peer is in one shared table's update log (stick/table.h):
// what it acknowledged, and what was sent on the session carrying it.
struct Progress {
  uint64_t acked = 0;
  uint64_t pushed = 0;
};

// The 64-bit update number a 32-bit id on the wire stands for: the latest
// one at or below `ceiling` with those low bits.
uint64_t widen(uint32_t id, uint64_t ceiling);

struct Link {
  std::string name;
  core::Address address;
  // TLS towards this peer ("ssl" on its line or default-server); null: clear.
  net::TlsContext tls;
  std::string sni, verifyHost;
  PeerSession* out = nullptr;
  PeerSession* in = nullptr;
  uint64_t nextConnectAt = 0;
  uint32_t backoffMs = 250;
  uint64_t establishedAt = 0;
  bool askedResync = false;
  std::vector<Progress> progress;  // one per shared table of the section
  uint64_t pushedVia = 0;          // the session `pushed` counts for (its serial)
  uint64_t connects = 0, establishments = 0, protocolErrors = 0, updatesIn = 0, updatesOut = 0, heartbeatsIn = 0,
           heartbeatsOut = 0, silences = 0;
  std::string lastStatus = "NONE";
  uint64_t lastHeard = 0;          // anything from the peer, on any of its sessions
  // The session that carries updates: one that is sending a resync (so
  // the updates after it follow it, and the link carries the table once),
  // else the outgoing one, else the incoming one.
  PeerSession* carrier() const;
};

// Incoming connections turned away, by reason ("show peers").
struct Refusals {
  uint64_t notAPeer = 0;       // from an address no peer of the section has
  uint64_t tooMany = 0;        // handshakes at once beyond the cap
  uint64_t handshakeTimeouts = 0;
  uint64_t badHandshakes = 0;  // TLS refused, a hello refused or unreadable
};

struct Section {
  std::string name;
  std::string localName;
  core::Address localAddress;
  net::TlsContext listenTls;   // "bind ... ssl crt ...": incoming sessions speak TLS
  std::vector<std::unique_ptr<Link>> links;
  std::vector<SharedTable> tables;
  std::unique_ptr<PeersListener> listener;
  std::vector<std::unique_ptr<PeerSession>> sessions;
  Refusals refused;
  size_t handshaking = 0;      // incoming sessions not established yet
};

}  // namespace sluice::peers
