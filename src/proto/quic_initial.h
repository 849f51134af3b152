// SPDX-License-Identifier: Apache-2.0
// The ClientHello inside a QUIC client's Initial packets, read without
// terminating anything (issue 11, step 1). QUIC v1 (RFC 9000, RFC 9001) and
// v2 (RFC 9369): the Initial keys come from the client's Destination
// Connection ID and the version's salt (HKDF-SHA256, as TLS 1.3 labels
// them), header protection is removed with AES-128-ECB and the payload
// opened with AES-128-GCM (OpenSSL), the frames walked, the CRYPTO data
// reassembled in any order across packets and datagrams, and the hello
// handed to the ClientHello body parser.
//
//   QuicHelloReader r;
//   for each datagram of the flow: switch (r.addDatagram(bytes)) { ... }
//   r.info().sni ...
//
// Wire format (RFC 9000 §17.2, §17.2.2, §19):
//   u8   first byte: 1 (long header), 1 (fixed), type (2 bits), 4 protected bits
//   u32  version; u8 DCID length, DCID (<= 20); u8 SCID length, SCID (<= 20)
//   varint token length, token; varint length (packet number + payload)
//   1..4 packet number (protected), payload (AEAD, 16-byte tag)
//   frames: PADDING 0x00, PING 0x01, ACK 0x02/0x03, CRYPTO 0x06 (offset,
//   length, data), CONNECTION_CLOSE 0x1c
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "proto/client_hello.h"

namespace sluice::proto {

inline constexpr uint32_t kQuicV1 = 0x00000001;
inline constexpr uint32_t kQuicV2 = 0x6b3343cf;
// RFC 9000 §14.1: a client's datagrams carrying Initial packets are at
// least this long; shorter ones are not from a real client.
inline constexpr size_t kQuicMinInitialDatagram = 1200;
// Most CRYPTO bytes gathered for one hello (the TLS reader's bound).
inline constexpr size_t kQuicMaxCryptoBytes = kMaxClientHelloLength + 4;
// What one sender can make the reader do, bounded (issue 22): the holes a
// client may leave in its CRYPTO stream at once (real stacks leave a few:
// Chromium scatters its hello over a handful of frames), the frames other
// than PADDING one packet may carry, and the packets of one datagram that
// are opened (a client coalesces at most Initial, 0-RTT and Handshake).
inline constexpr size_t kQuicMaxCryptoRanges = 64;
inline constexpr size_t kQuicMaxFramesPerPacket = 256;
inline constexpr size_t kQuicMaxPacketsPerDatagram = 8;

struct QuicInitialKeys {
  uint8_t key[16];
  uint8_t iv[12];
  uint8_t hp[16];
};

// The client's Initial keys for `version` and its first Destination
// Connection ID; false for a version sluice cannot open.
bool deriveClientInitialKeys(uint32_t version, std::span<const uint8_t> dcid, QuicInitialKeys& out);

// AES-128-ECB of the 16-byte `sample` with the header protection key: the
// mask of RFC 9001 §5.4.3.
bool headerProtectionMask(const uint8_t hp[16], const uint8_t sample[16], uint8_t mask[16]);

// A client Initial packet (4-byte packet number, no token) carrying
// `frames`, sealed and header-protected as a client does: what tests, the
// fuzzer and health checks send.
std::vector<uint8_t> sealClientInitial(uint32_t version, std::span<const uint8_t> dcid, uint32_t packetNumber,
                                       std::vector<uint8_t> frames);

// A CRYPTO frame carrying `length` bytes of `stream` from `offset` (4-byte
// varints): with sealClientInitial, what tests, fuzzers and bench/'s
// hostile senders build Initials from.
std::vector<uint8_t> cryptoFrame(std::span<const uint8_t> stream, size_t offset, size_t length);

// Health checks of QUIC servers without a TLS stack (RFC 9000 §6): a
// long-header datagram of a reserved version (0x?a?a?a?a), padded to the
// 1200 bytes a server answers, from connection IDs `dcid`/`scid`; a live
// server answers with Version Negotiation, which echoes them swapped.
inline constexpr uint32_t kQuicProbeVersion = 0x1a2a3a4a;
std::vector<uint8_t> quicVersionProbe(std::span<const uint8_t> dcid, std::span<const uint8_t> scid);
bool isVersionNegotiationFor(std::span<const uint8_t> datagram, std::span<const uint8_t> dcid,
                             std::span<const uint8_t> scid);

enum class QuicStatus : uint8_t {
  NeedMore,   // some of the hello; feed the flow's next datagram
  Done,       // the whole ClientHello was read; info() is filled
  NotQuic,    // not a client Initial of a version sluice reads
  Malformed,  // an Initial that does not open or breaks the format
  TooLarge,   // more CRYPTO data than a ClientHello may take
};

class QuicHelloReader {
 public:
  // One datagram from the client (possibly several coalesced packets). Once
  // a final status is returned, further calls return it again.
  QuicStatus addDatagram(std::span<const uint8_t> datagram);

  QuicStatus status() const { return status_; }
  const ClientHelloInfo& info() const { return info_; }
  uint32_t version() const { return version_; }
  // The client's first Destination Connection ID (it names the flow until
  // the server picks its own).
  const std::vector<uint8_t>& originalDcid() const { return dcid_; }
  size_t datagrams() const { return datagrams_; }
  // What the reader did, for tests that bound its cost by counting
  // operations (never by timing them).
  struct Work {
    size_t packetsOpened = 0;   // AEAD opens attempted
    size_t frames = 0;          // frames walked, PADDING runs counted once
    size_t comparisons = 0;     // range comparisons while merging CRYPTO data
    size_t merged = 0;          // ranges swallowed by a new one
    size_t moved = 0;           // ranges shifted by an insertion or removal
  };
  const Work& work() const { return work_; }
  size_t cryptoRanges() const { return ranges_.size(); }
  // The ClientHello handshake message as reassembled (its 4-byte header
  // included), once Done; empty before.
  std::span<const uint8_t> hello() const {
    if (status_ != QuicStatus::Done) return {};
    return {crypto_.data(), 4 + size_t{info_.helloLength}};
  }

 private:
  QuicStatus fail(QuicStatus s) { return status_ = s; }
  // A packet that cannot be authenticated (cut short, bad format, does not
  // open): fatal before the flow's first packet opened; after it, dropped
  // alone, so that an off-path sender who knows the client's address
  // cannot spoil the flow's routing with garbage.
  QuicStatus refuse(QuicStatus s) { return opened_ ? status_ : fail(s); }
  QuicStatus readPacket(std::span<const uint8_t> packet, size_t& used);
  QuicStatus addFrames(std::span<const uint8_t> payload);
  QuicStatus addCrypto(uint64_t offset, std::span<const uint8_t> data);
  QuicStatus tryHello();

  QuicStatus status_ = QuicStatus::NeedMore;
  ClientHelloInfo info_;
  uint32_t version_ = 0;
  std::vector<uint8_t> dcid_;
  QuicInitialKeys keys_{};
  bool keyed_ = false;
  size_t opened_ = 0;      // packets that decrypted
  size_t datagrams_ = 0;
  // CRYPTO stream: the bytes, and which of them arrived (offset, end) kept
  // sorted and merged, at most kQuicMaxCryptoRanges of them.
  std::vector<uint8_t> crypto_;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
  Work work_;
};

}  // namespace sluice::proto
