// SPDX-License-Identifier: Apache-2.0
// Builds what a QUIC client sends first, for tests: ClientHellos made by
// OpenSSL (grown past one packet as post-quantum hellos are), CRYPTO
// frames over any part of them, Initial packets sealed as a client seals
// them, and datagrams padded to the 1200 bytes RFC 9000 §14.1 asks for.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "health/tls_probe.h"
#include "proto/quic_initial.h"

namespace sluice::testing {

using proto::kQuicMinInitialDatagram;
using proto::sealClientInitial;

inline std::vector<uint8_t> sealInitial(uint32_t version, const std::vector<uint8_t>& dcid, uint32_t pn,
                                 std::vector<uint8_t> frames) {
  std::vector<uint8_t> p = sealClientInitial(version, dcid, pn, std::move(frames));
  EXPECT_FALSE(p.empty());
  return p;
}

inline std::vector<uint8_t> cryptoFrame(const std::vector<uint8_t>& stream, size_t offset, size_t length) {
  return proto::cryptoFrame(stream, offset, length);
}

inline std::vector<uint8_t> datagram(std::vector<std::vector<uint8_t>> packets) {
  std::vector<uint8_t> d;
  for (const auto& p : packets) d.insert(d.end(), p.begin(), p.end());
  d.resize(std::max<size_t>(d.size(), kQuicMinInitialDatagram), 0);  // padded as clients pad
  return d;
}

// A ClientHello handshake message made by OpenSSL, padded past one packet
// as post-quantum hellos are.
inline std::vector<uint8_t> clientHello(const std::string& sni, size_t atLeast) {
  std::string record = health::makeProbeHello(sni, {"h3"});
  EXPECT_GT(record.size(), 9u);
  std::vector<uint8_t> msg(record.begin() + 5, record.end());  // without the record header
  // Grow it with a padding extension (21), as large hellos are.
  if (msg.size() < atLeast) {
    size_t extra = atLeast - msg.size();
    size_t body = (size_t{msg[1]} << 16 | size_t{msg[2]} << 8 | msg[3]) + 4 + extra;
    // Extensions length is the last u16 before the extensions; find it by
    // walking the fixed fields.
    size_t at = 4 + 2 + 32;
    at += 1 + msg[at];
    at += 2 + (size_t{msg[at]} << 8 | msg[at + 1]);
    at += 1 + msg[at];
    size_t extLen = (size_t{msg[at]} << 8 | msg[at + 1]) + 4 + extra;
    msg[at] = static_cast<uint8_t>(extLen >> 8);
    msg[at + 1] = static_cast<uint8_t>(extLen);
    msg.push_back(0);
    msg.push_back(21);
    msg.push_back(static_cast<uint8_t>(extra >> 8));
    msg.push_back(static_cast<uint8_t>(extra));
    msg.insert(msg.end(), extra, 0);
    msg[1] = static_cast<uint8_t>(body >> 16);
    msg[2] = static_cast<uint8_t>(body >> 8);
    msg[3] = static_cast<uint8_t>(body);
  }
  return msg;
}

}  // namespace sluice::testing
