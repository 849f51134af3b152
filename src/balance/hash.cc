// SPDX-License-Identifier: Apache-2.0
// source and hash: the key's hash chooses the server.
//   map-based (default): hash modulo the total weight of the usable servers;
//     the same key always lands on the same server while that set is
//     unchanged. A binary search in the running sum of their weights.
//   consistent: a ring of points (weight x kPointsPerWeight per server of the
//     tier); a key goes to the first point clockwise whose server is usable,
//     so adding or removing one server of N moves only about 1/N of the keys.
//     The ring is rebuilt only when a weight changed, not when a server goes
//     up or down.
// When the chosen server is already tried by this connection or full, the
// key is mapped again over the servers that can take it. A missing key (no
// SNI for "balance hash req.ssl_sni") falls back to round robin, as in
// HAProxy.
#include <algorithm>
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

std::unique_ptr<Algorithm> makeRoundRobin(bool dynamicWeights);

namespace {

constexpr uint32_t kPointsPerWeight = 40;

class Hash final : public Algorithm {
 public:
  explicit Hash(bool consistent) : consistent_(consistent), fallback_(makeRoundRobin(true)) {}

  void rebuild(std::span<ServerState* const> tier, std::span<ServerState* const> usable) override {
    fallback_->rebuild(tier, usable);
    usable_.assign(usable, weightOf, [](const ServerState*) { return true; });
    if (!consistent_) return;
    usableNow_.assign(usableNow_.size(), false);
    for (ServerState* s : usable) {
      if (s->position >= usableNow_.size()) usableNow_.resize(s->position + 1, false);
      usableNow_[s->position] = true;
    }
    std::vector<std::pair<ServerState*, uint32_t>> weights;
    weights.reserve(tier.size());
    for (ServerState* s : tier) weights.emplace_back(s, s->weight.load(std::memory_order_relaxed));
    if (weights == ringWeights_) return;
    ringWeights_ = std::move(weights);
    ring_.clear();
    for (auto [s, w] : ringWeights_) {
      for (uint32_t i = 0; i < w * kPointsPerWeight; ++i) {
        std::string label = s->name + "#" + std::to_string(s->id) + "-" + std::to_string(i);
        ring_.emplace_back(hashBytes("sdbm", label, /*avalanche=*/true), s);
      }
    }
    std::sort(ring_.begin(), ring_.end());
  }

  ServerState* pick(const PickContext& ctx, const Eligible& ok) override {
    if (!ctx.hasHash) return fallback_->pick(ctx, ok);
    if (consistent_) return onRing(ctx, ok);
    if (ServerState* s = mapped(usable_, ctx.hash); s && ok(s)) return s;
    eligible_.assign(usable_.servers(), weightOf, ok);
    return mapped(eligible_, ctx.hash);
  }

 private:
  static uint64_t weightOf(const ServerState* s) { return s->configWeight; }

  static ServerState* mapped(const WeightedList& list, uint64_t hash) {
    if (list.empty()) return nullptr;
    if (list.total() == 0) return list.servers()[hash % list.size()];  // all of weight 0
    return list.at(hash % list.total());
  }

  ServerState* onRing(const PickContext& ctx, const Eligible& ok) {
    if (ring_.empty()) return nullptr;
    auto key = static_cast<uint32_t>(ctx.hash);
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(key, static_cast<ServerState*>(nullptr)));
    // Each server is offered once: a walk past an ineligible server's other
    // points costs a comparison, not another look at it.
    if (offered_.size() < usableNow_.size()) offered_.resize(usableNow_.size(), 0);
    ++walk_;
    size_t refused = 0;
    for (size_t k = 0; k < ring_.size(); ++k, ++it) {
      if (it == ring_.end()) it = ring_.begin();
      ServerState* s = it->second;
      if (s->position >= usableNow_.size() || !usableNow_[s->position]) continue;
      if (offered_[s->position] == walk_) continue;
      if (ok(s)) return s;
      offered_[s->position] = walk_;
      if (++refused == usable_.size()) break;
    }
    return nullptr;
  }

  bool consistent_;
  std::unique_ptr<Algorithm> fallback_;
  WeightedList usable_;                        // declaration order
  WeightedList eligible_;
  std::vector<bool> usableNow_;                // by position (consistent)
  std::vector<std::pair<ServerState*, uint32_t>> ringWeights_;
  std::vector<std::pair<uint32_t, ServerState*>> ring_;
  std::vector<uint64_t> offered_;              // by position: the walk that offered it
  uint64_t walk_ = 0;
};

}  // namespace

std::unique_ptr<Algorithm> makeHash(bool consistent) { return std::make_unique<Hash>(consistent); }

}  // namespace sluice::balance
