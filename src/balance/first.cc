// SPDX-License-Identifier: Apache-2.0
// first: the lowest-id server that still has a free slot takes the
// connection; weights are ignored. Full servers were already removed from the
// candidates, so the first candidate by id is the answer.
#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class First final : public Algorithm {
 public:
  ServerState* pick(std::span<ServerState* const> candidates, const PickContext&) override {
    ServerState* best = nullptr;
    for (ServerState* s : candidates) {
      if (!best || s->id < best->id) best = s;
    }
    return best;
  }
};

}  // namespace

std::unique_ptr<Algorithm> makeFirst() { return std::make_unique<First>(); }

}  // namespace sluice::balance
