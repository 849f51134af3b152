// SPDX-License-Identifier: Apache-2.0
// Socket helpers: listening sockets with the options HAProxy's "bind" line
// can ask for, non-blocking connects to servers, and small wrappers that
// turn errno into values. No protocol knowledge here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/address.h"

namespace sluice::net {

struct ListenOptions {
  bool reusePort = true;
  bool v6only = false;        // IPV6_V6ONLY on an IPv6 wildcard
  bool v4v6 = false;          // accept IPv4 on an IPv6 wildcard (clears IPV6_V6ONLY)
  bool deferAccept = false;   // TCP_DEFER_ACCEPT: wake up only when data arrives
  bool transparent = false;   // IP_TRANSPARENT: bind a foreign address
  bool fastOpen = false;
  std::string interface;      // SO_BINDTODEVICE
  int backlog = 1024;
  int mss = 0;
  int userTimeoutMs = 0;      // TCP_USER_TIMEOUT ("tcp-ut"), inherited by accepted sockets
};

// Creates, configures, binds and listens. Returns the fd or -1 with `error`.
int openListener(const core::Address& address, const ListenOptions& options, std::string& error);

// Starts a non-blocking connect. Returns the fd (connect in progress or done)
// or -1 with errno set. `source` (may be invalid) binds the local side;
// `transparent` lets it be a foreign address (IP_TRANSPARENT, for "usesrc");
// `interface` binds the socket to a device.
int startConnect(const core::Address& target, const core::Address& source, bool transparent = false,
                 const std::string& interface = {});

// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the
// kernel gives the connection up ("tcp-ut"); 0 leaves the system's.
void setUserTimeout(int fd, uint32_t ms);

// Pending error of a socket (SO_ERROR), 0 when none.
int socketError(int fd);

// Takes over a listening socket another process made ("fd@N", systemd's
// LISTEN_FDS): it must be a stream socket (TCP, when `tcpOnly`); it is made
// non-blocking and close-on-exec, and listen(backlog) is called unless
// backlog < 0 (a bound socket then starts listening). Returns fd, or -1
// with `error` naming it as fd@N.
int adoptListener(int fd, int backlog, bool tcpOnly, std::string& error);

core::Address localAddress(int fd);
// Where an accepted connection was going before netfilter's DNAT/REDIRECT
// sent it here (SO_ORIGINAL_DST); nothing when it was not redirected.
std::optional<core::Address> originalDestination(int fd);
core::Address peerAddress(int fd);

void setNoDelay(int fd);
// SO_KEEPALIVE, with the probes' count, idle time and interval (seconds)
// when non-zero (TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL).
void setKeepAlive(int fd, uint32_t count = 0, uint32_t idleSeconds = 0, uint32_t intervalSeconds = 0);
// Closes with an RST instead of a FIN (SO_LINGER 0), as "silent-drop" and
// "option nolinger" want.
void setLingerZero(int fd);
void closeFd(int& fd);

}  // namespace sluice::net
