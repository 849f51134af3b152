// SPDX-License-Identifier: Apache-2.0
// Address: an IPv4 or IPv6 socket address with the parsing and printing that
// HAProxy's configuration uses ("1.2.3.4:443", "[::1]:443", ":443", "*:443",
// "ipv6@::1:443", host names resolved once through libc).
//
//   auto a = Address::parse("127.0.0.1:8443");   // std::optional<Address>
//   a->port();         // 8443
//   a->toString();     // "127.0.0.1:8443"
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::core {

class Address {
 public:
  Address() { storage_.sa.sa_family = AF_UNSPEC; }

  static Address fromSockaddr(const sockaddr* sa, socklen_t len);
  static Address any(int family, uint16_t port);

  // Numeric forms only: "IP", "IP:PORT", "[IPv6]:PORT", "IPv6" (with or
  // without port when unambiguous), "*:PORT", ":PORT".
  static std::optional<Address> parse(std::string_view text);

  int family() const { return storage_.sa.sa_family; }
  bool valid() const { return family() == AF_INET || family() == AF_INET6; }
  bool isV4() const { return family() == AF_INET; }
  bool isV6() const { return family() == AF_INET6; }
  uint16_t port() const;
  void setPort(uint16_t port);
  bool isAny() const;

  const sockaddr* sockaddrPtr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* sockaddrPtr() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const {
    return isV6() ? sizeof(sockaddr_in6) : isV4() ? sizeof(sockaddr_in) : sizeof(storage_);
  }

  // The address bytes (4 or 16) in network order; an IPv4-mapped IPv6 address
  // reports its IPv4 form (so "src 10.0.0.0/8" matches on a v4v6 listener).
  std::string_view rawBytes() const;
  Address unmapped() const;

  std::string ipString() const;   // "1.2.3.4" or "::1"
  std::string toString() const;   // "1.2.3.4:80" or "[::1]:80"

  bool operator==(const Address& other) const;

 private:
  // IPv4 or IPv6 only: 28 bytes rather than sockaddr_storage's 128, which
  // matters in every session (two addresses each).
  union Storage {
    sockaddr sa;
    sockaddr_in in4;
    sockaddr_in6 in6;
  } storage_{};
};

}  // namespace sluice::core
