// SPDX-License-Identifier: Apache-2.0
// UDP sockets and batched receives for QUIC passthrough; see udp.h.
#include "net/udp.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace sluice::net {

namespace {

std::atomic<bool> groWanted{true};
std::atomic<bool> gsoWanted{true};
// Cleared for the process's life when the kernel refuses a GSO send with
// EIO (the route's device cannot checksum it).
std::atomic<bool> gsoWorks{true};

// Asks for each buffer's ECN bits and, unless turned off, for coalesced
// receives; a kernel without UDP GRO says no, harmlessly.
void askForMeta(int fd, bool v6) {
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));  // also IPv4 on a dual-stack socket
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
  if (!groWanted.load(std::memory_order_relaxed)) return;
  setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
}

}  // namespace

void setUdpOffloads(bool gro, bool gso) {
  groWanted.store(gro, std::memory_order_relaxed);
  gsoWanted.store(gso, std::memory_order_relaxed);
}

bool udpGsoEnabled() { return gsoWanted.load(std::memory_order_relaxed) && gsoWorks.load(std::memory_order_relaxed); }

int openUdpListener(const core::Address& address, const ListenOptions& o, std::string& error) {
  int fd = ::socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    error = std::string("socket(): ") + std::strerror(errno);
    return -1;
  }
  auto fail = [&](const std::string& why) {
    error = why + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  };
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (o.reusePort) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (address.isV6()) {
    int v6only = o.v4v6 ? 0 : (o.v6only ? 1 : 0);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
  }
  // IPv4 datagrams, also those an IPv6 wildcard takes.
  setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
  if (o.transparent &&
      setsockopt(fd, address.isV6() ? IPPROTO_IPV6 : IPPROTO_IP, address.isV6() ? IPV6_TRANSPARENT : IP_TRANSPARENT,
                 &one, sizeof(one)) != 0) {
    return fail("cannot set IP_TRANSPARENT (needs CAP_NET_ADMIN)");
  }
  if (!o.interface.empty() && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.interface.c_str(),
                                         static_cast<socklen_t>(o.interface.size())) != 0) {
    return fail("cannot bind to interface '" + o.interface + "'");
  }
  // Bursts of Initials from many clients at once: a larger queue than the
  // default keeps them until the worker's next batch.
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  if (::bind(fd, address.sockaddrPtr(), address.length()) != 0) {
    return fail("cannot bind " + address.toString() + " (udp)");
  }
  askForMeta(fd, address.isV6());
  return fd;
}

int openUdpConnected(const core::Address& target, const core::Address& source, bool transparent,
                     const std::string& interface) {
  int fd = ::socket(target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return -1;
  auto fail = [fd] {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  };
  int one = 1;
  if (transparent && setsockopt(fd, target.isV6() ? IPPROTO_IPV6 : IPPROTO_IP,
                                target.isV6() ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one, sizeof(one)) != 0) {
    return fail();
  }
  if (!interface.empty() &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface.c_str(), static_cast<socklen_t>(interface.size())) != 0) {
    return fail();
  }
  if (source.valid() && source.family() == target.family() && !(source.isAny() && source.port() == 0)) {
    if (source.port() != 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, source.sockaddrPtr(), source.length()) != 0) return fail();
  }
  if (::connect(fd, target.sockaddrPtr(), target.length()) != 0) return fail();
  askForMeta(fd, target.isV6());
  return fd;
}

// recvmmsg() takes arrays: headers, their buffers and addresses side by side.
struct DatagramBatch::Slot {
  mmsghdr headers[kBatch];
  iovec iov[kBatch];
  sockaddr_storage peerStorage[kBatch];
  struct alignas(cmsghdr) Control {
    char bytes[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo)) + 3 * CMSG_SPACE(sizeof(int))];
  } control[kBatch];
  core::Address peer[kBatch];
  core::Address local[kBatch];
  DatagramMeta meta[kBatch];
};

DatagramBatch::DatagramBatch()
    : slots_(std::make_unique<Slot[]>(1)), buffer_(std::make_unique<uint8_t[]>(kBatch * kMaxDatagram)) {}

DatagramBatch::~DatagramBatch() = default;

namespace {

// The GRO segment size of a received buffer (0 when it is one datagram)
// and its ECN bits.
DatagramMeta metaFromControl(msghdr& m) {
  DatagramMeta meta;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int size = 0;
      std::memcpy(&size, CMSG_DATA(c), sizeof(size));
      meta.segment = size > 0 && size < 65536 ? static_cast<uint16_t>(size) : 0;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1)) {
      meta.ecn = *CMSG_DATA(c) & 3;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int tclass = 0;
      std::memcpy(&tclass, CMSG_DATA(c), sizeof(tclass));
      meta.ecn = static_cast<uint8_t>(tclass & 3);
    }
  }
  return meta;
}

