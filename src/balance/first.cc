// SPDX-License-Identifier: Apache-2.0
// first: the lowest-id server that still has a free slot takes the
// connection; weights are ignored. The usable servers are kept sorted by id,
// so a pick looks only at the servers already full before the answer.
#include <algorithm>
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class First final : public Algorithm {
 public:
  void rebuild(std::span<ServerState* const>, std::span<ServerState* const> usable) override {
    byId_.assign(usable.begin(), usable.end());
    std::sort(byId_.begin(), byId_.end(), [](const ServerState* a, const ServerState* b) { return a->id < b->id; });
  }

  ServerState* pick(const PickContext&, const Eligible& ok) override {
    for (ServerState* s : byId_) {
      if (ok(s)) return s;
    }
    return nullptr;
  }

 private:
  std::vector<ServerState*> byId_;
};

}  // namespace

std::unique_ptr<Algorithm> makeFirst() { return std::make_unique<First>(); }

}  // namespace sluice::balance
