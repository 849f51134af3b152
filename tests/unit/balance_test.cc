// SPDX-License-Identifier: Apache-2.0
// Unit tests of the balancing algorithms: weighted round robin, leastconn,
// first, random, source/hash (map-based and consistent, with the share of
// keys that move when a server is added measured), the backup and exclusion
// rules every algorithm shares, and the cost of a pick: the number of
// servers it looks at does not grow with the number of servers.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "balance/balancer.h"

namespace sluice::balance {
namespace {

struct Farm {
  std::vector<std::unique_ptr<ServerState>> owned;
  std::vector<ServerState*> ptrs;
  ServerState* add(const std::string& name, uint32_t weight = 1, bool backup = false) {
    auto s = std::make_unique<ServerState>();
    s->name = name;
    s->id = static_cast<uint32_t>(owned.size() + 1);
    s->position = s->id - 1;
    s->configWeight = weight;
    s->weight = weight;
    s->backup = backup;
    ptrs.push_back(s.get());
    owned.push_back(std::move(s));
    return ptrs.back();
  }
};

// The server each of `n` client keys ("client-0", ...) hashes to.
std::vector<ServerState*> assignKeys(Backend& b, int n) {
  std::vector<ServerState*> out;
  for (int k = 0; k < n; ++k) {
    PickContext ctx;
    ctx.hasHash = true;
    ctx.hash = hashBytes("sdbm", "client-" + std::to_string(k), true);
    out.push_back(b.pick(ctx));
  }
  return out;
}

std::string run(Backend& b, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    ServerState* s = b.pick({});
    out += s ? s->name : "-";
  }
  return out;
}

// Weighted round robin spreads a heavy server's turns (5,1,1): every seven
// picks in a row hold five a, one b and one c, from the first pick on.
TEST(Balancers, WeightedRoundRobinInterleaves) {
  Farm f;
  f.add("a", 5);
  f.add("b", 1);
  f.add("c", 1);
  BalanceSpec spec;
  Backend b(spec, f.ptrs);
  std::string picks = run(b, 70);
  for (size_t i = 0; i + 7 <= picks.size(); ++i) {
    std::string window = picks.substr(i, 7);
    EXPECT_EQ(std::count(window.begin(), window.end(), 'a'), 5) << picks << " at " << i;
    EXPECT_EQ(std::count(window.begin(), window.end(), 'b'), 1) << picks << " at " << i;
  }
}

// Shares stay exact over many cycles, whatever the weights (no rounding
// drift in the virtual clock).
TEST(Balancers, RoundRobinSharesAreExact) {
  Farm f;
  const std::vector<uint32_t> weights = {3, 2, 7, 256, 1, 255};
  for (size_t i = 0; i < weights.size(); ++i) f.add(std::string(1, static_cast<char>('a' + i)), weights[i]);
  Backend b(BalanceSpec{}, f.ptrs);
  uint32_t total = 0;
  for (uint32_t w : weights) total += w;
  const int cycles = 200;
  std::string picks = run(b, static_cast<int>(total) * cycles);
  for (size_t i = 0; i < weights.size(); ++i) {
    EXPECT_EQ(std::count(picks.begin(), picks.end(), static_cast<char>('a' + i)), weights[i] * cycles)
        << "weight " << weights[i];
  }
}

// A server back from down takes its share from then on; it does not get the
// turns it missed in a burst.
TEST(Balancers, ServerBackFromDownDoesNotCatchUp) {
  Farm f;
  f.add("a");
  f.add("b");
  Backend b(BalanceSpec{}, f.ptrs);
  EXPECT_EQ(run(b, 4), "abab");
  f.ptrs[1]->up = false;
  EXPECT_EQ(run(b, 100), std::string(100, 'a'));
  f.ptrs[1]->up = true;
  std::string after = run(b, 20);
  EXPECT_EQ(std::count(after.begin(), after.end(), 'b'), 10) << after;
  EXPECT_EQ(after.find("bb"), std::string::npos) << after;
}

// A weight raised (slow start's last step, "set weight") applies from the
// next pick: the server does not first wait out a turn spaced for its old,
// small weight.
TEST(Balancers, RaisedWeightAppliesAtOnce) {
  Farm f;
  f.add("a", 10);
  f.add("b", 1);
  Backend b(BalanceSpec{}, f.ptrs);
  std::string early = run(b, 22);
  EXPECT_EQ(std::count(early.begin(), early.end(), 'b'), 2) << early;
  f.ptrs[1]->weight = 10;
  std::string late = run(b, 20);
  EXPECT_EQ(std::count(late.begin(), late.end(), 'b'), 10) << late;
}

// roundrobin reads live weights; static-rr keeps the configured ones.
TEST(Balancers, DynamicVersusStaticWeights) {
  Farm f;
  f.add("a", 1);
  f.add("b", 1);
  BalanceSpec rr;
  Backend dyn(rr, f.ptrs);
  BalanceSpec srr;
  srr.algorithm = "static-rr";
  Backend stat(srr, f.ptrs);
  f.ptrs[0]->weight = 3;
  std::string d = run(dyn, 8);
  std::string s = run(stat, 8);
  EXPECT_EQ(std::count(d.begin(), d.end(), 'a'), 6) << d;
  EXPECT_EQ(std::count(s.begin(), s.end(), 'a'), 4) << s;
}

// Weight 0, disabled and down servers are never picked by the balancer.
TEST(Balancers, UnusableServersAreSkipped) {
  Farm f;
  f.add("a");
  f.add("b");
  f.add("c");
  f.add("d", 0);
  Backend b(BalanceSpec{}, f.ptrs);
  f.ptrs[1]->up = false;
  f.ptrs[2]->admin = AdminState::Maint;
  EXPECT_EQ(run(b, 4), "aaaa");
  f.ptrs[2]->admin = AdminState::Drain;
  EXPECT_EQ(run(b, 2), "aa");
}

// Opens n connections on a server the way a session does.
void open(ServerState* s, int n) {
  for (int i = 0; i < n; ++i) s->connectionOpened();
}

// leastconn: fewest connections per weight; equals rotate.
TEST(Balancers, LeastConn) {
  Farm f;
  f.add("a");
  f.add("b");
  f.add("c", 2);
  BalanceSpec spec;
  spec.algorithm = "leastconn";
  Backend b(spec, f.ptrs);
  open(f.ptrs[0], 3);
  open(f.ptrs[1], 1);
  open(f.ptrs[2], 3);  // 4/2 = 2 per weight, b has 2/1
  ServerState* s = b.pick({});
  // b: (1+1)/1 = 2, c: (3+1)/2 = 2: a tie between b and c; a is never chosen.
  EXPECT_NE(s->name, "a");
  EXPECT_NE(b.pick({}), s) << "equal loads rotate";
  f.ptrs[1]->connectionClosed();
  EXPECT_EQ(b.pick({})->name, "b");
}

// leastconn follows connections as they open and close: a server whose
// connections end is the next one chosen.
TEST(Balancers, LeastConnFollowsClosedConnections) {
  Farm f;
  for (int i = 0; i < 50; ++i) f.add("s" + std::to_string(i));
  BalanceSpec spec;
  spec.algorithm = "leastconn";
  Backend b(spec, f.ptrs);
  for (int i = 0; i < 500; ++i) b.pick({})->connectionOpened();
  for (ServerState* s : f.ptrs) EXPECT_EQ(s->currentConnections.load(), 10) << s->name;
  for (int i = 0; i < 4; ++i) f.ptrs[37]->connectionClosed();
  for (int i = 0; i < 4; ++i) {
    ServerState* s = b.pick({});
    EXPECT_EQ(s, f.ptrs[37]);
    s->connectionOpened();
  }
  EXPECT_NE(b.pick({}), f.ptrs[37]) << "back to 10 like the others";
}

// After a reload the servers carry their counts over, and sessions of the
// old configuration close on the old server objects (told to the old
// balancer). The new balancer still learns of it within one round of picks.
TEST(Balancers, LeastConnLearnsOfClosesFromBeforeAReload) {
  Farm before;
  for (int i = 0; i < 8; ++i) before.add("s" + std::to_string(i));
  BalanceSpec spec;
  spec.algorithm = "leastconn";
  Backend old(spec, before.ptrs);
  for (int i = 0; i < 80; ++i) old.pick({})->connectionOpened();

  std::vector<std::unique_ptr<ServerState>> owned;
  std::vector<ServerState*> after;
  for (ServerState* o : before.ptrs) {
    auto s = std::make_unique<ServerState>(o->live);  // same backend and name: the live state continues
    s->name = o->name;
    s->id = o->id;
    s->position = o->position;
    after.push_back(s.get());
    owned.push_back(std::move(s));
  }
  Backend reloaded(spec, after);
  EXPECT_NE(reloaded.pick({}), nullptr);
  for (int i = 0; i < 10; ++i) before.ptrs[5]->connectionClosed();  // old sessions of s5 end
  int picks = 0;
  while (picks < 16 && reloaded.pick({}) != after[5]) ++picks;
  EXPECT_LT(picks, 16) << "s5 has no connection left and must be chosen";
}

// first: lowest id with room; maxconn makes it move on.
TEST(Balancers, FirstByIdUntilFull) {
  Farm f;
  f.add("a")->maxconn = 2;
  f.add("b")->maxconn = 2;
  f.ptrs[0]->id = 5;
  BalanceSpec spec;
  spec.algorithm = "first";
  Backend b(spec, f.ptrs);
  EXPECT_EQ(b.pick({})->name, "b");
  open(f.ptrs[1], 2);
  EXPECT_EQ(b.pick({})->name, "a");
  open(f.ptrs[0], 2);
  PickContext ctx;
  EXPECT_EQ(b.pick(ctx), nullptr);
  EXPECT_TRUE(ctx.allFull);
}

// random(2): weighted draws; every server gets a share.
TEST(Balancers, RandomDrawsAllServers) {
  Farm f;
  f.add("a");
  f.add("b");
  f.add("c");
  BalanceSpec spec;
  spec.algorithm = "random";
  Backend b(spec, f.ptrs);
  std::map<std::string, int> n;
  for (int i = 0; i < 3000; ++i) n[b.pick({})->name]++;
  for (auto& [k, v] : n) EXPECT_GT(v, 700) << k;
}

// Backups: only when no active server is usable; the first one, or all with allbackups.
TEST(Balancers, BackupTier) {
  Farm f;
  f.add("a");
  f.add("b1", 1, true);
  f.add("b2", 1, true);
  Backend one(BalanceSpec{}, f.ptrs);
  EXPECT_EQ(run(one, 3), "aaa");
  f.ptrs[0]->up = false;
  EXPECT_EQ(run(one, 4), "b1b1b1b1");
  BalanceSpec all;
  all.allBackups = true;
  Backend both(all, f.ptrs);
  EXPECT_EQ(run(both, 4), "b1b2b1b2");
}

// A connection never goes back to a server it already failed on.
TEST(Balancers, ExcludedServersAreNotPickedAgain) {
  Farm f;
  f.add("a");
  f.add("b");
  Backend b(BalanceSpec{}, f.ptrs);
  std::vector<ServerState*> tried = {f.ptrs[0]};
  PickContext ctx;
  ctx.exclude = tried;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.pick(ctx)->name, "b");
  tried.push_back(f.ptrs[1]);
  ctx.exclude = tried;
  EXPECT_EQ(b.pick(ctx), nullptr);
}

