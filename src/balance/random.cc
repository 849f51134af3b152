// SPDX-License-Identifier: Apache-2.0
// random(N): draw N servers at random, in proportion to their weights, and
// keep the least loaded of them ("power of N choices"; N defaults to 2).
// A draw is a binary search in the running sum of the usable servers'
// weights; a server that cannot take the connection is drawn again
// (rejection keeps the proportions among the others), and only when most
// servers are ruled out does a pick fall back to listing the eligible ones.
#include <algorithm>
#include <random>

#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class Random final : public Algorithm {
 public:
  explicit Random(uint32_t draws) : draws_(draws == 0 ? 1 : draws) {}

  void rebuild(std::span<ServerState* const>, std::span<ServerState* const> usable) override {
    usable_.assign(usable, weightOf, [](const ServerState*) { return true; });
  }

  ServerState* pick(const PickContext&, const Eligible& ok) override {
    ServerState* best = nullptr;
    uint32_t drawn = 0;
    for (uint32_t attempt = 0; drawn < draws_ && attempt < 8 * draws_ + 8; ++attempt) {
      ServerState* s = draw(usable_);
      if (!ok(s)) continue;
      ++drawn;
      if (!best || load(s) < load(best)) best = s;
    }
    if (best) return best;
    // Nearly every server is ruled out: draw among the eligible ones.
    eligible_.assign(usable_.servers(), weightOf, ok);
    if (eligible_.empty()) return nullptr;
    for (uint32_t d = 0; d < draws_; ++d) {
      ServerState* s = draw(eligible_);
      if (!best || load(s) < load(best)) best = s;
    }
    return best;
  }

 private:
  static uint64_t weightOf(const ServerState* s) {
    return std::max<uint32_t>(1, s->weight.load(std::memory_order_relaxed));
  }
  static int32_t load(const ServerState* s) { return s->currentConnections.load(std::memory_order_relaxed); }

  ServerState* draw(const WeightedList& list) {
    return list.at(std::uniform_int_distribution<uint64_t>(0, list.total() - 1)(rng_));
  }

  uint32_t draws_;
  WeightedList usable_;
  WeightedList eligible_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

std::unique_ptr<Algorithm> makeRandom(uint32_t draws) { return std::make_unique<Random>(draws); }

}  // namespace sluice::balance
