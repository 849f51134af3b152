// SPDX-License-Identifier: Apache-2.0
// The per-thread event loop; see loop.h.
#include "event/loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>

namespace sluice::event {

int64_t wallMicros() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

uint64_t monotonicMillis() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

class EventLoop::WakeHandler final : public EventHandler {
 public:
  explicit WakeHandler(int fd) : fd_(fd) {}
  void onEvents(uint32_t) noexcept override {
    uint64_t v;
    while (::read(fd_, &v, sizeof(v)) > 0) {
    }
  }

 private:
  int fd_;
};

EventLoop::EventLoop() {
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epollFd_ < 0 || wakeFd_ < 0) {
    throw std::runtime_error("cannot create the event loop (epoll/eventfd)");
  }
  wakeHandler_ = std::make_unique<WakeHandler>(wakeFd_);
  add(wakeFd_, EPOLLIN, wakeHandler_.get());
  now_ = monotonicMillis();
}

EventLoop::~EventLoop() {
  graveyard_.clear();
  if (wakeFd_ >= 0) ::close(wakeFd_);
  if (epollFd_ >= 0) ::close(epollFd_);
}

bool EventLoop::add(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::modify(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return epoll_ctl(epollFd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::heapUp(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline_ <= heap_[i]->deadline_) break;
    std::swap(heap_[parent], heap_[i]);
    heap_[parent]->heapIndex_ = parent;
    heap_[i]->heapIndex_ = i;
    i = parent;
  }
}

void EventLoop::heapDown(size_t i) {
  size_t n = heap_.size();
  while (true) {
    size_t l = 2 * i + 1;
    size_t r = l + 1;
    size_t m = i;
    if (l < n && heap_[l]->deadline_ < heap_[m]->deadline_) m = l;
    if (r < n && heap_[r]->deadline_ < heap_[m]->deadline_) m = r;
    if (m == i) break;
    std::swap(heap_[m], heap_[i]);
    heap_[m]->heapIndex_ = m;
    heap_[i]->heapIndex_ = i;
    i = m;
  }
}

void EventLoop::heapRemove(size_t i) {
  Timer* t = heap_[i];
  size_t last = heap_.size() - 1;
  if (i != last) {
    heap_[i] = heap_[last];
    heap_[i]->heapIndex_ = i;
  }
  heap_.pop_back();
  t->heapIndex_ = Timer::kNotArmed;
  if (i < heap_.size()) {
    heapDown(i);
    heapUp(i);
  }
}

void EventLoop::schedule(Timer& timer, uint64_t deadline) {
  timer.armedPass_ = timerPass_;
  if (timer.armed()) {
    uint64_t old = timer.deadline_;
    timer.deadline_ = deadline;
    if (deadline < old) {
      heapUp(timer.heapIndex_);
    } else if (deadline > old) {
      heapDown(timer.heapIndex_);
    }
    return;
  }
  timer.deadline_ = deadline;
  timer.heapIndex_ = heap_.size();
  heap_.push_back(&timer);
  heapUp(timer.heapIndex_);
}

void EventLoop::cancel(Timer& timer) {
  if (timer.armed()) {
    heapRemove(timer.heapIndex_);
  }
}

uint64_t EventLoop::refreshNow() {
  now_ = monotonicMillis();
  return now_;
}

void EventLoop::runTimers() {
  // A timer that re-arms itself for now (a session resuming its work) runs
  // in the next pass, after epoll: never twice in one pass, which would
  // starve every descriptor of this thread.
  ++timerPass_;
  while (!heap_.empty() && heap_[0]->deadline_ <= now_ && heap_[0]->armedPass_ != timerPass_) {
    Timer* t = heap_[0];
    heapRemove(0);
    t->onTimer();
  }
}

void EventLoop::runPosted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(postedMutex_);
    tasks.swap(posted_);
  }
  for (auto& t : tasks) {
    t();
  }
}

bool EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(postedMutex_);
    if (closed_) return false;
    posted_.push_back(std::move(task));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof(one));
  return true;
}

void EventLoop::deferDelete(std::unique_ptr<EventHandler> object) {
  graveyard_.push_back(std::move(object));
}

void EventLoop::stop() {
  stopRequested_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof(one));
}

void EventLoop::run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  running_ = true;
  {
    std::lock_guard<std::mutex> lock(postedMutex_);
    closed_ = false;
  }
  while (!stopRequested_.load(std::memory_order_relaxed)) {
    int timeout = -1;
    if (!heap_.empty()) {
      // The batch that just ran may have taken long: the wait is computed
      // from the time now, not from the time before the batch.
      refreshNow();
      uint64_t next = heap_[0]->deadline_;
      timeout = next <= now_ ? 0 : static_cast<int>(std::min<uint64_t>(next - now_, 60'000));
    }
    int n = epoll_wait(epollFd_, events, kMaxEvents, timeout);
    refreshNow();
    if (n < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < n; ++i) {
      static_cast<EventHandler*>(events[i].data.ptr)->onEvents(events[i].events);
    }
    runTimers();
    runPosted();
    graveyard_.clear();
  }
  // From here on post() refuses: what was posted before runs now, and
  // nothing posted later is silently dropped with the loop.
  {
    std::lock_guard<std::mutex> lock(postedMutex_);
    closed_ = true;
  }
  runPosted();
  graveyard_.clear();
  running_ = false;
}

}  // namespace sluice::event
