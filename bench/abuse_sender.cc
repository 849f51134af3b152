// SPDX-License-Identifier: Apache-2.0
// The hostile QUIC senders of bench/run's A scenarios (issue 22): datagrams
// an attacker can send at a QUIC frontend, each from a new source address
// of 127/8 (chosen per datagram with IP_PKTINFO, so that every one is an
// unknown client to sluice, as spoofed datagrams are), for a number of
// seconds. Prints how many it sent and their bytes.
//
//   abuse_sender <mode> <port> <seconds>
//     scatter  Initials that decrypt, carrying 1-byte CRYPTO frames at
//              scattered offsets that never merge (the reassembly attack)
//     half     the first half of a real-looking post-quantum hello: each
//              opens an unconfirmed flow that never confirms
//     short    short-header datagrams with random connection IDs
//     garbage  long-header v1 Initials that do not decrypt
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "health/tls_probe.h"
#include "proto/quic_initial.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes cryptoFrame(const Bytes& stream, size_t offset, size_t length) {
  return sluice::proto::cryptoFrame(stream, offset, length);
}

Bytes padded(Bytes d) {
  if (d.size() < sluice::proto::kQuicMinInitialDatagram) d.resize(sluice::proto::kQuicMinInitialDatagram, 0);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: abuse_sender scatter|half|short|garbage <port> <seconds>\n");
    return 2;
  }
  const std::string mode = argv[1];
  const int port = std::atoi(argv[2]);
  const double seconds = std::atof(argv[3]);
  std::mt19937_64 rng(42);
  // A ClientHello as big as a post-quantum one, to cut and scatter.
  std::string rec = sluice::health::makeProbeHello("victim.example", {"h3"});
  Bytes hello(rec.begin() + 5, rec.end());
  hello.resize(std::max<size_t>(hello.size(), 2400), 0);

  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int big = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  auto make = [&]() -> Bytes {
    Bytes dcid(8);
    for (auto& b : dcid) b = static_cast<uint8_t>(rng());
    if (mode == "scatter") {
      Bytes frames;
      for (size_t i = 0; i < 120; ++i) {
        Bytes f = cryptoFrame(hello, 2 * ((i * 37) % 1000) + 2, 1);
        frames.insert(frames.end(), f.begin(), f.end());
      }
      return padded(sluice::proto::sealClientInitial(sluice::proto::kQuicV1, dcid, 0, frames));
    }
    if (mode == "half") {
      return padded(sluice::proto::sealClientInitial(sluice::proto::kQuicV1, dcid, 0,
                                                     cryptoFrame(hello, 0, hello.size() / 2)));
    }
    if (mode == "short") {
      Bytes d(1200);
      for (auto& b : d) b = static_cast<uint8_t>(rng());
      d[0] = 0x40 | (d[0] & 0x3f);
      return d;
    }
    Bytes d = {0xc3, 0, 0, 0, 1, 8};
    d.insert(d.end(), dcid.begin(), dcid.end());
    d.insert(d.end(), {0x00, 0x00, 0x44, 0x9e});
    d.resize(1200);
    for (size_t i = 18; i < d.size(); ++i) d[i] = static_cast<uint8_t>(rng());
    return d;
  };
  // A few hundred prepared datagrams, sent round-robin: the cost measured is
  // sluice's, not this program's sealing.
  std::vector<Bytes> pool;
  for (int i = 0; i < 512; ++i) pool.push_back(make());

  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  uint64_t sent = 0, bytes = 0;
  uint32_t source = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int burst = 0; burst < 64; ++burst) {
      const Bytes& d = pool[sent % pool.size()];
      // A new source address each time, 16 million of them: 127.1.0.1 upwards.
      ++source;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo))] = {};
      iovec iov{const_cast<uint8_t*>(d.data()), d.size()};
      msghdr m{};
      m.msg_name = &to;
      m.msg_namelen = sizeof(to);
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = control;
      m.msg_controllen = sizeof(control);
      cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo pi{};
      pi.ipi_spec_dst.s_addr = htonl((127u << 24) | ((1u + (source >> 16) % 254u) << 16) | (source & 0xffff));
      std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
      if (::sendmsg(fd, &m, 0) == static_cast<ssize_t>(d.size())) {
        ++sent;
        bytes += d.size();
      }
    }
  }
  std::printf("%llu %llu\n", static_cast<unsigned long long>(sent), static_cast<unsigned long long>(bytes));
  ::close(fd);
  return 0;
}
