// SPDX-License-Identifier: Apache-2.0
// The reader of one QUIC bind's UDP socket on one worker: recvmmsg batches
// handed to the worker's QuicFlows. Flows live in QuicFlows, not here, so a
// reload that replaces listeners keeps them; a listener whose bind a reload
// removed keeps reading, for its flows only, until the last one ends (they
// share the socket through UdpEndpoint).
#pragma once

#include <cstdint>
#include <memory>

#include "core/address.h"
#include "event/loop.h"
#include "runtime/runtime.h"

namespace sluice::session {

class Worker;
class QuicFlows;

// A worker's UDP socket for a QUIC bind. Flows keep it to answer their
// clients, so it lives as long as the last of them.
struct UdpEndpoint {
  UdpEndpoint(int f, const core::Address& l);
  ~UdpEndpoint();
  UdpEndpoint(const UdpEndpoint&) = delete;
  UdpEndpoint& operator=(const UdpEndpoint&) = delete;
  int fd = -1;
  core::Address local;   // the bound address (a wildcard: each datagram says its own)
  uint64_t inode = 0;    // the socket itself: duplicates share it
};

class QuicListener final : public event::EventHandler, public event::Timer {
 public:
  QuicListener(Worker& w, QuicFlows& flows, std::shared_ptr<UdpEndpoint> endpoint, runtime::Frontend* fe,
               std::shared_ptr<const runtime::Runtime> rt);
  ~QuicListener() override;
  bool start();
  // No more events or timer (the object may still be freed later).
  void close();
  void onEvents(uint32_t events) noexcept override;
  void onTimer() noexcept override;
  // Draining (soft stop, or a reload that removed the bind): datagrams of
  // known flows still pass, no new flow starts.
  void stopAccepting() { accepting_ = false; }
  bool accepting() const { return accepting_; }
  const std::shared_ptr<UdpEndpoint>& endpoint() const { return endpoint_; }

 private:
  void readSome() noexcept;

  Worker& w_;
  QuicFlows& flows_;
  std::shared_ptr<UdpEndpoint> endpoint_;
  runtime::Frontend* fe_;
  std::shared_ptr<const runtime::Runtime> rt_;
  bool accepting_ = true;
  bool registered_ = false;
};

}  // namespace sluice::session
