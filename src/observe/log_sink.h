// SPDX-License-Identifier: Apache-2.0
// Where log lines go, as HAProxy's "log" keyword says: stdout/stderr or any
// fd, a UNIX datagram socket (/dev/log), or a UDP syslog server. Each target
// formats its header (local, rfc3164, rfc5424, raw, short, priority, iso,
// timed) and drops lines rather than block a worker thread.
//
//   auto sink = LogSink::open(target, "sluice", error);
//   sink->send(kLevelInfo, "10.0.0.1:5000 [27/Nov/2026:10:00:00.000] fe be/s1 ...");
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace sluice::observe {

enum LogLevel : int { kEmerg = 0, kAlert, kCrit, kErr, kWarning, kNotice, kInfo, kDebug };

class LogSink {
 public:
  static std::shared_ptr<LogSink> open(const config::LogTarget& target, std::string tag,
                                       std::string hostname, std::string& error);
  ~LogSink();

  void send(int level, std::string_view message);
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  const config::LogTarget& target() const { return target_; }

 private:
  LogSink() = default;
  std::string header(int level) const;

  config::LogTarget target_;
  std::string tag_;
  std::string hostname_;
  int fd_ = -1;
  bool ownsFd_ = false;
  std::atomic<uint64_t> dropped_{0};
};

// The sinks one proxy logs to ("log global" plus its own "log" lines).
class Logger {
 public:
  void add(std::shared_ptr<LogSink> sink) { sinks_.push_back(std::move(sink)); }
  bool empty() const { return sinks_.empty(); }
  void log(int level, std::string_view message) const;
  const std::vector<std::shared_ptr<LogSink>>& sinks() const { return sinks_; }

 private:
  std::vector<std::shared_ptr<LogSink>> sinks_;
};

// "27/Nov/2026:10:01:12.123" for a wall-clock time in microseconds.
std::string formatAcceptDate(int64_t epochMicros);

}  // namespace sluice::observe
