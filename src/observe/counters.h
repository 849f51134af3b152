// SPDX-License-Identifier: Apache-2.0
// Lock-free statistics primitives updated on the data path by every worker
// and read by the control thread (stats page, "show stat", Prometheus):
//   RateCounter    events per second over the last complete second, and the
//                  highest such rate seen ("rate", "rate_max");
//   SlidingAverage the average of the last 1024 samples, and the maximum
//                  ("qtime", "ctime", "ttime" and their "_max").
// Updates are a handful of relaxed atomics once per connection, never per
// byte. Readers may see a value a few events stale; that is all.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace sluice::observe {

// Seconds on a monotonic clock, cheap enough for once per connection.
inline uint64_t monotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec);
}

class RateCounter {
 public:
  void add(uint64_t nowSec = monotonicSeconds()) {
    uint64_t old = slot_.load(std::memory_order_relaxed);
    for (;;) {
      uint64_t sec = old >> 32;
      uint64_t next;
      uint32_t finished = 0;
      bool rolled = sec != (nowSec & 0xffffffffu);
      if (!rolled) {
        next = old + 1;
      } else {
        finished = (sec + 1 == (nowSec & 0xffffffffu)) ? static_cast<uint32_t>(old) : 0;
        next = ((nowSec & 0xffffffffu) << 32) | 1;
      }
      if (slot_.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
        if (rolled) {
          previous_.store(finished, std::memory_order_relaxed);
          raisePeak(static_cast<uint32_t>(old));
        }
        return;
      }
    }
  }

  // Events during the last complete second.
  uint32_t rate(uint64_t nowSec = monotonicSeconds()) const {
    uint64_t s = slot_.load(std::memory_order_relaxed);
    uint64_t sec = s >> 32;
    uint64_t now = nowSec & 0xffffffffu;
    if (sec == now) return previous_.load(std::memory_order_relaxed);
    if (sec + 1 == now) return static_cast<uint32_t>(s);
    return 0;
  }

  uint32_t peak(uint64_t nowSec = monotonicSeconds()) const {
    return std::max(peak_.load(std::memory_order_relaxed), rate(nowSec));
  }

 private:
  void raisePeak(uint32_t v) {
    uint32_t p = peak_.load(std::memory_order_relaxed);
    while (v > p && !peak_.compare_exchange_weak(p, v, std::memory_order_relaxed)) {
    }
  }

  std::atomic<uint64_t> slot_{0};       // second << 32 | events in that second
  std::atomic<uint32_t> previous_{0};   // events in the second before slot_'s
  std::atomic<uint32_t> peak_{0};
};

class SlidingAverage {
 public:
  static constexpr uint64_t kWindow = 1024;

  void add(uint64_t v) {
    uint64_t n = std::min<uint64_t>(count_.fetch_add(1, std::memory_order_relaxed) + 1, kWindow);
    uint64_t s = sum_.load(std::memory_order_relaxed);
    // Until the window is full the sum is exact; then one average sample
    // leaves for each one that enters.
    while (!sum_.compare_exchange_weak(s, n < kWindow ? s + v : s - s / kWindow + v,
                                       std::memory_order_relaxed)) {
    }
    uint64_t m = max_.load(std::memory_order_relaxed);
    while (v > m && !max_.compare_exchange_weak(m, v, std::memory_order_relaxed)) {
    }
  }

  uint64_t average() const {
    uint64_t n = std::min<uint64_t>(count_.load(std::memory_order_relaxed), kWindow);
    return n ? sum_.load(std::memory_order_relaxed) / n : 0;
  }
  uint64_t max() const { return max_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> max_{0};
};

// Keeps the highest value stored into it.
template <typename T>
inline void raiseTo(std::atomic<T>& peak, T v) {
  T p = peak.load(std::memory_order_relaxed);
  while (v > p && !peak.compare_exchange_weak(p, v, std::memory_order_relaxed)) {
  }
}

}  // namespace sluice::observe
