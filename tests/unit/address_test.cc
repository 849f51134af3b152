// SPDX-License-Identifier: Apache-2.0
// Unit tests of address parsing and printing in HAProxy's forms.
#include <gtest/gtest.h>

#include "core/address.h"
#include "core/byte_reader.h"
#include "core/strings.h"

namespace sluice::core {
namespace {

TEST(Address, Forms) {
  EXPECT_EQ(Address::parse("127.0.0.1:443")->toString(), "127.0.0.1:443");
  EXPECT_EQ(Address::parse(":443")->toString(), "0.0.0.0:443");
  EXPECT_EQ(Address::parse("*:80")->toString(), "0.0.0.0:80");
  EXPECT_EQ(Address::parse("[::1]:8443")->toString(), "[::1]:8443");
  EXPECT_EQ(Address::parse(":::443")->toString(), "[::]:443");
  EXPECT_EQ(Address::parse("ipv6@:443")->toString(), "[::]:443");
  EXPECT_EQ(Address::parse("2001:db8::1:443")->toString(), "[2001:db8::1]:443");
  EXPECT_EQ(Address::parse("10.0.0.1")->port(), 0);
  EXPECT_FALSE(Address::parse("1.2.3.4:70000"));
  EXPECT_FALSE(Address::parse("[::1"));
  EXPECT_FALSE(Address::parse("host.example:443"));  // names are resolved by the config parser
  auto mapped = Address::parse("[::ffff:10.1.2.3]:5");
  EXPECT_EQ(mapped->unmapped().toString(), "10.1.2.3:5");
  EXPECT_EQ(mapped->rawBytes().size(), 4u);
  EXPECT_TRUE(Address::parse("0.0.0.0:1")->isAny());
  EXPECT_EQ(*Address::parse("1.2.3.4:5"), *Address::parse("1.2.3.4:5"));
}

// Reads never pass the end and leave the cursor where it was on failure.
TEST(ByteReader, BoundsAndRollback) {
  std::vector<uint8_t> b = {0x00, 0x03, 'a', 'b', 'c', 0x05, 'x'};
  ByteReader r(b);
  ByteReader sub;
  ASSERT_TRUE(r.readU16Prefixed(sub));
  EXPECT_EQ(ByteReader::asString(sub.rest()), "abc");
  size_t before = r.position();
  ByteReader bad;
  EXPECT_FALSE(r.readU8Prefixed(bad));  // claims 5 bytes, 1 left
  EXPECT_EQ(r.position(), before);
  uint32_t v;
  EXPECT_FALSE(r.readU24(v));
  uint8_t u;
  EXPECT_TRUE(r.readU8(u));
  EXPECT_TRUE(r.readU8(u));
  EXPECT_FALSE(r.readU8(u));
}

TEST(Strings, TypoDistance) {
  EXPECT_EQ(editDistance("wieght", "weight"), 1u);  // one swap
  EXPECT_EQ(editDistance("bnd", "bind"), 1u);
  EXPECT_EQ(closestMatch("roundrobn", {"roundrobin", "leastconn"}), "roundrobin");
  EXPECT_EQ(closestMatch("zzz", {"roundrobin"}), "");
  EXPECT_EQ(escapeForLog("a b\"#\x01"), "a#20b#22#23#01");
  EXPECT_EQ(parseInt("-12"), -12);
  EXPECT_FALSE(parseInt("12x"));
  EXPECT_EQ(parseUnsigned("0660"), 0660u);
}

}  // namespace
}  // namespace sluice::core
