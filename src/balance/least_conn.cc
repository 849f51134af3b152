// SPDX-License-Identifier: Apache-2.0
// leastconn: the candidate with the fewest connections per unit of weight.
// Ties rotate, so equally loaded servers all get used (HAProxy does the same).
#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class LeastConn final : public Algorithm {
 public:
  ServerState* pick(std::span<ServerState* const> candidates, const PickContext&) override {
    ServerState* best = nullptr;
    int64_t bestConns = 0;
    int64_t bestWeight = 1;
    size_t n = candidates.size();
    for (size_t k = 0; k < n; ++k) {
      ServerState* s = candidates[(next_ + k) % n];
      int64_t conns = s->currentConnections.load(std::memory_order_relaxed) + 1;
      int64_t w = s->weight.load(std::memory_order_relaxed);
      if (w <= 0) w = 1;
      // conns/w < bestConns/bestWeight, without division
      if (!best || conns * bestWeight < bestConns * w) {
        best = s;
        bestConns = conns;
        bestWeight = w;
      }
    }
    ++next_;
    return best;
  }

 private:
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<Algorithm> makeLeastConn() { return std::make_unique<LeastConn>(); }

}  // namespace sluice::balance
