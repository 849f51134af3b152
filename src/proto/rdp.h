// SPDX-License-Identifier: Apache-2.0
// The cookie of an RDP client's first packet (MS-RDPBCGR 2.2.1.1, the X.224
// Connection Request inside a TPKT): "Cookie: mstshash=<user>" or the load
// balancer's routing token "Cookie: msts=<ip>.<port>.0000". For the
// req.rdp_cookie fetches, "balance rdp-cookie" and "persist rdp-cookie".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/address.h"
#include "proto/fix.h"  // Completeness

namespace sluice::proto {

struct RdpCookie {
  std::string name;
  std::string value;
};

// Valid with `out` set when the request carries a cookie, Valid with `out`
// empty when it has none (or is no RDP request), NeedMore while the
// Connection Request is incomplete.
Completeness rdpCookie(std::span<const uint8_t> in, std::optional<RdpCookie>& out);

// "msts" routing token: "<ip>.<port>.0000", the address as a little-endian
// 32-bit number and the port byte-swapped, both in decimal.
std::optional<core::Address> decodeRdpRoutingToken(std::string_view value);

}  // namespace sluice::proto
