// SPDX-License-Identifier: Apache-2.0
// Flow: one direction of a forwarded byte stream, and the pump that moves
// its bytes from a source socket to a destination socket, by copying small
// records through a scratch buffer or by splice() through a pooled pipe.
//
// Readiness follows edge-triggered epoll (docs/architecture.md, "Readiness
// rules"): the owner sets `readable`/`writable` when an event says so; the
// pump clears them only when a system call proves them false:
//   - readable is cleared by EAGAIN from a read into an EMPTY pipe or buffer,
//     or by a short recv(); EAGAIN from splice() into a pipe that already
//     holds bytes may mean "pipe full" (a pipe has 16 slots, one per packet,
//     whatever the packet's size), so it keeps readable;
//   - writable is cleared by EAGAIN or a short send();
//   - after the peer's FIN was signalled (peerClosed), reads go on until 0.
//
//   net::Flow up;
//   net::PumpEnv env{&pipes, scratch, sizeof scratch, /*splice=*/true};
//   net::PumpActivity act;
//   net::PumpResult r = up.pump(env, clientFd, clientReadable, serverFd, serverWritable,
//                               /*otherDstShut=*/false, act);
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "net/pipe_pool.h"

namespace sluice::net {

// What a flow borrows from the thread that runs it.
struct PumpEnv {
  PipePool* pipes = nullptr;
  char* scratch = nullptr;
  size_t scratchSize = 0;
  bool spliceAllowed = true;
  // A read at least this large shows bulk data waiting: splice from then on
  // (0: splice from the first byte).
  size_t spliceThreshold = 32768;
  // Bytes one pump() call moves before it yields to other connections.
  size_t budget = 4u << 20;
};

enum class PumpResult : uint8_t { Ok, SrcError, DstError };

// What one pump() call did, for the owner's timers and fairness.
struct PumpActivity {
  bool read = false;     // bytes (or the FIN) came from the source
  bool wrote = false;    // bytes (or the FIN) went to the destination
  bool yielded = false;  // stopped at the budget with work left: call again soon
};

class Flow {
 public:
  Flow() = default;
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  // Moves bytes until neither side can make progress (or the budget is
  // spent). `otherDstShut`: the opposite direction has passed its FIN on;
  // then this one's FIN is left to close(), no shutdown() is needed.
  PumpResult pump(PumpEnv& env, int src, bool& srcReadable, int dst, bool& dstWritable, bool otherDstShut,
                  PumpActivity& activity) noexcept;

  // Bytes the owner read from the source itself (the inspected ClientHello,
  // a PROXY header) count as this direction's; `uncount` takes back a
  // header that is not part of the stream.
  void count(uint64_t n) noexcept { bytes_ += n; }
  void uncount(uint64_t n) noexcept { bytes_ -= n; }
  // The source's FIN was read by the owner (while inspecting).
  void sourceEnded() noexcept { srcEof_ = true; }
  // epoll reported the peer's close: no further event will come, read to 0.
  void peerClosed() noexcept { srcHup_ = true; }
  bool peerHasClosed() const noexcept { return srcHup_; }

  bool srcEof() const noexcept { return srcEof_; }
  bool dstShut() const noexcept { return dstShut_; }
  uint64_t bytes() const noexcept { return bytes_; }
  uint64_t copied() const noexcept { return copied_; }
  bool spliced() const noexcept { return spliceMode_; }
  // Bytes read from the source and not yet written to the destination.
  size_t pending() const noexcept { return inPipe_ + (bufEnd_ - bufStart_); }

  // Gives the pipe back (or closes it if bytes are left in it).
  void release(PipePool& pipes) noexcept;

 private:
  PumpResult spliceStep(PumpEnv& env, int src, bool& srcReadable, int dst, bool& dstWritable,
                        PumpActivity& act, bool& progressed, size_t& moved) noexcept;
  PumpResult copyStep(PumpEnv& env, int src, bool& srcReadable, int dst, bool& dstWritable,
                      PumpActivity& act, bool& progressed, size_t& moved) noexcept;

  Pipe pipe_;
  size_t inPipe_ = 0;
  std::unique_ptr<char[]> buffer_;  // what the destination has not taken yet (copy)
  size_t bufStart_ = 0;
  size_t bufEnd_ = 0;
  bool spliceMode_ = false;
  bool srcEof_ = false;   // the source said FIN
  bool srcHup_ = false;   // epoll said the peer closed: read until 0
  bool dstShut_ = false;  // the FIN was passed on
  uint64_t bytes_ = 0;
  uint64_t copied_ = 0;   // of bytes_, the ones that went through user space
};

}  // namespace sluice::net
