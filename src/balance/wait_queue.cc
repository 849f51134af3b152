// SPDX-License-Identifier: Apache-2.0
// Backend wait queue; see wait_queue.h.
#include "balance/wait_queue.h"

namespace sluice::balance {

uint64_t WaitQueue::push(Wake wake, size_t limit, bool front) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (limit && entries_.size() >= limit) return 0;
  uint64_t t = next_++;
  if (front) {
    entries_.push_front({t, std::move(wake)});
  } else {
    entries_.push_back({t, std::move(wake)});
  }
  size_.store(entries_.size(), std::memory_order_relaxed);
  if (entries_.size() > maxSeen_.load(std::memory_order_relaxed)) maxSeen_.store(entries_.size());
  return t;
}

bool WaitQueue::remove(uint64_t ticket) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->ticket == ticket) {
      entries_.erase(it);
      size_.store(entries_.size(), std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

bool WaitQueue::wakeOne() {
  Wake wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.empty()) return false;
    wake = std::move(entries_.front().wake);
    entries_.pop_front();
    size_.store(entries_.size(), std::memory_order_relaxed);
  }
  wake();  // outside the lock: it only posts to a loop
  return true;
}

}  // namespace sluice::balance
