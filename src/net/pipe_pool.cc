// SPDX-License-Identifier: Apache-2.0
// Pipe pool for splice; see pipe_pool.h.
#include "net/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace sluice::net {

PipePool::PipePool(size_t pipeSize, size_t maxIdle) : pipeSize_(pipeSize), maxIdle_(maxIdle) {}

PipePool::~PipePool() {
  for (Pipe& p : idle_) {
    ::close(p.readFd);
    ::close(p.writeFd);
  }
}

Pipe PipePool::acquire() {
  Pipe p;
  if (!idle_.empty()) {
    p = idle_.back();
    idle_.pop_back();
    ++inUse_;
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return p;
  }
  p.readFd = fds[0];
  p.writeFd = fds[1];
  // F_SETPIPE_SZ may be refused (pipe-user-pages-soft), leaving the
  // kernel's default: each pipe asks for its own size.
  if (pipeSize_ > 0) ::fcntl(p.writeFd, F_SETPIPE_SZ, static_cast<int>(pipeSize_));
  int got = ::fcntl(p.writeFd, F_GETPIPE_SZ);
  p.capacity = got > 0 ? static_cast<size_t>(got) : 4096;
  ++inUse_;
  return p;
}

void PipePool::release(Pipe& pipe) {
  if (!pipe.valid()) return;
  --inUse_;
  if (idle_.size() < maxIdle_) {
    idle_.push_back(pipe);
  } else {
    ::close(pipe.readFd);
    ::close(pipe.writeFd);
  }
  pipe = Pipe{};
}

void PipePool::trim() {
  for (Pipe& p : idle_) {
    ::close(p.readFd);
    ::close(p.writeFd);
  }
  idle_.clear();
}

void PipePool::discard(Pipe& pipe) {
  if (!pipe.valid()) return;
  --inUse_;
  ::close(pipe.readFd);
  ::close(pipe.writeFd);
  pipe = Pipe{};
}

}  // namespace sluice::net
