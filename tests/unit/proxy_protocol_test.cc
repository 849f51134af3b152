// SPDX-License-Identifier: Apache-2.0
// Unit tests of the PROXY protocol reader and writer: both versions, every
// prefix, the spec's limits, LOCAL/UNKNOWN, TLVs and CRC32C.
#include "proto/proxy_protocol.h"

#include <gtest/gtest.h>

namespace sluice::proto {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

ProxyStatus parse(const std::string& s, ProxyHeader& h, ProxyError& e) {
  return parseProxyHeader(bytes(s), h, e);
}

// A v1 line gives its addresses and its exact length; every prefix needs more.
TEST(ProxyV1, Tcp4AndTcp6) {
  std::string line = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n";
  std::string data = line + "\x16\x03\x01";
  ProxyHeader h;
  ProxyError e;
  ASSERT_EQ(parse(data, h, e), ProxyStatus::Done);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.length, line.size());
  EXPECT_EQ(h.src.toString(), "192.0.2.10:56324");
  EXPECT_EQ(h.dst.toString(), "198.51.100.1:443");
  for (size_t cut = 1; cut < line.size(); ++cut) {
    EXPECT_EQ(parse(line.substr(0, cut), h, e), ProxyStatus::NeedMore) << cut;
  }
  ASSERT_EQ(parse("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", h, e), ProxyStatus::Done);
  EXPECT_EQ(h.src.toString(), "[2001:db8::1]:1");
  ASSERT_EQ(parse("PROXY UNKNOWN\r\n", h, e), ProxyStatus::Done);
  EXPECT_TRUE(h.local);
  ASSERT_EQ(parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", h, e), ProxyStatus::Done);
  EXPECT_TRUE(h.local);
}

// Anything that is not exactly the protocol is refused, as early as possible.
TEST(ProxyV1, Malformed) {
  ProxyHeader h;
  ProxyError e;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::NotProxy);
  EXPECT_EQ(parse("\x16\x03\x01", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", h, e), ProxyStatus::Invalid);  // lone LF
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V1BadFormat);
  EXPECT_EQ(parse("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V1BadAddress);
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V1BadPort);
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(parse("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", h, e), ProxyStatus::Invalid);
  EXPECT_EQ(parse("PROXY TCP4 " + std::string(120, '1'), h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V1TooLong);
}

// The writer and the reader agree, for both versions and both families.
TEST(ProxyV2, RoundTripWithTlvs) {
  auto src = *core::Address::parse("192.0.2.10:40000");
  auto dst = *core::Address::parse("198.51.100.1:443");
  ProxyV2Options o;
  o.authority = "app.example";
  o.alpn = "h2";
  o.crc32c = true;
  std::string hdr = encodeProxyV2(src, dst, o);
  ProxyHeader h;
  ProxyError e;
  ASSERT_EQ(parse(hdr + "rest", h, e), ProxyStatus::Done) << toString(e);
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.length, hdr.size());
  EXPECT_EQ(h.src.toString(), "192.0.2.10:40000");
  EXPECT_EQ(h.dst.toString(), "198.51.100.1:443");
  EXPECT_EQ(h.authority, "app.example");
  EXPECT_EQ(h.alpn, "h2");
  EXPECT_TRUE(h.crcChecked);
  // The TLV bytes are kept as they came, for fc_pp_tlv(): the first of a type.
  EXPECT_EQ(findTlv(h.tlvArea, kTlvAuthority), std::optional<std::string_view>("app.example"));
  EXPECT_EQ(findTlv(h.tlvArea, kTlvAlpn), std::optional<std::string_view>("h2"));
  EXPECT_EQ(findTlv(h.tlvArea, kTlvCrc32c)->size(), 4u);
  EXPECT_FALSE(findTlv(h.tlvArea, 0xE1));
  EXPECT_EQ(parseTlvType("0xE1"), std::optional<uint8_t>(0xE1));
  EXPECT_EQ(parseTlvType("225"), std::optional<uint8_t>(225));
  EXPECT_FALSE(parseTlvType("256"));
  EXPECT_FALSE(parseTlvType("0x"));
  EXPECT_FALSE(parseTlvType("AUTHORITY"));
  EXPECT_EQ(tlvTypeByName("AUTHORITY"), std::optional<uint8_t>(kTlvAuthority));
  EXPECT_EQ(tlvTypeByName("NETNS"), std::optional<uint8_t>(0x30));
  EXPECT_FALSE(tlvTypeByName("authority"));
  for (size_t cut = 1; cut < hdr.size(); ++cut) {
    EXPECT_EQ(parse(hdr.substr(0, cut), h, e), ProxyStatus::NeedMore) << cut;
  }
  // A flipped address byte breaks the checksum.
  std::string bad = hdr;
  bad[17] ^= 1;
  EXPECT_EQ(parse(bad, h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V2BadCrc);

  // Mixed families go as IPv6.
  auto v6 = *core::Address::parse("[2001:db8::5]:443");
  std::string mixed = encodeProxyV2(src, v6, ProxyV2Options{});
  ASSERT_EQ(parse(mixed, h, e), ProxyStatus::Done);
  EXPECT_TRUE(h.src.isV6());
  EXPECT_EQ(h.src.unmapped().toString(), "192.0.2.10:40000");
  EXPECT_EQ(h.dst.toString(), "[2001:db8::5]:443");

  EXPECT_EQ(encodeProxyV1(src, dst), "PROXY TCP4 192.0.2.10 198.51.100.1 40000 443\r\n");
  EXPECT_EQ(encodeProxyV1(src, v6), "PROXY UNKNOWN\r\n");
}

// LOCAL (health checks) and unsupported families keep the real addresses.
TEST(ProxyV2, LocalAndUnspec) {
  ProxyV2Options o;
  o.local = true;
  std::string hdr = encodeProxyV2(core::Address(), core::Address(), o);
  ProxyHeader h;
  ProxyError e;
  ASSERT_EQ(parse(hdr, h, e), ProxyStatus::Done);
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.length, 16u);
  std::string unixHdr = hdr.substr(0, 12) + std::string("\x21\x31\x00\xd8", 4) + std::string(216, 'u');
  ASSERT_EQ(parse(unixHdr, h, e), ProxyStatus::Done);
  EXPECT_TRUE(h.local);
}

TEST(ProxyV2, Malformed) {
  std::string sig("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);
  ProxyHeader h;
  ProxyError e;
  EXPECT_EQ(parse(sig + std::string("\x11\x11\x00\x0c", 4) + std::string(12, 'a'), h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V2BadVersion);
  EXPECT_EQ(parse(sig + std::string("\x22\x11\x00\x0c", 4) + std::string(12, 'a'), h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V2BadCommand);
  EXPECT_EQ(parse(sig + std::string("\x21\x41\x00\x0c", 4) + std::string(12, 'a'), h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V2BadFamily);
  EXPECT_EQ(parse(sig + std::string("\x21\x11\x00\x08", 4) + std::string(8, 'a'), h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V2ShortAddress);
  EXPECT_EQ(parse(sig + std::string("\x21\x11\xff\xff", 4), h, e), ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V2TooLong);
  // TLV claiming more than the header holds.
  EXPECT_EQ(parse(sig + std::string("\x21\x11\x00\x10", 4) + std::string(12, 'a') + std::string("\x02\x00\x09x", 4), h, e),
            ProxyStatus::Invalid);
  EXPECT_EQ(e, ProxyError::V2BadTlv);
}

// RFC 3720 B.4 test vector: 32 bytes of zeros.
TEST(ProxyV2, Crc32cVector) {
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(bytes(zeros)), 0x8A9136AAu);
}

}  // namespace
}  // namespace sluice::proto
