// SPDX-License-Identifier: Apache-2.0
// JA3 and JA4 fingerprints; see fingerprint.h. The digests come from
// OpenSSL's EVP interface (MD5 for JA3, SHA-256 for JA4).
#include "proto/fingerprint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <vector>

namespace sluice::proto {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::vector<uint16_t> u16s(const std::string& wire) {
  std::vector<uint16_t> out;
  for (size_t i = 0; i + 1 < wire.size(); i += 2) {
    auto v = static_cast<uint16_t>(static_cast<uint8_t>(wire[i]) << 8 | static_cast<uint8_t>(wire[i + 1]));
    if (!isGrease(v)) out.push_back(v);
  }
  return out;
}

std::vector<uint16_t> withoutGrease(const std::vector<uint16_t>& in) {
  std::vector<uint16_t> out;
  for (uint16_t v : in) {
    if (!isGrease(v)) out.push_back(v);
  }
  return out;
}

std::string hexList(const std::vector<uint16_t>& values) {
  std::string out;
  for (uint16_t v : values) {
    if (!out.empty()) out += ',';
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xf];
  }
  return out;
}

template <class List>
std::string decimalList(const List& values) {
  std::string out;
  for (auto v : values) {
    if (!out.empty()) out += '-';
    out += std::to_string(v);
  }
  return out;
}

std::string digestHex(const EVP_MD* md, const std::string& text, size_t hexDigits) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(text.data(), text.size(), d, &n, md, nullptr) != 1) return std::string(hexDigits, '0');
  std::string out;
  for (unsigned int i = 0; i < n && out.size() < hexDigits; ++i) {
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 0xf];
  }
  out.resize(hexDigits);
  return out;
}

std::string versionCode(uint16_t v) {
  switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
  }
}

std::string twoDigits(size_t n) {
  n = std::min<size_t>(n, 99);
  return {static_cast<char>('0' + n / 10), static_cast<char>('0' + n % 10)};
}

bool alphanumeric(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// The first and last characters of the first ALPN value; its hex form's
// when either end is not alphanumeric; "00" without one.
std::string alpnCode(const ClientHelloInfo& h) {
  if (h.alpn.empty() || h.alpn[0].empty()) return "00";
  const std::string& a = h.alpn[0];
  auto first = static_cast<unsigned char>(a.front());
  auto last = static_cast<unsigned char>(a.back());
  if (alphanumeric(first) && alphanumeric(last)) return {static_cast<char>(first), static_cast<char>(last)};
  return {kHex[first >> 4], kHex[last & 0xf]};
}

}  // namespace

std::string ja4(const ClientHelloInfo& h, Ja4Form form) {
  if (h.sslv2) return {};
  const bool original = form == Ja4Form::HashedOriginal || form == Ja4Form::RawOriginal;
  const bool raw = form == Ja4Form::Raw || form == Ja4Form::RawOriginal;

  std::vector<uint16_t> ciphers = u16s(h.cipherSuites);
  std::vector<uint16_t> extensions = withoutGrease(h.extensions);
  const bool sni = std::find(h.extensions.begin(), h.extensions.end(), 0x0000) != h.extensions.end();
  std::string a;
  a += h.quic ? 'q' : 't';
  a += versionCode(h.maxSupportedVersion ? h.maxSupportedVersion : h.legacyVersion);
  a += sni ? 'd' : 'i';
  a += twoDigits(ciphers.size());
  a += twoDigits(extensions.size());
  a += alpnCode(h);

  if (!original) {
    std::sort(ciphers.begin(), ciphers.end());
    std::erase_if(extensions, [](uint16_t e) { return e == 0x0000 || e == 0x0010; });
    std::sort(extensions.begin(), extensions.end());
  }
  const std::string b = hexList(ciphers);
  std::string c = hexList(extensions);
  const std::string sigalgs = hexList(u16s(h.signatureAlgorithms));
  if (!sigalgs.empty()) c += "_" + sigalgs;
  if (raw) return a + "_" + b + "_" + c;
  const std::string zeros(12, '0');
  return a + "_" + (ciphers.empty() ? zeros : digestHex(EVP_sha256(), b, 12)) + "_" +
         (extensions.empty() ? zeros : digestHex(EVP_sha256(), c, 12));
}

std::string ja3String(const ClientHelloInfo& h) {
  if (h.sslv2) return {};
  std::string out = std::to_string(h.legacyVersion);
  out += ',' + decimalList(u16s(h.cipherSuites));
  out += ',' + decimalList(withoutGrease(h.extensions));
  out += ',' + decimalList(u16s(h.supportedGroups));
  std::vector<unsigned> formats;
  for (char f : h.ecPointFormats) formats.push_back(static_cast<uint8_t>(f));
  out += ',' + decimalList(formats);
  return out;
}

std::string ja3Hash(const ClientHelloInfo& h) {
  if (h.sslv2) return {};
  return digestHex(EVP_md5(), ja3String(h), 32);
}

}  // namespace sluice::proto
