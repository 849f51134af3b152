// SPDX-License-Identifier: Apache-2.0
// Lingering closes, for refusals that must be read: after sluice's last
// bytes to a client (a TLS alert) and its FIN, what the client still sends
// is read and dropped until the client closes too, or a second passes.
// Closing over unread bytes would make the kernel answer with a reset, and a
// reset can make the client's stack drop the alert unread (Windows does).
//
//   closes.add(fd);   // fd: already shut for writing, registered in the loop
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>

#include "event/loop.h"

namespace sluice::session {

class LingeringCloses {
 public:
  // How long a client may take to close, and how much it may send meanwhile.
  static constexpr uint64_t kLingerMs = 1000;
  static constexpr size_t kMaxDrained = 256 * 1024;

  LingeringCloses(event::EventLoop& loop, char* scratch, size_t scratchSize);
  ~LingeringCloses();  // closes what is left (the worker stops)
  LingeringCloses(const LingeringCloses&) = delete;
  LingeringCloses& operator=(const LingeringCloses&) = delete;

  // Takes `fd` over: it is registered in the loop (its handler is replaced).
  void add(int fd);
  size_t size() const { return entries_.size(); }

 private:
  class Entry;
  void finished(Entry* entry);

  event::EventLoop& loop_;
  char* scratch_;
  size_t scratchSize_;
  std::unordered_map<Entry*, std::unique_ptr<Entry>> entries_;
};

}  // namespace sluice::session
