// SPDX-License-Identifier: Apache-2.0
// RDP cookies; see rdp.h.
#include "proto/rdp.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/strings.h"

namespace sluice::proto {

Completeness rdpCookie(std::span<const uint8_t> in, std::optional<RdpCookie>& out) {
  out.reset();
  // TPKT: version 3, reserved 0, the packet's length; X.224: length
  // indicator, then 0xE0 (Connection Request).
  if (!in.empty() && in[0] != 3) return Completeness::Valid;
  if (in.size() < 11) return Completeness::NeedMore;
  size_t total = (size_t{in[2]} << 8) | in[3];
  if (in[1] != 0 || total < 11 || (in[5] & 0xf0) != 0xe0) return Completeness::Valid;
  if (in.size() < total) return Completeness::NeedMore;
  std::string_view rest(reinterpret_cast<const char*>(in.data()) + 11, total - 11);
  static constexpr std::string_view kCookie = "Cookie:";
  if (rest.size() < kCookie.size() || !core::iequals(rest.substr(0, kCookie.size()), kCookie)) {
    return Completeness::Valid;
  }
  rest.remove_prefix(kCookie.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  size_t eol = rest.find("\r\n");
  if (eol == std::string_view::npos) return Completeness::Valid;  // not terminated: none
  std::string_view pair = rest.substr(0, eol);
  size_t eq = pair.find('=');
  if (eq == std::string_view::npos || eq == 0) return Completeness::Valid;
  out = RdpCookie{std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1))};
  return Completeness::Valid;
}

std::optional<core::Address> decodeRdpRoutingToken(std::string_view value) {
  auto parts = core::split(value, '.');
  if (parts.size() < 2) return std::nullopt;
  auto ip = core::parseInt(parts[0]);
  auto port = core::parseInt(parts[1]);
  if (!ip || !port || *ip < 0 || *ip > 0xffffffffLL || *port < 0 || *port > 0xffff) return std::nullopt;
  auto a = static_cast<uint32_t>(*ip);
  auto p = static_cast<uint16_t>(*port);
  // The token's number holds the address bytes in order, least significant first.
  std::string text = std::to_string(a & 0xff) + "." + std::to_string((a >> 8) & 0xff) + "." +
                     std::to_string((a >> 16) & 0xff) + "." + std::to_string(a >> 24) + ":" +
                     std::to_string(((p & 0xff) << 8) | (p >> 8));
  return core::Address::parse(text);
}

}  // namespace sluice::proto