// Hashing: the same key goes to the same server; a missing key round-robins.
TEST(Balancers, HashIsStable) {
  Farm f;
  for (int i = 0; i < 4; ++i) f.add("s" + std::to_string(i));
  BalanceSpec spec;
  spec.algorithm = "source";
  Backend b(spec, f.ptrs);
  PickContext ctx;
  ctx.hasHash = true;
  ctx.hash = hashBytes("sdbm", "192.0.2.1", false);
  ServerState* first = b.pick(ctx);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.pick(ctx), first);
  EXPECT_EQ(run(b, 4), "s0s1s2s3");
}

// Consistent hashing moves about 1/N of the keys when a server is added
// (map-based hashing moves most of them).
TEST(Balancers, ConsistentHashMovesFewKeys) {
  auto assign = [](bool consistent, int servers) {
    Farm f;
    for (int i = 0; i < servers; ++i) f.add("s" + std::to_string(i));
    BalanceSpec spec;
    spec.algorithm = "hash";
    spec.consistent = consistent;
    Backend b(spec, f.ptrs);
    std::vector<std::string> out;
    for (int k = 0; k < 20000; ++k) {
      PickContext ctx;
      ctx.hasHash = true;
      ctx.hash = hashBytes("sdbm", "key-" + std::to_string(k) + ".example", true);
      out.push_back(b.pick(ctx)->name);
    }
    return out;
  };
  auto moved = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    int n = 0;
    for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
    return static_cast<double>(n) / static_cast<double>(a.size());
  };
  double consistent = moved(assign(true, 4), assign(true, 5));
  double mapBased = moved(assign(false, 4), assign(false, 5));
  EXPECT_GT(consistent, 0.10);
  EXPECT_LT(consistent, 0.30) << "ideal is 1/5 = 0.20";
  EXPECT_GT(mapBased, 0.5);
}

