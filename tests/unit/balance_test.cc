// SPDX-License-Identifier: Apache-2.0
// Unit tests of the balancing algorithms: smooth weighted round robin,
// leastconn, first, random, source/hash (map-based and consistent, with the
// share of keys that move when a server is added measured), and the backup
// and exclusion rules every algorithm shares.
#include <gtest/gtest.h>

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

std::string run(Backend& b, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    ServerState* s = b.pick({});
    out += s ? s->name : "-";
  }
  return out;
}

// Smooth weighted round robin spreads a heavy server's turns (5,1,1).
TEST(Balancers, SmoothWeightedRoundRobin) {
  Farm f;
  f.add("a", 5);
  f.add("b", 1);
  f.add("c", 1);
  BalanceSpec spec;
  Backend b(spec, f.ptrs);
  EXPECT_EQ(run(b, 7), "aabacaa");
  EXPECT_EQ(run(b, 7), "aabacaa");
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

// leastconn: fewest connections per weight; equals rotate.
TEST(Balancers, LeastConn) {
  Farm f;
  f.add("a");
  f.add("b");
  f.add("c", 2);
  BalanceSpec spec;
  spec.algorithm = "leastconn";
  Backend b(spec, f.ptrs);
  f.ptrs[0]->currentConnections = 3;
  f.ptrs[1]->currentConnections = 1;
  f.ptrs[2]->currentConnections = 3;  // 4/2 = 2 per weight, b has 2/1
  ServerState* s = b.pick({});
  // b: (1+1)/1 = 2, c: (3+1)/2 = 2: a tie between b and c; a is never chosen.
  EXPECT_NE(s->name, "a");
  f.ptrs[1]->currentConnections = 0;
  EXPECT_EQ(b.pick({})->name, "b");
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
  f.ptrs[1]->currentConnections = 2;
  EXPECT_EQ(b.pick({})->name, "a");
  f.ptrs[0]->currentConnections = 2;
  EXPECT_EQ(b.pick({}), nullptr);
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
  PickContext none;
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

}  // namespace
}  // namespace sluice::balance
