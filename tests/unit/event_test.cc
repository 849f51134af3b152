// SPDX-License-Identifier: Apache-2.0
// Unit tests of the event loop: timers fire in deadline order and can be
// moved or cancelled; tasks posted from another thread run on the loop;
// objects deleted during a batch stay valid until the batch ends; fds report
// edge-triggered readiness.
#include <gtest/gtest.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "event/loop.h"

namespace sluice::event {
namespace {

struct RecordingTimer : Timer {
  std::vector<int>* log;
  int id;
  EventLoop* loop = nullptr;
  RecordingTimer(std::vector<int>* l, int i) : log(l), id(i) {}
  void onTimer() noexcept override {
    log->push_back(id);
    if (id == 99 && loop) loop->stop();
  }
};

// Timers fire in deadline order; moved timers fire at their new time;
// cancelled ones never fire.
TEST(EventLoop, TimersFireInOrder) {
  EventLoop loop;
  std::vector<int> fired;
  std::vector<std::unique_ptr<RecordingTimer>> timers;
  uint64_t now = loop.refreshNow();
  for (int i = 0; i < 6; ++i) {
    timers.push_back(std::make_unique<RecordingTimer>(&fired, i));
  }
  loop.schedule(*timers[0], now + 30);
  loop.schedule(*timers[1], now + 10);
  loop.schedule(*timers[2], now + 20);
  loop.schedule(*timers[3], now + 5);
  loop.schedule(*timers[4], now + 25);
  loop.schedule(*timers[3], now + 40);   // moved later
  loop.cancel(*timers[2]);               // never fires
  EXPECT_FALSE(timers[2]->armed());
  RecordingTimer stopper(&fired, 99);
  stopper.loop = &loop;
  loop.schedule(stopper, now + 60);
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 4, 0, 3, 99}));
  EXPECT_EQ(loop.timerCount(), 0u);
}

// post() from another thread wakes the loop and runs there.
TEST(EventLoop, PostFromAnotherThread) {
  EventLoop loop;
  std::thread::id ranOn;
  std::thread other([&] {
    loop.post([&] {
      ranOn = std::this_thread::get_id();
      loop.stop();
    });
  });
  loop.run();
  other.join();
  EXPECT_EQ(ranOn, std::this_thread::get_id());
}

struct Probe : EventHandler {
  int* alive;
  int events = 0;
  explicit Probe(int* a) : alive(a) { ++*alive; }
  ~Probe() override { --*alive; }
  void onEvents(uint32_t) noexcept override { ++events; }
};

// An object handed to deferDelete survives until the end of the batch.
TEST(EventLoop, DeferredDeletion) {
  EventLoop loop;
  int alive = 0;
  auto* p = new Probe(&alive);
  loop.post([&] {
    loop.deferDelete(std::unique_ptr<EventHandler>(p));
    EXPECT_EQ(alive, 1);  // still there inside the batch
    loop.post([&] {
      EXPECT_EQ(alive, 0);
      loop.stop();
    });
  });
  loop.run();
  EXPECT_EQ(alive, 0);
}

// Edge-triggered: one event per new readiness, not one per loop turn.
TEST(EventLoop, EdgeTriggeredReadiness) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  int alive = 0;
  Probe probe(&alive);
  ASSERT_TRUE(loop.add(fds[0], EPOLLIN, &probe));
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  RecordingTimer stop(new std::vector<int>(), 99);
  stop.loop = &loop;
  loop.schedule(stop, loop.refreshNow() + 50);
  loop.run();
  EXPECT_EQ(probe.events, 1);  // the byte was never read, yet no second event
  loop.remove(fds[0]);
  delete stop.log;
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace sluice::event