// Consistent hashing: when a server goes down only its keys move, and they
// come back when it does.
TEST(Balancers, ConsistentHashMovesOnlyTheKeysOfADownServer) {
  Farm f;
  for (int i = 0; i < 10; ++i) f.add("s" + std::to_string(i));
  BalanceSpec spec;
  spec.algorithm = "hash";
  spec.consistent = true;
  Backend b(spec, f.ptrs);
  auto assign = [&] { return assignKeys(b, 5000); };
  auto before = assign();
  f.ptrs[3]->up = false;
  auto during = assign();
  size_t ofS3 = 0;
  for (size_t k = 0; k < before.size(); ++k) {
    if (before[k] == f.ptrs[3]) {
      ++ofS3;
      EXPECT_NE(during[k], f.ptrs[3]);
    } else {
      EXPECT_EQ(during[k], before[k]) << "key " << k << " moved though its server stayed up";
    }
  }
  EXPECT_GT(ofS3, 250u);
  f.ptrs[3]->up = true;
  EXPECT_EQ(assign(), before);
}

// hash-type maglev: every server gets its share of the table's slots within
// one (weighted too), and against consistent hashing over the same keys,
// balance and the keys moved when a server leaves or joins are measured.
TEST(Balancers, MaglevBalancesAndMovesFewKeys) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("s" + std::to_string(i));
  std::vector<uint32_t> table = maglevTable(names, std::vector<uint32_t>(10, 1));
  ASSERT_EQ(table.size(), 65537u);
  std::map<uint32_t, size_t> slots;
  for (uint32_t i : table) ++slots[i];
  ASSERT_EQ(slots.size(), 10u);
  size_t lo = SIZE_MAX, hi = 0;
  for (auto [i, n] : slots) lo = std::min(lo, n), hi = std::max(hi, n);
  EXPECT_LE(hi - lo, 1u);
  std::vector<uint32_t> weighted = maglevTable({"a", "b", "c"}, {1, 2, 3});
  std::map<uint32_t, size_t> w;
  for (uint32_t i : weighted) ++w[i];
  EXPECT_NEAR(static_cast<double>(w[2]) / static_cast<double>(w[0]), 3.0, 0.01);
  EXPECT_NEAR(static_cast<double>(w[1]) / static_cast<double>(w[0]), 2.0, 0.01);

  // Through the balancer: 10 servers, 100,000 keys.
  struct Result {
    double maxOverMean, movedLeave, movedJoin;
  };
  auto measure = [](bool maglev) {
    Farm f;
    for (int i = 0; i < 11; ++i) f.add("s" + std::to_string(i));
    f.ptrs[10]->up = false;  // joins later
    BalanceSpec spec;
    spec.algorithm = "hash";
    spec.consistent = !maglev;
    spec.maglev = maglev;
    Backend b(spec, f.ptrs);
    auto assign = [&] { return assignKeys(b, 100000); };
    auto before = assign();
    std::map<ServerState*, size_t> load;
    for (ServerState* s : before) ++load[s];
    size_t most = 0;
    for (auto [s, n] : load) most = std::max(most, n);
    f.ptrs[3]->up = false;
    auto leave = assign();
    size_t movedLeave = 0;  // keys moved though their server stayed
    for (size_t k = 0; k < before.size(); ++k) movedLeave += before[k] != f.ptrs[3] && leave[k] != before[k];
    f.ptrs[3]->up = true;
    EXPECT_EQ(assign(), before) << "the keys come back with the server";
    f.ptrs[10]->up = true;
    auto join = assign();
    size_t movedJoin = 0;
    for (size_t k = 0; k < before.size(); ++k) movedJoin += join[k] != before[k];
    return Result{static_cast<double>(most) / (100000.0 / 10), movedLeave / 100000.0, movedJoin / 100000.0};
  };
  Result maglev = measure(true);
  Result consistent = measure(false);
  std::cout << "[ MEASURED ] 10 servers, 100,000 keys: max load / mean: maglev " << maglev.maxOverMean
            << ", consistent " << consistent.maxOverMean << "; other keys moved when one leaves: maglev "
            << maglev.movedLeave << ", consistent " << consistent.movedLeave
            << "; keys moved when an 11th joins (ideal 1/11 = 0.0909): maglev " << maglev.movedJoin << ", consistent "
            << consistent.movedJoin << "\n";
  EXPECT_LT(maglev.maxOverMean, 1.02);
  EXPECT_LT(maglev.maxOverMean, consistent.maxOverMean);
  EXPECT_LT(maglev.movedLeave, 0.02);
  EXPECT_EQ(consistent.movedLeave, 0.0);
  EXPECT_NEAR(maglev.movedJoin, 1.0 / 11, 0.02);
}

