// SPDX-License-Identifier: Apache-2.0
// The forwarding pump; see pump.h for the readiness rules it keeps.
#include "net/pump.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sluice::net {
namespace {

bool wouldBlock(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

}  // namespace

PumpResult Flow::spliceStep(PumpEnv& env, int src, bool& srcReadable, int dst, bool& dstWritable,
                            PumpActivity& act, bool& progressed, size_t& moved) noexcept {
  if (inPipe_ > 0 && dstWritable) {
    ssize_t n = ::splice(pipe_.readFd, nullptr, dst, nullptr, inPipe_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      inPipe_ -= static_cast<size_t>(n);
      act.wrote = true;
      progressed = true;
    } else if (n < 0 && wouldBlock(errno)) {
      dstWritable = false;
    } else if (n < 0 && errno != EINTR) {
      return PumpResult::DstError;
    }
  }
  if (!srcEof_ && srcReadable && (!pipe_.valid() || inPipe_ < pipe_.capacity)) {
    if (!pipe_.valid()) {
      pipe_ = env.pipes->acquire();
      if (!pipe_.valid()) {
        spliceMode_ = false;  // out of descriptors for pipes: copy instead
        progressed = true;
        return PumpResult::Ok;
      }
    }
    ssize_t n = ::splice(src, nullptr, pipe_.writeFd, nullptr, pipe_.capacity - inPipe_,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      inPipe_ += static_cast<size_t>(n);
      bytes_ += static_cast<uint64_t>(n);
      moved += static_cast<size_t>(n);
      act.read = true;
      progressed = true;
    } else if (n == 0) {
      srcEof_ = true;
      act.read = true;
      progressed = true;
    } else if (wouldBlock(errno)) {
      // Only an empty pipe proves the socket empty: a pipe that holds bytes
      // may be full by slots (one per packet) long before it is full by
      // bytes, and splice() says EAGAIN for that too. Readiness stays, and
      // the next splice, once the destination took the pipe's bytes, tells.
      if (inPipe_ == 0) srcReadable = false;
    } else if (errno == EINVAL || errno == ENOSYS) {
      if (inPipe_ != 0) return PumpResult::SrcError;
      spliceMode_ = false;  // this socket cannot splice: copy
      progressed = true;
    } else if (errno != EINTR) {
      return PumpResult::SrcError;
    }
  }
  if (inPipe_ == 0 && pipe_.valid() && (!srcReadable || srcEof_)) env.pipes->release(pipe_);
  return PumpResult::Ok;
}

PumpResult Flow::copyStep(PumpEnv& env, int src, bool& srcReadable, int dst, bool& dstWritable,
                          PumpActivity& act, bool& progressed, size_t& moved) noexcept {
  // What an earlier send left behind goes first.
  if (bufEnd_ > bufStart_ && dstWritable) {
    size_t want = bufEnd_ - bufStart_;
    ssize_t n = ::send(dst, buffer_.get() + bufStart_, want, MSG_NOSIGNAL);
    if (n > 0) {
      bufStart_ += static_cast<size_t>(n);
      if (bufStart_ == bufEnd_) {
        bufStart_ = bufEnd_ = 0;
        buffer_.reset();  // idle connections keep no buffer
      }
      if (static_cast<size_t>(n) < want) dstWritable = false;  // the socket buffer is full
      act.wrote = true;
      progressed = true;
    } else if (n < 0 && wouldBlock(errno)) {
      dstWritable = false;
    } else if (n < 0 && errno != EINTR) {
      return PumpResult::DstError;
    }
  }
  if (!srcEof_ && srcReadable && bufEnd_ == 0) {
    // Read into the thread's scratch buffer and send at once: small records
    // cost one recv and one send, and no memory stays behind.
    ssize_t n = ::recv(src, env.scratch, env.scratchSize, 0);
    if (n > 0) {
      size_t got = static_cast<size_t>(n);
      bytes_ += got;
      copied_ += got;
      moved += got;
      act.read = true;
      progressed = true;
      // A short read drained the socket: epoll (edge-triggered) reports the
      // next data; a read that found the peer's FIN must go on to 0.
      if (got < env.scratchSize && !srcHup_) srcReadable = false;
      size_t sent = 0;
      if (dstWritable) {
        ssize_t m = ::send(dst, env.scratch, got, MSG_NOSIGNAL);
        if (m > 0) {
          sent = static_cast<size_t>(m);
          act.wrote = true;
        } else if (m < 0 && !wouldBlock(errno) && errno != EINTR) {
          return PumpResult::DstError;
        }
        if (sent < got) dstWritable = false;
      }
      if (sent < got) {
        buffer_.reset(new char[got - sent]);
        std::memcpy(buffer_.get(), env.scratch + sent, got - sent);
        bufStart_ = 0;
        bufEnd_ = got - sent;
      }
      // Bulk data waiting: splice from now on (no copy through user space).
      if (got >= env.spliceThreshold && env.spliceAllowed && bufEnd_ == 0) spliceMode_ = true;
    } else if (n == 0) {
      srcEof_ = true;
      act.read = true;
      progressed = true;
    } else if (wouldBlock(errno)) {
      srcReadable = false;
    } else if (errno != EINTR) {
      return PumpResult::SrcError;
    }
  }
  return PumpResult::Ok;
}

PumpResult Flow::pump(PumpEnv& env, int src, bool& srcReadable, int dst, bool& dstWritable, bool otherDstShut,
                      PumpActivity& act) noexcept {
  size_t moved = 0;
  if (!spliceMode_ && env.spliceAllowed && env.spliceThreshold == 0 && bytes_ == 0) spliceMode_ = true;
  while (true) {
    bool progressed = false;
    PumpResult r = spliceMode_ ? spliceStep(env, src, srcReadable, dst, dstWritable, act, progressed, moved)
                               : copyStep(env, src, srcReadable, dst, dstWritable, act, progressed, moved);
    if (r != PumpResult::Ok) return r;
    if (srcEof_ && pending() == 0 && !dstShut_) {
      // When the other direction is already over, the owner closes both
      // sockets next, and close() sends the FIN: no shutdown() first.
      if (!otherDstShut) ::shutdown(dst, SHUT_WR);
      dstShut_ = true;
      act.wrote = true;
      progressed = true;
    }
    if (!progressed) return PumpResult::Ok;
    if (moved >= env.budget) {
      act.yielded = true;
      return PumpResult::Ok;
    }
  }
}

void Flow::release(PipePool& pipes) noexcept {
  if (!pipe_.valid()) return;
  if (inPipe_ > 0) {
    pipes.discard(pipe_);
    inPipe_ = 0;
  } else {
    pipes.release(pipe_);
  }
}

}  // namespace sluice::net
