// SPDX-License-Identifier: Apache-2.0
// Listening sockets kept across reloads; see listeners.h.
#include "app/listeners.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "app/cpu_map.h"

namespace sluice::app {

namespace {

net::ListenOptions optionsFor(const runtime::Frontend& fe, const config::BindConfig& b, bool reusePort) {
  net::ListenOptions lo;
  lo.reusePort = reusePort;
  lo.v4v6 = b.v4v6;
  lo.v6only = b.v6only;
  // TLS clients speak first: a frontend that waits for the ClientHello
  // is woken only when it has arrived (TCP_DEFER_ACCEPT), which saves a
  // wake-up and an empty read per connection.
  lo.deferAccept = b.deferAccept;
  lo.transparent = b.transparent;
  lo.fastOpen = b.tfo;
  lo.interface = b.interface;
  lo.mss = b.mss ? static_cast<int>(*b.mss) : 0;
  lo.userTimeoutMs = b.tcpUserTimeout ? static_cast<int>(*b.tcpUserTimeout) : 0;
  lo.backlog = static_cast<int>(b.backlog ? *b.backlog
                                : fe.config->backlog ? *fe.config->backlog
                                : fe.maxconn ? std::max<uint32_t>(fe.maxconn, 1024) : 4096);
  return lo;
}

// What a socket is bound with; the rest can be changed on the live socket.
std::string identity(const core::Address& a, const net::ListenOptions& lo) {
  return a.toString() + (lo.v6only ? " v6only" : "") + (lo.v4v6 ? " v4v6" : "") +
         (lo.transparent ? " transparent" : "") + (lo.interface.empty() ? "" : " interface " + lo.interface) +
         (lo.reusePort ? "" : " noreuseport");
}

// Applies the options that a listening socket accepts at any time.
void retune(int fd, const net::ListenOptions& lo) {
  int secs = lo.deferAccept ? 1 : 0;
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
  if (lo.fastOpen) {
    int qlen = lo.backlog;
    setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen));
  }
  if (lo.mss > 0) setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &lo.mss, sizeof(lo.mss));
  if (lo.userTimeoutMs > 0) net::setUserTimeout(fd, static_cast<uint32_t>(lo.userTimeoutMs));
  ::listen(fd, lo.backlog);  // a second listen() only changes the backlog
}

}  // namespace

