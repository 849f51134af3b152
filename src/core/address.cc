// SPDX-License-Identifier: Apache-2.0
// Address parsing and printing; see address.h.
#include "core/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "core/strings.h"

namespace sluice::core {

Address Address::fromSockaddr(const sockaddr* sa, socklen_t len) {
  Address a;
  if (sa && len <= sizeof(a.storage_) &&
      (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
    std::memcpy(&a.storage_, sa, len);
  }
  return a;
}

Address Address::any(int family, uint16_t port) {
  Address a;
  if (family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    s6->sin6_family = AF_INET6;
    s6->sin6_addr = in6addr_any;
    s6->sin6_port = htons(port);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
    s4->sin_family = AF_INET;
    s4->sin_addr.s_addr = htonl(INADDR_ANY);
    s4->sin_port = htons(port);
  }
  return a;
}

std::optional<Address> Address::parse(std::string_view text) {
  std::string host;
  std::string_view portText;
  bool forceV6 = false;
  bool forceV4 = false;
  if (startsWith(text, "ipv4@")) {
    forceV4 = true;
    text.remove_prefix(5);
  } else if (startsWith(text, "ipv6@")) {
    forceV6 = true;
    text.remove_prefix(5);
  }
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        return std::nullopt;
      }
      portText = rest.substr(1);
    }
    forceV6 = true;
  } else {
    size_t colons = static_cast<size_t>(std::count(text.begin(), text.end(), ':'));
    if (colons == 1) {
      size_t c = text.find(':');
      host = std::string(text.substr(0, c));
      portText = text.substr(c + 1);
    } else if (colons == 0) {
      host = std::string(text);
    } else {
      // IPv6 without brackets: like HAProxy, the part after the last colon
      // is the port when what precedes it is an address ("::1:443", ":::443").
      size_t c = text.rfind(':');
      std::string hostPart(text.substr(0, c));
      in6_addr probe{};
      if (!hostPart.empty() && inet_pton(AF_INET6, hostPart.c_str(), &probe) == 1) {
        host = hostPart;
        portText = text.substr(c + 1);
      } else if (inet_pton(AF_INET6, std::string(text).c_str(), &probe) == 1) {
        host = std::string(text);
      } else {
        return std::nullopt;
      }
      forceV6 = true;
    }
  }
  uint16_t port = 0;
  if (!portText.empty()) {
    auto p = parseInt(portText);
    if (!p || *p < 0 || *p > 65535) {
      return std::nullopt;
    }
    port = static_cast<uint16_t>(*p);
  }
  Address a;
  if (host.empty() || host == "*") {
    return forceV6 ? any(AF_INET6, port) : any(AF_INET, port);
  }
  if (host == "::" ) {
    return any(AF_INET6, port);
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (!forceV6 && inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    return a;
  }
  if (!forceV4 && inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    return a;
  }
  return std::nullopt;
}

uint16_t Address::port() const {
  if (isV4()) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (isV6()) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

void Address::setPort(uint16_t port) {
  if (isV4()) {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  } else if (isV6()) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  }
}

bool Address::isAny() const {
  if (isV4()) {
    return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (isV6()) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    return IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
  }
  return false;
}

std::string_view Address::rawBytes() const {
  if (isV4()) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&storage_);
    return {reinterpret_cast<const char*>(&s4->sin_addr), 4};
  }
  if (isV6()) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      return {reinterpret_cast<const char*>(&s6->sin6_addr) + 12, 4};
    }
    return {reinterpret_cast<const char*>(&s6->sin6_addr), 16};
  }
  return {};
}

Address Address::unmapped() const {
  if (!isV6()) {
    return *this;
  }
  const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
  if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
    return *this;
  }
  Address a;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  s4->sin_family = AF_INET;
  s4->sin_port = s6->sin6_port;
  std::memcpy(&s4->sin_addr, reinterpret_cast<const char*>(&s6->sin6_addr) + 12, 4);
  return a;
}

std::string Address::ipString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (isV4()) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
              sizeof(buf));
  } else if (isV6()) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
  } else {
    return "-";
  }
  return buf;
}

std::string Address::toString() const {
  if (isV6()) {
    return "[" + ipString() + "]:" + std::to_string(port());
  }
  return ipString() + ":" + std::to_string(port());
}

bool Address::operator==(const Address& other) const {
  if (family() != other.family()) {
    return false;
  }
  return rawBytes() == other.rawBytes() && port() == other.port();
}

}  // namespace sluice::core
