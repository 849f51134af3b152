// SPDX-License-Identifier: Apache-2.0
// QUIC Initial packets (issue 11, step 1): the key schedule against the
// RFCs' test vectors, and ClientHellos made by OpenSSL carried in Initial
// packets sealed here, split over packets and datagrams, reordered,
// duplicated, in QUIC v1 and v2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "health/tls_probe.h"
#include "proto/quic_initial.h"
#include "quic_builder.h"

namespace sluice::proto {
namespace {

using testing::clientHello;
using testing::cryptoFrame;
using testing::datagram;
using testing::sealInitial;

std::string readFileBytes(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  std::string out;
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

std::vector<uint8_t> unhex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string hexOf(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(d[p[i] >> 4]);
    out.push_back(d[p[i] & 15]);
  }
  return out;
}

// RFC 9001 Appendix A.1 and RFC 9369 Appendix A.1: DCID 0x8394c8f03e515708.
TEST(QuicInitial, KeysOfTheRfcVectors) {
  const std::vector<uint8_t> dcid = unhex("8394c8f03e515708");
  QuicInitialKeys k{};
  ASSERT_TRUE(deriveClientInitialKeys(kQuicV1, dcid, k));
  EXPECT_EQ(hexOf(k.key, 16), "1f369613dd76d5467730efcbe3b1a22d");
  EXPECT_EQ(hexOf(k.iv, 12), "fa044b2f42a3fd3b46fb255c");
  EXPECT_EQ(hexOf(k.hp, 16), "9f50449e04a0e810283a1e9933adedd2");
  ASSERT_TRUE(deriveClientInitialKeys(kQuicV2, dcid, k));
  EXPECT_EQ(hexOf(k.key, 16), "8b1a0bc121284290a29e0971b5cd045d");
  EXPECT_EQ(hexOf(k.iv, 12), "91f73e2351d8fa91660e909f");
  EXPECT_EQ(hexOf(k.hp, 16), "45b95e15235d6f45a6b19cbcb0294ba9");
  EXPECT_FALSE(deriveClientInitialKeys(0xff00001d, dcid, k)) << "draft versions are not read";
}

// RFC 9001 Appendix A.2: the header protection mask of the client Initial.
TEST(QuicInitial, HeaderProtectionMaskOfTheRfcVector) {
  const std::vector<uint8_t> hp = unhex("9f50449e04a0e810283a1e9933adedd2");
  const std::vector<uint8_t> sample = unhex("d1b1c98dd7689fb8ec11d242b123dc9b");
  uint8_t mask[16];
  ASSERT_TRUE(headerProtectionMask(hp.data(), sample.data(), mask));
  EXPECT_EQ(hexOf(mask, 5), "437b9aec36");
}

TEST(QuicInitial, HelloInOnePacket) {
  for (uint32_t version : {kQuicV1, kQuicV2}) {
    const std::vector<uint8_t> dcid = unhex("0011223344556677");
    std::vector<uint8_t> hello = clientHello("one.example", 0);
    QuicHelloReader r;
    EXPECT_EQ(r.addDatagram(datagram({sealInitial(version, dcid, 0, cryptoFrame(hello, 0, hello.size()))})),
              QuicStatus::Done);
    EXPECT_EQ(r.info().sni, "one.example");
    ASSERT_EQ(r.info().alpn.size(), 1u);
    EXPECT_EQ(r.info().alpn[0], "h3");
    EXPECT_EQ(r.version(), version);
  }
}

// A hello over three packets in two datagrams, delivered in every order,
// with a duplicate and an overlap: the same verdict every time.
TEST(QuicInitial, HelloAcrossPacketsAndDatagramsInAnyOrder) {
  const std::vector<uint8_t> dcid = unhex("a1a2a3a4a5a6a7a8a9aa");
  std::vector<uint8_t> hello = clientHello("split.example", 2600);
  const size_t third = hello.size() / 3;
  std::vector<std::vector<uint8_t>> packets = {
      sealInitial(kQuicV1, dcid, 0, cryptoFrame(hello, 0, third)),
      sealInitial(kQuicV1, dcid, 1, cryptoFrame(hello, third - 10, third + 10)),  // overlaps the first
      sealInitial(kQuicV1, dcid, 2, cryptoFrame(hello, 2 * third, hello.size() - 2 * third)),
  };
  std::vector<size_t> order = {0, 1, 2};
  do {
    QuicHelloReader r;
    QuicStatus s = QuicStatus::NeedMore;
    for (size_t i : order) {
      s = r.addDatagram(datagram({packets[i]}));
      if (i == order.back()) break;
      EXPECT_EQ(s, QuicStatus::NeedMore);
      EXPECT_EQ(r.addDatagram(datagram({packets[i]})), QuicStatus::NeedMore) << "a duplicate changes nothing";
    }
    EXPECT_EQ(s, QuicStatus::Done);
    EXPECT_EQ(r.info().sni, "split.example");
  } while (std::next_permutation(order.begin(), order.end()));
  // Two packets coalesced in one datagram, the third in another.
  QuicHelloReader r;
  EXPECT_EQ(r.addDatagram(datagram({packets[2], packets[0]})), QuicStatus::NeedMore);
  EXPECT_EQ(r.addDatagram(datagram({packets[1]})), QuicStatus::Done);
}

TEST(QuicInitial, WhatIsRefused) {
  const std::vector<uint8_t> dcid = unhex("0011223344556677");
  std::vector<uint8_t> hello = clientHello("x.example", 0);
  std::vector<uint8_t> packet = sealInitial(kQuicV1, dcid, 0, cryptoFrame(hello, 0, hello.size()));
  {
    QuicHelloReader r;  // not padded to 1200 bytes
    EXPECT_EQ(r.addDatagram(packet), QuicStatus::NotQuic);
  }
  {
    QuicHelloReader r;  // one bit flipped in the sealed payload: does not open
    std::vector<uint8_t> bad = packet;
    bad[bad.size() - 20] ^= 1;
    EXPECT_EQ(r.addDatagram(datagram({bad})), QuicStatus::Malformed);
  }
  {
    QuicHelloReader r;  // TLS over TCP, not QUIC
    std::string record = health::makeProbeHello("x.example", {});
    std::vector<uint8_t> tls(record.begin(), record.end());
    EXPECT_EQ(r.addDatagram(datagram({tls})), QuicStatus::NotQuic);
  }
  {
    QuicHelloReader r;  // a CRYPTO offset beyond any hello
    std::vector<uint8_t> far = cryptoFrame(hello, 0, 10);
    far[1] = 0x80;
    far[2] = 0x01;  // offset 65536 + ...
    EXPECT_EQ(r.addDatagram(datagram({sealInitial(kQuicV1, dcid, 0, far)})), QuicStatus::TooLarge);
  }
  {
    QuicHelloReader r;  // a STREAM frame has no place in an Initial
    std::vector<uint8_t> frames = {0x08, 0x00, 0x01, 0x02};
    EXPECT_EQ(r.addDatagram(datagram({sealInitial(kQuicV1, dcid, 0, frames)})), QuicStatus::Malformed);
  }
}

// Once a packet of the flow opened, garbage in the same flow (a spoofed or
// corrupted datagram) is dropped alone and the hello is still read.
TEST(QuicInitial, GarbageAfterTheFirstPacketIsIgnored) {
  const std::vector<uint8_t> dcid = unhex("0011223344556677");
  std::vector<uint8_t> hello = clientHello("late.example", 2600);
  const size_t half = hello.size() / 2;
  std::vector<uint8_t> first = sealInitial(kQuicV1, dcid, 0, cryptoFrame(hello, 0, half));
  std::vector<uint8_t> second = sealInitial(kQuicV1, dcid, 1, cryptoFrame(hello, half, hello.size() - half));
  std::vector<uint8_t> spoiled = second;
  spoiled[spoiled.size() - 30] ^= 0x40;
  QuicHelloReader r;
  EXPECT_EQ(r.addDatagram(datagram({first})), QuicStatus::NeedMore);
  EXPECT_EQ(r.addDatagram(datagram({spoiled})), QuicStatus::NeedMore);
  EXPECT_EQ(r.addDatagram(datagram({second})), QuicStatus::Done);
  EXPECT_EQ(r.info().sni, "late.example");
}

// The health probe: a reserved version padded to 1200 bytes, and only the
// Version Negotiation that echoes its connection IDs counts as an answer.
TEST(QuicInitial, VersionProbeAndItsAnswer) {
  const std::vector<uint8_t> dcid = unhex("0102030405060708"), scid = unhex("a1a2a3a4a5a6a7a8");
  std::vector<uint8_t> probe = quicVersionProbe(dcid, scid);
  ASSERT_EQ(probe.size(), kQuicMinInitialDatagram);
  EXPECT_EQ(hexOf(probe.data(), 6), "c01a2a3a4a08");
  QuicHelloReader r;
  EXPECT_EQ(r.addDatagram(probe), QuicStatus::NotQuic) << "a reserved version is not routed";
  std::vector<uint8_t> vn = unhex("8000000000" "08a1a2a3a4a5a6a7a8" "080102030405060708" "00000001");
  EXPECT_TRUE(isVersionNegotiationFor(vn, dcid, scid));
  std::vector<uint8_t> other = vn;
  other[7] ^= 1;  // another probe's IDs
  EXPECT_FALSE(isVersionNegotiationFor(other, dcid, scid));
  std::vector<uint8_t> noVersions(vn.begin(), vn.end() - 4);
  EXPECT_FALSE(isVersionNegotiationFor(noVersions, dcid, scid));
  std::vector<uint8_t> v1 = vn;
  v1[4] = 1;  // not version 0: some other packet
  EXPECT_FALSE(isVersionNegotiationFor(v1, dcid, scid));
}

// A real client's first datagram: Debian's ngtcp2 0.12.1 gtlsclient
// (GnuTLS) connecting to "localhost", recorded from a UDP socket. Read
// whole, and its packet cut short or corrupted.
TEST(QuicInitial, RealClientNgtcp2) {
  std::string bytes = readFileBytes(std::string(SLUICE_TEST_DATA_DIR) + "/quic/ngtcp2-0.12.1-gtlsclient-v1-localhost.bin");
  ASSERT_EQ(bytes.size(), 1200u);
  std::vector<uint8_t> d(bytes.begin(), bytes.end());
  QuicHelloReader r;
  ASSERT_EQ(r.addDatagram(d), QuicStatus::Done);
  EXPECT_EQ(r.version(), kQuicV1);
  EXPECT_EQ(r.info().sni, "localhost");
  EXPECT_FALSE(r.info().alpn.empty());
  EXPECT_EQ(r.info().maxSupportedVersion, 0x0304);
  std::vector<uint8_t> cut(d.begin(), d.begin() + 600);
  cut.resize(1200, 0);  // the packet's length field now runs past real data: it cannot open
  QuicHelloReader r2;
  EXPECT_NE(r2.addDatagram(cut), QuicStatus::Done);
}

// Chromium's first flight: the datagrams of a recorded file (2-byte length,
// bytes; see tests/data/quic/capture.py).
std::vector<std::vector<uint8_t>> readDatagrams(const std::string& name) {
  std::string bytes = readFileBytes(std::string(SLUICE_TEST_DATA_DIR) + "/quic/" + name);
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i + 2 <= bytes.size();) {
    size_t n = (size_t{static_cast<uint8_t>(bytes[i])} << 8) | static_cast<uint8_t>(bytes[i + 1]);
    if (i + 2 + n > bytes.size()) break;
    out.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(i + 2),
                     bytes.begin() + static_cast<std::ptrdiff_t>(i + 2 + n));
    i += 2 + n;
  }
  return out;
}

