// SPDX-License-Identifier: Apache-2.0
// Each worker's copy of where QUIC flows live; see quic_directory.h.
#include "session/quic_directory.h"

#include <algorithm>
#include <cstring>

namespace sluice::session {

QuicCid::QuicCid(std::span<const uint8_t> id) {
  size = static_cast<uint8_t>(std::min(id.size(), bytes.size()));
  std::copy_n(id.begin(), size, bytes.begin());
}

QuicClientKey::QuicClientKey(const core::Address& local, const core::Address& client) {
  auto put = [this](const core::Address& a, bool withPort) {
    std::string_view raw = a.rawBytes();
    bytes[size++] = static_cast<char>(raw.size());
    std::copy(raw.begin(), raw.end(), bytes.begin() + size);
    size = static_cast<uint8_t>(size + raw.size());
    if (withPort) {
      const uint16_t port = a.port();
      std::memcpy(bytes.data() + size, &port, sizeof(port));
      size = static_cast<uint8_t>(size + sizeof(port));
    }
  };
  put(local, true);
  put(client, false);
}

void QuicDirectory::addId(const QuicCid& cid, QuicOwner owner) {
  if (cid.size == 0) return;
  auto [it, added] = ids_.insert_or_assign(cid, owner);
  (void)it;
  if (added) ++lengths_[cid.size];
}

void QuicDirectory::removeId(const QuicCid& cid, uint64_t flow) {
  auto it = ids_.find(cid);
  if (it == ids_.end() || it->second.flow != flow) return;
  ids_.erase(it);
  --lengths_[cid.size];
}

std::optional<QuicOwner> QuicDirectory::findShortHeader(std::span<const uint8_t> packet) const {
  for (size_t len = 1; len < lengths_.size(); ++len) {
    if (lengths_[len] == 0 || packet.size() < 1 + len) continue;
    auto it = ids_.find(QuicCid(packet.subspan(1, len)));
    if (it != ids_.end()) return it->second;
  }
  return std::nullopt;
}

void QuicDirectory::addClient(const QuicClientKey& key, QuicOwner owner) {
  std::vector<QuicOwner>& owners = clients_[key];
  for (const QuicOwner& o : owners) {
    if (o.flow == owner.flow) return;
  }
  owners.push_back(owner);
}

void QuicDirectory::removeClient(const QuicClientKey& key, uint64_t flow) {
  auto it = clients_.find(key);
  if (it == clients_.end()) return;
  std::erase_if(it->second, [flow](const QuicOwner& o) { return o.flow == flow; });
  if (it->second.empty()) clients_.erase(it);
}

std::optional<QuicOwner> QuicDirectory::soleFlow(const QuicClientKey& key) const {
  auto it = clients_.find(key);
  if (it == clients_.end() || it->second.size() != 1) return std::nullopt;
  return it->second.front();
}

}  // namespace sluice::session
