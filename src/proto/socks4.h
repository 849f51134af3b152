// SPDX-License-Identifier: Apache-2.0
// SOCKS4 CONNECT (SOCKS4.protocol.txt), as a server's "socks4" proxy hears
// it: the request both the session and the health checker send, and the
// verdict of the 8-byte reply.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "core/address.h"

namespace sluice::proto {

constexpr size_t kSocks4ReplySize = 8;
constexpr uint8_t kSocks4Granted = 0x5a;

// Version 4, command 1 (CONNECT), port, IPv4 address, then the user id
// "HAProxy" and its NUL: what HAProxy sends, so proxies set up for HAProxy
// (which may match on the user id) accept sluice alike. `target` is IPv4.
inline std::array<uint8_t, 16> socks4Connect(const core::Address& target) {
  std::array<uint8_t, 16> req{4, 1, static_cast<uint8_t>(target.port() >> 8),
                              static_cast<uint8_t>(target.port() & 0xff)};
  const auto* sin = reinterpret_cast<const sockaddr_in*>(target.sockaddrPtr());
  std::memcpy(req.data() + 4, &sin->sin_addr, 4);
  std::memcpy(req.data() + 8, "HAProxy", 8);
  return req;
}

}  // namespace sluice::proto
