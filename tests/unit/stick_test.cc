// SPDX-License-Identifier: Apache-2.0
// Unit tests of stick tables: sliding rates, keys of each type, tracking
// and expiry, eviction when full, the "show table" form and its filters,
// the "stick-table" line, and the sc*/src_* fetches over a session view.
#include <gtest/gtest.h>

#include <thread>

#include "config/lexer.h"
#include "config/parser.h"
#include "core/diagnostics.h"
#include "route/acl.h"
#include "route/expression.h"
#include "stick/table.h"

namespace sluice::stick {
namespace {

TableSpec spec(KeyType type, uint64_t size, uint32_t expireMs,
               std::initializer_list<std::pair<DataType, uint32_t>> stored) {
  TableSpec s;
  s.name = "t";
  s.keyType = type;
  s.size = size;
  s.expireMs = expireMs;
  for (auto [t, period] : stored) {
    s.stored[static_cast<size_t>(t)] = true;
    s.period[static_cast<size_t>(t)] = period;
  }
  return s;
}

core::Address addr(const char* text) { return *core::Address::parse(text); }

config::Config parseText(const std::string& text, core::Diagnostics& diag) {
  config::EnvLookup noEnv = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  return config::parseConfig(config::readConfigText(text, "t.cfg", noEnv, diag), diag);
}

// Ten events in the last period, none before: the rate is ten. Half a period
// later, half of them still count; two periods later, none.
TEST(StickRate, SlidingWindow) {
  RateCounter r;
  for (int i = 0; i < 10; ++i) r.add(1000, 1000, 1);
  EXPECT_EQ(r.rate(1000, 1000), 10u);
  EXPECT_EQ(r.rate(1999, 1000), 10u);
  EXPECT_EQ(r.rate(2500, 1000), 5u);
  r.add(2500, 1000, 2);
  EXPECT_EQ(r.rate(2500, 1000), 7u);
  EXPECT_EQ(r.rate(4600, 1000), 0u);
}

TEST(StickKeys, EachType) {
  Table ip(spec(KeyType::Ip, 10, 0, {}));
  EXPECT_EQ(ip.keyToText(*ip.keyFromAddress(addr("10.1.2.3:5"))), "10.1.2.3");
  EXPECT_FALSE(ip.keyFromAddress(addr("[2001:db8::1]:5")));
  // A v4-mapped client (dual-stack listener) is an IPv4 key.
  EXPECT_EQ(ip.keyToText(*ip.keyFromAddress(addr("[::ffff:10.1.2.3]:5"))), "10.1.2.3");

  Table v6(spec(KeyType::Ipv6, 10, 0, {}));
  EXPECT_EQ(v6.keyToText(*v6.keyFromAddress(addr("10.1.2.3:5"))), "::ffff:10.1.2.3");
  EXPECT_EQ(v6.keyToText(*v6.keyFromText("2001:db8::1")), "2001:db8::1");

  TableSpec s = spec(KeyType::String, 10, 0, {});
  s.keyLength = 4;
  Table str(s);
  EXPECT_EQ(*str.keyFromBytes("example"), "exam");

  s.keyType = KeyType::Binary;
  Table bin(s);
  EXPECT_EQ(bin.keyFromBytes("ab")->size(), 4u);
  EXPECT_EQ(bin.keyToText(*bin.keyFromBytes("ab")), "61620000");
  EXPECT_EQ(*bin.keyFromText("61620000"), *bin.keyFromBytes("ab"));

  Table in(spec(KeyType::Integer, 10, 0, {}));
  EXPECT_EQ(in.keyToText(*in.keyFromInt(42)), "42");
  EXPECT_EQ(*in.keyFromText("42"), *in.keyFromInt(42));
  EXPECT_FALSE(in.keyFromText("4x2"));
}

TEST(StickTable, TrackingCountsAndReleases) {
  Table t(spec(KeyType::Ip, 10, 1000,
               {{DataType::ConnCnt, 0}, {DataType::ConnCur, 0}, {DataType::ConnRate, 10000},
                {DataType::BytesInCnt, 0}, {DataType::BytesOutRate, 1000}}));
  std::string key = *t.keyFromText("10.0.0.1");
  Entry* a = t.acquire(key, 100);
  Entry* b = t.acquire(key, 100);
  ASSERT_EQ(a, b);
  t.countConnection(a, 100);
  t.countConnection(b, 100);
  t.countBytes(a, 300, 1200, 100);
  EXPECT_EQ(t.read(a, DataType::ConnCur, 100), 2);
  EXPECT_EQ(t.read(a, DataType::ConnCnt, 100), 2);
  EXPECT_EQ(t.read(a, DataType::ConnRate, 100), 2);
  EXPECT_EQ(t.read(a, DataType::BytesInCnt, 100), 300);
  EXPECT_EQ(t.read(a, DataType::BytesOutRate, 100), 1200);
  EXPECT_FALSE(t.read(a, DataType::Gpc0, 100));  // not stored: no value
  EXPECT_EQ(t.trackers(a), 2u);

  // In use, an entry outlives its expiry.
  EXPECT_TRUE(t.contains(key, 5000));
  t.connectionEnded(a);
  t.release(a, 5000);
  t.connectionEnded(b);
  t.release(b, 5000);
  EXPECT_EQ(t.lookup(key, DataType::ConnCur, 5000), 0);
  // Released at 5000: expires at 6000.
  EXPECT_TRUE(t.contains(key, 5999));
  EXPECT_FALSE(t.contains(key, 6000));
  EXPECT_EQ(t.used(6000), 0u);
}

TEST(StickTable, FullTableEvictsLeastRecentlyUsedNotInUse) {
  Table t(spec(KeyType::Integer, 3, 0, {{DataType::Gpc0, 0}}));
  Entry* held = t.acquire(*t.keyFromInt(1), 1);
  for (int k = 2; k <= 3; ++k) t.stick(*t.keyFromInt(k), 1, 1 + k);  // creates entries 2, 3
  EXPECT_EQ(t.used(10), 3u);
  // Entry 1 is the oldest but in use: 2 goes.
  ASSERT_NE(t.acquire(*t.keyFromInt(4), 10), nullptr);
  EXPECT_TRUE(t.contains(*t.keyFromInt(1), 10));
  EXPECT_FALSE(t.contains(*t.keyFromInt(2), 10));
  EXPECT_TRUE(t.contains(*t.keyFromInt(3), 10));
  t.release(held, 10);

  TableSpec s = spec(KeyType::Integer, 1, 0, {});
  s.noPurge = true;
  Table np(s);
  ASSERT_NE(np.acquire(*np.keyFromInt(1), 1), nullptr);
  EXPECT_EQ(np.acquire(*np.keyFromInt(2), 1), nullptr);
}

TEST(StickTable, DumpFiltersAndClear) {
  Table t(spec(KeyType::Ip, 10, 30000, {{DataType::Gpc0, 0}, {DataType::ConnRate, 10000}}));
  for (const char* ip : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
    t.update(*t.keyFromText(ip), 1000, true, [&](Entry& e) { t.touchLocked(e, 1000); });
  }
  t.update(*t.keyFromText("10.0.0.2"), 1000, false,
           [&](Entry& e) { t.setLocked(e, DataType::Gpc0, 3, 1000); });
  auto all = t.dump(1000, std::nullopt, {}, 100);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_NE(all[0].find(": key=10.0.0.3 use=0 exp=30000 gpc0=0 conn_rate(10000)=0"), std::string::npos)
      << all[0];
  auto flagged = t.dump(1000, std::nullopt, {{DataType::Gpc0, Table::Filter::Op::Gt, 0}}, 100);
  ASSERT_EQ(flagged.size(), 1u);
  EXPECT_NE(flagged[0].find("key=10.0.0.2 "), std::string::npos);
  EXPECT_EQ(t.clear(1000, std::nullopt, {{DataType::Gpc0, Table::Filter::Op::Eq, 0}}), 2u);
  EXPECT_EQ(t.used(1000), 1u);
  EXPECT_EQ(t.clear(1000, t.keyFromText("10.0.0.2"), {}), 1u);
  EXPECT_EQ(t.used(1000), 0u);
}

// Two threads tracking the same keys: counts add up, nothing is lost.
// A table shared with peers keeps an update log: each write moves its
// entry to the end with the next number, so a peer that acknowledged up to
// N asks for what came after N and gets each entry once, at its latest
// values, in the order they were written; expired and cleared entries leave
// the log; a full resync says what number it is current to.
TEST(StickTable, UpdateLogForPeers) {
  TableSpec s = spec(KeyType::Ip, 100, 1000, {{DataType::Gpc0, 0}});
  s.peers = "mesh";
  Table t(s);
  auto key = [&](const char* a) { return *t.keyFromAddress(addr(a)); };
  auto keysAfter = [&](uint64_t n, uint64_t now, size_t max = 100) {
    std::vector<std::string> out;
    for (const auto& snap : t.changesAfter(n, now, max)) out.push_back(t.keyToText(snap.key));
    return out;
  };
  EXPECT_EQ(t.lastUpdate(), 0u);
  for (const char* a : {"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}) {
    t.update(key(a), 0, true, [&](Entry& e) { t.addLocked(e, DataType::Gpc0, 1, 0); });
  }
  EXPECT_EQ(t.lastUpdate(), 3u);
  EXPECT_EQ(keysAfter(0, 0), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(keysAfter(1, 0), (std::vector<std::string>{"10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(keysAfter(3, 0), std::vector<std::string>{});
  EXPECT_EQ(keysAfter(0, 0, 2), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  // Written again: once in the log, at the end, with its new value.
  t.update(key("10.0.0.1:1"), 0, true, [&](Entry& e) { t.addLocked(e, DataType::Gpc0, 5, 0); });
  EXPECT_EQ(keysAfter(0, 0), (std::vector<std::string>{"10.0.0.2", "10.0.0.3", "10.0.0.1"}));
  auto last = t.changesAfter(3, 0, 10);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].update, 4u);
  ASSERT_EQ(last[0].values.size(), 1u);
  EXPECT_EQ(last[0].values[0].second.counter, 6u);
  // Learned from a peer: not sent on, so not in the log.
  t.learn(key("10.0.0.9:1"), 1000, {{DataType::Gpc0, Value{3, {}}}}, 0);
  EXPECT_EQ(t.lastUpdate(), 4u);
  EXPECT_EQ(keysAfter(0, 0).size(), 3u);
  // A new tracked key is news even before a counter moves.
  Entry* e = t.acquire(key("10.0.0.4:1"), 0);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(keysAfter(4, 0), std::vector<std::string>{"10.0.0.4"});
  t.release(e, 0);
  // A full resync: every entry, and the number it is current to.
  uint64_t upTo = 0;
  EXPECT_EQ(t.snapshotAll(0, &upTo).size(), 5u);
  EXPECT_EQ(upTo, 5u);
  // Cleared and expired entries leave the log.
  t.clear(0, key("10.0.0.2:1"), {});
  EXPECT_EQ(keysAfter(0, 0), (std::vector<std::string>{"10.0.0.3", "10.0.0.1", "10.0.0.4"}));
  t.used(5000);
  EXPECT_EQ(keysAfter(0, 5000), std::vector<std::string>{});
  // From either end of the log: a reader far behind and one nearly current.
  for (int i = 0; i < 50; ++i) {
    t.update(std::string(4, static_cast<char>(i + 1)), 6000, true,
             [&](Entry& x) { t.addLocked(x, DataType::Gpc0, 1, 6000); });
  }
  EXPECT_EQ(t.changesAfter(0, 6000, 100).size(), 50u);
  EXPECT_EQ(t.changesAfter(t.lastUpdate() - 2, 6000, 100).size(), 2u);
  EXPECT_EQ(t.changesAfter(t.lastUpdate() - 40, 6000, 100).size(), 40u);
  EXPECT_EQ(t.changesAfter(t.lastUpdate() - 40, 6000, 100).front().update, t.lastUpdate() - 39);
}

// A table that is not shared keeps no log.
TEST(StickTable, NoUpdateLogWithoutPeers) {
  Table t(spec(KeyType::Ip, 100, 0, {{DataType::Gpc0, 0}}));
  t.update(*t.keyFromAddress(addr("10.0.0.1:1")), 0, true, [&](Entry& e) { t.addLocked(e, DataType::Gpc0, 1, 0); });
  EXPECT_EQ(t.lastUpdate(), 0u);
  EXPECT_TRUE(t.changesAfter(0, 0, 10).empty());
}

TEST(StickTable, ConcurrentTracking) {
  Table t(spec(KeyType::Integer, 1000, 60000, {{DataType::ConnCnt, 0}, {DataType::ConnCur, 0}}));
  auto work = [&] {
    for (int i = 0; i < 20000; ++i) {
      std::string key = *t.keyFromInt(i % 50);
      Entry* e = t.acquire(key, 1);
      ASSERT_NE(e, nullptr);
      t.countConnection(e, 1);
      t.connectionEnded(e);
      t.release(e, 1);
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  int64_t total = 0;
  for (int k = 0; k < 50; ++k) {
    total += t.lookup(*t.keyFromInt(k), DataType::ConnCnt, 1).value_or(-1);
    EXPECT_EQ(t.lookup(*t.keyFromInt(k), DataType::ConnCur, 1), 0);
  }
  EXPECT_EQ(total, 40000);
}

// The fetches over a session: sc0_* read the tracked entry, src_* look the
// client's address up, inc/clr change the counters.
TEST(StickFetches, TrackedAndSource) {
  TableSet tables;
  auto t = std::make_shared<Table>(spec(KeyType::Ip, 10, 10000,
                                        {{DataType::ConnCur, 0}, {DataType::Gpc0, 0}, {DataType::ConnRate, 10000}}));
  tables.add(t);
  route::MapRegistry maps;
  maps.setTableNames({"t"});
  maps.setOwnTable(true);
  Tracking tracking;
  route::SessionView v;
  v.src = addr("10.9.9.9:1234");
  v.tables = &tables;
  v.stickTable = t.get();
  v.tracking = &tracking;

  auto eval = [&](const char* text) -> std::optional<int64_t> {
    std::string error;
    auto e = route::SampleExpr::parse(text, maps, error);
    EXPECT_TRUE(e) << text << ": " << error;
    route::Sample s;
    if (!e || !e->evaluate(v, 0, s)) return std::nullopt;
    return s.integer;
  };
  EXPECT_EQ(eval("sc0_tracked"), 0);
  EXPECT_EQ(eval("sc0_conn_cur"), std::nullopt);  // not tracked: no value
  EXPECT_EQ(eval("src_conn_cur"), 0);             // unknown address: zero
  EXPECT_EQ(eval("src_get_gpc1"), std::nullopt); // not stored: no value

  Entry* e = t->acquire(*t->keyFromAddress(v.src), monotonicMs());
  t->countConnection(e, monotonicMs());
  tracking.sc[0] = {t.get(), e, true};
  EXPECT_EQ(eval("sc0_tracked"), 1);
  EXPECT_EQ(eval("sc0_conn_cur"), 1);
  EXPECT_EQ(eval("sc_conn_rate(0)"), 1);
  EXPECT_EQ(eval("sc0_conn_cur(t)"), 1);
  EXPECT_EQ(eval("src_conn_cur"), 1);
  EXPECT_EQ(eval("sc0_inc_gpc0"), 1);
  EXPECT_EQ(eval("src_inc_gpc0(t)"), 2);
  EXPECT_EQ(eval("sc0_get_gpc0"), 2);
  EXPECT_EQ(eval("sc0_clr_gpc0"), 2);
  EXPECT_EQ(eval("sc0_get_gpc0"), 0);
  EXPECT_EQ(eval("sc1_conn_cur"), std::nullopt);
  EXPECT_EQ(eval("table_cnt"), 1);
  EXPECT_EQ(eval("table_avl(t)"), 9);
  EXPECT_EQ(eval("sc0_trackers"), 1);
  // The table_* converters look the input up, without tracking it.
  EXPECT_EQ(eval("src,table_conn_cur(t)"), 1);
  EXPECT_EQ(eval("str(10.9.9.9),table_conn_rate(t)"), 1);
  EXPECT_EQ(eval("str(10.1.1.1),table_conn_cur(t)"), 0);  // unknown key: zero
  EXPECT_EQ(eval("src,table_gpc1(t)"), std::nullopt);     // not stored: no value
  EXPECT_EQ(eval("src,table_trackers(t)"), 1);
  auto left = eval("src,table_expire(t)");
  ASSERT_TRUE(left);
  EXPECT_GT(*left, 9000);
  EXPECT_LE(*left, 10000);
  EXPECT_EQ(eval("str(10.1.1.1),table_expire(t,-1)"), -1);
  t->connectionEnded(e);
  t->release(e, monotonicMs());

  // Tables are checked by name when parsed.
  std::string error;
  EXPECT_FALSE(route::SampleExpr::parse("src_conn_cur(nope)", maps, error));
  EXPECT_NE(error.find("no proxy declares a stick-table"), std::string::npos) << error;
  maps.setOwnTable(false);
  EXPECT_FALSE(route::SampleExpr::parse("src_conn_rate", maps, error));
  EXPECT_NE(error.find("declares none"), std::string::npos) << error;
  EXPECT_TRUE(route::SampleExpr::parse("sc0_conn_rate", maps, error)) << error;
  EXPECT_FALSE(route::SampleExpr::parse("src,table_conn_rate(nope)", maps, error));
  EXPECT_NE(error.find("no proxy declares a stick-table"), std::string::npos) << error;
}

TEST(StickConfig, TableLineAndRules) {
  core::Diagnostics diag;
  auto cfg = parseText(
      std::string("peers p\n  peer x 127.0.0.1:10000\ndefaults\n  mode tcp\nbackend st\n"
                         "  stick-table type string len 64 size 1m expire 30m nopurge peers p store "
                         "conn_cur,conn_rate(10s) store gpc0\n"
                         "backend be\n  stick-table type ipv4 size 100k\n  stick on src table st if TRUE\n"
                         "  stick match req.ssl_sni\n  server s 127.0.0.1:1\n"),
      diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  const config::ProxyConfig* st = cfg.findProxy("st", true);
  ASSERT_TRUE(st->stickTable);
  EXPECT_EQ(st->stickTable->keyType, KeyType::String);
  EXPECT_EQ(st->stickTable->keyLength, 64u);
  EXPECT_EQ(st->stickTable->size, 1024u * 1024);
  EXPECT_EQ(st->stickTable->expireMs, 30u * 60 * 1000);
  EXPECT_TRUE(st->stickTable->noPurge);
  EXPECT_TRUE(st->stickTable->stores(DataType::ConnCur));
  // HAProxy 3.2's "ipv4" is the same table as "ip".
  ASSERT_TRUE(cfg.findProxy("be", true)->stickTable);
  EXPECT_EQ(cfg.findProxy("be", true)->stickTable->keyType, KeyType::Ip);
  EXPECT_TRUE(st->stickTable->stores(DataType::Gpc0));
  EXPECT_EQ(st->stickTable->period[static_cast<size_t>(DataType::ConnRate)], 10000u);
  const config::ProxyConfig* be = cfg.findProxy("be", true);
  ASSERT_EQ(be->stickRules.size(), 2u);
  EXPECT_TRUE(be->stickRules[0].match && be->stickRules[0].store);
  EXPECT_EQ(be->stickRules[0].table, "st");
  EXPECT_EQ(be->stickRules[0].condition.size(), 2u);
  EXPECT_TRUE(be->stickRules[1].match && !be->stickRules[1].store);

  core::Diagnostics bad;
  parseText("backend b\n  stick-table type ip size 1 store conn_rate\n"
            "  stick-table type ip size 1\n  stick-table type ip size 2\n"
            "backend c\n  stick-table type ip size 1 store gpc(2)\n",
            bad);
  std::string all = bad.render();
  EXPECT_NE(all.find("t.cfg:2: error: in 'stick-table': 'conn_rate' needs a period"), std::string::npos) << all;
  EXPECT_NE(all.find("t.cfg:4: error: only one 'stick-table' per section"), std::string::npos) << all;
  EXPECT_NE(all.find("t.cfg:6: error: in 'stick-table': data type 'gpc' (arrays) is not supported"),
            std::string::npos) << all;
}

}  // namespace
}  // namespace sluice::stick
