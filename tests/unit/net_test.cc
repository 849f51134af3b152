// SPDX-License-Identifier: Apache-2.0
// Unit tests of the socket helpers and the pipe pool: listeners honour their
// options, connects start without blocking, pipes are reused and bounded.
#include <gtest/gtest.h>

#include "ci.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/pipe_pool.h"
#include "net/socket.h"

namespace sluice::net {
namespace {

// A listener on port 0 gets a port; SO_REUSEPORT lets a second socket share it.
TEST(Sockets, ListenersShareAPortWithReusePort) {
  std::string error;
  ListenOptions o;
  int a = openListener(*core::Address::parse("127.0.0.1:0"), o, error);
  ASSERT_GE(a, 0) << error;
  core::Address bound = localAddress(a);
  EXPECT_GT(bound.port(), 0);
  int b = openListener(bound, o, error);
  EXPECT_GE(b, 0) << error;
  o.reusePort = false;
  int c = openListener(bound, o, error);
  EXPECT_LT(c, 0);
  EXPECT_NE(error.find("cannot bind 127.0.0.1:"), std::string::npos) << error;
  EXPECT_TRUE(fcntl(a, F_GETFL) & O_NONBLOCK);
  close(a);
  if (b >= 0) close(b);
}

// IPv6 wildcard with v4v6 accepts IPv4 clients.
TEST(Sockets, V4V6Wildcard) {
  std::string error;
  ListenOptions o;
  o.v4v6 = true;
  int l = openListener(*core::Address::parse("[::]:0"), o, error);
  if (l < 0) SLUICE_SKIP_OR_FAIL("no IPv6 on this machine: " + error);
  uint16_t port = localAddress(l).port();
  core::Address target = *core::Address::parse("127.0.0.1:" + std::to_string(port));
  int c = startConnect(target, core::Address());
  ASSERT_GE(c, 0);
  pollfd p{c, POLLOUT, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_EQ(socketError(c), 0);
  int s = accept(l, nullptr, nullptr);
  EXPECT_GE(s, 0);
  EXPECT_TRUE(peerAddress(s).unmapped().isV4());
  close(s);
  close(c);
  close(l);
}

// A connect to a closed port reports ECONNREFUSED through SO_ERROR (or at once).
TEST(Sockets, RefusedConnect) {
  std::string error;
  int l = openListener(*core::Address::parse("127.0.0.1:0"), ListenOptions{}, error);
  core::Address addr = localAddress(l);
  close(l);
  int c = startConnect(addr, core::Address());
  if (c < 0) {
    EXPECT_EQ(errno, ECONNREFUSED);
    return;
  }
  pollfd p{c, POLLOUT, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_EQ(socketError(c), ECONNREFUSED);
  close(c);
}

// Pipes go back to the pool and are reused; the pool keeps at most maxIdle.
TEST(PipePool, ReuseAndBound) {
  PipePool pool(0, 2);
  Pipe a = pool.acquire();
  Pipe b = pool.acquire();
  Pipe c = pool.acquire();
  ASSERT_TRUE(a.valid() && b.valid() && c.valid());
  EXPECT_EQ(pool.inUse(), 3u);
  EXPECT_GE(a.capacity, 4096u);
  int aRead = a.readFd;
  pool.release(a);
  pool.release(b);
  pool.release(c);  // beyond maxIdle: closed
  EXPECT_EQ(pool.idle(), 2u);
  EXPECT_EQ(pool.inUse(), 0u);
  Pipe d = pool.acquire();
  Pipe e = pool.acquire();
  EXPECT_TRUE(d.readFd == aRead || e.readFd == aRead);
  pool.release(d);
  pool.trim();
  EXPECT_EQ(pool.idle(), 0u);
  pool.discard(e);
  EXPECT_EQ(pool.inUse(), 0u);
}

// tune.pipesize resizes the pipes.
TEST(PipePool, SizedPipes) {
  PipePool pool(1 << 20, 4);
  Pipe p = pool.acquire();
  ASSERT_TRUE(p.valid());
  EXPECT_EQ(p.capacity, size_t{1} << 20);
  pool.release(p);
}

// Each pipe knows its own size: a pool's pipes need not all be alike (the
// kernel may refuse a resize), and one pipe's size must not stand for all.
TEST(PipePool, EachPipeKnowsItsOwnSize) {
  PipePool big(1 << 20, 4);
  PipePool small(16384, 4);
  Pipe a = big.acquire();
  Pipe b = small.acquire();
  Pipe c = big.acquire();
  ASSERT_TRUE(a.valid() && b.valid() && c.valid());
  for (const Pipe* p : {&a, &b, &c}) {
    EXPECT_EQ(p->capacity, static_cast<size_t>(fcntl(p->writeFd, F_GETPIPE_SZ)));
  }
  EXPECT_EQ(b.capacity, 16384u);
  EXPECT_EQ(a.capacity, size_t{1} << 20);
  big.release(a);
  big.release(c);
  small.release(b);
}

}  // namespace
}  // namespace sluice::net
