// SPDX-License-Identifier: Apache-2.0
// PROXY protocol v1/v2 reader and writer; the formats are drawn in
// proxy_protocol.h.
#include "proto/proxy_protocol.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>

#include "core/byte_reader.h"

namespace sluice::proto {

namespace {

constexpr uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr char kV1Prefix[] = "PROXY ";

// Decimal without leading zeros, at most `max`.
bool parseDecimal(std::string_view s, uint32_t max, uint32_t& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

bool parseV1Address(std::string_view s, bool v6, uint16_t port, core::Address& out) {
  std::string text(s);
  if (!v6) {
    // Four decimal numbers without leading zeros (no octal confusion).
    size_t start = 0;
    for (int i = 0; i < 4; ++i) {
      size_t dot = text.find('.', start);
      if ((i < 3) != (dot != std::string::npos)) return false;
      uint32_t n;
      if (!parseDecimal(std::string_view(text).substr(start, (i < 3 ? dot : text.size()) - start), 255, n)) {
        return false;
      }
      start = dot + 1;
    }
  }
  auto a = core::Address::parse(v6 ? "[" + text + "]:" + std::to_string(port)
                                   : text + ":" + std::to_string(port));
  if (!a || a->isV6() != v6) return false;
  out = *a;
  return true;
}

ProxyStatus parseV1(std::span<const uint8_t> data, ProxyHeader& out, ProxyError& error) {
  std::string_view text(reinterpret_cast<const char*>(data.data()),
                        std::min(data.size(), kMaxProxyV1Length));
  size_t crlf = text.find("\r\n");
  if (crlf == std::string_view::npos) {
    if (data.size() >= kMaxProxyV1Length) {
      error = ProxyError::V1TooLong;
      return ProxyStatus::Invalid;
    }
    // A lone CR or LF is never an end of line here.
    if (text.find('\n') != std::string_view::npos) {
      error = ProxyError::V1BadFormat;
      return ProxyStatus::Invalid;
    }
    return ProxyStatus::NeedMore;
  }
  std::string_view line = text.substr(6, crlf - 6);  // after "PROXY "
  out.version = 1;
  out.length = crlf + 2;
  if (line.substr(0, 7) == "UNKNOWN") {
    out.local = true;
    return ProxyStatus::Done;
  }
  std::string_view fields[5];
  size_t n = 0;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ' ') {
      if (n >= 5 || i == start) {
        error = ProxyError::V1BadFormat;
        return ProxyStatus::Invalid;
      }
      fields[n++] = line.substr(start, i - start);
      start = i + 1;
    }
  }
  if (n != 5 || (fields[0] != "TCP4" && fields[0] != "TCP6")) {
    error = ProxyError::V1BadFormat;
    return ProxyStatus::Invalid;
  }
  uint32_t sport = 0;
  uint32_t dport = 0;
  if (!parseDecimal(fields[3], 65535, sport) || !parseDecimal(fields[4], 65535, dport)) {
    error = ProxyError::V1BadPort;
    return ProxyStatus::Invalid;
  }
  bool v6 = fields[0] == "TCP6";
  if (!parseV1Address(fields[1], v6, static_cast<uint16_t>(sport), out.src) ||
      !parseV1Address(fields[2], v6, static_cast<uint16_t>(dport), out.dst)) {
    error = ProxyError::V1BadAddress;
    return ProxyStatus::Invalid;
  }
  return ProxyStatus::Done;
}

core::Address addressFromBytes(const uint8_t* addr, size_t len, uint16_t port) {
  sockaddr_storage ss{};
  if (len == 4) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    std::memcpy(&s4->sin_addr, addr, 4);
    s4->sin_port = htons(port);
    return core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in));
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  s6->sin6_family = AF_INET6;
  std::memcpy(&s6->sin6_addr, addr, 16);
  s6->sin6_port = htons(port);
  return core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in6));
}