// The destination address of a received datagram, from IP_PKTINFO or
// IPV6_PKTINFO; invalid when neither came.
core::Address localFromControl(msghdr& m, uint16_t port) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_addr = info.ipi_addr;
      sin.sin_port = htons(port);
      return core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_addr = info.ipi6_addr;
      sin6.sin6_port = htons(port);
      return core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6));
    }
  }
  return {};
}

}  // namespace

int DatagramBatch::receive(int fd, bool wantAddresses) {
  Slot& s = slots_[0];
  for (int i = 0; i < kBatch; ++i) {
    s.iov[i] = {buffer_.get() + static_cast<size_t>(i) * kMaxDatagram, kMaxDatagram};
    s.headers[i] = {};
    msghdr& m = s.headers[i].msg_hdr;
    m.msg_iov = &s.iov[i];
    m.msg_iovlen = 1;
    if (wantAddresses) {
      m.msg_name = &s.peerStorage[i];
      m.msg_namelen = sizeof(s.peerStorage[i]);
    }
    m.msg_control = s.control[i].bytes;  // the GRO segment size, and the local address
    m.msg_controllen = sizeof(s.control[i].bytes);
  }
  int n;
  do {
    n = ::recvmmsg(fd, s.headers, kBatch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  for (int i = 0; i < n; ++i) {
    msghdr& m = s.headers[i].msg_hdr;
    s.meta[i] = metaFromControl(m);
    if (!wantAddresses) continue;
    s.peer[i] = core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&s.peerStorage[i]), m.msg_namelen);
    s.local[i] = localFromControl(m, 0);
  }
  return n;
}

std::span<const uint8_t> DatagramBatch::data(int i) const {
  const Slot& s = slots_[0];
  return {static_cast<const uint8_t*>(s.iov[i].iov_base), s.headers[i].msg_len};
}

const DatagramMeta& DatagramBatch::meta(int i) const { return slots_[0].meta[i]; }
const core::Address& DatagramBatch::peer(int i) const { return slots_[0].peer[i]; }
const core::Address& DatagramBatch::local(int i) const { return slots_[0].local[i]; }

namespace {

// Room for a source address, a GSO segment size and the ECN bits.
constexpr size_t kSendControl =
    CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int));

// Writes the control messages of one send into `control`: the source
// address when `local` is valid, the GSO segment size and the ECN bits
// when non-zero. `peer` is null on a connected socket of `family`.
// Returns their length.
size_t sendControl(char* control, const core::Address* peer, int family, const core::Address& local,
                   uint16_t segment, uint8_t ecn) {
  const bool peerIsV6 = peer ? peer->isV6() : family == AF_INET6;
  msghdr m{};
  m.msg_control = control;
  m.msg_controllen = kSendControl;
  std::memset(control, 0, kSendControl);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  size_t used = 0;
  if (local.valid()) {
    if (peerIsV6) {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo info{};
      if (local.isV6()) {
        info.ipi6_addr = reinterpret_cast<const sockaddr_in6*>(local.sockaddrPtr())->sin6_addr;
      } else {  // an IPv4 client on a dual-stack socket: its v4-mapped form
        info.ipi6_addr.s6_addr[10] = 0xff;
        info.ipi6_addr.s6_addr[11] = 0xff;
        std::memcpy(&info.ipi6_addr.s6_addr[12], &reinterpret_cast<const sockaddr_in*>(local.sockaddrPtr())->sin_addr, 4);
      }
      std::memcpy(CMSG_DATA(c), &info, sizeof(info));
      used += CMSG_SPACE(sizeof(in6_pktinfo));
    } else {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      core::Address l4 = local.unmapped();
      info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(l4.sockaddrPtr())->sin_addr;
      std::memcpy(CMSG_DATA(c), &info, sizeof(info));
      used += CMSG_SPACE(sizeof(in_pktinfo));
    }
    m.msg_controllen = used;
    c = reinterpret_cast<cmsghdr*>(control + used);
  }
  if (segment) {
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    std::memcpy(CMSG_DATA(c), &segment, sizeof(segment));
    used += CMSG_SPACE(sizeof(uint16_t));
    c = reinterpret_cast<cmsghdr*>(control + used);
  }
  if (ecn) {
    // An IPv4 peer (also v4-mapped, which the kernel sends as IPv4) takes
    // IP_TOS; an IPv6 one IPV6_TCLASS. DSCP stays 0, as without the mark.
    const bool v4 = !peerIsV6 || (peer && peer->unmapped().isV4());
    c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = v4 ? IP_TOS : IPV6_TCLASS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    const int value = ecn & 3;
    std::memcpy(CMSG_DATA(c), &value, sizeof(value));
    used += CMSG_SPACE(sizeof(int));
  }
  return used;
}

