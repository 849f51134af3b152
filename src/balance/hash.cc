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
//   maglev (sluice's own): Google's Maglev table (Eisenbud et al., NSDI
//     2016): a table of M slots (M prime, at least 65537 and 100 per
//     server) that the usable servers fill in turns, each following its own
//     permutation of the slots and taking as many per turn as its weight. A
//     key goes to the slot its hash names. Every server gets its weight's
//     share of slots within one, and when one of N servers leaves, only its
//     keys (about 1/N) move plus a few slots' worth of others. Rebuilt when
//     the usable servers or their weights change.
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

bool isPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace

std::vector<uint32_t> maglevTable(const std::vector<std::string>& names, const std::vector<uint32_t>& weights) {
  uint64_t m = std::max<uint64_t>(65537, 100 * names.size());
  while (!isPrime(m)) ++m;
  std::vector<uint32_t> table(m, UINT32_MAX);
  const size_t n = names.size();
  if (n == 0) return table;
  std::vector<uint64_t> offset(n), skip(n), next(n, 0);
  uint64_t totalWeight = 0;
  for (size_t i = 0; i < n; ++i) {
    offset[i] = hashBytes("sdbm", names[i], /*avalanche=*/true) % m;
    skip[i] = hashBytes("djb2", names[i], /*avalanche=*/true) % (m - 1) + 1;
    totalWeight += weights[i];
  }
  // Servers all of weight 0 still share the keys (as map-based does).
  std::vector<uint32_t> turns = weights;
  if (totalWeight == 0) turns.assign(n, 1);
  uint64_t filled = 0;
  while (filled < m) {
    for (size_t i = 0; i < n && filled < m; ++i) {
      for (uint32_t turn = 0; turn < turns[i] && filled < m; ++turn) {
        // This server's next preferred slot that is still free.
        uint64_t slot = (offset[i] + next[i] * skip[i]) % m;
        while (table[slot] != UINT32_MAX) {
          ++next[i];
          slot = (offset[i] + next[i] * skip[i]) % m;
        }
        table[slot] = static_cast<uint32_t>(i);
        ++next[i];
        ++filled;
      }
    }
  }
  return table;
}

namespace {

class Hash final : public Algorithm {
 public:
  Hash(bool consistent, bool maglev)
      : consistent_(consistent), maglev_(maglev), fallback_(makeRoundRobin(true)) {}

  void rebuild(std::span<ServerState* const> tier, std::span<ServerState* const> usable) override {
    fallback_->rebuild(tier, usable);
    usable_.assign(usable, weightOf, [](const ServerState*) { return true; });
    if (maglev_) {
      std::vector<std::pair<ServerState*, uint32_t>> now;
      for (ServerState* s : usable) now.emplace_back(s, s->weight.load(std::memory_order_relaxed));
      if (now == maglevWeights_) return;
      maglevWeights_ = std::move(now);
      std::vector<std::string> names;
      std::vector<uint32_t> weights;
      maglevServers_.clear();
      for (auto [s, w] : maglevWeights_) {
        names.push_back(s->name + "#" + std::to_string(s->id));
        weights.push_back(w);
        maglevServers_.push_back(s);
      }
      maglevTable_ = maglevTable(names, weights);
      return;
    }
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
    if (maglev_) return inTable(ctx, ok);
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

  // The key's slot; when its server cannot take the connection, the next
  // slots in turn (the servers they name are the next choices).
  ServerState* inTable(const PickContext& ctx, const Eligible& ok) {
    if (maglevServers_.empty() || maglevTable_.empty()) return nullptr;
    const size_t m = maglevTable_.size();
    size_t slot = ctx.hash % m;
    ++walk_;
    if (offered_.size() < maglevServers_.size()) offered_.resize(maglevServers_.size(), 0);
    size_t refused = 0;
    for (size_t k = 0; k < m; ++k, slot = slot + 1 == m ? 0 : slot + 1) {
      uint32_t i = maglevTable_[slot];
      if (i == UINT32_MAX || offered_[i] == walk_) continue;
      ServerState* s = maglevServers_[i];
      if (ok(s)) return s;
      offered_[i] = walk_;
      if (++refused == maglevServers_.size()) break;
    }
    return nullptr;
  }

  bool consistent_;
  bool maglev_;
  std::vector<std::pair<ServerState*, uint32_t>> maglevWeights_;
  std::vector<ServerState*> maglevServers_;
  std::vector<uint32_t> maglevTable_;
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

std::unique_ptr<Algorithm> makeHash(bool consistent, bool maglev) {
  return std::make_unique<Hash>(consistent, maglev);
}

}  // namespace sluice::balance
