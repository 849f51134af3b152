// SPDX-License-Identifier: Apache-2.0
// QUIC Initial packets opened to read the ClientHello; see quic_initial.h.
// Key schedule: RFC 9001 §5.2 (v1) and RFC 9369 §3.3 (v2): HKDF-Extract
// and HKDF-Expand-Label (RFC 8446 §7.1) with HMAC-SHA256 from OpenSSL.
#include "proto/quic_initial.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>

namespace sluice::proto {

namespace {

constexpr uint8_t kSaltV1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
constexpr uint8_t kSaltV2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};

// OpenSSL's algorithms fetched once per thread, with contexts reused: the
// one-shot HMAC() and EVP_aes_*() fetch their implementation on every call,
// which cost most of the time spent on a garbage Initial (bench/run Q3).
struct Crypto {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* hmac = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  EVP_CIPHER* gcm = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  EVP_CIPHER* ecb = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  EVP_CIPHER_CTX* gcmCtx = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* ecbCtx = EVP_CIPHER_CTX_new();
  // The digest is named once: naming it on each init looks it up again.
  bool sha256 = hmac && [this] {
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    return EVP_MAC_CTX_set_params(hmac, params) == 1;
  }();
  bool ok() const { return sha256 && gcm && ecb && gcmCtx && ecbCtx; }
  ~Crypto() {
    EVP_CIPHER_CTX_free(ecbCtx);
    EVP_CIPHER_CTX_free(gcmCtx);
    EVP_CIPHER_free(ecb);
    EVP_CIPHER_free(gcm);
    EVP_MAC_CTX_free(hmac);
    EVP_MAC_free(mac);
  }
};

Crypto& crypto() {
  thread_local Crypto c;
  return c;
}

bool hmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data, uint8_t out[32]) {
  Crypto& c = crypto();
  if (!c.ok()) return false;
  size_t len = 0;
  return EVP_MAC_init(c.hmac, key.data(), key.size(), nullptr) == 1 &&
         EVP_MAC_update(c.hmac, data.data(), data.size()) == 1 && EVP_MAC_final(c.hmac, out, &len, 32) == 1 &&
         len == 32;
}

// HKDF-Expand-Label(secret, label, "", length) for length <= 32: one HMAC
// block, T(1) = HMAC(secret, HkdfLabel || 0x01).
bool expandLabel(const uint8_t secret[32], std::string_view label, uint8_t* out, size_t length) {
  constexpr std::string_view kPrefix = "tls13 ";
  uint8_t info[2 + 1 + 32 + 2];
  if (kPrefix.size() + label.size() > 32) return false;
  size_t n = 0;
  info[n++] = 0;
  info[n++] = static_cast<uint8_t>(length);
  info[n++] = static_cast<uint8_t>(kPrefix.size() + label.size());
  n = static_cast<size_t>(std::copy(kPrefix.begin(), kPrefix.end(), info + n) - info);
  n = static_cast<size_t>(std::copy(label.begin(), label.end(), info + n) - info);
  info[n++] = 0;  // empty context
  info[n++] = 1;  // block counter
  uint8_t block[32];
  if (!hmacSha256({secret, 32}, {info, n}, block)) return false;
  std::memcpy(out, block, length);
  return true;
}

// RFC 9000 §16: the two top bits give the length.
bool readVarint(std::span<const uint8_t> in, size_t& at, uint64_t& v) {
  if (at >= in.size()) return false;
  size_t len = size_t{1} << (in[at] >> 6);
  if (in.size() - at < len) return false;
  v = in[at] & 0x3f;
  for (size_t i = 1; i < len; ++i) v = (v << 8) | in[at + i];
  at += len;
  return true;
}

