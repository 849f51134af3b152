// SPDX-License-Identifier: Apache-2.0
// Worker threads (src/session/worker.h) against the lifetimes a reload and a
// hard stop end: a listener destroyed while its accept batch is pending, a
// queue wake-up that outlives its queue, a connection handed to a worker
// whose loop has ended. Run under ASan too, where a use after free fails.
#include "session/worker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "config/lexer.h"
#include "config/parser.h"
#include "runtime/runtime.h"

namespace sluice::session {
namespace {

std::shared_ptr<runtime::Runtime> buildRuntime(const std::string& text) {
  core::Diagnostics diag;
  auto lines = config::readConfigText(text, "worker_test.cfg", [](std::string_view) { return std::nullopt; }, diag);
  auto cfg = std::make_shared<config::Config>(config::parseConfig(lines, diag));
  auto rt = diag.hasErrors() ? nullptr : runtime::build(cfg, diag);
  EXPECT_TRUE(rt) << diag.render();
  return rt;
}

const char* kConfig =
    "global\n"
    "    tune.maxaccept 2\n"
    "defaults\n"
    "    mode tcp\n"
    "    timeout connect 1s\n"
    "    timeout client 1s\n"
    "    timeout server 1s\n"
    "frontend fe\n"
    "    bind 127.0.0.1:1\n"
    "    default_backend be\n"
    "backend be\n"
    "    server s1 127.0.0.1:1\n";

// A listening socket on a free loopback port.
int listenLoopback(int& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 512) != 0) return -1;
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int connectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A reload lands while a listener's accept batch is cut at tune.maxaccept
// with connections still queued: the continuation must not touch the
// listener the reload destroyed (a use after free under ASan).
TEST(Worker, ReloadWhileTheAcceptQueueIsFull) {
  auto rt = buildRuntime(kConfig);
  ASSERT_TRUE(rt);
  ASSERT_EQ(rt->maxAccept, 2u);
  ProcessState ps;
  ps.maxconn = 10000;
  Worker w(0, ps, rt);
  int port = 0;
  int lfd = listenLoopback(port);
  ASSERT_GE(lfd, 0);
  w.addListener(lfd, rt->frontends[0].get());
  std::vector<int> clients;
  for (int i = 0; i < 70; ++i) {
    int c = connectLoopback(port);
    ASSERT_GE(c, 0);
    clients.push_back(c);
  }
  // The reload is queued before the loop runs: the first batch accepts 2,
  // leaves the rest for later, and then the reload replaces the listener.
  auto rt2 = buildRuntime(kConfig);
  std::future<void> reloaded = w.replaceRuntime(rt2, {});
  std::thread t([&] { w.run(); });
  EXPECT_EQ(reloaded.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  w.stop();
  t.join();
  EXPECT_LT(ps.accepted.load(), 70u) << "the old listener went on accepting after the reload";
  for (int c : clients) close(c);
}

// A wake-up left in a queue that a reload then freed: the slot it carries
// finds no queue to pass on to, and nothing touches freed memory.
TEST(Worker, QueueWakeUpOutlivesItsQueue) {
  auto rt = buildRuntime(kConfig);
  ASSERT_TRUE(rt);
  ProcessState ps;
  Worker w(0, ps, rt);
  // Not make_shared: the object's memory must go with its last owner, even
  // while a weak reference keeps the control block.
  std::shared_ptr<balance::WaitQueue> queue(new balance::WaitQueue);
  // Session 42 is not waiting on this worker (it left meanwhile): the
  // wake-up would pass the slot on to the queue.
  ASSERT_NE(queue->push(w.queueWaker(42, queue)), 0u);
  ASSERT_TRUE(queue->wakeOne());  // posts to the worker's loop
  std::weak_ptr<balance::WaitQueue> weak = queue;
  queue.reset();
  EXPECT_TRUE(weak.expired()) << "the queue's own wake-ups keep it alive";
  std::thread t([&] { w.run(); });
  w.stop();
  t.join();
}

// A hard stop: a connection handed to a worker whose loop has already
// ended is refused, so that the accepting thread keeps (and closes) it; it
// is never left open with its actconn count.
TEST(Worker, HandOverToAStoppedWorkerIsRefused) {
  auto rt = buildRuntime(kConfig);
  ASSERT_TRUE(rt);
  ProcessState ps;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  {
    Worker w(1, ps, rt);
    std::thread t([&] { w.run(); });
    w.stop();
    t.join();
    ps.actconn.fetch_add(1);  // as the accepting thread counts it
    bool taken = w.handOver(sv[0], rt, rt->frontends[0].get(), core::Address(), core::Address(), nullptr);
    if (!taken) {
      close(sv[0]);  // the acceptor's part: it keeps what was refused
      ps.actconn.fetch_sub(1);
    }
  }
  // Either way, the connection is closed and no longer counted.
  pollfd p{sv[1], POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 2000), 1) << "the handed-over connection was left open";
  char c;
  EXPECT_LE(recv(sv[1], &c, 1, MSG_DONTWAIT), 0);
  EXPECT_EQ(ps.actconn.load(), 0);
  close(sv[1]);
}

}  // namespace
}  // namespace sluice::session
