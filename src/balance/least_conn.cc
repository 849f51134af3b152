// SPDX-License-Identifier: Apache-2.0
// leastconn: the candidate with the fewest connections per unit of weight.
// The usable servers are kept ordered by load in a tree, moved when their
// count changes (the Backend is told of each connection opened and closed),
// so a pick takes the first eligible one instead of comparing all of them.
// Equal loads rotate: a server picked or moved goes behind its equals
// (HAProxy does the same).
#include <set>
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

namespace {

class LeastConn final : public Algorithm {
 public:
  bool watchesLoad() const override { return true; }

  void rebuild(std::span<ServerState* const>, std::span<ServerState* const> usable) override {
    order_.clear();
    where_.clear();
    usable_.assign(usable.begin(), usable.end());
    for (ServerState* s : usable_) {
      if (s->position >= where_.size()) where_.resize(s->position + 1, order_.end());
      where_[s->position] = order_.insert(entryFor(*s)).first;
    }
    sweep_ = 0;
  }

  void loadChanged(ServerState& s) override { place(s, /*always=*/false); }

  ServerState* pick(const PickContext&, const Eligible& ok) override {
    // Sessions of the configuration before a reload close on their own
    // ServerState, told to the old Backend; re-reading one server's count per
    // pick brings every key back to the truth within one round.
    if (!usable_.empty()) place(*usable_[sweep_++ % usable_.size()], /*always=*/false);
    for (auto it = order_.begin(); it != order_.end(); ++it) {
      ServerState* s = it->server;
      if (ok(s)) {
        place(*s, /*always=*/true);  // behind its equals: ties rotate
        return s;
      }
    }
    return nullptr;
  }

 private:
  struct Entry {
    int64_t load;      // connections + 1, compared per unit of weight
    int64_t weight;
    uint64_t sequence; // among equal loads, the one placed first goes first
    ServerState* server;
    bool operator<(const Entry& o) const {
      int64_t a = load * o.weight, b = o.load * weight;  // load/weight < o.load/o.weight
      return a != b ? a < b : sequence < o.sequence;
    }
  };

  Entry entryFor(const ServerState& s) {
    int64_t w = s.weight.load(std::memory_order_relaxed);
    return Entry{s.currentConnections.load(std::memory_order_relaxed) + int64_t{1}, w > 0 ? w : 1, ++sequence_,
                 const_cast<ServerState*>(&s)};
  }

  void place(ServerState& s, bool always) {
    if (s.position >= where_.size() || where_[s.position] == order_.end()) return;  // not usable now
    auto it = where_[s.position];
    if (!always && it->load == s.currentConnections.load(std::memory_order_relaxed) + 1) return;
    order_.erase(it);
    where_[s.position] = order_.insert(entryFor(s)).first;
  }

  std::set<Entry> order_;
  std::vector<std::set<Entry>::iterator> where_;  // by position; end(): not in the tree
  std::vector<ServerState*> usable_;
  uint64_t sequence_ = 0;
  size_t sweep_ = 0;
};

}  // namespace

std::unique_ptr<Algorithm> makeLeastConn() { return std::make_unique<LeastConn>(); }

}  // namespace sluice::balance