bool openPayload(const QuicInitialKeys& k, std::span<const uint8_t> aad, uint64_t pn,
                 std::span<const uint8_t> sealed, std::vector<uint8_t>& plain) {
  if (sealed.size() < 16) return false;
  uint8_t nonce[12];
  std::memcpy(nonce, k.iv, 12);
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<uint8_t>(pn >> (8 * i));
  const size_t textLen = sealed.size() - 16;
  plain.resize(textLen);
  Crypto& c = crypto();
  if (!c.ok()) return false;
  EVP_CIPHER_CTX* ctx = c.gcmCtx;
  int len = 0;
  // The nonce is 12 bytes, GCM's default IV length.
  bool ok = EVP_DecryptInit_ex2(ctx, c.gcm, k.key, nonce, nullptr) == 1 &&
            EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx, plain.data(), &len, sealed.data(), static_cast<int>(textLen)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
                                const_cast<uint8_t*>(sealed.data() + textLen)) == 1 &&
            EVP_DecryptFinal_ex(ctx, plain.data() + len, &len) == 1;
  return ok;
}

}  // namespace

bool deriveClientInitialKeys(uint32_t version, std::span<const uint8_t> dcid, QuicInitialKeys& out) {
  const uint8_t* salt = version == kQuicV1 ? kSaltV1 : version == kQuicV2 ? kSaltV2 : nullptr;
  if (!salt) return false;
  uint8_t initial[32];
  uint8_t client[32];
  if (!hmacSha256({salt, 20}, dcid, initial)) return false;  // HKDF-Extract
  if (!expandLabel(initial, "client in", client, 32)) return false;
  const bool v2 = version == kQuicV2;
  return expandLabel(client, v2 ? "quicv2 key" : "quic key", out.key, 16) &&
         expandLabel(client, v2 ? "quicv2 iv" : "quic iv", out.iv, 12) &&
         expandLabel(client, v2 ? "quicv2 hp" : "quic hp", out.hp, 16);
}

