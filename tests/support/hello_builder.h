// SPDX-License-Identifier: Apache-2.0
// Builds TLS ClientHello bytes field by field for tests and fuzz seeds, and
// re-frames a handshake message into TLS records of chosen sizes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::testing {

struct HelloSpec {
  uint16_t recordVersion = 0x0301;
  uint16_t legacyVersion = 0x0303;
  std::string sni;                       // empty: no server_name extension
  std::vector<std::string> alpn;         // empty: no ALPN extension
  std::vector<uint16_t> supportedVersions = {0x0304, 0x0303};
  bool grease = false;                   // add GREASE cipher and extensions
  size_t padding = 0;                    // bytes of padding extension (21)
  size_t keyShareBytes = 32;             // key_share payload size (1216 for ML-KEM)
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> extraExtensions;
  bool noExtensions = false;
};

using Bytes = std::vector<uint8_t>;

inline void putU8(Bytes& b, uint8_t v) { b.push_back(v); }
inline void putU16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void putU24(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 16));
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void putBytes(Bytes& b, const Bytes& v) { b.insert(b.end(), v.begin(), v.end()); }
inline void putExtension(Bytes& b, uint16_t type, const Bytes& data) {
  putU16(b, type);
  putU16(b, static_cast<uint16_t>(data.size()));
  putBytes(b, data);
}

// The handshake message: msg_type, u24 length, ClientHello body.
inline Bytes buildHandshake(const HelloSpec& s) {
  Bytes body;
  putU16(body, s.legacyVersion);             // legacy_version
  for (int i = 0; i < 32; ++i) {
    putU8(body, static_cast<uint8_t>(i));    // random
  }
  putU8(body, 32);                           // legacy_session_id length
  for (int i = 0; i < 32; ++i) {
    putU8(body, 0xee);
  }
  Bytes ciphers;
  if (s.grease) {
    putU16(ciphers, 0x8a8a);
  }
  putU16(ciphers, 0x1301);                   // TLS_AES_128_GCM_SHA256
  putU16(ciphers, 0x1302);
  putU16(ciphers, 0xc02f);
  putU16(body, static_cast<uint16_t>(ciphers.size()));
  putBytes(body, ciphers);
  putU8(body, 1);                            // compression methods: null only
  putU8(body, 0);
  if (s.noExtensions) {
    Bytes hs;
    putU8(hs, 1);
    putU24(hs, static_cast<uint32_t>(body.size()));
    putBytes(hs, body);
    return hs;
  }

  Bytes ext;
  if (s.grease) {
    putExtension(ext, 0x2a2a, {});
  }
  if (!s.sni.empty()) {
    Bytes d;
    putU16(d, static_cast<uint16_t>(s.sni.size() + 3));  // server_name_list length
    putU8(d, 0);                                          // host_name
    putU16(d, static_cast<uint16_t>(s.sni.size()));
    d.insert(d.end(), s.sni.begin(), s.sni.end());
    putExtension(ext, 0, d);
  }
  {
    Bytes d;                                              // supported_groups
    putU16(d, 4);
    putU16(d, 0x001d);
    putU16(d, 0x0017);
    putExtension(ext, 10, d);
  }
  if (!s.alpn.empty()) {
    Bytes list;
    for (const auto& p : s.alpn) {
      putU8(list, static_cast<uint8_t>(p.size()));
      list.insert(list.end(), p.begin(), p.end());
    }
    Bytes d;
    putU16(d, static_cast<uint16_t>(list.size()));
    putBytes(d, list);
    putExtension(ext, 16, d);
  }
  if (!s.supportedVersions.empty()) {
    Bytes d;
    std::vector<uint16_t> versions = s.supportedVersions;
    if (s.grease) {
      versions.insert(versions.begin(), 0x5a5a);
    }
    putU8(d, static_cast<uint8_t>(versions.size() * 2));
    for (uint16_t v : versions) {
      putU16(d, v);
    }
    putExtension(ext, 43, d);
  }
  {
    Bytes d;                                              // key_share
    putU16(d, static_cast<uint16_t>(s.keyShareBytes + 4));
    putU16(d, 0x001d);
    putU16(d, static_cast<uint16_t>(s.keyShareBytes));
    for (size_t i = 0; i < s.keyShareBytes; ++i) {
      putU8(d, static_cast<uint8_t>(i * 7));
    }
    putExtension(ext, 51, d);
  }
  for (const auto& [type, data] : s.extraExtensions) {
    putExtension(ext, type, data);
  }
  if (s.padding > 0) {
    putExtension(ext, 21, Bytes(s.padding, 0));
  }
  if (s.grease) {
    putExtension(ext, 0x1a1a, {0});
  }
  putU16(body, static_cast<uint16_t>(ext.size()));
  putBytes(body, ext);

  Bytes hs;
  putU8(hs, 1);                                           // client_hello
  putU24(hs, static_cast<uint32_t>(body.size()));
  putBytes(hs, body);
  return hs;
}

// Cuts a handshake message into records of at most `recordSize` payload bytes.
inline Bytes frameRecords(const Bytes& handshake, size_t recordSize, uint16_t version = 0x0301) {
  Bytes out;
  for (size_t off = 0; off < handshake.size(); off += recordSize) {
    size_t n = std::min(recordSize, handshake.size() - off);
    putU8(out, 22);
    putU16(out, version);
    putU16(out, static_cast<uint16_t>(n));
    out.insert(out.end(), handshake.begin() + static_cast<std::ptrdiff_t>(off),
               handshake.begin() + static_cast<std::ptrdiff_t>(off + n));
  }
  return out;
}

inline Bytes buildHello(const HelloSpec& s, size_t recordSize = 16384) {
  return frameRecords(buildHandshake(s), recordSize, s.recordVersion);
}

}  // namespace sluice::testing
