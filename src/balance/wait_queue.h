// SPDX-License-Identifier: Apache-2.0
// WaitQueue: connections waiting for a server slot ("maxconn" on servers),
// shared by every worker thread of a backend. A waiting session leaves a
// thread-safe wake-up callback; when a slot frees, the oldest is woken on
// its own thread and tries again. FIFO, bounded by "maxqueue".
//
//   uint64_t id = queue.push([loop, worker, sessionId] { loop->post(...); });
//   ...  queue.remove(id);     // the session gave up (timeout queue, client left)
//   ...  queue.wakeOne();      // a slot was freed
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace sluice::balance {

class WaitQueue {
 public:
  using Wake = std::function<void()>;

  // Returns the ticket, or 0 when the queue is at `limit` (0: unlimited).
  uint64_t push(Wake wake, size_t limit = 0, bool front = false);
  bool remove(uint64_t ticket);
  // Wakes the oldest waiter; false when nobody waits.
  bool wakeOne();
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  uint64_t maxSeen() const { return maxSeen_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    uint64_t ticket;
    Wake wake;
  };
  std::mutex mutex_;
  std::deque<Entry> entries_;
  uint64_t next_ = 1;
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> maxSeen_{0};
};

}  // namespace sluice::balance
