// SPDX-License-Identifier: Apache-2.0
// UDP sockets for QUIC passthrough: a listening socket per worker
// (SO_REUSEPORT: the kernel keeps a client address on one socket), a
// connected socket per flow towards its server, and batched receives
// (recvmmsg) that also say which local address a datagram was sent to, so
// that replies leave from it even on a wildcard bind (IP_PKTINFO). No
// protocol knowledge here.
//
// Offloads (Linux): with UDP GRO a socket may hand over several datagrams
// of one sender in one buffer, all `segment` bytes long but the last; with
// UDP GSO such a buffer goes out in one send and the kernel cuts it again.
// A proxy can forward a coalesced buffer as it came, so a burst costs one
// system call per direction instead of one per datagram.
//
// ECN (RFC 3168, RFC 9000 §13.4): the two ECN bits of each datagram's IP
// header are read (IP_RECVTOS / IPV6_RECVTCLASS) and set again on the way
// out, so congestion marks and the endpoints' ECN validation cross the proxy.
//
//   int fd = openUdpListener(addr, options, error);
//   DatagramBatch batch;
//   int n = batch.receive(fd);            // 0..kBatch buffers, -1 with errno
//   for (int i = 0; i < n; ++i) use(batch.data(i), batch.meta(i), batch.peer(i), batch.local(i));
//   sendDatagrams(fd, list, &peer, local);  // from `local` when it is set; sendmmsg, GSO
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/address.h"
#include "net/socket.h"

namespace sluice::net {

// Process-wide: whether sockets opened from now on ask for UDP GRO, and
// whether coalesced buffers are sent with UDP GSO (tune.quic.disable-udp-gro,
// tune.quic.disable-udp-gso). GSO also turns itself off for good when the
// kernel refuses it (a device without checksum offload).
void setUdpOffloads(bool gro, bool gso);
bool udpGsoEnabled();

// The datagrams in a buffer received with GRO: `segment` bytes each, the
// last possibly shorter; the whole buffer when `segment` is 0 or covers it.
template <typename F>
void forEachDatagram(std::span<const uint8_t> buffer, size_t segment, F&& f) {
  if (segment == 0 || buffer.size() <= segment) {
    f(buffer);
    return;
  }
  for (size_t at = 0; at < buffer.size(); at += segment) f(buffer.subspan(at, std::min(segment, buffer.size() - at)));
}

// What the kernel said of a received buffer besides its bytes.
struct DatagramMeta {
  uint16_t segment = 0;  // GRO: the size of each datagram in the buffer; 0: one datagram
  uint8_t ecn = 0;       // the ECN codepoint of its IP header (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE)
};

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

// Receives up to kBatch buffers with one recvmmsg(), each one datagram or,
// with GRO, several of one sender. The buffers belong to the batch and stay
// valid until the next receive().
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
  // The size of each datagram coalesced in data(i) by GRO (0: one
  // datagram) and their ECN codepoint (GRO coalesces only alike headers).
  const DatagramMeta& meta(int i) const;
  const core::Address& peer(int i) const;
  // The address the datagram was sent to (invalid when unknown).
  const core::Address& local(int i) const;

 private:
  struct Slot;
  std::unique_ptr<Slot[]> slots_;   // one: the arrays recvmmsg() fills
  std::unique_ptr<uint8_t[]> buffer_;
};

// One buffer to send: a datagram, or `segment`-sized datagrams back to back.
struct OutDatagram {
  std::span<const uint8_t> data;
  uint16_t segment = 0;
  uint8_t ecn = 0;  // the ECN codepoint to send with
};

struct SendResult {
  size_t lost = 0;       // datagrams not sent
  size_t coalesced = 0;  // datagrams sent within GSO buffers
  int error = 0;         // the first error other than a full queue, 0 if none
};

// Sends `list` in order with sendmmsg(), to `peer` from `local` when it is
// valid; on a connected socket `peer` is null and `connectedFamily` is its
// peer's family (it chooses how the ECN bits are set; the caller knows it,
// asking the kernel would cost a call per send). A coalesced buffer goes
// out with GSO when enabled, else datagram by datagram. A full queue drops
// what does not fit, as a link would (QUIC retransmits).
SendResult sendDatagrams(int fd, std::span<const OutDatagram> list, const core::Address* peer,
                         const core::Address& local, int connectedFamily = AF_INET);

}  // namespace sluice::net
