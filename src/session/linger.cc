// SPDX-License-Identifier: Apache-2.0
// Lingering closes; see linger.h.
#include "session/linger.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

#include "net/socket.h"

namespace sluice::session {

class LingeringCloses::Entry final : public event::EventHandler, public event::Timer {
 public:
  Entry(LingeringCloses& owner, int fd) : owner_(owner), fd_(fd) {}
  ~Entry() override { close(); }

  void close() {
    if (fd_ < 0) return;
    owner_.loop_.cancel(*this);
    net::closeFd(fd_);
  }

  void onEvents(uint32_t events) noexcept override {
    if (fd_ < 0) return;
    // Edge-triggered: read until the socket is empty, the client is done,
    // or it sent more than a client being refused has reason to.
    for (;;) {
      ssize_t n = ::recv(fd_, owner_.scratch_, owner_.scratchSize_, MSG_DONTWAIT);
      if (n > 0) {
        drained_ += static_cast<size_t>(n);
        if (drained_ > kMaxDrained) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !(events & (EPOLLERR | EPOLLHUP))) return;
      break;  // closed by the client, or an error
    }
    owner_.finished(this);
  }

  void onTimer() noexcept override { owner_.finished(this); }

 private:
  LingeringCloses& owner_;
  int fd_;
  size_t drained_ = 0;
};

LingeringCloses::LingeringCloses(event::EventLoop& loop, char* scratch, size_t scratchSize)
    : loop_(loop), scratch_(scratch), scratchSize_(scratchSize) {}

LingeringCloses::~LingeringCloses() {
  for (auto& [entry, owned] : entries_) entry->close();
}

void LingeringCloses::add(int fd) {
  auto entry = std::make_unique<Entry>(*this, fd);
  Entry* e = entry.get();
  if (!loop_.modify(fd, EPOLLIN | EPOLLRDHUP, e)) {
    return;  // the entry's destructor closes it at once
  }
  entries_.emplace(e, std::move(entry));
  loop_.schedule(*e, loop_.now() + kLingerMs);
  // Bytes that came before the handler changed raise no new edge.
  e->onEvents(0);
}

void LingeringCloses::finished(Entry* entry) {
  auto it = entries_.find(entry);
  if (it == entries_.end()) return;
  entry->close();
  std::unique_ptr<Entry> owned = std::move(it->second);
  entries_.erase(it);
  // Its events of this batch may still be on their way: freed after it.
  loop_.deferDelete(std::move(owned));
}

}  // namespace sluice::session
