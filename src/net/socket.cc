// SPDX-License-Identifier: Apache-2.0
// Socket helpers; see socket.h.
#include "net/socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::net {

int openListener(const core::Address& address, const ListenOptions& o, std::string& error) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    error = std::string("socket(): ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (o.reusePort) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  }
  if (address.isV6()) {
    int v6only = o.v4v6 ? 0 : (o.v6only ? 1 : 0);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  if (o.transparent) {
    if (setsockopt(fd, address.isV6() ? IPPROTO_IPV6 : IPPROTO_IP,
                   address.isV6() ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one, sizeof(one)) != 0) {
      error = std::string("cannot set IP_TRANSPARENT (needs CAP_NET_ADMIN): ") + std::strerror(errno);
      ::close(fd);
      return -1;
    }
  }
  if (!o.interface.empty()) {
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.interface.c_str(),
                   static_cast<socklen_t>(o.interface.size())) != 0) {
      error = "cannot bind to interface '" + o.interface + "': " + std::strerror(errno);
      ::close(fd);
      return -1;
    }
  }
  if (o.userTimeoutMs > 0) setUserTimeout(fd, static_cast<uint32_t>(o.userTimeoutMs));
  if (o.mss > 0) {
    setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &o.mss, sizeof(o.mss));
  }
  // Accepted sockets inherit it: one setsockopt here instead of one per
  // connection. sluice writes whole TLS records, so Nagle would only delay.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::bind(fd, address.sockaddrPtr(), address.length()) != 0) {
    error = "cannot bind " + address.toString() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (o.deferAccept) {
    int secs = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
  }
  if (o.fastOpen) {
    int qlen = o.backlog;
    setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen));
  }
  if (::listen(fd, o.backlog) != 0) {
    error = "cannot listen on " + address.toString() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

int startConnect(const core::Address& target, const core::Address& source, bool transparent,
                 const std::string& interface) {
  int fd = ::socket(target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    return -1;
  }
  auto fail = [fd] {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  };
  setNoDelay(fd);
  int one = 1;
  if (transparent &&
      setsockopt(fd, target.isV6() ? IPPROTO_IPV6 : IPPROTO_IP,
                 target.isV6() ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one, sizeof(one)) != 0) {
    return fail();
  }
  if (!interface.empty() &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface.c_str(),
                 static_cast<socklen_t>(interface.size())) != 0) {
    return fail();
  }
  if (source.valid() && source.family() == target.family() && !(source.isAny() && source.port() == 0)) {
    if (source.port() == 0) {
      setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    } else {
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (::bind(fd, source.sockaddrPtr(), source.length()) != 0) {
      return fail();
    }
  }
  if (::connect(fd, target.sockaddrPtr(), target.length()) != 0 && errno != EINPROGRESS) {
    return fail();
  }
  return fd;
}

int socketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
    return errno;
  }
  return err;
}

core::Address localAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return {};
  }
  return core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

std::optional<core::Address> originalDestination(int fd) {
  // The kernel's values (linux/netfilter_ipv4.h, linux/netfilter_ipv6/ip6_tables.h),
  // spelled here: those headers do not mix with the C++ socket headers.
  constexpr int kSoOriginalDst = 80;
  constexpr int kIp6tSoOriginalDst = 80;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockopt(fd, SOL_IP, kSoOriginalDst, &ss, &len) != 0) {
    len = sizeof(ss);
    if (getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &ss, &len) != 0) return std::nullopt;
  }
  core::Address a = core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  if (!a.valid()) return std::nullopt;
  return a;
}

core::Address peerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return {};
  }
  return core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void setKeepAlive(int fd, uint32_t count, uint32_t idleSeconds, uint32_t intervalSeconds) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  auto set = [fd](int option, uint32_t v) {
    if (!v) return;
    int value = static_cast<int>(v);
    setsockopt(fd, IPPROTO_TCP, option, &value, sizeof(value));
  };
  set(TCP_KEEPCNT, count);
  set(TCP_KEEPIDLE, idleSeconds);
  set(TCP_KEEPINTVL, intervalSeconds);
}

void setUserTimeout(int fd, uint32_t ms) {
  if (!ms) return;
  unsigned int v = ms;
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v));
}

void setLingerZero(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

int adoptListener(int fd, int backlog, bool tcpOnly, std::string& error) {
  std::string name = "fd@" + std::to_string(fd);
  if (::fcntl(fd, F_GETFD) < 0) {
    error = name + ": no such descriptor was inherited";
    return -1;
  }
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    error = name + " is not a stream socket";
    return -1;
  }
  if (tcpOnly) {
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
      error = name + " is not a TCP socket (sluice listens on TCP only)";
      return -1;
    }
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  if (backlog >= 0 && ::listen(fd, backlog) != 0) {
    error = name + ": listen(): " + std::strerror(errno);
    return -1;
  }
  return fd;
}

}  // namespace sluice::net
