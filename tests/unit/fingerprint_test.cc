// SPDX-License-Identifier: Apache-2.0
// JA3 and JA4 in passthrough: the JA4 specification's own published example
// (technical_details/JA4.md), its edge rules (GREASE, ALPN in hex, empty
// lists, QUIC), and the hellos recorded from real TLS stacks in
// tests/data/hellos, whose expected fingerprints come from
// tests/data/hellos/fingerprints.py, a reference written from the
// specifications that shares no code with sluice.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "hello_builder.h"
#include "proto/client_hello.h"
#include "proto/fingerprint.h"

namespace sluice::proto {
namespace {

std::string wire(std::initializer_list<uint16_t> values) {
  std::string out;
  for (uint16_t v : values) {
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
  }
  return out;
}

// The hello of the JA4 specification's example: 15 ciphers, 16 extensions
// (SNI and ALPN among them), signature algorithms, TLS 1.3, ALPN h2.
ClientHelloInfo specExample() {
  ClientHelloInfo h;
  h.legacyVersion = 0x0303;
  h.maxSupportedVersion = 0x0304;
  h.hasSni = true;
  h.sni = "example.com";
  h.alpn = {"h2", "http/1.1"};
  h.cipherSuites = wire({0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
                         0x009c, 0x009d, 0x002f, 0x0035});
  h.extensions = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
                  0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015};
  h.signatureAlgorithms = wire({0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601});
  return h;
}

TEST(Ja4, TheSpecificationsExample) {
  ClientHelloInfo h = specExample();
  EXPECT_EQ(ja4(h, Ja4Form::Hashed), "t13d1516h2_8daaf6152771_e5627efa2ab1");
  EXPECT_EQ(ja4(h, Ja4Form::Raw),
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,"
            "000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601");
  EXPECT_EQ(ja4(h, Ja4Form::RawOriginal),
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,"
            "0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,"
            "0601");
  EXPECT_EQ(ja4(h, Ja4Form::HashedOriginal), "t13d1516h2_acb858a92679_18f69afefd3d");

  // Without signature algorithms the extension list is hashed alone (the
  // specification's "6d807ffa2a79").
  h.signatureAlgorithms.clear();
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(24), "6d807ffa2a79");
}

TEST(Ja4, GreaseIsIgnoredEverywhere) {
  ClientHelloInfo h = specExample();
  ClientHelloInfo g = h;
  g.cipherSuites = wire({0x0a0a}) + g.cipherSuites;
  g.extensions.insert(g.extensions.begin(), 0x1a1a);
  g.extensions.push_back(0xfafa);
  g.signatureAlgorithms = wire({0x2a2a}) + g.signatureAlgorithms;
  for (Ja4Form f : {Ja4Form::Hashed, Ja4Form::Raw, Ja4Form::HashedOriginal, Ja4Form::RawOriginal}) {
    EXPECT_EQ(ja4(g, f), ja4(h, f));
  }
  EXPECT_EQ(ja3String(g), ja3String(h));
}

TEST(Ja4, VersionSniCountsAndAlpnRules) {
  ClientHelloInfo h = specExample();
  h.quic = true;
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(0, 10), "q13d1516h2");
  h.quic = false;
  h.maxSupportedVersion = 0;  // no supported_versions: the legacy version
  h.legacyVersion = 0x0301;
  h.extensions.erase(h.extensions.begin() + 1);  // no SNI extension
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(0, 10), "t10i1515h2");
  h.alpn = {"http/1.1"};
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(8, 2), "h1");
  h.alpn = {"h"};
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(8, 2), "hh");
  h.alpn = {std::string("\xab\xcd", 2)};
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(8, 2), "ad");
  h.alpn = {std::string("0\xab\xcd" "1", 4)};  // the specification's "01"
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(8, 2), "01");
  h.alpn = {std::string("0\xab", 2)};
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(8, 2), "3b");
  h.alpn.clear();
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(8, 2), "00");
  h.legacyVersion = 0x0305;
  EXPECT_EQ(ja4(h, Ja4Form::Hashed).substr(1, 2), "00");

  // More than 99 ciphers count as 99; no extension at all gives zeros.
  ClientHelloInfo many;
  many.legacyVersion = 0x0303;
  for (uint16_t c = 1; c <= 120; ++c) many.cipherSuites += wire({c});
  EXPECT_EQ(ja4(many, Ja4Form::Hashed).substr(0, 10), "t12i990000");
  EXPECT_EQ(ja4(many, Ja4Form::Hashed).substr(24), "000000000000");
  ClientHelloInfo none;
  none.legacyVersion = 0x0303;
  EXPECT_EQ(ja4(none, Ja4Form::Hashed), "t12i000000_000000000000_000000000000");

  ClientHelloInfo v2;
  v2.sslv2 = true;
  EXPECT_EQ(ja4(v2, Ja4Form::Hashed), "");
  EXPECT_EQ(ja3Hash(v2), "");
}

