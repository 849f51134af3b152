// SPDX-License-Identifier: Apache-2.0
// roundrobin and static-rr: weighted round robin as "earliest deadline
// first". Each usable server has a next turn on a virtual clock, spaced
// 1/weight apart; a pick takes the earliest turn and moves that server's
// turn on. Over one cycle each server is chosen in proportion to its weight,
// interleaved rather than in bursts, and a pick costs O(log n) in a heap
// instead of a pass over every server. roundrobin reads the live weight (so
// "set weight" and slow start apply at once); static-rr the configured one.
#include <algorithm>
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

namespace {

// One turn of a weight-1 server on the virtual clock. Turns are computed
// from the count since the server (re)joined, not by adding a rounded step,
// so no weight drifts from its share however long the process runs.
constexpr uint64_t kCycle = uint64_t{1} << 24;

class RoundRobin final : public Algorithm {
 public:
  explicit RoundRobin(bool dynamicWeights) : dynamic_(dynamicWeights) {}

  void rebuild(std::span<ServerState* const>, std::span<ServerState* const> usable) override {
    // A server that stays keeps its place: the part of a turn it still has
    // to wait, rescaled when its weight changed (a server ramping up under
    // slow start must not wait out a turn spaced for its old, small weight).
    // One that joins or comes back starts half a step ahead of now, so it
    // neither waits a whole cycle nor catches up on turns it missed.
    for (const Turn& t : heap_) {
      if (t.server->position >= kept_.size()) kept_.resize(t.server->position + 1);
      kept_[t.server->position] = {t.at, t.weight};
    }
    std::vector<Turn> next;
    next.reserve(usable.size());
    for (ServerState* s : usable) {
      Turn t;
      t.server = s;
      t.weight = std::max<uint32_t>(1, dynamic_ ? s->weight.load(std::memory_order_relaxed) : s->configWeight);
      Kept k = s->position < kept_.size() ? kept_[s->position] : Kept{};
      if (k.weight == 0) {
        t.base = now_ + kCycle / (2 * t.weight);
      } else if (k.at <= now_) {
        t.base = now_;
      } else {
        t.base = now_ + (k.at - now_) * k.weight / t.weight;
      }
      t.at = t.base;
      next.push_back(t);
    }
    std::fill(kept_.begin(), kept_.end(), Kept{});
    heap_ = std::move(next);
    std::make_heap(heap_.begin(), heap_.end(), later);
  }

  ServerState* pick(const PickContext&, const Eligible& ok) override {
    // Servers that cannot take this connection keep their turn: they are
    // put back untouched, and are first again once they can.
    skipped_.clear();
    ServerState* chosen = nullptr;
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      Turn t = heap_.back();
      heap_.pop_back();
      if (!ok(t.server)) {
        skipped_.push_back(t);
        continue;
      }
      now_ = t.at;
      ++t.taken;
      t.at = t.base + (t.taken * kCycle) / t.weight;
      heap_.push_back(t);
      std::push_heap(heap_.begin(), heap_.end(), later);
      chosen = t.server;
      break;
    }
    for (const Turn& t : skipped_) {
      heap_.push_back(t);
      std::push_heap(heap_.begin(), heap_.end(), later);
    }
    return chosen;
  }

 private:
  struct Turn {
    uint64_t at = 0;      // next turn on the virtual clock
    uint64_t base = 0;    // the clock when the server (re)joined
    uint64_t taken = 0;   // turns taken since then
    uint32_t weight = 1;
    ServerState* server = nullptr;
  };
  // Heap order: the earliest turn on top; equal turns in declaration order.
  static bool later(const Turn& a, const Turn& b) {
    return a.at != b.at ? a.at > b.at : a.server->position > b.server->position;
  }

  bool dynamic_;
  uint64_t now_ = 0;
  std::vector<Turn> heap_;
  std::vector<Turn> skipped_;
  struct Kept {
    uint64_t at = 0;
    uint32_t weight = 0;  // 0: not in the heap before
  };
  std::vector<Kept> kept_;  // by position, scratch for rebuild
};

}  // namespace

std::unique_ptr<Algorithm> makeRoundRobin(bool dynamicWeights) {
  return std::make_unique<RoundRobin>(dynamicWeights);
}

}  // namespace sluice::balance
