// SPDX-License-Identifier: Apache-2.0
// UDP sockets and batched receives for QUIC passthrough; see udp.h.
#include "net/udp.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::net {

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
  return fd;
}

// recvmmsg() takes arrays: headers, their buffers and addresses side by side.
struct DatagramBatch::Slot {
  mmsghdr headers[kBatch];
  iovec iov[kBatch];
  sockaddr_storage peerStorage[kBatch];
  struct alignas(cmsghdr) Control {
    char bytes[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo))];
  } control[kBatch];
  core::Address peer[kBatch];
  core::Address local[kBatch];
};

DatagramBatch::DatagramBatch()
    : slots_(std::make_unique<Slot[]>(1)), buffer_(std::make_unique<uint8_t[]>(kBatch * kMaxDatagram)) {}

DatagramBatch::~DatagramBatch() = default;

namespace {

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
      m.msg_control = s.control[i].bytes;
      m.msg_controllen = sizeof(s.control[i].bytes);
    }
  }
  int n;
  do {
    n = ::recvmmsg(fd, s.headers, kBatch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  for (int i = 0; i < n && wantAddresses; ++i) {
    msghdr& m = s.headers[i].msg_hdr;
    s.peer[i] = core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&s.peerStorage[i]), m.msg_namelen);
    s.local[i] = localFromControl(m, 0);
  }
  return n;
}

std::span<const uint8_t> DatagramBatch::data(int i) const {
  const Slot& s = slots_[0];
  return {static_cast<const uint8_t*>(s.iov[i].iov_base), s.headers[i].msg_len};
}

const core::Address& DatagramBatch::peer(int i) const { return slots_[0].peer[i]; }
const core::Address& DatagramBatch::local(int i) const { return slots_[0].local[i]; }

ssize_t sendDatagram(int fd, std::span<const uint8_t> data, const core::Address& peer, const core::Address& local) {
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(peer.sockaddrPtr());
  msg.msg_namelen = peer.length();
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  if (local.valid()) {
    msg.msg_control = control;
    cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
    if (peer.isV6()) {
      msg.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
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
    } else {
      msg.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      core::Address l4 = local.unmapped();
      info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(l4.sockaddrPtr())->sin_addr;
      std::memcpy(CMSG_DATA(c), &info, sizeof(info));
    }
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace sluice::net
