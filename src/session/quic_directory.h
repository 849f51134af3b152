// SPDX-License-Identifier: Apache-2.0
// What each worker knows of every worker's QUIC flows, to find the flow of
// a datagram that comes from an address no flow has (a client whose NAT
// rebound or who migrated; the kernel's SO_REUSEPORT hash may put it on
// any worker):
//   - the connection IDs servers chose (read in clear in their long
//     headers), which the client puts in every short-header packet;
//   - the client addresses (IP, not port) of confirmed flows, so that a
//     client that moves to a new port with a connection ID sluice never saw
//     (active migration uses one the server gave it encrypted) is found when
//     exactly one flow comes from that IP to that local address.
// Every worker keeps its own copy, changed only on its own thread (a flow's
// worker posts each change to all of them: a few per flow), so the lookup a
// stray datagram causes takes no lock shared by the workers and allocates
// nothing (issue 22).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/address.h"

namespace sluice::session {

struct QuicOwner {
  unsigned worker = 0;
  uint64_t flow = 0;
};

// A connection ID (at most 20 bytes, RFC 9000 §17.2), by value.
struct QuicCid {
  uint8_t size = 0;
  std::array<uint8_t, 20> bytes{};
  QuicCid() = default;
  explicit QuicCid(std::span<const uint8_t> id);
  std::span<const uint8_t> view() const { return {bytes.data(), size}; }
  bool operator==(const QuicCid& o) const { return size == o.size && bytes == o.bytes; }
};
struct QuicCidHash {
  size_t operator()(const QuicCid& c) const {
    return std::hash<std::string_view>{}({reinterpret_cast<const char*>(c.bytes.data()), c.size});
  }
};

// A client IP (no port) and the local address it sends to.
struct QuicClientKey {
  QuicClientKey(const core::Address& local, const core::Address& client);
  std::array<char, 1 + 16 + 2 + 1 + 16> bytes{};
  uint8_t size = 0;
  bool operator==(const QuicClientKey& o) const {
    return size == o.size && std::equal(bytes.begin(), bytes.begin() + size, o.bytes.begin());
  }
};
struct QuicClientKeyHash {
  size_t operator()(const QuicClientKey& k) const { return std::hash<std::string_view>{}({k.bytes.data(), k.size}); }
};

class QuicDirectory {
 public:
  void addId(const QuicCid& cid, QuicOwner owner);
  void removeId(const QuicCid& cid, uint64_t flow);
  // The owner of the ID a short-header packet starts with (its length is
  // not on the wire: each length an ID was learned with is tried).
  std::optional<QuicOwner> findShortHeader(std::span<const uint8_t> packet) const;

  void addClient(const QuicClientKey& key, QuicOwner owner);
  void removeClient(const QuicClientKey& key, uint64_t flow);
  // The one confirmed flow from that client IP to that local address, if
  // there is exactly one.
  std::optional<QuicOwner> soleFlow(const QuicClientKey& key) const;

  size_t ids() const { return ids_.size(); }
  size_t clients() const { return clients_.size(); }

 private:
  std::unordered_map<QuicCid, QuicOwner, QuicCidHash> ids_;
  std::array<uint32_t, 21> lengths_{};   // IDs known of each length
  std::unordered_map<QuicClientKey, std::vector<QuicOwner>, QuicClientKeyHash> clients_;
};

}  // namespace sluice::session