void expectChromiumHello(const QuicHelloReader& r) {
  EXPECT_EQ(r.version(), kQuicV1);
  EXPECT_EQ(r.info().sni, "chromium.example");
  ASSERT_EQ(r.info().alpn.size(), 1u);
  EXPECT_EQ(r.info().alpn[0], "h3");
  EXPECT_EQ(r.info().maxSupportedVersion, 0x0304);
  EXPECT_GT(r.info().helloLength, 1200u) << "the post-quantum hello is larger than one datagram";
}

// Chromium 156 (BoringSSL) over QUIC v1 with its X25519MLKEM768 key share:
// the hello spans two Initial packets in two datagrams, which is what
// tools reading only the first datagram misroute. Read in order, in
// reverse, with each datagram duplicated; and never from the first alone.
TEST(QuicInitial, RealClientChromiumPostQuantumSpansTwoDatagrams) {
  auto flight = readDatagrams("chromium-156-v1-mlkem.dgrams");
  ASSERT_EQ(flight.size(), 2u);
  for (const auto& d : flight) EXPECT_GE(d.size(), kQuicMinInitialDatagram);
  {
    QuicHelloReader r;
    EXPECT_EQ(r.addDatagram(flight[0]), QuicStatus::NeedMore) << "the first datagram holds only part of the hello";
    EXPECT_EQ(r.addDatagram(flight[1]), QuicStatus::Done);
    expectChromiumHello(r);
    // Chromium scatters its hello (chaos protection): the caps on frames
    // and holes leave it far more room than it takes.
    EXPECT_LE(r.work().frames * 4, 2 * kQuicMaxFramesPerPacket) << r.work().frames << " frames";
    std::printf("chromium 156: %zu frames, %zu comparisons, %zu ranges merged\n", r.work().frames,
                r.work().comparisons, r.work().merged);
  }
  {
    QuicHelloReader r;
    EXPECT_EQ(r.addDatagram(flight[1]), QuicStatus::NeedMore);
    EXPECT_LT(r.cryptoRanges() * 4, kQuicMaxCryptoRanges) << "holes a real client leaves";
    EXPECT_EQ(r.addDatagram(flight[1]), QuicStatus::NeedMore) << "a duplicate changes nothing";
    EXPECT_EQ(r.addDatagram(flight[0]), QuicStatus::Done);
    expectChromiumHello(r);
  }
  {
    QuicHelloReader r;  // the first datagram twice, then the rest
    EXPECT_EQ(r.addDatagram(flight[0]), QuicStatus::NeedMore);
    EXPECT_EQ(r.addDatagram(flight[0]), QuicStatus::NeedMore);
    EXPECT_EQ(r.addDatagram(flight[1]), QuicStatus::Done);
    expectChromiumHello(r);
  }
  {
    QuicHelloReader r;  // the second datagram cut short: it cannot open, the hello waits
    std::vector<uint8_t> cut(flight[1].begin(), flight[1].begin() + 700);
    cut.resize(kQuicMinInitialDatagram, 0);
    EXPECT_EQ(r.addDatagram(flight[0]), QuicStatus::NeedMore);
    EXPECT_EQ(r.addDatagram(cut), QuicStatus::NeedMore);
    EXPECT_EQ(r.addDatagram(flight[1]), QuicStatus::Done);
    expectChromiumHello(r);
  }
}

