// SPDX-License-Identifier: Apache-2.0
// random(N): draw N servers at random, in proportion to their weights, and
// keep the least loaded of them ("power of N choices"; N defaults to 2).
#include <random>

#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class Random final : public Algorithm {
 public:
  explicit Random(uint32_t draws) : draws_(draws == 0 ? 1 : draws) {}

  ServerState* pick(std::span<ServerState* const> candidates, const PickContext&) override {
    uint64_t total = 0;
    for (ServerState* s : candidates) total += std::max<uint32_t>(1, s->weight.load(std::memory_order_relaxed));
    if (total == 0) return nullptr;
    ServerState* best = nullptr;
    for (uint32_t d = 0; d < draws_; ++d) {
      uint64_t r = std::uniform_int_distribution<uint64_t>(0, total - 1)(rng_);
      ServerState* drawn = nullptr;
      for (ServerState* s : candidates) {
        uint64_t w = std::max<uint32_t>(1, s->weight.load(std::memory_order_relaxed));
        if (r < w) {
          drawn = s;
          break;
        }
        r -= w;
      }
      if (!best || drawn->currentConnections.load(std::memory_order_relaxed) <
                       best->currentConnections.load(std::memory_order_relaxed)) {
        best = drawn;
      }
    }
    return best;
  }

 private:
  uint32_t draws_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

std::unique_ptr<Algorithm> makeRandom(uint32_t draws) { return std::make_unique<Random>(draws); }

}  // namespace sluice::balance