ssize_t sendOne(int fd, std::span<const uint8_t> data, const core::Address* peer, int family,
                const core::Address& local, uint16_t segment, uint8_t ecn) {
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  msghdr msg{};
  if (peer) {
    msg.msg_name = const_cast<sockaddr*>(peer->sockaddrPtr());
    msg.msg_namelen = peer->length();
  }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[kSendControl];
  msg.msg_controllen = sendControl(control, peer, family, local, segment, ecn);
  if (msg.msg_controllen) msg.msg_control = control;
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

bool queueFull(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

}  // namespace

SendResult sendDatagrams(int fd, std::span<const OutDatagram> list, const core::Address* peer,
                         const core::Address& local, int connectedFamily) {
  SendResult r;
  size_t& lost = r.lost;
  int& error = r.error;
  const int family = peer ? peer->family() : connectedFamily;
  const bool gso = udpGsoEnabled();
  // What one sendmmsg() takes: coalesced buffers whole with GSO, else cut
  // into their datagrams.
  constexpr size_t kMax = 64;
  mmsghdr headers[kMax];
  iovec iov[kMax];
  uint16_t segments[kMax];
  uint8_t ecns[kMax];
  struct alignas(cmsghdr) Control {
    char bytes[kSendControl];
  } control[kMax];
  size_t count = 0;

  auto countDatagrams = [](const OutDatagram& d) {
    return d.segment && d.data.size() > d.segment ? (d.data.size() + d.segment - 1) / d.segment : size_t{1};
  };
  // Sends what is queued; a buffer GSO could not take goes again cut up.
  auto flush = [&]() {
    size_t at = 0;
    while (at < count) {
      int n;
      do {
        n = ::sendmmsg(fd, headers + at, static_cast<unsigned>(count - at), MSG_DONTWAIT | MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n > 0) {
        for (size_t i = at; i < at + static_cast<size_t>(n); ++i) {
          if (segments[i]) r.coalesced += (iov[i].iov_len + segments[i] - 1) / segments[i];
        }
        at += static_cast<size_t>(n);
        continue;
      }
      const int err = errno;
      const uint16_t seg = segments[at];
      std::span<const uint8_t> data(static_cast<const uint8_t*>(iov[at].iov_base), iov[at].iov_len);
      if (seg && (err == EIO || err == EINVAL || err == EMSGSIZE)) {
        // EIO: the device cannot checksum a GSO send, never will; EINVAL:
        // this route's MTU is below the segment size (the datagrams go
        // out alone, fragmented as they would have been without GSO).
        if (err == EIO) gsoWorks.store(false, std::memory_order_relaxed);
        forEachDatagram(data, seg, [&](std::span<const uint8_t> one) {
          if (sendOne(fd, one, peer, family, local, 0, ecns[at]) < 0) {
            ++lost;
            if (!queueFull(errno) && !error) error = errno;
          }
        });
      } else {
        lost += seg && data.size() > seg ? (data.size() + seg - 1) / seg : 1;
        if (!queueFull(err) && !error) error = err;
      }
      ++at;
    }
    count = 0;
  };
  auto queue = [&](std::span<const uint8_t> data, uint16_t segment, uint8_t ecn) {
    if (count == kMax) flush();
    iov[count] = {const_cast<uint8_t*>(data.data()), data.size()};
    segments[count] = segment;
    ecns[count] = ecn;
    msghdr& m = headers[count].msg_hdr;
    m = {};
    if (peer) {
      m.msg_name = const_cast<sockaddr*>(peer->sockaddrPtr());
      m.msg_namelen = peer->length();
    }
    m.msg_iov = &iov[count];
    m.msg_iovlen = 1;
    m.msg_controllen = sendControl(control[count].bytes, peer, family, local, segment, ecn);
    m.msg_control = m.msg_controllen ? control[count].bytes : nullptr;
    ++count;
  };
  for (const OutDatagram& d : list) {
    if (countDatagrams(d) == 1) {
      queue(d.data, 0, d.ecn);
    } else if (gso) {
      queue(d.data, d.segment, d.ecn);
    } else {
      forEachDatagram(d.data, d.segment, [&](std::span<const uint8_t> one) { queue(one, 0, d.ecn); });
    }
  }
  flush();
  return r;
}

}  // namespace sluice::net