// The cost of a pick, as the number of servers it looks at, is the same with
// 10,000 servers as with 10 for every algorithm; the lists of usable servers
// are rebuilt once per change of state, not per pick.
TEST(Balancers, PickCostDoesNotGrowWithServers) {
  struct Algo {
    const char* name;
    bool consistent;
    bool hashed;
  };
  const Algo algos[] = {{"roundrobin", false, false}, {"static-rr", false, false}, {"leastconn", false, false},
                        {"first", false, false},      {"random", false, false},    {"source", false, true},
                        {"source", true, true}};
  for (const Algo& a : algos) {
    for (int n : {10, 10000}) {
      Farm f;
      for (int i = 0; i < n; ++i) f.add("s" + std::to_string(i), 1 + static_cast<uint32_t>(i % 7));
      BalanceSpec spec;
      spec.algorithm = a.name;
      spec.consistent = a.consistent;
      Backend b(spec, f.ptrs);
      std::vector<ServerState*> opened;
      size_t most = 0;
      for (int i = 0; i < 2000; ++i) {
        PickContext ctx;
        ctx.hasHash = a.hashed;
        ctx.hash = hashBytes("sdbm", "key-" + std::to_string(i), true);
        ServerState* s = b.pick(ctx);
        ASSERT_NE(s, nullptr);
        most = std::max(most, ctx.examined);
        // Connections open and some close, as under traffic (leastconn moves).
        s->connectionOpened();
        opened.push_back(s);
        if (i % 3 == 0) {
          opened.front()->connectionClosed();
          opened.erase(opened.begin());
        }
      }
      std::string what = std::string(a.name) + (a.consistent ? " consistent" : "") + " over " + std::to_string(n);
      EXPECT_LE(most, 2u) << what;
      EXPECT_EQ(b.rebuilds(), 1u) << what;
      f.ptrs[static_cast<size_t>(n / 2)]->up = false;
      for (int i = 0; i < 10; ++i) EXPECT_NE(b.pick({}), f.ptrs[static_cast<size_t>(n / 2)]) << what;
      EXPECT_EQ(b.rebuilds(), 2u) << what << ": one rebuild for one change";
      for (ServerState* s : opened) s->connectionClosed();
    }
  }
}

// With maxconn, servers at their limit are passed over; the pick looks at
// the full ones, never at all servers.
TEST(Balancers, FullServersArePassedOver) {
  for (const char* algo : {"roundrobin", "leastconn", "random", "first"}) {
    Farm f;
    for (int i = 0; i < 1000; ++i) f.add("s" + std::to_string(i))->maxconn = 1;
    BalanceSpec spec;
    spec.algorithm = algo;
    Backend b(spec, f.ptrs);
    for (int i = 0; i < 1000; ++i) {
      PickContext ctx;
      ServerState* s = b.pick(ctx);
      ASSERT_NE(s, nullptr) << algo << " pick " << i;
      ASSERT_FALSE(s->full()) << algo;
      s->connectionOpened();
    }
    PickContext ctx;
    EXPECT_EQ(b.pick(ctx), nullptr) << algo;
    EXPECT_TRUE(ctx.allFull) << algo;
    f.ptrs[600]->connectionClosed();
    EXPECT_EQ(b.pick({}), f.ptrs[600]) << algo;
  }
}

}  // namespace
}  // namespace sluice::balance
