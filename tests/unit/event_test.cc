// SPDX-License-Identifier: Apache-2.0
// Unit tests of the event loop: timers fire in deadline order and can be
// moved or cancelled; tasks posted from another thread run on the loop;
// objects deleted during a batch stay valid until the batch ends; fds report
// edge-triggered readiness.
#include <gtest/gtest.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
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

// A timer that re-arms itself for "now" runs again only after the loop has
// looked at its descriptors: a connection resuming its work from a timer
// (forward() yielding) must not starve the thread.
TEST(EventLoop, TimerRearmedForNowWaitsForTheNextPass) {
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  struct Reader : EventHandler {
    EventLoop* loop;
    bool seen = false;
    void onEvents(uint32_t) noexcept override {
      seen = true;
      loop->stop();
    }
  } reader;
  reader.loop = &loop;
  struct Spinner : Timer {
    EventLoop* loop;
    int runs = 0;
    void onTimer() noexcept override {
      if (++runs < 100000) loop->schedule(*this, loop->now());
    }
  } spinner;
  spinner.loop = &loop;
  ASSERT_TRUE(loop.add(sv[0], EPOLLIN | EPOLLET, &reader));
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  loop.schedule(spinner, loop.refreshNow());
  loop.run();
  EXPECT_TRUE(reader.seen);
  EXPECT_LT(spinner.runs, 10) << "the re-armed timer ran over and over in one pass";
  loop.cancel(spinner);
  close(sv[0]);
  close(sv[1]);
}

// After a long batch of events, the next wait is computed from the time
// after the batch: a timer due during the batch fires right after it, not a
// batch's length late.
TEST(EventLoop, TimersAreNotLateAfterALongBatch) {
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  struct Slow : EventHandler {
    void onEvents(uint32_t) noexcept override { std::this_thread::sleep_for(std::chrono::milliseconds(400)); }
  } slow;
  struct Stop : Timer {
    EventLoop* loop;
    std::chrono::steady_clock::time_point at;
    void onTimer() noexcept override {
      at = std::chrono::steady_clock::now();
      loop->stop();
    }
  } stop;
  stop.loop = &loop;
  ASSERT_TRUE(loop.add(sv[0], EPOLLIN | EPOLLET, &slow));
  auto start = std::chrono::steady_clock::now();
  loop.schedule(stop, loop.refreshNow() + 500);
  // The event arrives at once; the batch takes 400 ms of the timer's 500.
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  loop.run();
  auto late = std::chrono::duration_cast<std::chrono::milliseconds>(stop.at - start).count();
  EXPECT_GE(late, 490);  // the loop counts whole milliseconds
  EXPECT_LT(late, 800) << "the timer fired a batch's length late";
  close(sv[0]);
  close(sv[1]);
}

}  // namespace
}  // namespace sluice::event
