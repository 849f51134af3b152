// SPDX-License-Identifier: Apache-2.0
// Incremental TLS ClientHello reader (RFC 8446 §4.1.2, RFC 5246 §6.2 and
// Appendix E.2, RFC 6066 §3, RFC 7301 §3.1). It reads plain bytes, never
// decrypts anything, and tells the caller whether it needs more bytes, has the
// whole hello, or is looking at something that is not TLS.
//
// The caller owns the buffer: it keeps every byte the client sent (they must
// be replayed to the server anyway) and calls parse() with the whole buffer
// each time it grows. The parser remembers how far it has walked, so the total
// work is linear in the bytes received, whatever their segmentation.
//
//   ClientHelloParser parser;
//   switch (parser.parse(buffer)) {
//     case HelloStatus::NeedMore: wait for more bytes; break;
//     case HelloStatus::Done:     use parser.info().sni ...; break;
//     default:                    not a usable ClientHello; the TLS fetches are empty.
//   }
//
// Wire format read here (sizes in bytes):
//
//   TLSPlaintext (one or more records, RFC 8446 §5.1)
//     u8   content_type            = 22 (handshake)
//     u16  legacy_record_version   = 0x03xx
//     u16  length                  (1 .. 2^14 + 2048)
//     ...  fragment                (the handshake message may span many records)
//
//   Handshake (RFC 8446 §4)
//     u8   msg_type                = 1 (client_hello)
//     u24  length                  (<= kMaxClientHelloLength)
//     ClientHello
//       u16  legacy_version
//       32   random
//       u8   legacy_session_id<0..32>
//       u16  cipher_suites<2..2^16-2>       (even length)
//       u8   legacy_compression_methods<1..2^8-1>
//       u16  extensions<0..2^16-1>          (optional; must fill the rest)
//         u16 extension_type, u16 extension_data<0..2^16-1>
//           0  server_name:  u16 server_name_list< >, { u8 name_type, u16 name< > }
//           16 ALPN:         u16 protocol_name_list< >, { u8 name<1..255> }
//           43 supported_versions: u8 versions<2..254>
//           10 supported_groups (presence only), 35 session_ticket (length only)
//
//   SSLv2-compatible CLIENT-HELLO (RFC 5246 Appendix E.2)
//     u16  msg_length with the top bit set
//     u8   msg_type = 1, u16 version, u16 cipher_spec_length (multiple of 3),
//     u16  session_id_length (0 or 16), u16 challenge_length (16..32), then the
//     three lists; msg_length == 9 + their lengths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::proto {

// Largest ClientHello handshake body accepted (BoringSSL's and Envoy's bound).
// Real hellos with post-quantum key shares are 1.2 to 2.1 KB; padding can take
// them to 16 KB; anything longer is treated as an attack, not a client.
inline constexpr size_t kMaxClientHelloLength = 16384;

// Most wire bytes (record headers included) read while looking for the hello.
// Bounds the memory one inspecting connection can pin, even when a client cuts
// its hello into one-byte records.
inline constexpr size_t kMaxHelloWireBytes = 32768;

// Largest TLS record length accepted (2^14 plus the TLSCompressed allowance).
inline constexpr size_t kMaxRecordLength = 16384 + 2048;

enum class HelloStatus : uint8_t {
  NeedMore,   // a prefix of a plausible ClientHello; feed more bytes
  Done,       // the whole ClientHello was read; info() is filled
  NotTls,     // the first bytes are not a TLS handshake record at all
  Malformed,  // looks like TLS but breaks the format; error() says where
  TooLarge,   // the hello exceeds kMaxClientHelloLength or kMaxHelloWireBytes
};

// Why a hello was refused. Every failure has exactly one reason, used by logs
// and counters (see observe/counters.h).
enum class HelloError : uint8_t {
  None,
  NotHandshakeRecord,     // first byte is not 22 and not an SSLv2 header
  BadRecordVersion,       // record version major is not 3
  BadRecordLength,        // zero or beyond kMaxRecordLength
  UnexpectedRecordType,   // a non-handshake record before the hello ended
  NotClientHello,         // first handshake message is not a ClientHello
  HelloTooLong,           // handshake length above kMaxClientHelloLength
  TooManyWireBytes,       // record overhead pushed us past kMaxHelloWireBytes
  TruncatedBody,          // a field runs past the end of the hello
  BadSessionId,           // session id longer than 32
  BadCipherSuites,        // empty or odd-length cipher list
  BadCompression,         // empty compression list
  BadExtensionsBlock,     // extensions length does not fill the hello exactly
  DuplicateExtension,     // one extension type appears twice (RFC 8446 §4.2)
  BadServerName,          // malformed server_name extension
  BadAlpn,                // malformed ALPN extension
  BadSupportedVersions,   // malformed supported_versions extension
  BadSslV2Hello,          // SSLv2-compatible hello with inconsistent lengths
};

