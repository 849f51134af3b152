// SPDX-License-Identifier: Apache-2.0
// A per-thread pool of pipes for splice(). A connection takes a pipe only
// while bytes are in flight in one direction and gives it back once the pipe
// is empty, so idle connections hold no pipe (and no kernel pipe buffers).
//
//   PipePool pool(65536);
//   Pipe p = pool.acquire();        // p.valid() false when none could be made
//   ... splice(src, p.readFd/writeFd ...) ...
//   pool.release(p);                // only when empty
#pragma once

#include <cstddef>
#include <vector>

namespace sluice::net {

struct Pipe {
  int readFd = -1;
  int writeFd = -1;
  size_t capacity = 0;  // bytes this pipe holds (F_GETPIPE_SZ), its own: sizes may differ
  bool valid() const { return readFd >= 0; }
};

class PipePool {
 public:
  // `pipeSize` 0 keeps the kernel default (64 KiB). `maxIdle` pipes are kept.
  explicit PipePool(size_t pipeSize = 0, size_t maxIdle = 16);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  Pipe acquire();
  void release(Pipe& pipe);    // the pipe must be empty
  void discard(Pipe& pipe);    // closes a pipe that may hold data
  void trim();                 // closes every idle pipe (descriptors are short)
  size_t idle() const { return idle_.size(); }
  size_t inUse() const { return inUse_; }

 private:
  size_t pipeSize_;
  size_t maxIdle_;
  size_t inUse_ = 0;
  std::vector<Pipe> idle_;
};

}  // namespace sluice::net