// Each real client's hello cut differently than the client cut it: its
// CRYPTO bytes, as the reader reassembled them, re-sealed under the
// client's own connection ID into five packets of uneven sizes, two
// coalesced, delivered shuffled with duplicates. Every order reads the
// same hello as the recording did.
struct Recording {
  const char* file;
  size_t datagrams;
  const char* sni;
};

class RealClientResplit : public ::testing::TestWithParam<Recording> {};

TEST_P(RealClientResplit, HelloResplitAndShuffledReadsTheSame) {
  const Recording& rec = GetParam();
  auto flight = readDatagrams(rec.file);
  ASSERT_EQ(flight.size(), rec.datagrams);
  QuicHelloReader whole;
  QuicStatus st = QuicStatus::NeedMore;
  for (const auto& d : flight) st = whole.addDatagram(d);
  ASSERT_EQ(st, QuicStatus::Done);
  EXPECT_EQ(whole.info().sni, rec.sni);
  const std::vector<uint8_t> hello(whole.hello().begin(), whole.hello().end());
  ASSERT_EQ(hello.size(), 4 + size_t{whole.info().helloLength});
  const std::vector<uint8_t> dcid = whole.originalDcid();
  const size_t cuts[] = {0, 90, hello.size() / 3, hello.size() / 2, hello.size() / 2 + 10, hello.size()};
  std::vector<std::vector<uint8_t>> packets;
  for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
    packets.push_back(sealInitial(kQuicV1, dcid, static_cast<uint32_t>(i),
                                  cryptoFrame(hello, cuts[i], cuts[i + 1] - cuts[i])));
  }
  std::vector<std::vector<uint8_t>> datagrams = {datagram({packets[0], packets[3]}), datagram({packets[1]}),
                                                 datagram({packets[2]}), datagram({packets[4]})};
  std::mt19937 rng(11);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::vector<uint8_t>> order = datagrams;
    order.push_back(datagrams[rng() % datagrams.size()]);  // a duplicate somewhere
    std::shuffle(order.begin(), order.end(), rng);
    QuicHelloReader r;
    QuicStatus s = QuicStatus::NeedMore;
    for (const auto& d : order) {
      if (s == QuicStatus::Done) break;
      s = r.addDatagram(d);
    }
    ASSERT_EQ(s, QuicStatus::Done) << "round " << round;
    EXPECT_EQ(r.info().sni, whole.info().sni);
    EXPECT_EQ(r.info().alpn, whole.info().alpn);
    EXPECT_EQ(r.info().helloLength, whole.info().helloLength);
    EXPECT_EQ(r.info().maxSupportedVersion, whole.info().maxSupportedVersion);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Recordings, RealClientResplit,
    ::testing::Values(Recording{"chromium-156-v1-mlkem.dgrams", 2, "chromium.example"},
                      Recording{"ngtcp2-0.12.1-gtlsclient-v1.dgrams", 1, "gtlsclient.example"}),
    [](const ::testing::TestParamInfo<Recording>& i) { return i.index == 0 ? "Chromium156" : "Ngtcp2Gtlsclient"; });