std::string_view toString(HelloStatus status);
std::string_view toString(HelloError error);

struct ClientHelloInfo {
  bool sslv2 = false;              // SSLv2-compatible header
  uint8_t handshakeType = 0;       // 1 for a ClientHello (req.ssl_hello_type)
  uint16_t recordVersion = 0;      // from the first record header
  uint16_t legacyVersion = 0;      // ClientHello.legacy_version (req.ssl_ver)
  uint16_t maxSupportedVersion = 0;  // highest non-GREASE supported_versions entry, 0 if absent
  bool hasSni = false;
  std::string sni;                 // first host_name, as sent (case kept)
  std::vector<std::string> alpn;   // protocol names in the client's order
  bool hasEcExtension = false;     // supported_groups present (req.ssl_ec_ext)
  uint8_t sessionTicket = 0;       // 0 absent, 1 empty, 2 with a ticket (req.ssl_st_ext)
  bool hasEch = false;             // encrypted_client_hello present (outer SNI only)
  // ECH (RFC 9849): the extension's ECHClientHelloType (0 outer, 1 inner,
  // 0xff unreadable) and, in an outer one, the server's config_id. GREASE
  // ECH (sent by browsers that know no ECH config) looks like a real outer.
  uint8_t echType = 0xff;
  int16_t echConfigId = -1;
  bool quic = false;               // read from QUIC Initial packets (JA4's "q")
  // The lists fingerprints and HAProxy 3.2's list fetches read, as sent
  // (GREASE kept), in wire form: 2 bytes per entry except point formats (1).
  std::string cipherSuites;        // req.ssl_cipherlist
  std::vector<uint16_t> extensions;  // extension types in the client's order
  std::string signatureAlgorithms;   // req.ssl_sigalgs
  std::string supportedGroups;       // req.ssl_supported_groups
  std::string keyShareGroups;        // the group of each key_share entry: req.ssl_keyshare_groups
  std::string ecPointFormats;        // ec_point_formats (JA3)
  uint32_t helloLength = 0;        // handshake body length
  uint32_t recordCount = 0;        // records the hello was spread over
  size_t wireLength = 0;           // bytes consumed up to the end of the hello
};

// Parses a complete ClientHello handshake body (the bytes after the 4-byte
// handshake header). Pure: no I/O, no state. Exposed for tests and fuzzing.
HelloError parseClientHelloBody(std::span<const uint8_t> body, ClientHelloInfo& info);

// Is this 16-bit value one of the reserved GREASE code points (RFC 8701)?
constexpr bool isGrease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

class ClientHelloParser {
 public:
  // `buffered` holds every byte received so far; each call must pass a buffer
  // that begins with the bytes of the previous call. Once a final status
  // (anything but NeedMore) is returned, further calls return it again.
  HelloStatus parse(std::span<const uint8_t> buffered) noexcept;

  HelloStatus status() const { return status_; }
  HelloError error() const { return error_; }
  const ClientHelloInfo& info() const { return info_; }
  ClientHelloInfo& mutableInfo() { return info_; }

 private:
  struct Fragment {
    uint32_t offset;
    uint32_t length;
  };

  HelloStatus fail(HelloStatus status, HelloError error);
  HelloStatus parseSslV2(std::span<const uint8_t> buffered);
  bool copyHandshakeBytes(std::span<const uint8_t> buffered, size_t from, size_t count,
                          uint8_t* out) const;
  HelloStatus finish(std::span<const uint8_t> buffered);

  HelloStatus status_ = HelloStatus::NeedMore;
  HelloError error_ = HelloError::None;
  ClientHelloInfo info_;

  size_t pos_ = 0;               // next unread byte of the buffer
  size_t recordRemaining_ = 0;   // payload bytes left in the current record
  bool inRecord_ = false;
  size_t handshakeBytes_ = 0;    // handshake payload seen so far
  bool lengthKnown_ = false;
  uint32_t handshakeLength_ = 0;
  std::vector<Fragment> fragments_;
};

}  // namespace sluice::proto
