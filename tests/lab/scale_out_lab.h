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

// An identifying server in namespace `ns` at addr:port: answers
// "server=<name> via=<peer address>" and closes.
class NsServer {
 public:
  NsServer(const Netns& ns, const std::string& addr, int port, std::string name) : name_(std::move(name)) {
    {
      InNetns in(ns);
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && ::listen(fd_, 128) == 0;
    timeval tv{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
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
