// SPDX-License-Identifier: Apache-2.0
// HAProxy's peers protocol, the wire format: the varint sizes the protocol
// document gives, the handshake lines, message framing in pieces, and table
// definitions and updates that read back as written. Interoperability with
// the real HAProxy is tests/integration/peers_wire_test.cc.
#include <gtest/gtest.h>

#include "proto/peers.h"

namespace sluice::proto::peers {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(PeersWire, VarintSizesAsTheProtocolDocumentSays) {
  // 0..239: 1 byte; 240..2287: 2; 2288..264431: 3; ..33818863: 4; ..4328786159: 5.
  const std::pair<uint64_t, size_t> cases[] = {{0, 1},          {239, 1},        {240, 2},        {2287, 2},
                                               {2288, 3},       {264431, 3},     {264432, 4},     {33818863, 4},
                                               {33818864, 5},   {4328786159, 5}, {4328786160, 6}, {UINT64_MAX, 10}};
  for (auto [v, size] : cases) {
    std::string out;
    putVarint(out, v);
    EXPECT_EQ(out.size(), size) << v;
    size_t pos = 0;
    uint64_t back = 0;
    ASSERT_TRUE(getVarint(bytes(out), pos, back)) << v;
    EXPECT_EQ(back, v);
    EXPECT_EQ(pos, out.size());
    // Every truncation is refused.
    for (size_t cut = 0; cut < out.size(); ++cut) {
      size_t p = 0;
      EXPECT_FALSE(getVarint(bytes(out.substr(0, cut)), p, back)) << v << " cut at " << cut;
    }
  }
  // 240 is 0xF0 0x00: the first byte's low nibble, then (240-240)>>4.
  std::string s;
  putVarint(s, 240);
  EXPECT_EQ(s, std::string("\xf0\x00", 2));
}

TEST(PeersWire, HandshakeLines) {
  EXPECT_EQ(encodeHello("hx", "sl", 42), "HAProxyS 2.1\nhx\nsl 42 1\n");
  Hello h;
  size_t used = 0;
  EXPECT_EQ(parseHello("HAProxyS 2.1\nhx\n", h, used), Status::NeedMore);
  EXPECT_EQ(parseHello("HAProxyS 2.1\nhx\nsl 42 1\nrest", h, used), Status::Done);
  EXPECT_EQ(used, 24u);
  EXPECT_EQ(h.protocol, "HAProxyS");
  EXPECT_EQ(h.major, 2);
  EXPECT_EQ(h.minor, 1);
  EXPECT_EQ(h.remotePeer, "hx");
  EXPECT_EQ(h.localPeer, "sl");
  EXPECT_EQ(h.pid, 42u);
  EXPECT_EQ(parseHello("HAProxyS two\nhx\nsl 1 1\n", h, used), Status::Error);
  EXPECT_EQ(parseHello(std::string(2000, 'x'), h, used), Status::Error);
  int code = 0;
  EXPECT_EQ(parseStatus("20", code, used), Status::NeedMore);
  EXPECT_EQ(parseStatus("200\n", code, used), Status::Done);
  EXPECT_EQ(code, 200);
  EXPECT_EQ(parseStatus("ok\n", code, used), Status::Error);
}

TEST(PeersWire, MessagesInPieces) {
  const std::string heartbeat = encodeMessage(kControl, kHeartbeat);
  EXPECT_EQ(heartbeat, std::string("\x00\x04", 2));
  const std::string ack = encodeAck(3, 0x01020304);
  Message m;
  size_t used = 0;
  for (size_t cut = 0; cut < ack.size(); ++cut) {
    EXPECT_EQ(parseMessage(bytes(ack.substr(0, cut)), m, used), Status::NeedMore) << cut;
  }
  const std::string both = ack + heartbeat;  // m.data points into it
  ASSERT_EQ(parseMessage(bytes(both), m, used), Status::Done);
  EXPECT_EQ(used, ack.size());
  EXPECT_EQ(m.cls, kStickTable);
  EXPECT_EQ(m.type, kAck);
  uint64_t table = 0;
  uint32_t update = 0;
  ASSERT_TRUE(parseAck(m.data, table, update));
  EXPECT_EQ(table, 3u);
  EXPECT_EQ(update, 0x01020304u);
  // A length over the limit is an error, not a wait.
  std::string big = encodeMessage(kStickTable, kUpdate, std::string(100, 'x'));
  EXPECT_EQ(parseMessage(bytes(big), m, used, 50), Status::Error);
}

TEST(PeersWire, DefinitionsAndUpdatesReadBackAsWritten) {
  TableDef def;
  def.id = 7;
  def.name = "st";
  def.keyType = kKeyIpv4;
  def.keyLength = 4;
  def.dataTypes = (1u << kServerId) | (1u << kGpc0) | (1u << kConnRate) | (1u << kConnCur) | (1u << kServerKey) |
                  (1u << kGpc);
  def.expireMs = 30000;
  def.params[kConnRate] = {10000};
  def.params[kGpc] = {3};
  std::string msg = encodeDefine(def);
  Message m;
  size_t used = 0;
  ASSERT_EQ(parseMessage(bytes(msg), m, used), Status::Done);
  EXPECT_EQ(m.type, kDefine);
  TableDef back;
  ASSERT_TRUE(parseDefine(m.data, back));
  EXPECT_EQ(back.id, 7u);
  EXPECT_EQ(back.name, "st");
  EXPECT_EQ(back.keyType, kKeyIpv4);
  EXPECT_EQ(back.dataTypes, def.dataTypes);
  EXPECT_EQ(back.expireMs, 30000u);
  EXPECT_EQ(back.params, def.params);
  EXPECT_EQ(back.elements(kGpc), 3u);

  Update u;
  u.id = 1000;
  u.expireMs = 29000;
  u.key = std::string("\x0a\x00\x00\x01", 4);
  u.values = {{kServerId, {2}, {}, {}, {}},
              {kGpc0, {5}, {}, {}, {}},
              {kConnRate, {}, {{1200, 7, 3}}, {}, {}},
              {kConnCur, {1}, {}, {}, {}},
              {kServerKey, {}, {}, 1, "srv1"},
              {kGpc, {1, 2, 3}, {}, {}, {}}};
  msg = encodeUpdate(def, u);
  ASSERT_EQ(parseMessage(bytes(msg), m, used), Status::Done);
  EXPECT_EQ(m.type, kUpdateTimed);
  Update got;
  ASSERT_TRUE(parseUpdate(m.data, back, true, true, got));
  EXPECT_EQ(got.id, 1000u);
  EXPECT_EQ(got.expireMs, 29000u);
  EXPECT_EQ(got.key, u.key);
  ASSERT_EQ(got.values.size(), 6u);
  EXPECT_EQ(got.values[1].ints, std::vector<uint64_t>{5});
  EXPECT_EQ(got.values[2].rates[0], (Rate{1200, 7, 3}));
  EXPECT_EQ(got.values[4].dictValue, "srv1");
  EXPECT_EQ(got.values[5].ints, (std::vector<uint64_t>{1, 2, 3}));
  // Any truncation of an update is refused.
  for (size_t cut = 0; cut < m.data.size(); ++cut) {
    Update partial;
    EXPECT_FALSE(parseUpdate(m.data.first(cut), back, true, true, partial)) << cut;
  }

  // String keys carry their length.
  TableDef str = def;
  str.keyType = kKeyString;
  str.keyLength = 33;
  str.dataTypes = 1u << kGpc0;
  str.params.clear();
  Update su;
  su.key = "t13d1516h2_8daaf6152771_e5627efa2ab1";
  su.values = {{kGpc0, {9}, {}, {}, {}}};
  msg = encodeUpdate(str, su);
  ASSERT_EQ(parseMessage(bytes(msg), m, used), Status::Done);
  EXPECT_EQ(m.type, kIncrementalUpdate);
  ASSERT_TRUE(parseUpdate(m.data, str, false, false, got));
  EXPECT_EQ(got.key, su.key);
}

// HAProxy 3.0 and later may send glitch_cnt (25) and glitch_rate (26): read
// and written like the other counters and rates, never refused.
TEST(PeersWire, GlitchCountersOfNewerPeers) {
  TableDef def;
  def.id = 3;
  def.name = "glitches";
  def.keyType = kKeyIpv4;
  def.keyLength = 4;
  def.dataTypes = (1u << kConnCnt) | (1u << kGlitchCnt) | (1u << kGlitchRate);
  def.expireMs = 60000;
  def.params[kGlitchRate] = {10000};
  Message m;
  size_t used = 0;
  const std::string defined = encodeDefine(def);  // m.data points into it
  ASSERT_EQ(parseMessage(bytes(defined), m, used), Status::Done);
  TableDef back;
  ASSERT_TRUE(parseDefine(m.data, back));
  EXPECT_EQ(back.dataTypes, def.dataTypes);
  EXPECT_EQ(dataTypeName(kGlitchCnt), "glitch_cnt");
  EXPECT_EQ(dataTypeName(kGlitchRate), "glitch_rate");
  Update u;
  u.key = std::string("\x0a\x00\x00\x02", 4);
  u.values = {{kConnCnt, {4}, {}, {}, {}}, {kGlitchCnt, {12}, {}, {}, {}}, {kGlitchRate, {}, {{500, 3, 9}}, {}, {}}};
  const std::string updated = encodeUpdate(back, u);
  ASSERT_EQ(parseMessage(bytes(updated), m, used), Status::Done);
  Update got;
  ASSERT_TRUE(parseUpdate(m.data, back, false, false, got));
  ASSERT_EQ(got.values.size(), 3u);
  EXPECT_EQ(got.values[1].ints, std::vector<uint64_t>{12});
  EXPECT_EQ(got.values[2].rates[0], (Rate{500, 3, 9}));
}

// A peer older than the expire field sends neither expire nor parameters:
// its rates get an unknown period (0); an array cannot be sized, so refused.
TEST(PeersWire, DefinitionsOfOlderPeers) {
  std::string d;
  putVarint(d, 1);
  putVarint(d, 2);
  d += "st";
  putVarint(d, kKeyIpv4);
  putVarint(d, 4);
  putVarint(d, (1u << kGpc0) | (1u << kConnRate));
  TableDef def;
  ASSERT_TRUE(parseDefine(bytes(d), def));
  EXPECT_EQ(def.expireMs, 0u);
  EXPECT_EQ(def.params[kConnRate], std::vector<uint64_t>{0});
  std::string arrays;
  putVarint(arrays, 1);
  putVarint(arrays, 2);
  arrays += "st";
  putVarint(arrays, kKeyIpv4);
  putVarint(arrays, 4);
  putVarint(arrays, 1u << kGpc);
  EXPECT_FALSE(parseDefine(bytes(arrays), def));
}

}  // namespace
}  // namespace sluice::proto::peers
