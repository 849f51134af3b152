// SPDX-License-Identifier: Apache-2.0
// roundrobin and static-rr: smooth weighted round robin. Each pick adds every
// candidate's weight to its credit, takes the candidate with the most credit,
// and charges it the total; over one cycle each server is chosen in
// proportion to its weight, interleaved rather than in bursts. roundrobin
// reads the live weight (so "set weight" and slow start apply at once);
// static-rr reads the configured weight.
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class RoundRobin final : public Algorithm {
 public:
  explicit RoundRobin(bool dynamicWeights) : dynamic_(dynamicWeights) {}

  ServerState* pick(std::span<ServerState* const> candidates, const PickContext&) override {
    int64_t total = 0;
    ServerState* best = nullptr;
    int64_t bestCredit = 0;
    for (ServerState* s : candidates) {
      int64_t w = dynamic_ ? s->weight.load(std::memory_order_relaxed) : s->configWeight;
      if (w <= 0) w = 1;
      // Credit by the server's position in its backend: a vector, not a
      // hash map, since this runs for every candidate on every pick.
      if (s->position >= credit_.size()) credit_.resize(s->position + 1, 0);
      int64_t& credit = credit_[s->position];
      credit += w;
      total += w;
      if (!best || credit > bestCredit) {
        best = s;
        bestCredit = credit;
      }
    }
    if (best) {
      credit_[best->position] -= total;
    }
    return best;
  }

  void onChange(std::span<ServerState* const>) override { credit_.assign(credit_.size(), 0); }

 private:
  bool dynamic_;
  std::vector<int64_t> credit_;
};

}  // namespace

std::unique_ptr<Algorithm> makeRoundRobin(bool dynamicWeights) {
  return std::make_unique<RoundRobin>(dynamicWeights);
}

}  // namespace sluice::balance
