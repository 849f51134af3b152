// SPDX-License-Identifier: Apache-2.0
// Small helpers the scale-out lab tests share: the ip command, shell steps,
// and a server in a namespace that names itself and where the connection
// came from (the address tells which balancer instance served it).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "harness.h"
#include "netlab.h"

namespace sluice::testing::lab {

inline std::string ip() {
  std::string out;
  if (runCommand("command -v ip", &out) != 0) return "/usr/sbin/ip";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

inline bool sh(const std::string& cmd) { return runCommand(cmd + " >/dev/null 2>&1") == 0; }

// A TCP socket made inside namespace `ns` (it stays there).
inline int socketIn(const Netns& ns) {
  InNetns in(ns);
  return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

inline sockaddr_in inetAddress(const std::string& addr, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
  return a;
}

// A listening socket in `ns` at addr:port whose accept() gives up every
// 100 ms (so a server thread can stop), or -1.
inline int listenIn(const Netns& ns, const std::string& addr, int port) {
  int fd = socketIn(ns);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = inetAddress(addr, port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 128) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// From `ns` (and from `source`, when given) to addr:port: sends a line and
// returns everything read until the server closes (1 s without a byte ends it).
inline std::string askIn(const Netns& ns, const std::string& addr, int port, const std::string& source = "") {
  int fd = socketIn(ns);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string out;
  sockaddr_in from = inetAddress(source, 0);
  sockaddr_in to = inetAddress(addr, port);
  if ((source.empty() || ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0) &&
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
    (void)::send(fd, "hello\n", 6, MSG_NOSIGNAL);
    char buf[256];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// An identifying server in namespace `ns` at addr:port: answers
// "server=<name> via=<peer address>" and closes.
class NsServer {
 public:
  NsServer(const Netns& ns, const std::string& addr, int port, std::string name) : name_(std::move(name)) {
    fd_ = listenIn(ns, addr, port);
    ok_ = fd_ >= 0;
    thread_ = std::thread([this] {
      while (!stop_) {
        sockaddr_in peer{};
        socklen_t len = sizeof(peer);
        int c = ::accept(fd_, reinterpret_cast<sockaddr*>(&peer), &len);
        if (c < 0) continue;
        char from[INET_ADDRSTRLEN] = {0};
        ::inet_ntop(AF_INET, &peer.sin_addr, from, sizeof(from));
        char buf[256];
        (void)::recv(c, buf, sizeof(buf), 0);
        std::string answer = "server=" + name_ + " via=" + from + "\n";
        (void)::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~NsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  bool ok() const { return ok_; }

 private:
  std::string name_;
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sluice::testing::lab
