// SPDX-License-Identifier: Apache-2.0
// UDP sockets for QUIC passthrough: a listening socket per worker
// (SO_REUSEPORT: the kernel keeps a client address on one socket), a
// connected socket per flow towards its server, and batched receives
// (recvmmsg) that also say which local address a datagram was sent to, so
// that replies leave from it even on a wildcard bind (IP_PKTINFO). No
// protocol knowledge here.
//
//   int fd = openUdpListener(addr, options, error);
//   DatagramBatch batch;
//   int n = batch.receive(fd);            // 0..kBatch datagrams, -1 with errno
//   for (int i = 0; i < n; ++i) use(batch.data(i), batch.peer(i), batch.local(i));
//   sendDatagram(fd, bytes, peer, local);  // from `local` when it is set
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/address.h"
#include "net/socket.h"

namespace sluice::net {

// Binds a UDP socket with the options of a bind line that apply to UDP
// (reuseport, v4v6/v6only, transparent, interface) and asks for each
// datagram's local address. Returns the fd or -1 with `error`.
int openUdpListener(const core::Address& address, const ListenOptions& options, std::string& error);

// A non-blocking UDP socket connected to `target` (the kernel then filters
// what comes back to the server's datagrams and reports its ICMP errors),
// bound to `source` when valid (`transparent`: a foreign address, for
// "usesrc"). -1 with errno.
int openUdpConnected(const core::Address& target, const core::Address& source, bool transparent,
                     const std::string& interface);

// Receives up to kBatch datagrams with one recvmmsg(). The buffers belong to
// the batch and stay valid until the next receive().
class DatagramBatch {
 public:
  static constexpr int kBatch = 32;
  // The largest UDP payload: a datagram is never cut (QUIC forbids it and
  // loopback carries 64 KiB ones).
  static constexpr size_t kMaxDatagram = 65535;

  DatagramBatch();
  ~DatagramBatch();
  DatagramBatch(const DatagramBatch&) = delete;
  DatagramBatch& operator=(const DatagramBatch&) = delete;

  // Datagrams received (0 when none was waiting), or -1 with errno set.
  int receive(int fd, bool wantAddresses = true);
  std::span<const uint8_t> data(int i) const;
  const core::Address& peer(int i) const;
  // The address the datagram was sent to (invalid when unknown).
  const core::Address& local(int i) const;

 private:
  struct Slot;
  std::unique_ptr<Slot[]> slots_;   // one: the arrays recvmmsg() fills
  std::unique_ptr<uint8_t[]> buffer_;
};

// Sends one datagram to `peer`, from `local` when it is valid (a wildcard
// socket otherwise picks its source by route). Returns sendmsg()'s result.
ssize_t sendDatagram(int fd, std::span<const uint8_t> data, const core::Address& peer, const core::Address& local);

}  // namespace sluice::net
