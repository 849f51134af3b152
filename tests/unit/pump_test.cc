// SPDX-License-Identifier: Apache-2.0
// The forwarding pump (src/net/pump.h) driven over socketpairs and pipes:
// each state of a flow, and the readiness rules under edge-triggered epoll.
#include "net/pump.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace sluice::net {
namespace {

uint8_t patternAt(uint64_t i) { return static_cast<uint8_t>((i * 131) ^ (i >> 9)); }

std::string pattern(uint64_t from, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(patternAt(from + i));
  return s;
}

// A unix stream socketpair, both ends non-blocking.
struct Pair {
  int a = -1, b = -1;
  Pair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) {
      a = fds[0];
      b = fds[1];
    }
  }
  ~Pair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
};

// Reads everything available now (non-blocking) from fd.
std::string drain(int fd, size_t limit = SIZE_MAX) {
  std::string out;
  char buf[65536];
  while (out.size() < limit) {
    ssize_t n = recv(fd, buf, std::min(sizeof buf, limit - out.size()), MSG_DONTWAIT);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct Env {
  PipePool pipes{0, 4};
  std::vector<char> scratch = std::vector<char>(65536);
  PumpEnv env;
  explicit Env(size_t threshold) {
    env.pipes = &pipes;
    env.scratch = scratch.data();
    env.scratchSize = scratch.size();
    env.spliceThreshold = threshold;
  }
};

// Writes `count` records of `size` bytes, one send() each: on a unix socket
// every record is a buffer of its own, as every packet is on a NIC.
uint64_t writeRecords(int fd, uint64_t offset, int count, size_t size) {
  for (int i = 0; i < count; ++i) {
    std::string r = pattern(offset, size);
    EXPECT_EQ(send(fd, r.data(), r.size(), 0), static_cast<ssize_t>(r.size()));
    offset += size;
  }
  return offset;
}

// The stall of issue 9: a pipe holds one buffer per slot, so 16 small
// records fill it long before its 64 KiB. splice() then says EAGAIN, which
// must not be taken for "the socket is empty": no further event would come.
TEST(Pump, PipeFullBySlotsKeepsTheSourceReadable) {
  Env e(0);
  Pair src, dst;
  uint64_t end = writeRecords(src.a, 0, 100, 100);
  Flow f;
  bool readable = true, writable = false;
  PumpActivity act;
  ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
  EXPECT_TRUE(f.spliced());
  EXPECT_GT(f.pending(), 0u);
  EXPECT_LT(f.pending(), 100u * 100u) << "the pipe took every record: the test shows nothing";
  EXPECT_TRUE(readable) << "EAGAIN from a pipe full by slots cleared readable";
  // The destination opens; no new event comes for the source (its writer
  // has stopped): the pump must still move every byte.
  writable = true;
  std::string got;
  for (int i = 0; i < 200 && got.size() < end; ++i) {
    ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
    got += drain(dst.b);
    writable = true;  // the reader made room
  }
  EXPECT_EQ(got.size(), end);
  EXPECT_EQ(got, pattern(0, end));
  EXPECT_FALSE(readable) << "an empty pipe and EAGAIN prove the socket empty";
}

// A pipe full by bytes is not read into; the source stays readable.
TEST(Pump, PipeFullByBytes) {
  Env e(0);
  Pair src, dst;
  int big = 1 << 20;
  setsockopt(src.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  uint64_t end = writeRecords(src.a, 0, 8, 32768);
  Flow f;
  bool readable = true, writable = false;
  PumpActivity act;
  ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
  EXPECT_EQ(f.pending(), 65536u);
  EXPECT_TRUE(readable);
  writable = true;
  std::string got;
  for (int i = 0; i < 200 && got.size() < end; ++i) {
    ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
    got += drain(dst.b);
    writable = true;
  }
  EXPECT_EQ(got, pattern(0, end));
}

// The destination's EAGAIN clears writable and keeps the bytes; they go
// once it is writable again. Both paths: copy and splice.
TEST(Pump, DestinationEagainKeepsTheBytes) {
  for (size_t threshold : {size_t{0}, SIZE_MAX}) {
    SCOPED_TRACE(threshold == 0 ? "splice" : "copy");
    Env e(threshold);
    Pair src, dst;
    int small = 4096;
    setsockopt(dst.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    uint64_t end = writeRecords(src.a, 0, 20, 5000);
    Flow f;
    bool readable = true, writable = true;
    PumpActivity act;
    ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
    EXPECT_FALSE(writable) << "a full destination must clear writable";
    EXPECT_GT(f.pending(), 0u);
    std::string got;
    for (int i = 0; i < 500 && got.size() < end; ++i) {
      got += drain(dst.b);
      writable = true;
      ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
    }
    got += drain(dst.b);
    EXPECT_EQ(got, pattern(0, end));
  }
}

// The source's FIN is passed on only after every byte before it.
TEST(Pump, SourceEofWithDataStillInThePipe) {
  for (size_t threshold : {size_t{0}, SIZE_MAX}) {
    SCOPED_TRACE(threshold == 0 ? "splice" : "copy");
    Env e(threshold);
    Pair src, dst;
    uint64_t end = writeRecords(src.a, 0, 10, 1000);
    shutdown(src.a, SHUT_WR);
    Flow f;
    f.peerClosed();  // the FIN's EPOLLRDHUP came with the data
    bool readable = true, writable = false;
    PumpActivity act;
    ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
    // The copy path holds one read's worth and reads on once it is sent;
    // the splice path reads to the FIN at once.
    if (threshold == 0) {
      EXPECT_TRUE(f.srcEof());
      EXPECT_EQ(f.pending(), end);
    } else {
      EXPECT_GT(f.pending(), 0u);
    }
    EXPECT_FALSE(f.dstShut()) << "the FIN went before the data";
    writable = true;
    ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
    EXPECT_TRUE(f.dstShut());
    EXPECT_EQ(f.pending(), 0u);
    std::string got = drain(dst.b);
    EXPECT_EQ(got, pattern(0, end));
    char c;
    EXPECT_EQ(recv(dst.b, &c, 1, MSG_DONTWAIT), 0) << "no FIN after the data";
    EXPECT_EQ(f.bytes(), end);
  }
}

// A destination that fails with bytes in the pipe: an error, and the pipe
// (holding bytes) is closed, not pooled.
TEST(Pump, DestinationErrorWithDataInThePipe) {
  signal(SIGPIPE, SIG_IGN);  // as sluice runs: a write to a closed socket is an error, not a signal
  Env e(0);
  Pair src;
  auto* dst = new Pair;
  writeRecords(src.a, 0, 10, 1000);
  Flow f;
  bool readable = true, writable = false;
  PumpActivity act;
  ASSERT_EQ(f.pump(e.env, src.b, readable, dst->a, writable, false, act), PumpResult::Ok);
  EXPECT_GT(f.pending(), 0u);
  close(dst->b);
  dst->b = -1;
  writable = true;
  EXPECT_EQ(f.pump(e.env, src.b, readable, dst->a, writable, false, act), PumpResult::DstError);
  EXPECT_EQ(e.pipes.inUse(), 1u);
  f.release(e.pipes);
  EXPECT_EQ(e.pipes.inUse(), 0u);
  EXPECT_EQ(e.pipes.idle(), 0u) << "a pipe with bytes in it went back to the pool";
  delete dst;
}

// A budget bounds one call; the flow says it yielded with work left.
TEST(Pump, BudgetYields) {
  Env e(0);
  e.env.budget = 4096;
  Pair src, dst;
  int big = 1 << 20;
  setsockopt(dst.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(src.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  writeRecords(src.a, 0, 10, 10000);
  Flow f;
  bool readable = true, writable = true;
  PumpActivity act;
  ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
  EXPECT_TRUE(act.yielded);
  EXPECT_LT(f.bytes(), 100000u);
}

// A short recv() on the copy path proves the socket empty: readable clears.
TEST(Pump, CopyPathShortReadClearsReadable) {
  Env e(SIZE_MAX);
  Pair src, dst;
  writeRecords(src.a, 0, 1, 300);
  Flow f;
  bool readable = true, writable = true;
  PumpActivity act;
  ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
  EXPECT_FALSE(readable);
  EXPECT_FALSE(f.spliced());
  EXPECT_EQ(f.copied(), 300u);
  EXPECT_EQ(drain(dst.b), pattern(0, 300));
}

// The whole contract under edge-triggered epoll: a writer of small records
// that stops, a reader that reads a little, stops, and resumes; readiness
// is set only by events, as the worker does. Every byte arrives.
TEST(Pump, EdgeTriggeredReaderThatStopsAndResumes) {
  for (size_t threshold : {size_t{0}, size_t{32768}, SIZE_MAX}) {
    SCOPED_TRACE("threshold " + std::to_string(threshold));
    Env e(threshold);
    Pair src, dst;
    int small = 8192;
    setsockopt(dst.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.fd = src.b;
    epoll_ctl(ep, EPOLL_CTL_ADD, src.b, &ev);
    ev.events = EPOLLOUT | EPOLLET;
    ev.data.fd = dst.a;
    epoll_ctl(ep, EPOLL_CTL_ADD, dst.a, &ev);
    const uint64_t total = 600 * 700;
    std::thread writer([&] {
      uint64_t off = 0;
      while (off < total) {
        pollfd p{src.a, POLLOUT, 0};
        poll(&p, 1, 1000);
        std::string r = pattern(off, 700);
        ssize_t n = send(src.a, r.data(), r.size(), MSG_DONTWAIT);
        if (n > 0) off += static_cast<uint64_t>(n);
      }
      shutdown(src.a, SHUT_WR);
    });
    std::string got;
    std::atomic<bool> readerDone{false};
    std::thread reader([&] {
      auto start = std::chrono::steady_clock::now();
      char buf[65536];
      while (true) {
        bool slow = std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300);
        pollfd p{dst.b, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) break;
        ssize_t n = recv(dst.b, buf, slow ? 512 : sizeof buf, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      readerDone = true;
    });
    Flow f;
    bool readable = false, writable = false;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!f.dstShut() && std::chrono::steady_clock::now() < until) {
      epoll_event evs[4];
      int n = epoll_wait(ep, evs, 4, 100);
      for (int i = 0; i < n; ++i) {
        if (evs[i].data.fd == src.b) readable = true;
        if (evs[i].data.fd == src.b && (evs[i].events & (EPOLLRDHUP | EPOLLHUP))) f.peerClosed();
        if (evs[i].data.fd == dst.a) writable = true;
      }
      PumpActivity act;
      ASSERT_EQ(f.pump(e.env, src.b, readable, dst.a, writable, false, act), PumpResult::Ok);
    }
    writer.join();
    reader.join();
    close(ep);
    EXPECT_TRUE(f.dstShut()) << "stalled after " << f.bytes() << " of " << total << " bytes";
    EXPECT_EQ(got.size(), total);
    EXPECT_TRUE(got == pattern(0, total)) << "bytes differ";
  }
}

}  // namespace
}  // namespace sluice::net
