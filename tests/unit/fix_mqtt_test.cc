// SPDX-License-Identifier: Apache-2.0
// First-message parsers of the converters and fetches: FIX (fix_is_valid,
// fix_tag_value), MQTT (mqtt_is_valid, mqtt_field_value) and RDP cookies
// (req.rdp_cookie): real messages whole, cut anywhere, and broken one way
// at a time.
#include <gtest/gtest.h>

#include <string>

#include "proto/fix.h"
#include "proto/mqtt.h"
#include "proto/rdp.h"

namespace sluice::proto {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// A FIX message with its BodyLength and CheckSum computed.
std::string fix(const std::string& version, const std::string& body) {
  std::string head = "8=" + version + "\x01" + "9=" + std::to_string(body.size()) + "\x01";
  std::string msg = head + body;
  unsigned sum = 0;
  for (unsigned char c : msg) sum += c;
  char tail[16];
  snprintf(tail, sizeof(tail), "10=%03u\x01", sum % 256);
  return msg + tail;
}

const std::string kLogon = fix("FIX.4.4", "35=A\x01" "49=CLIENT1\x01" "56=EXECUTOR\x01" "34=1\x01" "98=0\x01" "108=30\x01");

TEST(Fix, ValidMessagesOfEachVersion) {
  for (const char* v : {"FIX.4.0", "FIX.4.2", "FIX.4.4", "FIXT.1.1"}) {
    EXPECT_EQ(fixValidate(bytes(fix(v, "35=0\x01"))), Completeness::Valid) << v;
  }
  EXPECT_EQ(fixValidate(bytes(fix("HTTP/1.1", "35=0\x01"))), Completeness::Invalid);
}

TEST(Fix, CutAnywhereNeedsMore) {
  for (size_t cut = 0; cut < kLogon.size(); ++cut) {
    EXPECT_EQ(fixValidate(bytes(kLogon.substr(0, cut))), Completeness::NeedMore) << cut;
  }
  EXPECT_EQ(fixValidate(bytes(kLogon + "8=FIX.4.4\x01")), Completeness::Valid);  // the first message decides
}

TEST(Fix, EachBreakIsInvalid) {
  std::string badSum = kLogon;
  badSum[badSum.size() - 2] = badSum[badSum.size() - 2] == '0' ? '1' : '0';
  EXPECT_EQ(fixValidate(bytes(badSum)), Completeness::Invalid);
  std::string shortSum = kLogon.substr(0, kLogon.size() - 3) + "\x01";  // "10=NN"
  EXPECT_EQ(fixValidate(bytes(shortSum)), Completeness::Invalid);
  std::string wrongLength = kLogon;
  wrongLength.replace(wrongLength.find("9=") + 2, 2, "99");
  EXPECT_NE(fixValidate(bytes(wrongLength)), Completeness::Valid);
  EXPECT_EQ(fixValidate(bytes(std::string("9=5\x01" "8=FIX.4.4\x01"))), Completeness::Invalid);  // order
  EXPECT_EQ(fixValidate(bytes(std::string("8=FIX.4.4\x01" "9=\x01"))), Completeness::Invalid);    // empty value
  EXPECT_EQ(fixValidate(bytes(std::string("8=FIX.4.4\x01" "x=1\x01"))), Completeness::Invalid);   // tag not numeric
}

TEST(Fix, TagValuesByNumberAndName) {
  bool more = false;
  EXPECT_EQ(fixTagValue(bytes(kLogon), "MsgType", more), "A");
  EXPECT_EQ(fixTagValue(bytes(kLogon), "35", more), "A");
  EXPECT_EQ(fixTagValue(bytes(kLogon), "SenderCompID", more), "CLIENT1");
  EXPECT_EQ(fixTagValue(bytes(kLogon), "BeginString", more), "FIX.4.4");
  EXPECT_FALSE(fixTagValue(bytes(kLogon), "553", more));
  EXPECT_FALSE(more);
  EXPECT_FALSE(fixTagValue(bytes(kLogon.substr(0, 20)), "TargetCompID", more));
  EXPECT_TRUE(more);
  EXPECT_FALSE(fixTagNumber("NoSuchTag"));
}

// MQTT 5.0 CONNECT with properties, will properties, user and password
// (HAProxy's converter test), and a 5.0 CONNACK.
const std::string kConnect5 = unhex(
    "107e00044d51545405ee003c182700000014170126000161000162260001630001642100140008746573745f7375622a03000a746578"
    "742f706c61696e08000c77696c6c727370746f7069632600016500016626000167000168000977696c6c746f706963000b77696c6c70"
    "61796c6f61640004746573740006706173737764");
const std::string kConnack5 =
    unhex("20250000221100000078217fff24012501270000ffff22000a2600016100016226000163000164");

TEST(Mqtt, ConnectFields) {
  EXPECT_EQ(mqttValidate(bytes(kConnect5)), Completeness::Valid);
  bool more = false;
  auto f = [&](const char* name) { return mqttFieldValue(bytes(kConnect5), 1, name, more).value_or("<none>"); };
  EXPECT_EQ(f("protocol_name"), "MQTT");
  EXPECT_EQ(f("protocol_version"), "5");
  EXPECT_EQ(f("flags"), "238");
  EXPECT_EQ(f("client_identifier"), "test_sub");
  EXPECT_EQ(f("will_topic"), "willtopic");
  EXPECT_EQ(f("will_payload"), "willpayload");
  EXPECT_EQ(f("USERNAME"), "test");
  EXPECT_EQ(f("password"), "passwd");
  EXPECT_EQ(f("39"), "20");            // maximum packet size
  EXPECT_EQ(f("3"), "text/plain");     // content type, a will property
  EXPECT_EQ(f("keepalive"), "60");
  EXPECT_FALSE(mqttFieldValue(bytes(kConnect5), 2, "flags", more)) << "not a CONNACK";
}

TEST(Mqtt, ConnackFields) {
  EXPECT_EQ(mqttValidate(bytes(kConnack5)), Completeness::Valid);
  bool more = false;
  EXPECT_EQ(mqttFieldValue(bytes(kConnack5), 2, "protocol_version", more), "5");
  EXPECT_EQ(mqttFieldValue(bytes(kConnack5), 2, "17", more), "120");
  EXPECT_EQ(mqttFieldValue(bytes(kConnack5), 2, "33", more), "32767");
  EXPECT_EQ(mqttFieldValue(bytes(unhex("20020000")), 2, "protocol_version", more), "4");
  EXPECT_EQ(mqttPacketType("CONNACK"), 2);
  EXPECT_FALSE(mqttPacketType("publish"));
}

TEST(Mqtt, CutAnywhereNeedsMoreAndBreaksAreInvalid) {
  for (size_t cut = 0; cut < kConnect5.size(); ++cut) {
    EXPECT_EQ(mqttValidate(bytes(kConnect5.substr(0, cut))), Completeness::NeedMore) << cut;
  }
  // MQTT 3.1.1 CONNECT, clean session, client id "test_sub".
  const std::string ok311 = unhex("101400044d5154540402003c0008746573745f737562");
  EXPECT_EQ(mqttValidate(bytes(ok311)), Completeness::Valid);
  std::string flagsInHeader = ok311;
  flagsInHeader[0] = 0x11;
  EXPECT_EQ(mqttValidate(bytes(flagsInHeader)), Completeness::Invalid);
  EXPECT_EQ(mqttValidate(bytes(unhex("10ffffffff14"))), Completeness::Invalid);  // 5-byte remaining length
  std::string reserved = ok311;
  reserved[9] = 0x03;  // reserved flag bit
  EXPECT_EQ(mqttValidate(bytes(reserved)), Completeness::Invalid);
  std::string longer = unhex("101500044d5154540402003c0008746573745f73756200");  // a byte too many
  EXPECT_EQ(mqttValidate(bytes(longer)), Completeness::Invalid);
  EXPECT_EQ(mqttValidate(bytes(unhex("30020000"))), Completeness::Invalid);  // PUBLISH first
  EXPECT_EQ(mqttValidate(bytes(unhex("21020000"))), Completeness::Invalid);  // CONNACK with flags
}

TEST(Rdp, CookieOfAConnectionRequest) {
  // TPKT + X.224 CR + "Cookie: mstshash=alice" + RDP_NEG_REQ, as mstsc sends it.
  std::string body = std::string("Cookie: mstshash=alice\r\n") + std::string("\x01\x00\x08\x00\x03\x00\x00\x00", 8);
  std::string x224 = std::string(1, static_cast<char>(6 + body.size())) + std::string("\xe0\x00\x00\x00\x00\x00", 6);
  std::string pdu = std::string("\x03\x00\x00", 3) + static_cast<char>(4 + x224.size() + body.size()) + x224 + body;
  std::optional<RdpCookie> c;
  EXPECT_EQ(rdpCookie(bytes(pdu), c), Completeness::Valid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "mstshash");
  EXPECT_EQ(c->value, "alice");
  for (size_t cut = 1; cut < pdu.size(); ++cut) {
    EXPECT_EQ(rdpCookie(bytes(pdu.substr(0, cut)), c), Completeness::NeedMore) << cut;
  }
  EXPECT_EQ(rdpCookie(bytes(std::string("\x16\x03\x01\x02\x00", 5)), c), Completeness::Valid);  // TLS: no cookie
  EXPECT_FALSE(c);
}

TEST(Rdp, RoutingTokenDecodes) {
  // 10.0.0.1 is 0x0100000A little-endian; port 3389 (0x0D3D) byte-swapped is 15629.
  auto a = decodeRdpRoutingToken("16777226.15629.0000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->toString(), "10.0.0.1:3389");
  EXPECT_FALSE(decodeRdpRoutingToken("garbage"));
  EXPECT_FALSE(decodeRdpRoutingToken("99999999999.1.0000"));
}

}  // namespace
}  // namespace sluice::proto
