// SPDX-License-Identifier: Apache-2.0
// Incremental TLS ClientHello reader; the wire format is drawn in client_hello.h.
#include "proto/client_hello.h"

#include <algorithm>
#include <array>

#include "core/byte_reader.h"

namespace sluice::proto {

using core::ByteReader;

namespace {

constexpr uint8_t kContentTypeHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeaderLength = 5;
constexpr size_t kHandshakeHeaderLength = 4;

constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtSupportedGroups = 10;
constexpr uint16_t kExtEcPointFormats = 11;
constexpr uint16_t kExtSignatureAlgorithms = 13;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtKeyShare = 51;
constexpr uint16_t kExtSessionTicket = 35;
constexpr uint16_t kExtSupportedVersions = 43;
constexpr uint16_t kExtEncryptedClientHello = 0xfe0d;

constexpr uint8_t kNameTypeHostName = 0;

// server_name (RFC 6066 §3): the first entry must be a host_name; OpenSSL and
// BoringSSL refuse anything else, and reading a later entry would let a client
// show sluice one name and the server another.
HelloError parseServerName(ByteReader ext, ClientHelloInfo& info) {
  ByteReader list;
  if (!ext.readU16Prefixed(list) || !ext.empty() || list.empty()) {
    return HelloError::BadServerName;
  }
  uint8_t nameType = 0;
  ByteReader name;
  if (!list.readU8(nameType) || !list.readU16Prefixed(name)) {
    return HelloError::BadServerName;
  }
  if (nameType != kNameTypeHostName || name.empty()) {
    return HelloError::BadServerName;
  }
  std::string_view host = ByteReader::asString(name.rest());
  if (host.find('\0') != std::string_view::npos) {
    return HelloError::BadServerName;
  }
  info.hasSni = true;
  info.sni.assign(host);
  return HelloError::None;
}

HelloError parseAlpn(ByteReader ext, ClientHelloInfo& info) {
  ByteReader list;
  if (!ext.readU16Prefixed(list) || !ext.empty() || list.remaining() < 2) {
    return HelloError::BadAlpn;
  }
  while (!list.empty()) {
    ByteReader name;
    if (!list.readU8Prefixed(name) || name.empty()) {
      return HelloError::BadAlpn;
    }
    info.alpn.emplace_back(ByteReader::asString(name.rest()));
  }
  return HelloError::None;
}

// The lists below are recorded for fetches and fingerprints, never judged:
// a malformed one is the server's to refuse, and leaves what was read.
std::string listBytes(ByteReader list) { return std::string(ByteReader::asString(list.rest())); }

void recordU16List(ByteReader ext, std::string& out) {
  ByteReader list;
  if (ext.readU16Prefixed(list) && list.remaining() % 2 == 0) out = listBytes(list);
}

void recordPointFormats(ByteReader ext, std::string& out) {
  ByteReader list;
  if (ext.readU8Prefixed(list)) out = listBytes(list);
}

// key_share (RFC 8446 4.2.8): the group of each entry, 2 bytes each.
void recordKeyShares(ByteReader ext, std::string& out) {
  ByteReader shares;
  if (!ext.readU16Prefixed(shares)) return;
  while (!shares.empty()) {
    uint16_t group = 0;
    ByteReader key;
    if (!shares.readU16(group) || !shares.readU16Prefixed(key)) return;
    out.push_back(static_cast<char>(group >> 8));
    out.push_back(static_cast<char>(group & 0xff));
  }
}

// encrypted_client_hello (RFC 9849 5): type, and in an outer one the HPKE
// suite (4 bytes) then config_id.
void recordEch(ByteReader ext, ClientHelloInfo& info) {
  info.hasEch = true;
  uint8_t type = 0;
  if (!ext.readU8(type) || type > 1) return;
  info.echType = type;
  uint8_t configId = 0;
  if (type == 0 && ext.skip(4) && ext.readU8(configId)) info.echConfigId = configId;
}

HelloError parseSupportedVersions(ByteReader ext, ClientHelloInfo& info) {
  ByteReader list;
  if (!ext.readU8Prefixed(list) || !ext.empty() || list.remaining() < 2 ||
      list.remaining() % 2 != 0) {
    return HelloError::BadSupportedVersions;
  }
  while (!list.empty()) {
    uint16_t version = 0;
    list.readU16(version);
    if (!isGrease(version) && version > info.maxSupportedVersion) {
      info.maxSupportedVersion = version;
    }
  }
  return HelloError::None;
}

}  // namespace

std::string_view toString(HelloStatus status) {
  switch (status) {
    case HelloStatus::NeedMore: return "need_more";
    case HelloStatus::Done: return "done";
    case HelloStatus::NotTls: return "not_tls";
    case HelloStatus::Malformed: return "malformed";
    case HelloStatus::TooLarge: return "too_large";
  }
  return "unknown";
}

std::string_view toString(HelloError error) {
  switch (error) {
    case HelloError::None: return "none";
    case HelloError::NotHandshakeRecord: return "not_handshake_record";
    case HelloError::BadRecordVersion: return "bad_record_version";
    case HelloError::BadRecordLength: return "bad_record_length";
    case HelloError::UnexpectedRecordType: return "unexpected_record_type";
    case HelloError::NotClientHello: return "not_client_hello";
    case HelloError::HelloTooLong: return "hello_too_long";
    case HelloError::TooManyWireBytes: return "too_many_wire_bytes";
    case HelloError::TruncatedBody: return "truncated_body";
    case HelloError::BadSessionId: return "bad_session_id";
    case HelloError::BadCipherSuites: return "bad_cipher_suites";
    case HelloError::BadCompression: return "bad_compression";
    case HelloError::BadExtensionsBlock: return "bad_extensions_block";
    case HelloError::DuplicateExtension: return "duplicate_extension";
    case HelloError::BadServerName: return "bad_server_name";
    case HelloError::BadAlpn: return "bad_alpn";
    case HelloError::BadSupportedVersions: return "bad_supported_versions";
    case HelloError::BadSslV2Hello: return "bad_sslv2_hello";
  }
  return "unknown";
}

HelloError parseClientHelloBody(std::span<const uint8_t> body, ClientHelloInfo& info) {
  ByteReader r(body);
  uint16_t legacyVersion = 0;
  if (!r.readU16(legacyVersion) || !r.skip(32)) {
    return HelloError::TruncatedBody;
  }
  info.legacyVersion = legacyVersion;

  ByteReader sessionId;
  if (!r.readU8Prefixed(sessionId)) {
    return HelloError::TruncatedBody;
  }
  if (sessionId.remaining() > 32) {
    return HelloError::BadSessionId;
  }
  ByteReader ciphers;
  if (!r.readU16Prefixed(ciphers)) {
    return HelloError::TruncatedBody;
  }
  if (ciphers.remaining() < 2 || ciphers.remaining() % 2 != 0) {
    return HelloError::BadCipherSuites;
  }
  info.cipherSuites = listBytes(ciphers);
  ByteReader compression;
  if (!r.readU8Prefixed(compression)) {
    return HelloError::TruncatedBody;
  }
  if (compression.empty()) {
    return HelloError::BadCompression;
  }
  if (r.empty()) {
    return HelloError::None;  // a hello without extensions (old clients)
  }
  ByteReader extensions;
  if (!r.readU16Prefixed(extensions) || !r.empty()) {
    return HelloError::BadExtensionsBlock;
  }

  // A hello is at most kMaxClientHelloLength bytes, so at most 4096 extensions.
  std::array<uint16_t, kMaxClientHelloLength / 4> seen{};
  size_t seenCount = 0;
  while (!extensions.empty()) {
    uint16_t type = 0;
    ByteReader data;
    if (!extensions.readU16(type) || !extensions.readU16Prefixed(data)) {
      return HelloError::BadExtensionsBlock;
    }
    if (seenCount < seen.size()) {
      seen[seenCount++] = type;
    }
    info.extensions.push_back(type);
    HelloError err = HelloError::None;
    switch (type) {
      case kExtServerName: err = parseServerName(data, info); break;
      case kExtAlpn: err = parseAlpn(data, info); break;
      case kExtSupportedVersions: err = parseSupportedVersions(data, info); break;
      case kExtSupportedGroups:
        info.hasEcExtension = true;
        recordU16List(data, info.supportedGroups);
        break;
      case kExtEcPointFormats: recordPointFormats(data, info.ecPointFormats); break;
      case kExtSignatureAlgorithms: recordU16List(data, info.signatureAlgorithms); break;
      case kExtKeyShare: recordKeyShares(data, info.keyShareGroups); break;
      case kExtSessionTicket: info.sessionTicket = data.empty() ? 1 : 2; break;
      case kExtEncryptedClientHello: recordEch(data, info); break;
      default: break;
    }
    if (err != HelloError::None) {
      return err;
    }
  }
  std::sort(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(seenCount));
  if (std::adjacent_find(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(seenCount)) !=
      seen.begin() + static_cast<std::ptrdiff_t>(seenCount)) {
    return HelloError::DuplicateExtension;
  }
  return HelloError::None;
}

HelloStatus ClientHelloParser::fail(HelloStatus status, HelloError error) {
  status_ = status;
  error_ = error;
  fragments_.clear();
  fragments_.shrink_to_fit();
  return status_;
}

// SSLv2-compatible CLIENT-HELLO: only the two-byte header form exists for it
// (RFC 5246 E.2 requires the top bit of msg_length to be set).
HelloStatus ClientHelloParser::parseSslV2(std::span<const uint8_t> buffered) {
  if (buffered.size() < 2) {
    return HelloStatus::NeedMore;
  }
  size_t length = ((buffered[0] & 0x7fU) << 8) | buffered[1];
  if (length < 9) {
    return fail(HelloStatus::NotTls, HelloError::NotHandshakeRecord);
  }
  if (buffered.size() >= 3 && buffered[2] != kHandshakeClientHello) {
    return fail(HelloStatus::NotTls, HelloError::NotHandshakeRecord);
  }
  // The header allows 32 KiB - 1 of body; the inspection buffer holds
  // kMaxHelloWireBytes in all. Beyond it "need more" could never end.
  if (2 + length > kMaxHelloWireBytes) {
    return fail(HelloStatus::TooLarge, HelloError::TooManyWireBytes);
  }
  if (buffered.size() < 2 + length) {
    return HelloStatus::NeedMore;
  }
  ByteReader r(buffered.subspan(2, length));
  uint8_t type = 0;
  uint16_t version = 0;
  uint16_t cipherLen = 0;
  uint16_t sessionLen = 0;
  uint16_t challengeLen = 0;
  r.readU8(type);
  r.readU16(version);
  r.readU16(cipherLen);
  r.readU16(sessionLen);
  r.readU16(challengeLen);
  if (cipherLen == 0 || cipherLen % 3 != 0 || (sessionLen != 0 && sessionLen != 16) ||
      challengeLen < 16 || challengeLen > 32 ||
      length != size_t{9} + cipherLen + sessionLen + challengeLen) {
    return fail(HelloStatus::Malformed, HelloError::BadSslV2Hello);
  }
  info_.sslv2 = true;
  info_.legacyVersion = version;
  info_.recordVersion = version;
  info_.helloLength = static_cast<uint32_t>(length);
  info_.wireLength = 2 + length;
  info_.recordCount = 1;
  status_ = HelloStatus::Done;
  return status_;
}

bool ClientHelloParser::copyHandshakeBytes(std::span<const uint8_t> buffered, size_t from,
                                           size_t count, uint8_t* out) const {
  size_t skipped = 0;
  for (const Fragment& f : fragments_) {
    if (count == 0) {
      break;
    }
    if (from >= skipped + f.length) {
      skipped += f.length;
      continue;
    }
    size_t start = from > skipped ? from - skipped : 0;
    size_t n = std::min<size_t>(f.length - start, count);
    std::copy_n(buffered.data() + f.offset + start, n, out);
    out += n;
    count -= n;
    from += n;
    skipped += f.length;
  }
  return count == 0;
}

HelloStatus ClientHelloParser::finish(std::span<const uint8_t> buffered) {
  const size_t total = kHandshakeHeaderLength + handshakeLength_;
  HelloError err;
  // Most hellos sit in one record: parse them where they lie.
  if (fragments_.front().length >= total) {
    err = parseClientHelloBody(
        buffered.subspan(fragments_.front().offset + kHandshakeHeaderLength, handshakeLength_),
        info_);
  } else {
    std::vector<uint8_t> body(handshakeLength_);
    copyHandshakeBytes(buffered, kHandshakeHeaderLength, handshakeLength_, body.data());
    err = parseClientHelloBody(body, info_);
  }
  info_.handshakeType = kHandshakeClientHello;
  info_.helloLength = handshakeLength_;
  fragments_.clear();
  fragments_.shrink_to_fit();
  if (err != HelloError::None) {
    return fail(HelloStatus::Malformed, err);
  }
  status_ = HelloStatus::Done;
  return status_;
}

HelloStatus ClientHelloParser::parse(std::span<const uint8_t> buffered) noexcept {
  if (status_ != HelloStatus::NeedMore) {
    return status_;
  }
  if (buffered.empty()) {
    return status_;
  }
  if (pos_ == 0 && !inRecord_) {
    if (buffered[0] & 0x80) {
      return parseSslV2(buffered);
    }
    if (buffered[0] != kContentTypeHandshake) {
      return fail(HelloStatus::NotTls, HelloError::NotHandshakeRecord);
    }
    if (buffered.size() >= 2 && buffered[1] != 3) {
      return fail(HelloStatus::NotTls, HelloError::BadRecordVersion);
    }
  }

  while (pos_ < buffered.size()) {
    if (!inRecord_) {
      if (buffered.size() - pos_ < kRecordHeaderLength) {
        break;
      }
      const uint8_t* h = buffered.data() + pos_;
      if (h[0] != kContentTypeHandshake) {
        return fail(HelloStatus::Malformed, HelloError::UnexpectedRecordType);
      }
      if (h[1] != 3) {
        return fail(info_.recordCount == 0 ? HelloStatus::NotTls : HelloStatus::Malformed,
                    HelloError::BadRecordVersion);
      }
      size_t length = (size_t{h[3]} << 8) | h[4];
      if (length == 0 || length > kMaxRecordLength) {
        return fail(info_.recordCount == 0 ? HelloStatus::NotTls : HelloStatus::Malformed,
                    HelloError::BadRecordLength);
      }
      if (info_.recordCount == 0) {
        info_.recordVersion = static_cast<uint16_t>((h[1] << 8) | h[2]);
      }
      info_.recordCount++;
      pos_ += kRecordHeaderLength;
      recordRemaining_ = length;
      inRecord_ = true;
      fragments_.push_back({static_cast<uint32_t>(pos_), 0});
    }

    size_t n = std::min(recordRemaining_, buffered.size() - pos_);
    fragments_.back().length += static_cast<uint32_t>(n);
    handshakeBytes_ += n;
    pos_ += n;
    recordRemaining_ -= n;
    if (recordRemaining_ == 0) {
      inRecord_ = false;
    }

    if (!lengthKnown_ && handshakeBytes_ >= kHandshakeHeaderLength) {
      uint8_t header[kHandshakeHeaderLength];
      copyHandshakeBytes(buffered, 0, kHandshakeHeaderLength, header);
      if (header[0] != kHandshakeClientHello) {
        return fail(HelloStatus::Malformed, HelloError::NotClientHello);
      }
      handshakeLength_ = (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) | header[3];
      if (handshakeLength_ > kMaxClientHelloLength) {
        return fail(HelloStatus::TooLarge, HelloError::HelloTooLong);
      }
      lengthKnown_ = true;
    }
    if (lengthKnown_ && handshakeBytes_ >= kHandshakeHeaderLength + handshakeLength_) {
      // The hello may end inside a record that carries more bytes after it;
      // wireLength stops at the hello's last byte.
      size_t extra = handshakeBytes_ - (kHandshakeHeaderLength + handshakeLength_);
      info_.wireLength = pos_ - extra;
      return finish(buffered);
    }
    if (pos_ > kMaxHelloWireBytes) {
      return fail(HelloStatus::TooLarge, HelloError::TooManyWireBytes);
    }
  }
  if (pos_ >= kMaxHelloWireBytes) {
    return fail(HelloStatus::TooLarge, HelloError::TooManyWireBytes);
  }
  return HelloStatus::NeedMore;
}

}  // namespace sluice::proto