// ---------------------------------------------------------------------------
// Cost bounds (issue 22): what a hostile sender can make the reader do is
// counted in operations, never timed.

std::vector<uint8_t> oneByteFrames(const std::vector<uint8_t>& stream, const std::vector<size_t>& offsets) {
  std::vector<uint8_t> frames;
  for (size_t o : offsets) {
    std::vector<uint8_t> f = cryptoFrame(stream, o, 1);
    frames.insert(frames.end(), f.begin(), f.end());
  }
  return frames;
}

// The attack that cost 2.5 ms per datagram: Initials full of one-byte
// CRYPTO frames at scattered offsets that never merge. The reader gives
// up once a client leaves more holes than any real stack does, and until
// then each frame costs a binary search.
TEST(QuicInitialCost, ScatteredOneByteFramesStopAtTheRangeCap) {
  const std::vector<uint8_t> dcid = unhex("5151515151515151");
  std::vector<uint8_t> hello = clientHello("scatter.example", 6000);
  std::vector<size_t> offsets;
  for (size_t i = 0; i < 250; ++i) offsets.push_back(2 * ((i * 37) % 2500) + 2);  // every other byte, shuffled
  QuicHelloReader r;
  EXPECT_EQ(r.addDatagram(datagram({sealInitial(kQuicV1, dcid, 0, oneByteFrames(hello, offsets))})),
            QuicStatus::Malformed);
  EXPECT_EQ(r.cryptoRanges(), kQuicMaxCryptoRanges);
  EXPECT_LE(r.work().frames, kQuicMaxCryptoRanges + 1) << "stops at the first range past the cap";
  EXPECT_LE(r.work().comparisons, r.work().frames * 8) << "log2(64) + 2 comparisons a frame at most";
}