ProxyStatus parseV2(std::span<const uint8_t> data, ProxyHeader& out, ProxyError& error) {
  if (data.size() < 16) return ProxyStatus::NeedMore;
  uint8_t verCmd = data[12];
  uint8_t fam = data[13];
  size_t len = (size_t{data[14]} << 8) | data[15];
  if ((verCmd >> 4) != 2) {
    error = ProxyError::V2BadVersion;
    return ProxyStatus::Invalid;
  }
  uint8_t cmd = verCmd & 0x0f;
  if (cmd > 1) {
    error = ProxyError::V2BadCommand;
    return ProxyStatus::Invalid;
  }
  uint8_t family = fam >> 4;
  uint8_t transport = fam & 0x0f;
  if (family > 3 || transport > 2) {
    error = ProxyError::V2BadFamily;
    return ProxyStatus::Invalid;
  }
  if (16 + len > kMaxProxyV2Length) {
    error = ProxyError::V2TooLong;
    return ProxyStatus::Invalid;
  }
  if (data.size() < 16 + len) return ProxyStatus::NeedMore;
  size_t addrLen = family == 1 ? 12 : family == 2 ? 36 : family == 3 ? 216 : 0;
  if (len < addrLen) {
    error = ProxyError::V2ShortAddress;
    return ProxyStatus::Invalid;
  }
  out.version = 2;
  out.length = 16 + len;
  // Only TCP over IPv4/IPv6 with the PROXY command carries addresses we use;
  // LOCAL, UNSPEC, UDP and UNIX keep the real connection's addresses.
  out.local = cmd == 0 || transport != 1 || (family != 1 && family != 2);
  if (!out.local) {
    const uint8_t* a = data.data() + 16;
    size_t ipLen = family == 1 ? 4 : 16;
    auto port = [&](size_t off) { return static_cast<uint16_t>((a[off] << 8) | a[off + 1]); };
    out.src = addressFromBytes(a, ipLen, port(2 * ipLen));
    out.dst = addressFromBytes(a + ipLen, ipLen, port(2 * ipLen + 2));
  }
  const std::span<const uint8_t> tlvArea = data.subspan(16 + addrLen, len - addrLen);
  core::ByteReader tlvs(tlvArea);
  while (!tlvs.empty()) {
    uint8_t type = 0;
    uint16_t tlen = 0;
    std::span<const uint8_t> value;
    if (!tlvs.readU8(type) || !tlvs.readU16(tlen) || !tlvs.readBytes(tlen, value)) {
      error = ProxyError::V2BadTlv;
      return ProxyStatus::Invalid;
    }
    std::string_view v = core::ByteReader::asString(value);
    if (type == kTlvAuthority) {
      out.authority.assign(v);
    } else if (type == kTlvAlpn) {
      out.alpn.assign(v);
    } else if (type == kTlvUniqueId) {
      out.uniqueId.assign(v);
    } else if (type == kTlvCrc32c) {
      if (tlen != 4) {
        error = ProxyError::V2BadTlv;
        return ProxyStatus::Invalid;
      }
      uint32_t sent = (uint32_t{value[0]} << 24) | (uint32_t{value[1]} << 16) |
                      (uint32_t{value[2]} << 8) | value[3];
      std::string copy(reinterpret_cast<const char*>(data.data()), out.length);
      size_t at = static_cast<size_t>(value.data() - data.data());
      std::memset(copy.data() + at, 0, 4);
      if (crc32c(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(copy.data()), copy.size())) !=
          sent) {
        error = ProxyError::V2BadCrc;
        return ProxyStatus::Invalid;
      }
      out.crcChecked = true;
    }
  }
  out.tlvArea.assign(core::ByteReader::asString(tlvArea));
  return ProxyStatus::Done;
}

void appendTlv(std::string& out, uint8_t type, std::string_view value) {
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(value.size() >> 8));
  out.push_back(static_cast<char>(value.size() & 0xff));
  out.append(value);
}

}  // namespace

std::optional<uint8_t> parseTlvType(std::string_view text) {
  int base = 10;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    text.remove_prefix(2);
    base = 16;
  }
  unsigned type = 256;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), type, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || type > 255) return std::nullopt;
  return static_cast<uint8_t>(type);
}

std::optional<uint8_t> tlvTypeByName(std::string_view text) {
  static constexpr std::pair<std::string_view, uint8_t> kNames[] = {
      {"ALPN", kTlvAlpn},   {"AUTHORITY", kTlvAuthority}, {"CRC32C", kTlvCrc32c},      {"NOOP", 0x04},
      {"UNIQUE_ID", kTlvUniqueId}, {"SSL", 0x20},         {"SSL_VERSION", 0x21},       {"SSL_CN", 0x22},
      {"SSL_CIPHER", 0x23}, {"SSL_SIG_ALG", 0x24},        {"SSL_KEY_ALG", 0x25},       {"NETNS", 0x30}};
  for (const auto& [name, type] : kNames) {
    if (name == text) return type;
  }
  return parseTlvType(text);
}

std::optional<std::string_view> findTlv(std::string_view tlvArea, uint8_t type) {
  core::ByteReader r(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(tlvArea.data()), tlvArea.size()));
  while (!r.empty()) {
    uint8_t t = 0;
    uint16_t length = 0;
    std::span<const uint8_t> value;
    if (!r.readU8(t) || !r.readU16(length) || !r.readBytes(length, value)) return std::nullopt;
    if (t == type) return core::ByteReader::asString(value);
  }
  return std::nullopt;
}

std::string_view toString(ProxyError e) {
  switch (e) {
    case ProxyError::None: return "none";
    case ProxyError::NotProxy: return "not a PROXY protocol header";
    case ProxyError::V1TooLong: return "v1 line longer than 107 bytes";
    case ProxyError::V1BadFormat: return "malformed v1 line";
    case ProxyError::V1BadAddress: return "bad address in v1 line";
    case ProxyError::V1BadPort: return "bad port in v1 line";
    case ProxyError::V2BadVersion: return "bad v2 version";
    case ProxyError::V2BadCommand: return "bad v2 command";
    case ProxyError::V2BadFamily: return "bad v2 address family";
    case ProxyError::V2TooLong: return "v2 header too long";
    case ProxyError::V2ShortAddress: return "v2 header shorter than its addresses";
    case ProxyError::V2BadTlv: return "malformed v2 TLV";
    case ProxyError::V2BadCrc: return "v2 CRC32C mismatch";
  }
  return "?";
}