TEST(Ja3, StringAndHash) {
  ClientHelloInfo h;
  h.legacyVersion = 0x0303;
  h.cipherSuites = wire({0x1301, 0x1302, 0xc02b});
  h.extensions = {0x0000, 0x000b, 0x000a, 0x0023};
  h.supportedGroups = wire({0x001d, 0x0017});
  h.ecPointFormats = std::string("\x00", 1);
  EXPECT_EQ(ja3String(h), "771,4865-4866-49195,0-11-10-35,29-23,0");
  // md5("771,4865-4866-49195,0-11-10-35,29-23,0"), by coreutils' md5sum.
  EXPECT_EQ(ja3Hash(h), "c3766c120e2b29a69956446a74f9376b");
  ClientHelloInfo bare;
  bare.legacyVersion = 0x0301;
  bare.cipherSuites = wire({0x002f});
  EXPECT_EQ(ja3String(bare), "769,47,,,");
}

// The recorded hellos of real stacks against the reference script's output
// (NAME.fingerprints: one "name value" per line).
TEST(Fingerprints, RecordedHellosMatchTheReference) {
  const std::string dir = std::string(SLUICE_TEST_DATA_DIR) + "/hellos";
  size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".bin") continue;
    std::ifstream ref(std::filesystem::path(entry.path()).replace_extension(".fingerprints"));
    ASSERT_TRUE(ref) << "no .fingerprints for " << entry.path() << ": run tests/data/hellos/fingerprints.py --write";
    std::map<std::string, std::string> want;
    for (std::string line; std::getline(ref, line);) {
      size_t sp = line.find(' ');
      if (sp != std::string::npos) want[line.substr(0, sp)] = line.substr(sp + 1);
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ClientHelloParser p;
    std::span<const uint8_t> span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ASSERT_EQ(p.parse(span), HelloStatus::Done) << entry.path();
    const ClientHelloInfo& h = p.info();
    auto hex = [](const std::string& b) {
      std::string out;
      for (unsigned char c : b) {
        out += "0123456789abcdef"[c >> 4];
        out += "0123456789abcdef"[c & 0xf];
      }
      return out;
    };
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(ja3String(h), want["ja3_r"]) << name;
    EXPECT_EQ(ja3Hash(h), want["ja3"]) << name;
    EXPECT_EQ(ja4(h, Ja4Form::Hashed), want["ja4"]) << name;
    EXPECT_EQ(ja4(h, Ja4Form::Raw), want["ja4_r"]) << name;
    EXPECT_EQ(ja4(h, Ja4Form::HashedOriginal), want["ja4_o"]) << name;
    EXPECT_EQ(ja4(h, Ja4Form::RawOriginal), want["ja4_ro"]) << name;
    EXPECT_EQ(hex(h.cipherSuites), want["cipherlist"]) << name;
    EXPECT_EQ(hex(h.signatureAlgorithms), want["sigalgs"]) << name;
    EXPECT_EQ(hex(h.supportedGroups), want["supported_groups"]) << name;
    EXPECT_EQ(hex(h.keyShareGroups), want["keyshare_groups"]) << name;
    EXPECT_EQ(std::to_string(h.hasEch ? int(h.echType) : -1) + " " + std::to_string(h.echConfigId), want["ech"])
        << name;
    ++checked;
  }
  EXPECT_GE(checked, 8u);
}

}  // namespace
}  // namespace sluice::proto
