// SPDX-License-Identifier: Apache-2.0
// Unit tests of the incremental ClientHello reader: built hellos, hellos
// recorded from real TLS stacks, every split, every truncation, every limit.
#include "proto/client_hello.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "hello_builder.h"

namespace sluice::proto {
namespace {

using testing::Bytes;
using testing::buildHandshake;
using testing::buildHello;
using testing::frameRecords;
using testing::HelloSpec;

HelloStatus parseAll(const Bytes& b, ClientHelloParser& p) { return p.parse(b); }

// Feeds `bytes` in pieces of the given sizes (cycled), as a socket would.
HelloStatus parseInPieces(const Bytes& bytes, const std::vector<size_t>& sizes,
                          ClientHelloParser& p, size_t* callsUntilDone = nullptr) {
  HelloStatus st = HelloStatus::NeedMore;
  size_t have = 0;
  size_t i = 0;
  size_t calls = 0;
  while (have < bytes.size()) {
    have = std::min(bytes.size(), have + sizes[i++ % sizes.size()]);
    st = p.parse(std::span<const uint8_t>(bytes.data(), have));
    ++calls;
    if (st != HelloStatus::NeedMore) {
      break;
    }
  }
  if (callsUntilDone) {
    *callsUntilDone = calls;
  }
  return st;
}

// A plain modern hello yields its SNI, ALPN list and versions.
TEST(ClientHello, ReadsSniAlpnAndVersions) {
  HelloSpec s;
  s.sni = "app.example.com";
  s.alpn = {"h2", "http/1.1"};
  Bytes b = buildHello(s);
  ClientHelloParser p;
  ASSERT_EQ(parseAll(b, p), HelloStatus::Done);
  EXPECT_TRUE(p.info().hasSni);
  EXPECT_EQ(p.info().sni, "app.example.com");
  EXPECT_EQ(p.info().alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(p.info().handshakeType, 1);
  EXPECT_EQ(p.info().legacyVersion, 0x0303);
  EXPECT_EQ(p.info().recordVersion, 0x0301);
  EXPECT_EQ(p.info().maxSupportedVersion, 0x0304);
  EXPECT_TRUE(p.info().hasEcExtension);
  EXPECT_EQ(p.info().sessionTicket, 0);
  EXPECT_EQ(p.info().recordCount, 1u);
  EXPECT_EQ(p.info().wireLength, b.size());
}

// A hello without server_name is a valid hello with no SNI.
TEST(ClientHello, NoSniIsDoneWithoutName) {
  HelloSpec s;
  Bytes b = buildHello(s);
  ClientHelloParser p;
  ASSERT_EQ(parseAll(b, p), HelloStatus::Done);
  EXPECT_FALSE(p.info().hasSni);
  EXPECT_TRUE(p.info().alpn.empty());
}

// A hello with no extensions at all (very old clients) is still a hello.
TEST(ClientHello, NoExtensionsAtAll) {
  HelloSpec s;
  s.noExtensions = true;
  s.legacyVersion = 0x0301;
  ClientHelloParser p;
  ASSERT_EQ(parseAll(buildHello(s), p), HelloStatus::Done);
  EXPECT_EQ(p.info().legacyVersion, 0x0301);
  EXPECT_FALSE(p.info().hasEcExtension);
}

// GREASE values in ciphers, extensions and versions are skipped, not errors.
TEST(ClientHello, GreaseIsIgnored) {
  HelloSpec s;
  s.sni = "grease.test";
  s.grease = true;
  ClientHelloParser p;
  ASSERT_EQ(parseAll(buildHello(s), p), HelloStatus::Done);
  EXPECT_EQ(p.info().sni, "grease.test");
  EXPECT_EQ(p.info().maxSupportedVersion, 0x0304);
  EXPECT_TRUE(isGrease(0x0a0a));
  EXPECT_TRUE(isGrease(0xfafa));
  EXPECT_FALSE(isGrease(0x0a1a));
  EXPECT_FALSE(isGrease(0x0304));
}

// The session ticket fetch reports 0/1/2 as HAProxy's req.ssl_st_ext does.
TEST(ClientHello, SessionTicketStates) {
  HelloSpec s;
  s.extraExtensions = {{35, {}}};
  ClientHelloParser p1;
  ASSERT_EQ(parseAll(buildHello(s), p1), HelloStatus::Done);
  EXPECT_EQ(p1.info().sessionTicket, 1);
  s.extraExtensions = {{35, {1, 2, 3}}};
  ClientHelloParser p2;
  ASSERT_EQ(parseAll(buildHello(s), p2), HelloStatus::Done);
  EXPECT_EQ(p2.info().sessionTicket, 2);
}

// A post-quantum sized hello (ML-KEM key share, ~1.8 KB) split at every byte
// boundary yields NeedMore until the last byte, then the right SNI.
TEST(ClientHello, PostQuantumHelloSplitAtEveryOffset) {
  HelloSpec s;
  s.sni = "pq.example.net";
  s.keyShareBytes = 1216 + 32;  // X25519MLKEM768 plus X25519 shares
  s.padding = 300;
  Bytes b = buildHello(s);
  ASSERT_GT(b.size(), 1500u);
  for (size_t cut = 1; cut < b.size(); ++cut) {
    ClientHelloParser p;
    ASSERT_EQ(p.parse(std::span<const uint8_t>(b.data(), cut)), HelloStatus::NeedMore) << cut;
    ASSERT_EQ(p.parse(b), HelloStatus::Done) << cut;
    ASSERT_EQ(p.info().sni, "pq.example.net");
  }
}

// One byte at a time: NeedMore for every prefix, Done exactly at the end.
TEST(ClientHello, OneByteAtATime) {
  HelloSpec s;
  s.sni = "slow.example";
  s.alpn = {"h2"};
  Bytes b = buildHello(s);
  ClientHelloParser p;
  size_t calls = 0;
  ASSERT_EQ(parseInPieces(b, {1}, p, &calls), HelloStatus::Done);
  EXPECT_EQ(calls, b.size());
  EXPECT_EQ(p.info().sni, "slow.example");
}

// A hello cut into many TLS records (RFC 5246 §6.2.1 fragmentation), down to
// one byte per record, reassembles to the same result.
TEST(ClientHello, SpreadOverManyRecords) {
  HelloSpec s;
  s.sni = "records.example.org";
  s.alpn = {"http/1.1"};
  Bytes hs = buildHandshake(s);
  for (size_t recordSize : {1, 2, 3, 4, 5, 7, 64, 100, 511, 4096}) {
    Bytes b = frameRecords(hs, recordSize);
    if (b.size() > kMaxHelloWireBytes) {
      continue;
    }
    ClientHelloParser p;
    ASSERT_EQ(parseAll(b, p), HelloStatus::Done) << recordSize;
    EXPECT_EQ(p.info().sni, "records.example.org");
    EXPECT_EQ(p.info().alpn, std::vector<std::string>{"http/1.1"});
    EXPECT_EQ(p.info().recordCount, (hs.size() + recordSize - 1) / recordSize);
    // And the same records fed in random pieces.
    std::mt19937 rng(static_cast<unsigned>(recordSize));
    std::vector<size_t> sizes;
    for (int i = 0; i < 64; ++i) {
      sizes.push_back(1 + rng() % 50);
    }
    ClientHelloParser q;
    ASSERT_EQ(parseInPieces(b, sizes, q), HelloStatus::Done) << recordSize;
    EXPECT_EQ(q.info().sni, "records.example.org");
  }
}

// Bytes of the next record after the hello do not disturb the result.
TEST(ClientHello, TrailingBytesAfterHello) {
  HelloSpec s;
  s.sni = "trail.example";
  Bytes b = buildHello(s);
  size_t helloSize = b.size();
  Bytes ccs = {20, 3, 3, 0, 1, 1};   // change_cipher_spec record
  b.insert(b.end(), ccs.begin(), ccs.end());
  b.insert(b.end(), {23, 3, 3, 0, 5, 1, 2, 3, 4, 5});  // early application data
  ClientHelloParser p;
  ASSERT_EQ(parseAll(b, p), HelloStatus::Done);
  EXPECT_EQ(p.info().wireLength, helloSize);
  EXPECT_EQ(p.info().sni, "trail.example");
}

// A large padded hello near the size limit is read; one byte over is refused.
TEST(ClientHello, SizeLimitAtBoundary) {
  HelloSpec s;
  s.sni = "big.example";
  Bytes base = buildHandshake(s);
  size_t bodyWithoutPadding = base.size() - 4;
  // padding extension adds 4 bytes of header plus its payload
  size_t pad = kMaxClientHelloLength - bodyWithoutPadding - 4;
  s.padding = pad;
  Bytes atLimit = buildHandshake(s);
  ASSERT_EQ(atLimit.size() - 4, kMaxClientHelloLength);
  ClientHelloParser p;
  ASSERT_EQ(parseAll(frameRecords(atLimit, 16384), p), HelloStatus::Done);
  EXPECT_EQ(p.info().sni, "big.example");
  EXPECT_EQ(p.info().recordCount, 2u);

  s.padding = pad - 1;
  ClientHelloParser below;
  ASSERT_EQ(parseAll(frameRecords(buildHandshake(s), 16384), below), HelloStatus::Done);

  s.padding = pad + 1;
  ClientHelloParser over;
  EXPECT_EQ(parseAll(frameRecords(buildHandshake(s), 16384), over), HelloStatus::TooLarge);
  EXPECT_EQ(over.error(), HelloError::HelloTooLong);
}

// Many tiny records cost wire bytes; past kMaxHelloWireBytes the reader gives up.
TEST(ClientHello, WireByteLimit) {
  HelloSpec s;
  s.sni = "tiny.records";
  s.padding = 8000;
  Bytes b = frameRecords(buildHandshake(s), 1);  // 6 wire bytes per hello byte
  ASSERT_GT(b.size(), kMaxHelloWireBytes);
  ClientHelloParser p;
  size_t calls = 0;
  EXPECT_EQ(parseInPieces(b, {1000}, p, &calls), HelloStatus::TooLarge);
  EXPECT_EQ(p.error(), HelloError::TooManyWireBytes);
  EXPECT_LE(calls * 1000, kMaxHelloWireBytes + 1000);
}

// Plain HTTP, SSH banners, an empty first byte pattern: not TLS, at once.
TEST(ClientHello, NotTlsIsDetectedEarly) {
  for (std::string text : {"GET / HTTP/1.1\r\n", "SSH-2.0-OpenSSH\r\n", "\x15\x03\x03", "H"}) {
    ClientHelloParser p;
    Bytes b(text.begin(), text.end());
    EXPECT_EQ(parseAll(b, p), HelloStatus::NotTls) << text;
  }
  ClientHelloParser bad;
  EXPECT_EQ(parseAll(Bytes{22, 2, 0}, bad), HelloStatus::NotTls);
  EXPECT_EQ(bad.error(), HelloError::BadRecordVersion);
  ClientHelloParser one;
  EXPECT_EQ(parseAll(Bytes{22}, one), HelloStatus::NeedMore);
  ClientHelloParser zero;
  EXPECT_EQ(parseAll(Bytes{22, 3, 1, 0, 0}, zero), HelloStatus::NotTls);
  EXPECT_EQ(zero.error(), HelloError::BadRecordLength);
}

// A handshake record whose message is not a ClientHello is malformed.
TEST(ClientHello, ServerHelloIsNotClientHello) {
  Bytes b = {22, 3, 3, 0, 4, 2, 0, 0, 0};
  ClientHelloParser p;
  EXPECT_EQ(parseAll(b, p), HelloStatus::Malformed);
  EXPECT_EQ(p.error(), HelloError::NotClientHello);
}

// An alert record interleaved before the hello is complete is malformed.
TEST(ClientHello, InterleavedAlertIsMalformed) {
  HelloSpec s;
  s.sni = "x.example";
  Bytes hs = buildHandshake(s);
  Bytes b = frameRecords(Bytes(hs.begin(), hs.begin() + 10), 10);
  b.insert(b.end(), {21, 3, 3, 0, 2, 2, 40});
  ClientHelloParser p;
  EXPECT_EQ(parseAll(b, p), HelloStatus::Malformed);
  EXPECT_EQ(p.error(), HelloError::UnexpectedRecordType);
}

// Truncating the hello body at every offset (with lengths fixed up so the
// records claim exactly what is there) never reads out of bounds and never
// reports Done with a name that was not in the input.
TEST(ClientHello, TruncatedBodyAtEveryOffset) {
  HelloSpec s;
  s.sni = "trunc.example";
  s.alpn = {"h2", "http/1.1"};
  Bytes hs = buildHandshake(s);
  // The one valid cut: right after compression_methods, where a hello
  // without extensions ends (RFC 5246 7.4.1.2).
  const uint8_t* body = hs.data() + 4;
  size_t sidLen = body[34];
  size_t csLen = (size_t{body[35 + sidLen]} << 8) | body[36 + sidLen];
  size_t compAt = 37 + sidLen + csLen;
  size_t validCut = compAt + 1 + body[compAt];
  ASSERT_LT(validCut + 4, hs.size());
  int done = 0;
  for (size_t len = 0; len + 4 < hs.size(); ++len) {
    Bytes cut(hs.begin(), hs.begin() + static_cast<std::ptrdiff_t>(4 + len));
    cut[1] = static_cast<uint8_t>(len >> 16);
    cut[2] = static_cast<uint8_t>(len >> 8);
    cut[3] = static_cast<uint8_t>(len);
    ClientHelloParser p;
    HelloStatus st = parseAll(frameRecords(cut, 16384), p);
    if (len == validCut) {
      EXPECT_EQ(st, HelloStatus::Done) << "a hello without extensions is valid";
      EXPECT_FALSE(p.info().hasSni);
      ++done;
    } else {
      EXPECT_EQ(st, HelloStatus::Malformed) << "cut at " << len << " of " << hs.size() - 4;
    }
  }
  EXPECT_EQ(done, 1);
}

// Each malformed field shape gets its own reason.
TEST(ClientHello, MalformedShapesHaveReasons) {
  auto parseBody = [](const Bytes& body) {
    ClientHelloInfo info;
    return parseClientHelloBody(body, info);
  };
  Bytes base = buildHandshake(HelloSpec{});
  Bytes body(base.begin() + 4, base.end());

  Bytes sid = body;
  sid[34] = 33;  // session id longer than 32
  EXPECT_EQ(parseBody(sid), HelloError::BadSessionId);

  Bytes noCiphers(body.begin(), body.begin() + 35 + 32);
  testing::putU16(noCiphers, 0);
  EXPECT_EQ(parseBody(noCiphers), HelloError::BadCipherSuites);

  Bytes odd(body.begin(), body.begin() + 35 + 32);
  testing::putU16(odd, 3);
  odd.insert(odd.end(), {0x13, 0x01, 0x13, 1, 0});
  EXPECT_EQ(parseBody(odd), HelloError::BadCipherSuites);

  Bytes noComp(body.begin(), body.begin() + 35 + 32);
  testing::putU16(noComp, 2);
  noComp.insert(noComp.end(), {0x13, 0x01, 0});
  EXPECT_EQ(parseBody(noComp), HelloError::BadCompression);

  Bytes trailing = body;
  trailing.push_back(0);
  EXPECT_EQ(parseBody(trailing), HelloError::BadExtensionsBlock);

  HelloSpec dup;
  dup.sni = "a.example";
  dup.extraExtensions = {{0, {0, 4, 0, 0, 1, 'b'}}};
  Bytes dupHs = buildHandshake(dup);
  EXPECT_EQ(parseBody(Bytes(dupHs.begin() + 4, dupHs.end())), HelloError::DuplicateExtension);

  HelloSpec badSni;
  badSni.extraExtensions = {{0, {0, 5, 0, 0, 9, 'a', 'b'}}};
  Bytes badSniHs = buildHandshake(badSni);
  EXPECT_EQ(parseBody(Bytes(badSniHs.begin() + 4, badSniHs.end())), HelloError::BadServerName);

  HelloSpec nulSni;
  nulSni.sni = std::string("evil\0.example", 13);
  Bytes nulHs = buildHandshake(nulSni);
  EXPECT_EQ(parseBody(Bytes(nulHs.begin() + 4, nulHs.end())), HelloError::BadServerName);

  HelloSpec otherType;  // first name is not a host_name
  otherType.extraExtensions = {{0, {0, 4, 1, 0, 1, 'x'}}};
  Bytes otherHs = buildHandshake(otherType);
  EXPECT_EQ(parseBody(Bytes(otherHs.begin() + 4, otherHs.end())), HelloError::BadServerName);

  HelloSpec emptyAlpn;
  emptyAlpn.extraExtensions = {{16, {0, 2, 0, 0}}};
  Bytes alpnHs = buildHandshake(emptyAlpn);
  EXPECT_EQ(parseBody(Bytes(alpnHs.begin() + 4, alpnHs.end())), HelloError::BadAlpn);

  HelloSpec badVersions;
  badVersions.supportedVersions = {};
  badVersions.extraExtensions = {{43, {3, 3, 4, 3}}};
  Bytes verHs = buildHandshake(badVersions);
  EXPECT_EQ(parseBody(Bytes(verHs.begin() + 4, verHs.end())), HelloError::BadSupportedVersions);
}

// SSLv2-compatible hellos report their version; they are not "SSLv3 or
// superior" hellos, so no hello type and no SNI (HAProxy's definition).
TEST(ClientHello, SslV2CompatibleHello) {
  Bytes b;
  size_t cipherLen = 9;
  size_t challengeLen = 16;
  size_t len = 9 + cipherLen + challengeLen;
  b.push_back(static_cast<uint8_t>(0x80 | (len >> 8)));
  b.push_back(static_cast<uint8_t>(len));
  b.push_back(1);  // CLIENT-HELLO
  testing::putU16(b, 0x0301);
  testing::putU16(b, static_cast<uint16_t>(cipherLen));
  testing::putU16(b, 0);
  testing::putU16(b, static_cast<uint16_t>(challengeLen));
  for (size_t i = 0; i < cipherLen + challengeLen; ++i) {
    b.push_back(static_cast<uint8_t>(i));
  }
  ClientHelloParser p;
  ASSERT_EQ(parseInPieces(b, {1}, p), HelloStatus::Done);
  EXPECT_TRUE(p.info().sslv2);
  EXPECT_EQ(p.info().legacyVersion, 0x0301);
  EXPECT_EQ(p.info().handshakeType, 0);
  EXPECT_FALSE(p.info().hasSni);

  Bytes bad = b;
  bad[4] = 0;  // cipher_spec_length 0x0308 no longer matches msg_length
  bad[5] = 8;
  ClientHelloParser q;
  EXPECT_EQ(parseAll(bad, q), HelloStatus::Malformed);
  EXPECT_EQ(q.error(), HelloError::BadSslV2Hello);
}

// An SSLv2 header may announce up to 32 KiB - 1 of body, more than the
// inspection buffer holds: that is "too large" at once, never "need more".
TEST(ClientHello, SslV2HelloBeyondTheBufferIsTooLarge) {
  for (size_t len : {size_t{32767}}) {  // 2 + 32767 > kMaxHelloWireBytes
    Bytes b;
    b.push_back(static_cast<uint8_t>(0x80 | (len >> 8)));
    b.push_back(static_cast<uint8_t>(len));
    b.push_back(1);  // CLIENT-HELLO
    testing::putU16(b, 0x0301);
    ClientHelloParser p;
    EXPECT_EQ(p.parse(b), HelloStatus::TooLarge) << len;
    EXPECT_EQ(p.error(), HelloError::TooManyWireBytes) << len;
  }
  // The largest that fits is still read to its end.
  size_t len = kMaxHelloWireBytes - 2;
  Bytes b;
  b.push_back(static_cast<uint8_t>(0x80 | (len >> 8)));
  b.push_back(static_cast<uint8_t>(len));
  b.push_back(1);
  ClientHelloParser p;
  EXPECT_EQ(p.parse(b), HelloStatus::NeedMore);
}

// Once a final status is reached, more bytes do not change it.
TEST(ClientHello, FinalStatusIsSticky) {
  HelloSpec s;
  s.sni = "sticky.example";
  Bytes b = buildHello(s);
  ClientHelloParser p;
  ASSERT_EQ(parseAll(b, p), HelloStatus::Done);
  b.push_back(0xff);
  EXPECT_EQ(p.parse(b), HelloStatus::Done);
  EXPECT_EQ(p.info().sni, "sticky.example");
}

// Hellos recorded from real TLS stacks (tests/data/hellos/*.bin, see the
// README there) parse to the SNI and ALPN named in their .expect file, whole,
// one byte at a time, in random pieces, and re-framed into small records.
TEST(ClientHello, RecordedFromRealStacks) {
  std::filesystem::path dir = SLUICE_TEST_DATA_DIR "/hellos";
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".bin") {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ifstream ex(std::filesystem::path(entry.path()).replace_extension(".expect"));
    std::string sni, alpnLine;
    std::getline(ex, sni);
    std::getline(ex, alpnLine);
    SCOPED_TRACE(entry.path().filename().string());
    ++seen;

    ClientHelloParser whole;
    ASSERT_EQ(parseAll(b, whole), HelloStatus::Done) << toString(whole.error());
    EXPECT_EQ(whole.info().sni, sni);
    std::string alpn;
    for (const auto& a : whole.info().alpn) {
      alpn += (alpn.empty() ? "" : ",") + a;
    }
    EXPECT_EQ(alpn, alpnLine);

    ClientHelloParser bytewise;
    ASSERT_EQ(parseInPieces(b, {1}, bytewise), HelloStatus::Done);
    EXPECT_EQ(bytewise.info().sni, sni);

    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
      std::vector<size_t> sizes;
      for (int i = 0; i < 32; ++i) {
        sizes.push_back(1 + rng() % 700);
      }
      ClientHelloParser pieces;
      ASSERT_EQ(parseInPieces(b, sizes, pieces), HelloStatus::Done);
      EXPECT_EQ(pieces.info().sni, sni);
    }

    // Strip the record layer and re-frame the handshake into 50-byte records.
    Bytes hs;
    for (size_t off = 0; off + 5 <= whole.info().wireLength;) {
      size_t len = (size_t{b[off + 3]} << 8) | b[off + 4];
      hs.insert(hs.end(), b.begin() + static_cast<std::ptrdiff_t>(off + 5),
                b.begin() + static_cast<std::ptrdiff_t>(off + 5 + len));
      off += 5 + len;
    }
    ClientHelloParser reframed;
    ASSERT_EQ(parseAll(frameRecords(hs, 50), reframed), HelloStatus::Done);
    EXPECT_EQ(reframed.info().sni, sni);
  }
  EXPECT_GE(seen, 4u) << "expected hellos from at least four TLS stacks in " << dir;
}

}  // namespace
}  // namespace sluice::proto
