// SPDX-License-Identifier: Apache-2.0
// EventLoop: one per worker thread. Edge-triggered epoll for descriptors, a
// binary min-heap of timers, a wake-up eventfd for work posted from other
// threads, and deferred destruction so that an object closed while handling
// one event is not freed while later events of the same batch still point
// to it.
//
// Contracts:
//  - handlers are called on the loop's thread only, and must not throw;
//  - an fd is registered once; the handler tracks readiness itself (edge
//    triggered) and calls the syscall until EAGAIN;
//  - post() may be called from any thread.
//
//   EventLoop loop;
//   loop.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &handler);
//   loop.schedule(timer, loop.now() + 5000);
//   loop.run();    // until stop()
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace sluice::event {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void onEvents(uint32_t events) noexcept = 0;
};

class Timer {
 public:
  virtual ~Timer() = default;
  virtual void onTimer() noexcept = 0;
  bool armed() const { return heapIndex_ != kNotArmed; }
  uint64_t deadline() const { return deadline_; }

 private:
  friend class EventLoop;
  static constexpr size_t kNotArmed = SIZE_MAX;
  uint64_t deadline_ = 0;
  size_t heapIndex_ = kNotArmed;
  uint64_t armedPass_ = 0;  // the loop's timer pass in which it was last armed
};

// Monotonic milliseconds.
uint64_t monotonicMillis();
// Wall-clock microseconds since the epoch (log timestamps).
int64_t wallMicros();

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool add(int fd, uint32_t events, EventHandler* handler);
  bool modify(int fd, uint32_t events, EventHandler* handler);
  void remove(int fd);

  // Arms (or re-arms) a timer for an absolute monotonic deadline in ms.
  void schedule(Timer& timer, uint64_t deadline);
  void cancel(Timer& timer);

  // Runs until stop(). Each iteration: wait for events or the next timer,
  // dispatch events, fire due timers, run posted tasks, free deferred objects.
  void run();
  void stop();  // thread-safe

  // Runs `task` on this loop's thread, soon. Thread-safe. False (and the
  // task is not kept) once run() has returned: the caller still owns what
  // the task would have taken care of.
  bool post(std::function<void()> task);

  // Frees `object` after the current batch of events.
  void deferDelete(std::unique_ptr<EventHandler> object);

  // The time cached at the start of the current iteration.
  uint64_t now() const { return now_; }
  uint64_t refreshNow();

  size_t timerCount() const { return heap_.size(); }

 private:
  void heapUp(size_t i);
  void heapDown(size_t i);
  void heapRemove(size_t i);
  void runTimers();
  void runPosted();

  int epollFd_ = -1;
  int wakeFd_ = -1;
  bool running_ = false;
  uint64_t now_ = 0;
  uint64_t timerPass_ = 0;
  std::vector<Timer*> heap_;
  std::vector<std::unique_ptr<EventHandler>> graveyard_;

  std::mutex postedMutex_;
  std::vector<std::function<void()>> posted_;
  bool closed_ = false;  // run() has ended; guarded by postedMutex_
  std::atomic_bool stopRequested_{false};

  class WakeHandler;
  std::unique_ptr<EventHandler> wakeHandler_;
};

}  // namespace sluice::event
