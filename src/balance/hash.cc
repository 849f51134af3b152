// SPDX-License-Identifier: Apache-2.0
// source and hash: the key's hash chooses the server.
//   map-based (default): hash modulo the total weight of the candidates; the
//     same key always lands on the same server while the set is unchanged.
//   consistent: a ring of points (weight x kPointsPerWeight per server); a key
//     goes to the first point clockwise whose server is a candidate, so adding
//     or removing one server of N moves only about 1/N of the keys.
// A missing key (no SNI for "balance hash req.ssl_sni") falls back to round
// robin, as in HAProxy.
#include <algorithm>

#include "balance/balancer.h"

namespace sluice::balance {

std::unique_ptr<Algorithm> makeRoundRobin(bool dynamicWeights);

namespace {

constexpr uint32_t kPointsPerWeight = 40;

class Hash final : public Algorithm {
 public:
  explicit Hash(bool consistent) : consistent_(consistent), fallback_(makeRoundRobin(true)) {}

  ServerState* pick(std::span<ServerState* const> candidates, const PickContext& ctx) override {
    if (!ctx.hasHash) {
      return fallback_->pick(candidates, ctx);
    }
    if (!consistent_) {
      uint64_t total = 0;
      for (ServerState* s : candidates) total += s->configWeight ? s->configWeight : 0;
      if (total == 0) {
        return candidates.empty() ? nullptr : candidates[ctx.hash % candidates.size()];
      }
      uint64_t r = ctx.hash % total;
      for (ServerState* s : candidates) {
        if (r < s->configWeight) return s;
        r -= s->configWeight;
      }
      return nullptr;
    }
    if (ring_.empty()) return nullptr;
    auto key = static_cast<uint32_t>(ctx.hash);
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(key, static_cast<ServerState*>(nullptr)));
    for (size_t k = 0; k < ring_.size(); ++k, ++it) {
      if (it == ring_.end()) it = ring_.begin();
      if (std::find(candidates.begin(), candidates.end(), it->second) != candidates.end()) {
        return it->second;
      }
    }
    return nullptr;
  }

  void onChange(std::span<ServerState* const> all) override {
    fallback_->onChange(all);
    ring_.clear();
    for (ServerState* s : all) {
      uint32_t w = s->weight.load(std::memory_order_relaxed);
      for (uint32_t i = 0; i < w * kPointsPerWeight; ++i) {
        std::string label = s->name + "#" + std::to_string(s->id) + "-" + std::to_string(i);
        ring_.emplace_back(hashBytes("sdbm", label, /*avalanche=*/true), s);
      }
    }
    std::sort(ring_.begin(), ring_.end());
  }

 private:
  bool consistent_;
  std::unique_ptr<Algorithm> fallback_;
  std::vector<std::pair<uint32_t, ServerState*>> ring_;
};

}  // namespace

std::unique_ptr<Algorithm> makeHash(bool consistent) { return std::make_unique<Hash>(consistent); }

}  // namespace sluice::balance