// Within the cap, frame after frame landing on ranges already there (the
// cheapest way to keep a flow's reader busy without failing it): each one
// costs O(log ranges) comparisons, and nothing is rebuilt.
TEST(QuicInitialCost, DuplicateFramesCostLogRangesEach) {
  const std::vector<uint8_t> dcid = unhex("5252525252525252");
  std::vector<uint8_t> hello = clientHello("dup.example", 6000);
  std::vector<size_t> holes;
  for (size_t i = 0; i < kQuicMaxCryptoRanges - 1; ++i) holes.push_back(10 + 20 * i);
  QuicHelloReader r;
  ASSERT_EQ(r.addDatagram(datagram({sealInitial(kQuicV1, dcid, 0, oneByteFrames(hello, holes))})),
            QuicStatus::NeedMore);
  const size_t rounds = 40;
  std::vector<size_t> again;
  for (size_t i = 0; i < kQuicMaxFramesPerPacket; ++i) again.push_back(holes[(i * 17) % holes.size()]);
  for (size_t n = 1; n <= rounds; ++n) {
    ASSERT_EQ(r.addDatagram(datagram({sealInitial(kQuicV1, dcid, static_cast<uint32_t>(n), oneByteFrames(hello, again))})),
              QuicStatus::NeedMore);
  }
  const size_t frames = holes.size() + rounds * again.size();
  EXPECT_EQ(r.cryptoRanges(), holes.size());
  EXPECT_EQ(r.work().frames, frames);
  EXPECT_LE(r.work().comparisons, frames * 8);
  EXPECT_EQ(r.work().merged, rounds * again.size()) << "each duplicate merges with its one range";
  EXPECT_LE(r.work().moved, holes.size() * holes.size()) << "only the first packet's insertions move ranges";
  EXPECT_EQ(r.work().packetsOpened, rounds + 1);
}