bool ListenerSet::prepare(const runtime::Runtime& rt, uint32_t workers, bool reusePort, Plan& plan,
                          std::string& error) {
  plan.perWorker.assign(workers, {});
  // QUIC sockets opened from now on (listeners, flows' server sockets) and
  // every send from now on follow this configuration's offload switches.
  net::setUdpOffloads(rt.quicGro, rt.quicGso);
  std::map<std::string, size_t> seen;  // the same address bound twice gets two sockets
  for (const auto& fe : rt.frontends) {
    for (const config::BindConfig& b : fe->config->binds) {
      for (int inherited : b.inheritedFds) {
        // One socket, every worker watching it (or the control thread for
        // a stats proxy); kept across reloads under its number.
        net::ListenOptions lo = optionsFor(*fe, b, false);
        std::string id = "fd@" + std::to_string(inherited);
        bool admin = fe->stats != nullptr;
        auto existing = sockets_.find(id);
        // Two bind lines may name one inherited socket, as HAProxy lets
        // them: both proxies then take connections from it.
        const bool again = existing == sockets_.end() && plan.sockets.count(id);
        int fd = inherited;
        if (existing == sockets_.end() && !again) {
          std::string why;
          if (net::adoptListener(inherited, lo.backlog, /*tcpOnly=*/true, why) < 0) {
            error = b.where.toString() + ": error: " + fe->config->kind + " '" + fe->name + "': " + why;
            abandon(plan);
            return false;
          }
        } else {
          retune(fd, lo);
        }
        uint32_t handles = admin ? 1 : workers;
        for (uint32_t t = 0; t < handles; ++t) {
          int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
          if (dup < 0) {
            error = b.where.toString() + ": error: cannot duplicate a listening socket: " + std::strerror(errno);
            abandon(plan);
            return false;
          }
          (admin ? plan.admin : plan.perWorker[t]).push_back({dup, fe.get(), &b, core::Address(), !admin});
        }
        plan.sockets[id] = {fd};
      }
      for (int inherited : b.sockpairFds) {
        // One connected UNIX socket, read by the first worker only: each
        // message carries one connection, which that worker then serves or
        // hands to a lighter one.
        std::string id = "sockpair@" + std::to_string(inherited);
        if (fe->stats) {
          error = b.where.toString() + ": error: sockpair@ cannot feed a stats proxy";
          abandon(plan);
          return false;
        }
        int domain = 0;
        socklen_t len = sizeof(domain);
        if (sockets_.find(id) == sockets_.end() && !plan.sockets.count(id) &&
            (::getsockopt(inherited, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)) {
          error = b.where.toString() + ": error: " + fe->config->kind + " '" + fe->name + "': " + id +
                  " is not a UNIX socket (sockpair@ takes one end of a socketpair)";
          abandon(plan);
          return false;
        }
        ::fcntl(inherited, F_SETFD, FD_CLOEXEC);
        int dup = ::fcntl(inherited, F_DUPFD_CLOEXEC, 0);
        if (dup < 0) {
          error = b.where.toString() + ": error: cannot duplicate " + id + ": " + std::strerror(errno);
          abandon(plan);
          return false;
        }
        session::ListenerSpec spec{dup, fe.get(), &b, core::Address(), false};
        spec.sockpair = true;
        plan.perWorker[0].push_back(spec);
        plan.sockets[id] = {inherited};
      }
      if (b.quic && fe->stats) {
        error = b.where.toString() + ": error: the stats proxy '" + fe->name + "' cannot listen on QUIC";
        abandon(plan);
        return false;
      }
      if (b.quic) {
        if (!prepareQuic(*fe, b, workers, reusePort, plan, seen, error)) return false;
        continue;
      }
      for (const core::Address& a : b.addresses) {
        net::ListenOptions lo = optionsFor(*fe, b, reusePort);
        std::string id = identity(a, lo);
        id += " #" + std::to_string(seen[id]++);
        bool admin = fe->stats != nullptr;
        uint32_t copies = reusePort && !admin ? workers : 1;
        auto existing = sockets_.find(id);
        std::vector<int> fds;
        int activated = -1;
        if (existing != sockets_.end() && (existing->second.size() == copies || activatedIds_.count(id))) {
          fds = existing->second;
          copies = static_cast<uint32_t>(fds.size());
          for (int fd : fds) retune(fd, lo);
        } else if ((activated = takeActivated(a)) >= 0) {
          // A socket systemd opened for this address: one socket, shared
          // by the workers, kept across reloads like the others.
          retune(activated, lo);
          fds = {activated};
          copies = 1;
          activatedIds_.insert(id);
        } else {
          for (uint32_t t = 0; t < copies; ++t) {
            std::string why;
            int fd = net::openListener(a, lo, why);
            if (fd < 0) {
              error = b.where.toString() + ": error: " + fe->config->kind + " '" + fe->name + "': " + why;
              abandon(plan);
              for (int f : fds) ::close(f);
              return false;
            }
            fds.push_back(fd);
          }
          plan.opened.insert(plan.opened.end(), fds.begin(), fds.end());
          if (!steering_.empty() && copies == steering_.size() && copies > 1) {
            // The group's sockets were bound in thread order: socket i is
            // thread i's. Without the program the kernel hashes, which is
            // only slower, so a refusal is not an error.
            std::vector<sock_filter> code = steeringProgram(steering_);
            sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
            if (::setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0) {
              ++steeredGroups_;
            }
          }
        }
        // One socket per worker (SO_REUSEPORT: the kernel spreads
        // connections by a hash of their addresses), or one socket that
        // every worker watches (the first idle worker takes a connection).
        bool shared = (!reusePort || copies == 1) && !admin;
        uint32_t handles = shared ? workers : copies;
        for (uint32_t t = 0; t < handles; ++t) {
          int dup = ::fcntl(fds[shared ? 0 : t], F_DUPFD_CLOEXEC, 0);
          if (dup < 0) {
            error = b.where.toString() + ": error: cannot duplicate a listening socket: " +
                    std::strerror(errno);
            abandon(plan);
            return false;
          }
          // The local address of accepted connections is the bound one,
          // unless the socket is a wildcard or transparent (then ask).
          core::Address local = a.isAny() || lo.transparent ? core::Address() : a;
          (admin ? plan.admin : plan.perWorker[t]).push_back({dup, fe.get(), &b, local, shared});
        }
        plan.sockets[id] = std::move(fds);
      }
    }
  }
  return true;
}

// A QUIC bind: one UDP socket per worker (SO_REUSEPORT keeps each client
// address on one socket, so on one worker and its flow table), or with
// "noreuseport" one socket read by the first worker only, since a flow's
// datagrams must all reach the thread that holds it.
bool ListenerSet::prepareQuic(runtime::Frontend& fe, const config::BindConfig& b, uint32_t workers,
                              bool reusePort, Plan& plan, std::map<std::string, size_t>& seen, std::string& error) {
  for (const core::Address& a : b.addresses) {
    net::ListenOptions lo = optionsFor(fe, b, reusePort);
    std::string id = "quic " + identity(a, lo);
    id += " #" + std::to_string(seen[id]++);
    uint32_t copies = reusePort ? workers : 1;
    auto existing = sockets_.find(id);
    std::vector<int> fds;
    if (existing != sockets_.end() && existing->second.size() == copies) {
      fds = existing->second;
    } else {
      for (uint32_t t = 0; t < copies; ++t) {
        std::string why;
        int fd = net::openUdpListener(a, lo, why);
        if (fd < 0) {
          error = b.where.toString() + ": error: " + fe.config->kind + " '" + fe.name + "': " + why;
          abandon(plan);
          for (int f : fds) ::close(f);
          return false;
        }
        fds.push_back(fd);
      }
      plan.opened.insert(plan.opened.end(), fds.begin(), fds.end());
    }
    for (uint32_t t = 0; t < copies; ++t) {
      int dup = ::fcntl(fds[t], F_DUPFD_CLOEXEC, 0);
      if (dup < 0) {
        error = b.where.toString() + ": error: cannot duplicate a listening socket: " + std::strerror(errno);
        abandon(plan);
        return false;
      }
      session::ListenerSpec spec{dup, &fe, nullptr, a, false};
      spec.quic = true;
      plan.perWorker[t].push_back(spec);
    }
    plan.sockets[id] = std::move(fds);
  }
  return true;
}

void ListenerSet::abandon(Plan& plan) {
  for (auto& list : plan.perWorker) {
    for (auto& l : list) ::close(l.fd);
    list.clear();
  }
  for (auto& l : plan.admin) ::close(l.fd);
  plan.admin.clear();
  for (int fd : plan.opened) ::close(fd);
  plan.opened.clear();
  plan.sockets.clear();
}

void ListenerSet::commit(Plan plan) {
  for (auto& [id, fds] : sockets_) {
    auto kept = plan.sockets.find(id);
    if (kept != plan.sockets.end() && kept->second == fds) continue;
    for (int fd : fds) ::close(fd);
  }
  sockets_ = std::move(plan.sockets);
}

void ListenerSet::closeAll() {
  for (auto& [id, fds] : sockets_) {
    for (int fd : fds) ::close(fd);
  }
  sockets_.clear();
}

void ListenerSet::takeActivatedSockets() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* count = std::getenv("LISTEN_FDS");
  if (!pid || !count || std::atol(pid) != static_cast<long>(::getpid())) return;
  long n = std::atol(count);
  constexpr int kFirst = 3;  // SD_LISTEN_FDS_START
  for (int fd = kFirst; fd < kFirst + n && fd < kFirst + 1024; ++fd) {
    int listening = 0;
    socklen_t llen = sizeof listening;
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    std::string why;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) != 0 || !listening ||
        net::adoptListener(fd, /*backlog=*/-1, /*tcpOnly=*/true, why) < 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) {
      continue;  // not a TCP listener: not ours to use
    }
    activated_.emplace_back(core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), sl), fd);
  }
  // Children (none today) must not see them as theirs.
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
}

int ListenerSet::takeActivated(const core::Address& a) {
  for (auto it = activated_.begin(); it != activated_.end(); ++it) {
    if (it->first.toString() == a.toString()) {
      int fd = it->second;
      activated_.erase(it);
      return fd;
    }
  }
  return -1;
}

size_t ListenerSet::socketCount() const {
  size_t n = 0;
  for (const auto& [id, fds] : sockets_) n += fds.size();
  return n;
}

}  // namespace sluice::app
