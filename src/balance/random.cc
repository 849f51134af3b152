// SPDX-License-Identifier: Apache-2.0
// random(N): draw N servers at random, in proportion to their weights, and
// keep the least loaded of them ("power of N choices"; N defaults to 2).
// A draw is a binary search in the running sum of the usable servers'
// weights; a server that cannot take the connection is drawn again
// (rejection keeps the proportions among the others), and only when most
// servers are ruled out does a pick fall back to listing the eligible ones.
#include <algorithm>
#include <random>
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class Random final : public Algorithm {
 public:
  explicit Random(uint32_t draws) : draws_(draws == 0 ? 1 : draws) {}

  void rebuild(std::span<ServerState* const>, std::span<ServerState* const> usable) override {
    servers_.assign(usable.begin(), usable.end());
    runningWeight_.clear();
    uint64_t sum = 0;
    for (ServerState* s : servers_) {
      sum += std::max<uint32_t>(1, s->weight.load(std::memory_order_relaxed));
      runningWeight_.push_back(sum);
    }
  }

  ServerState* pick(const PickContext&, const Eligible& ok) override {
    ServerState* best = nullptr;
    uint32_t drawn = 0;
    for (uint32_t attempt = 0; drawn < draws_ && attempt < 8 * draws_ + 8; ++attempt) {
      ServerState* s = draw(runningWeight_, servers_);
      if (!ok(s)) continue;
      ++drawn;
      if (!best || load(s) < load(best)) best = s;
    }
    if (best) return best;
    // Nearly every server is ruled out: draw among the eligible ones.
    eligible_.clear();
    eligibleRunning_.clear();
    uint64_t sum = 0;
    for (ServerState* s : servers_) {
      if (!ok(s)) continue;
      eligible_.push_back(s);
      sum += std::max<uint32_t>(1, s->weight.load(std::memory_order_relaxed));
      eligibleRunning_.push_back(sum);
    }
    if (eligible_.empty()) return nullptr;
    for (uint32_t d = 0; d < draws_; ++d) {
      ServerState* s = draw(eligibleRunning_, eligible_);
      if (!best || load(s) < load(best)) best = s;
    }
    return best;
  }

 private:
  static int32_t load(const ServerState* s) { return s->currentConnections.load(std::memory_order_relaxed); }

  ServerState* draw(const std::vector<uint64_t>& running, const std::vector<ServerState*>& servers) {
    uint64_t r = std::uniform_int_distribution<uint64_t>(0, running.back() - 1)(rng_);
    auto it = std::upper_bound(running.begin(), running.end(), r);
    return servers[static_cast<size_t>(it - running.begin())];
  }

  uint32_t draws_;
  std::vector<ServerState*> servers_;
  std::vector<uint64_t> runningWeight_;
  std::vector<ServerState*> eligible_;
  std::vector<uint64_t> eligibleRunning_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

std::unique_ptr<Algorithm> makeRandom(uint32_t draws) { return std::make_unique<Random>(draws); }

}  // namespace sluice::balance
