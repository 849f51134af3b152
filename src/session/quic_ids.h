// SPDX-License-Identifier: Apache-2.0
// The QUIC connection IDs servers chose, across worker threads. A client
// whose address changes (NAT rebinding) lands on whichever worker the
// kernel's SO_REUSEPORT hash picks for its new address; that worker finds
// here which worker holds the flow and hands the datagram over. Written
// when a server's long header shows a new ID, read only for datagrams from
// unknown addresses: never on the forwarding path of a known flow.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::session {

class QuicConnectionIds {
 public:
  struct Owner {
    unsigned worker = 0;
    uint64_t flow = 0;
  };

  void add(const std::string& cid, Owner owner) {
    std::lock_guard lock(mutex_);
    ids_[cid] = owner;
    bool known = false;
    for (size_t l : lengths_) known = known || l == cid.size();
    if (!known) lengths_.push_back(cid.size());
  }
  void remove(const std::string& cid, uint64_t flow) {
    std::lock_guard lock(mutex_);
    auto it = ids_.find(cid);
    if (it != ids_.end() && it->second.flow == flow) ids_.erase(it);
  }
  // The owner of the ID a short-header packet starts with (its length is
  // not on the wire: each length an ID was learned with is tried).
  std::optional<Owner> find(std::span<const uint8_t> shortHeaderPacket) const {
    std::lock_guard lock(mutex_);
    for (size_t len : lengths_) {
      if (shortHeaderPacket.size() < 1 + len) continue;
      auto it = ids_.find(std::string(reinterpret_cast<const char*>(shortHeaderPacket.data() + 1), len));
      if (it != ids_.end()) return it->second;
    }
    return std::nullopt;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Owner> ids_;
  std::vector<size_t> lengths_;
};

}  // namespace sluice::session