bool headerProtectionMask(const uint8_t hp[16], const uint8_t sample[16], uint8_t mask[16]) {
  Crypto& c = crypto();
  if (!c.ok()) return false;
  int len = 0;
  return EVP_EncryptInit_ex2(c.ecbCtx, c.ecb, hp, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_set_padding(c.ecbCtx, 0) == 1 && EVP_EncryptUpdate(c.ecbCtx, mask, &len, sample, 16) == 1 &&
         len == 16;
}

std::vector<uint8_t> sealClientInitial(uint32_t version, std::span<const uint8_t> dcid, uint32_t packetNumber,
                                       std::vector<uint8_t> frames) {
  QuicInitialKeys k{};
  if (dcid.size() > 20 || !deriveClientInitialKeys(version, dcid, k)) return {};
  while (frames.size() < 20) frames.push_back(0);  // PADDING: room for the sample
  const uint8_t type = version == kQuicV1 ? 0 : 1;
  std::vector<uint8_t> h = {static_cast<uint8_t>(0xc0 | (type << 4) | 0x03)};  // 4-byte packet number
  for (int i = 3; i >= 0; --i) h.push_back(static_cast<uint8_t>(version >> (8 * i)));
  h.push_back(static_cast<uint8_t>(dcid.size()));
  h.insert(h.end(), dcid.begin(), dcid.end());
  h.push_back(0);  // no source connection ID
  h.push_back(0);  // no token
  const size_t length = 4 + frames.size() + 16;
  if (length > 0x3fff) return {};
  h.push_back(static_cast<uint8_t>(0x40 | (length >> 8)));  // 2-byte varint
  h.push_back(static_cast<uint8_t>(length & 0xff));
  const size_t pnOffset = h.size();
  for (int i = 3; i >= 0; --i) h.push_back(static_cast<uint8_t>(packetNumber >> (8 * i)));
  uint8_t nonce[12];
  std::memcpy(nonce, k.iv, 12);
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<uint8_t>(uint64_t{packetNumber} >> (8 * i));
  std::vector<uint8_t> packet = h;
  packet.resize(h.size() + frames.size() + 16);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return {};
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx, nullptr, nullptr, k.key, nonce) == 1 &&
            EVP_EncryptUpdate(ctx, nullptr, &len, h.data(), static_cast<int>(h.size())) == 1 &&
            EVP_EncryptUpdate(ctx, packet.data() + h.size(), &len, frames.data(), static_cast<int>(frames.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx, packet.data() + h.size() + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, packet.data() + h.size() + frames.size()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  uint8_t mask[16];
  if (!ok || !headerProtectionMask(k.hp, packet.data() + pnOffset + 4, mask)) return {};
  packet[0] ^= mask[0] & 0x0f;
  for (int i = 0; i < 4; ++i) packet[pnOffset + i] ^= mask[1 + i];
  return packet;
}

QuicStatus QuicHelloReader::addDatagram(std::span<const uint8_t> datagram) {
  if (status_ != QuicStatus::NeedMore) return status_;
  ++datagrams_;
  // A client's Initial datagrams are padded to 1200 bytes (RFC 9000 §14.1):
  // a shorter one is no client's first flight, and is dropped.
  if (datagram.size() < kQuicMinInitialDatagram) return refuse(QuicStatus::NotQuic);
  size_t at = 0;
  for (size_t packets = 0; at < datagram.size() && packets < kQuicMaxPacketsPerDatagram; ++packets) {
    size_t used = 0;
    QuicStatus s = readPacket(datagram.subspan(at), used);
    if (s != QuicStatus::NeedMore) return s;
    if (used == 0) break;  // the rest of the datagram is padding or a short header
    at += used;
  }
  return status_;
}

// One long-header packet at the start of `packet`; `used` its length.
QuicStatus QuicHelloReader::readPacket(std::span<const uint8_t> packet, size_t& used) {
  used = 0;
  if (packet.size() < 7 || !(packet[0] & 0x80)) return refuse(QuicStatus::NotQuic);
  const uint32_t version = (uint32_t{packet[1]} << 24) | (uint32_t{packet[2]} << 16) |
                           (uint32_t{packet[3]} << 8) | packet[4];
  if (version != kQuicV1 && version != kQuicV2) return refuse(QuicStatus::NotQuic);
  if (!(packet[0] & 0x40)) return refuse(QuicStatus::NotQuic);  // fixed bit
  const unsigned type = (packet[0] >> 4) & 3;
  const bool initial = version == kQuicV1 ? type == 0 : type == 1;
  const bool retry = version == kQuicV1 ? type == 3 : type == 0;
  if (retry) return refuse(QuicStatus::NotQuic);  // a server's packet
  size_t at = 5;
  const size_t dcidLen = packet[at++];
  if (dcidLen > 20 || packet.size() - at < dcidLen + 1) return refuse(QuicStatus::Malformed);
  std::span<const uint8_t> dcid = packet.subspan(at, dcidLen);
  at += dcidLen;
  const size_t scidLen = packet[at++];
  if (scidLen > 20 || packet.size() - at < scidLen) return refuse(QuicStatus::Malformed);
  at += scidLen;
  uint64_t tokenLen = 0;
  if (initial && (!readVarint(packet, at, tokenLen) || packet.size() - at < tokenLen)) {
    return refuse(QuicStatus::Malformed);
  }
  at += static_cast<size_t>(tokenLen);
  uint64_t length = 0;
  if (!readVarint(packet, at, length) || packet.size() - at < length) return refuse(QuicStatus::Malformed);
  const size_t pnOffset = at;
  used = pnOffset + static_cast<size_t>(length);
  if (!initial) {
    // 0-RTT or Handshake: not for the hello; held and replayed with it.
    if (!keyed_) return fail(QuicStatus::NotQuic);
    return status_;
  }
  if (!keyed_) {
    if (dcidLen < 8) return refuse(QuicStatus::Malformed);  // RFC 9000 §7.2: at least 8 bytes
    if (!deriveClientInitialKeys(version, dcid, keys_)) return fail(QuicStatus::NotQuic);
    dcid_.assign(dcid.begin(), dcid.end());
    version_ = version;
    keyed_ = true;
  } else if (version != version_ || !std::equal(dcid.begin(), dcid.end(), dcid_.begin(), dcid_.end())) {
    return status_;  // another connection's packet: not ours to open
  }
  // Header protection (RFC 9001 §5.4): the sample starts 4 bytes after the
  // packet number's offset.
  if (length < 4 + 16) return refuse(QuicStatus::Malformed);
  uint8_t mask[16];
  if (!headerProtectionMask(keys_.hp, packet.data() + pnOffset + 4, mask)) return refuse(QuicStatus::Malformed);
  std::vector<uint8_t> header(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(pnOffset + 4));
  header[0] ^= mask[0] & 0x0f;
  if (header[0] & 0x0c) return refuse(QuicStatus::Malformed);  // reserved bits must be zero
  const size_t pnLen = (header[0] & 0x03) + 1u;
  uint64_t pn = 0;
  for (size_t i = 0; i < pnLen; ++i) {
    header[pnOffset + i] ^= mask[1 + i];
    pn = (pn << 8) | header[pnOffset + i];
  }
  header.resize(pnOffset + pnLen);
  std::vector<uint8_t> plain;
  ++work_.packetsOpened;
  if (!openPayload(keys_, header, pn,
                   packet.subspan(pnOffset + pnLen, static_cast<size_t>(length) - pnLen), plain)) {
    return refuse(QuicStatus::Malformed);
  }
  ++opened_;
  return addFrames(plain);
}

QuicStatus QuicHelloReader::addFrames(std::span<const uint8_t> p) {
  size_t at = 0;
  size_t frames = 0;
  while (at < p.size()) {
    if (p[at] == 0x00) {  // PADDING: a run of zero bytes, skipped at once
      at = static_cast<size_t>(std::find_if(p.begin() + static_cast<std::ptrdiff_t>(at), p.end(),
                                            [](uint8_t b) { return b != 0; }) - p.begin());
      ++work_.frames;
      continue;
    }
    if (++frames > kQuicMaxFramesPerPacket) return fail(QuicStatus::Malformed);
    ++work_.frames;
    uint64_t type = 0;
    if (!readVarint(p, at, type)) return fail(QuicStatus::Malformed);
    uint64_t a = 0, b = 0, c = 0;
    switch (type) {
      case 0x00:  // PADDING in a longer encoding than needed
      case 0x01:  // PING
        break;
      case 0x02:
      case 0x03: {  // ACK: largest, delay, range count, first range, ranges, [ECN counts]
        uint64_t count = 0;
        if (!readVarint(p, at, a) || !readVarint(p, at, b) || !readVarint(p, at, count) || !readVarint(p, at, c)) {
          return fail(QuicStatus::Malformed);
        }
        if (count > p.size()) return fail(QuicStatus::Malformed);
        for (uint64_t i = 0; i < count * 2 + (type == 0x03 ? 3 : 0); ++i) {
          if (!readVarint(p, at, a)) return fail(QuicStatus::Malformed);
        }
        break;
      }
      case 0x06: {  // CRYPTO
        if (!readVarint(p, at, a) || !readVarint(p, at, b) || p.size() - at < b) return fail(QuicStatus::Malformed);
        QuicStatus s = addCrypto(a, p.subspan(at, static_cast<size_t>(b)));
        at += static_cast<size_t>(b);
        if (s != QuicStatus::NeedMore) return s;
        break;
      }
      default:  // CONNECTION_CLOSE or a frame an Initial may not carry
        return fail(QuicStatus::Malformed);
    }
  }
  return tryHello();
}

QuicStatus QuicHelloReader::addCrypto(uint64_t offset, std::span<const uint8_t> data) {
  if (offset > kQuicMaxCryptoBytes || data.size() > kQuicMaxCryptoBytes - offset) return fail(QuicStatus::TooLarge);
  const uint64_t end = offset + data.size();
  if (data.empty()) return status_;
  if (crypto_.size() < end) crypto_.resize(static_cast<size_t>(end));
  std::copy(data.begin(), data.end(), crypto_.begin() + static_cast<std::ptrdiff_t>(offset));
  // Merge [offset, end) into the sorted, disjoint ranges: a binary search
  // for the first range that touches it, then only the ranges it swallows.
  // The ranges' count is capped, so a frame costs O(log ranges) comparisons
  // and a bounded move, however the client scatters its offsets.
  auto first = std::lower_bound(ranges_.begin(), ranges_.end(), offset, [this](const auto& r, uint64_t at) {
    ++work_.comparisons;
    return r.second < at;
  });
  auto last = first;
  uint64_t mergedStart = offset, mergedEnd = end;
  while (last != ranges_.end() && last->first <= end) {
    ++work_.merged;
    mergedStart = std::min(mergedStart, last->first);
    mergedEnd = std::max(mergedEnd, last->second);
    ++last;
  }
  if (first == last) {
    if (ranges_.size() >= kQuicMaxCryptoRanges) return fail(QuicStatus::Malformed);  // no client leaves so many holes
    work_.moved += static_cast<size_t>(ranges_.end() - first);
    ranges_.insert(first, {offset, end});
  } else {
    *first = {mergedStart, mergedEnd};
    if (last - first > 1) {
      work_.moved += static_cast<size_t>(ranges_.end() - last);
      ranges_.erase(first + 1, last);
    }
  }
  return status_;
}

// The handshake message at the start of the CRYPTO stream, once whole.
QuicStatus QuicHelloReader::tryHello() {
  if (ranges_.empty() || ranges_[0].first != 0) return status_;
  const size_t have = static_cast<size_t>(ranges_[0].second);
  if (have >= 1 && crypto_[0] != 1) return fail(QuicStatus::Malformed);  // not a ClientHello
  if (have < 4) return status_;
  const size_t length = (size_t{crypto_[1]} << 16) | (size_t{crypto_[2]} << 8) | crypto_[3];
  if (length > kMaxClientHelloLength) return fail(QuicStatus::TooLarge);
  if (have < 4 + length) return status_;
  ClientHelloInfo info;
  if (parseClientHelloBody({crypto_.data() + 4, length}, info) != HelloError::None) {
    return fail(QuicStatus::Malformed);
  }
  info.handshakeType = 1;
  info.quic = true;
  info.helloLength = static_cast<uint32_t>(length);
  info_ = std::move(info);
  return status_ = QuicStatus::Done;
}

std::vector<uint8_t> cryptoFrame(std::span<const uint8_t> stream, size_t offset, size_t length) {
  std::vector<uint8_t> f = {0x06};
  for (size_t v : {offset, length}) {
    f.push_back(static_cast<uint8_t>(0x80 | (v >> 24)));
    f.push_back(static_cast<uint8_t>(v >> 16));
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  }
  f.insert(f.end(), stream.begin() + static_cast<std::ptrdiff_t>(offset),
           stream.begin() + static_cast<std::ptrdiff_t>(offset + length));
  return f;
}

std::vector<uint8_t> quicVersionProbe(std::span<const uint8_t> dcid, std::span<const uint8_t> scid) {
  std::vector<uint8_t> d = {0xc0, static_cast<uint8_t>(kQuicProbeVersion >> 24),
                            static_cast<uint8_t>(kQuicProbeVersion >> 16), static_cast<uint8_t>(kQuicProbeVersion >> 8),
                            static_cast<uint8_t>(kQuicProbeVersion), static_cast<uint8_t>(dcid.size())};
  d.insert(d.end(), dcid.begin(), dcid.end());
  d.push_back(static_cast<uint8_t>(scid.size()));
  d.insert(d.end(), scid.begin(), scid.end());
  d.resize(kQuicMinInitialDatagram, 0);
  return d;
}

bool isVersionNegotiationFor(std::span<const uint8_t> d, std::span<const uint8_t> dcid,
                             std::span<const uint8_t> scid) {
  // first byte (long header), version 0, DCID = our SCID, SCID = our DCID,
  // then at least one 4-byte version.
  if (d.size() < 7 || !(d[0] & 0x80) || d[1] || d[2] || d[3] || d[4]) return false;
  size_t at = 5;
  if (d[at] != scid.size() || d.size() < at + 1 + scid.size() + 1) return false;
  if (!std::equal(scid.begin(), scid.end(), d.begin() + static_cast<std::ptrdiff_t>(at + 1))) return false;
  at += 1 + scid.size();
  if (d[at] != dcid.size() || d.size() < at + 1 + dcid.size() + 4) return false;
  return std::equal(dcid.begin(), dcid.end(), d.begin() + static_cast<std::ptrdiff_t>(at + 1));
}

}  // namespace sluice::proto