ProxyStatus parseProxyHeader(std::span<const uint8_t> data, ProxyHeader& out, ProxyError& error) {
  out = ProxyHeader{};
  error = ProxyError::None;
  // Decide between v1 and v2 on the bytes we have; stop as soon as neither fits.
  bool maybeV2 = true;
  bool maybeV1 = true;
  for (size_t i = 0; i < data.size() && i < 12; ++i) {
    if (data[i] != kV2Signature[i]) maybeV2 = false;
  }
  for (size_t i = 0; i < data.size() && i < 6; ++i) {
    if (data[i] != static_cast<uint8_t>(kV1Prefix[i])) maybeV1 = false;
  }
  if (!maybeV1 && !maybeV2) {
    error = ProxyError::NotProxy;
    return ProxyStatus::Invalid;
  }
  if (data.size() < 12 && maybeV2) return ProxyStatus::NeedMore;
  if (maybeV2 && data.size() >= 12) return parseV2(data, out, error);
  if (data.size() < 6) return ProxyStatus::NeedMore;
  return parseV1(data, out, error);
}

std::string encodeProxyV1(const core::Address& src, const core::Address& dst) {
  core::Address s = src.unmapped();
  core::Address d = dst.unmapped();
  if (!s.valid() || !d.valid()) return "PROXY UNKNOWN\r\n";
  if (s.family() != d.family()) {
    // Mixed families: HAProxy announces UNKNOWN rather than lie.
    return "PROXY UNKNOWN\r\n";
  }
  return std::string("PROXY ") + (s.isV6() ? "TCP6 " : "TCP4 ") + s.ipString() + " " +
         d.ipString() + " " + std::to_string(s.port()) + " " + std::to_string(d.port()) + "\r\n";
}

std::string encodeProxyV2(const core::Address& src, const core::Address& dst,
                          const ProxyV2Options& o) {
  std::string out(reinterpret_cast<const char*>(kV2Signature), 12);
  core::Address s = src.unmapped();
  core::Address d = dst.unmapped();
  bool local = o.local || !s.valid() || !d.valid();
  out.push_back(static_cast<char>(local ? 0x20 : 0x21));
  std::string addrs;
  if (local) {
    out.push_back(0x00);
  } else if (s.isV4() && d.isV4()) {
    out.push_back(0x11);
    addrs.append(s.rawBytes());
    addrs.append(d.rawBytes());
  } else {
    out.push_back(0x21);
    auto v6bytes = [](const core::Address& a) {
      std::string_view raw = a.rawBytes();
      if (raw.size() == 16) return std::string(raw);
      return std::string(10, '\0') + std::string("\xff\xff", 2) + std::string(raw);
    };
    addrs.append(v6bytes(s));
    addrs.append(v6bytes(d));
  }
  if (!local) {
    addrs.push_back(static_cast<char>(s.port() >> 8));
    addrs.push_back(static_cast<char>(s.port() & 0xff));
    addrs.push_back(static_cast<char>(d.port() >> 8));
    addrs.push_back(static_cast<char>(d.port() & 0xff));
  }
  std::string tlvs;
  if (!o.alpn.empty()) appendTlv(tlvs, kTlvAlpn, o.alpn);
  if (!o.authority.empty()) appendTlv(tlvs, kTlvAuthority, o.authority);
  if (!o.uniqueId.empty()) appendTlv(tlvs, kTlvUniqueId, o.uniqueId);
  constexpr size_t kMaxLength = 0xffff - 7;  // room kept for the CRC32C TLV
  for (const auto& [type, value] : o.tlvs) {
    if (addrs.size() + tlvs.size() + 3 + value.size() > kMaxLength) continue;
    appendTlv(tlvs, type, value);
  }
  size_t crcAt = 0;
  if (o.crc32c) {
    crcAt = 16 + addrs.size() + tlvs.size() + 3;
    appendTlv(tlvs, kTlvCrc32c, std::string(4, '\0'));
  }
  size_t len = addrs.size() + tlvs.size();
  out.push_back(static_cast<char>(len >> 8));
  out.push_back(static_cast<char>(len & 0xff));
  out += addrs;
  out += tlvs;
  if (o.crc32c) {
    uint32_t c = crc32c(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
    out[crcAt] = static_cast<char>(c >> 24);
    out[crcAt + 1] = static_cast<char>(c >> 16);
    out[crcAt + 2] = static_cast<char>(c >> 8);
    out[crcAt + 3] = static_cast<char>(c);
  }
  return out;
}

uint32_t crc32c(std::span<const uint8_t> data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

}  // namespace sluice::proto
