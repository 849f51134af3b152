// SPDX-License-Identifier: Apache-2.0
// The PROXY protocol, versions 1 and 2 (HAProxy's proxy-protocol.txt):
// reading the header a trusted peer puts before the client's bytes, and
// writing one before the bytes sluice sends to a server. Pure functions over
// bytes; no I/O.
//
// Version 1 (text, at most 107 bytes including CRLF):
//   "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF
//   "PROXY" SP "UNKNOWN" [anything] CRLF
// Version 2 (binary):
//   12  signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
//   u8  version (high nibble, 2) | command (low: 0 LOCAL, 1 PROXY)
//   u8  family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) | transport (low: 0, 1 STREAM, 2 DGRAM)
//   u16 length of what follows
//   addresses: INET 4+4+2+2, INET6 16+16+2+2, UNIX 108+108
//   TLVs: u8 type, u16 length, value (0x01 ALPN, 0x02 AUTHORITY, 0x03 CRC32C,
//         0x04 NOOP, 0x05 UNIQUE_ID, 0x20 SSL, 0x30 NETNS)
//
//   ProxyHeader h;
//   ProxyError err;
//   switch (parseProxyHeader(bytes, h, err)) { case NeedMore: ...; case Done: use h.src; ... }
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/address.h"

namespace sluice::proto {

// Longest version 2 header accepted (16-byte head plus addresses and TLVs).
inline constexpr size_t kMaxProxyV2Length = 4096;
inline constexpr size_t kMaxProxyV1Length = 107;

enum class ProxyStatus : uint8_t { NeedMore, Done, Invalid };

// Version 2 TLV types sluice reads or writes.
inline constexpr uint8_t kTlvAlpn = 0x01;
inline constexpr uint8_t kTlvAuthority = 0x02;
inline constexpr uint8_t kTlvCrc32c = 0x03;
inline constexpr uint8_t kTlvUniqueId = 0x05;

// A TLV type as a configuration writes it: 0-255 in decimal or 0x hex
// ("set-proxy-v2-tlv-fmt(0xE1)").
std::optional<uint8_t> parseTlvType(std::string_view text);
// The same, or the name HAProxy gives it (ALPN, AUTHORITY, CRC32C, NOOP,
// UNIQUE_ID, SSL, SSL_VERSION, SSL_CN, SSL_CIPHER, SSL_SIG_ALG, SSL_KEY_ALG,
// NETNS), as fc_pp_tlv() takes it.
std::optional<uint8_t> tlvTypeByName(std::string_view text);

enum class ProxyError : uint8_t {
  None,
  NotProxy,        // neither "PROXY " nor the version 2 signature
  V1TooLong,       // no CRLF within 107 bytes
  V1BadFormat,     // wrong words or spacing
  V1BadAddress,
  V1BadPort,
  V2BadVersion,
  V2BadCommand,
  V2BadFamily,
  V2TooLong,       // announced length above kMaxProxyV2Length
  V2ShortAddress,  // length smaller than the family's addresses
  V2BadTlv,        // a TLV runs past the header
  V2BadCrc,        // CRC32C TLV does not match
};

std::string_view toString(ProxyError e);

struct ProxyHeader {
  int version = 0;
  bool local = false;          // LOCAL, UNKNOWN or UNSPEC: keep the real addresses
  core::Address src;
  core::Address dst;
  size_t length = 0;           // bytes the header occupies
  std::string authority;       // PP2_TYPE_AUTHORITY (the SNI the sender saw)
  std::string alpn;            // PP2_TYPE_ALPN
  std::string uniqueId;        // PP2_TYPE_UNIQUE_ID
  bool crcChecked = false;
  // The TLVs as received (already checked to be well formed), for
  // fc_pp_tlv(): kept as the bytes they came in, so that what a sender's
  // header costs in memory is its own length, read only when a rule asks.
  std::string tlvArea;
};

// The value of the first TLV of `type` in a header's TLV bytes (as parsed
// into ProxyHeader::tlvArea), if there is one.
std::optional<std::string_view> findTlv(std::string_view tlvArea, uint8_t type);

// Parses a header at the start of `data`. NeedMore while it may still be
// one; Invalid (with the reason) as soon as it cannot be.
ProxyStatus parseProxyHeader(std::span<const uint8_t> data, ProxyHeader& out, ProxyError& error);

struct ProxyV2Options {
  bool local = false;          // LOCAL command (health checks)
  std::string authority;       // sent as PP2_TYPE_AUTHORITY when not empty
  std::string alpn;            // sent as PP2_TYPE_ALPN when not empty
  std::string uniqueId;        // sent as PP2_TYPE_UNIQUE_ID when not empty
  bool crc32c = false;         // append a PP2_TYPE_CRC32C checksum
  // Further TLVs, type and value ("set-proxy-v2-tlv-fmt"), after the ones
  // above. Those that would take the header past its 16-bit length are left out.
  std::vector<std::pair<uint8_t, std::string>> tlvs;
};

// Version 1 line for a TCP connection from src to dst ("PROXY TCP4 ...\r\n").
std::string encodeProxyV1(const core::Address& src, const core::Address& dst);
// Version 2 header; families that differ are sent as IPv6 (IPv4-mapped).
std::string encodeProxyV2(const core::Address& src, const core::Address& dst,
                          const ProxyV2Options& options);

// CRC32C (Castagnoli), as RFC 4960 Appendix B computes it.
uint32_t crc32c(std::span<const uint8_t> data);

}  // namespace sluice::proto