// A hello whose pieces arrive last-first: each new piece swallows the
// range after it; every range is swallowed once.
TEST(QuicInitialCost, FillingHolesBackwardsMergesEachRangeOnce) {
  const std::vector<uint8_t> dcid = unhex("5353535353535353");
  std::vector<uint8_t> hello = clientHello("back.example", 1500);
  std::vector<std::vector<uint8_t>> packets;
  const size_t piece = 40;
  size_t pieces = 0;
  for (size_t end = hello.size(); end > 0; end = end > piece ? end - piece : 0, ++pieces) {
    const size_t start = end > piece ? end - piece : 0;
    packets.push_back(cryptoFrame(hello, start, end - start));
  }
  QuicHelloReader r;
  QuicStatus s = QuicStatus::NeedMore;
  uint32_t pn = 0;
  for (size_t i = 0; i < packets.size(); i += 20) {  // 20 frames a packet
    std::vector<uint8_t> frames;
    for (size_t j = i; j < std::min(packets.size(), i + 20); ++j) frames.insert(frames.end(), packets[j].begin(), packets[j].end());
    s = r.addDatagram(datagram({sealInitial(kQuicV1, dcid, pn++, frames)}));
  }
  ASSERT_EQ(s, QuicStatus::Done);
  EXPECT_EQ(r.info().sni, "back.example");
  EXPECT_LE(r.work().merged, pieces);
  EXPECT_LE(r.work().comparisons, pieces * 8);
}

// Many Initials coalesced in one datagram (a full 64 KiB one): only the
// first few are opened, as no client coalesces more.
TEST(QuicInitialCost, PacketsOpenedPerDatagramAreCapped) {
  const std::vector<uint8_t> dcid = unhex("5454545454545454");
  std::vector<uint8_t> hello = clientHello("many.example", 6000);
  std::vector<std::vector<uint8_t>> packets;
  for (uint32_t i = 0; i < 200; ++i) packets.push_back(sealInitial(kQuicV1, dcid, i, cryptoFrame(hello, 4 * i, 2)));
  std::vector<uint8_t> d = datagram(packets);
  ASSERT_GT(d.size(), 10000u);
  QuicHelloReader r;
  EXPECT_EQ(r.addDatagram(d), QuicStatus::NeedMore);
  EXPECT_EQ(r.work().packetsOpened, kQuicMaxPacketsPerDatagram);
  // A packet with more frames than any client writes is refused.
  QuicHelloReader r2;
  std::vector<size_t> many(kQuicMaxFramesPerPacket + 1, 0);
  EXPECT_EQ(r2.addDatagram(datagram({sealInitial(kQuicV1, dcid, 0, oneByteFrames(hello, many))})),
            QuicStatus::Malformed);
  EXPECT_EQ(r2.work().frames, kQuicMaxFramesPerPacket) << "the frame past the cap is not walked";
}

// A real hello scattered as Chromium's chaos protection does, in many
// small out-of-order pieces between PING and PADDING frames, still reads.
TEST(QuicInitialCost, ScatteredRealHelloStillReads) {
  const std::vector<uint8_t> dcid = unhex("5555555555555555");
  std::vector<uint8_t> hello = clientHello("chaos.example", 2600);
  std::vector<std::pair<size_t, size_t>> pieces;
  for (size_t at = 0; at < hello.size(); at += 97) pieces.emplace_back(at, std::min<size_t>(97, hello.size() - at));
  std::mt19937 rng(22);
  std::shuffle(pieces.begin(), pieces.end(), rng);
  QuicHelloReader r;
  QuicStatus s = QuicStatus::NeedMore;
  uint32_t pn = 0;
  for (size_t i = 0; i < pieces.size(); i += 9) {
    std::vector<uint8_t> frames;
    for (size_t j = i; j < std::min(pieces.size(), i + 9); ++j) {
      std::vector<uint8_t> f = cryptoFrame(hello, pieces[j].first, pieces[j].second);
      frames.insert(frames.end(), f.begin(), f.end());
      frames.push_back(0x01);  // PING
      frames.insert(frames.end(), 3, 0x00);  // PADDING
    }
    s = r.addDatagram(datagram({sealInitial(kQuicV1, dcid, pn++, frames)}));
  }
  ASSERT_EQ(s, QuicStatus::Done);
  EXPECT_EQ(r.info().sni, "chaos.example");
}

}  // namespace
}  // namespace sluice::proto
