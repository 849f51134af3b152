// SPDX-License-Identifier: Apache-2.0
// The reader of a QUIC bind's socket; see quic_listener.h.
#include "session/quic_listener.h"

#include <sys/epoll.h>
#include <sys/stat.h>

#include "net/socket.h"
#include "net/udp.h"
#include "session/quic_flows.h"
#include "session/worker.h"

namespace sluice::session {

namespace {

// Batches of datagrams read in one event before yielding the thread.
constexpr int kBatchesPerEvent = 8;

}  // namespace

UdpEndpoint::UdpEndpoint(int f, const core::Address& l) : fd(f), local(l) {
  struct stat st{};
  if (::fstat(fd, &st) == 0) inode = st.st_ino;
}

UdpEndpoint::~UdpEndpoint() { net::closeFd(fd); }

QuicListener::QuicListener(Worker& w, QuicFlows& flows, std::shared_ptr<UdpEndpoint> endpoint,
                           runtime::Frontend* fe, std::shared_ptr<const runtime::Runtime> rt)
    : w_(w), flows_(flows), endpoint_(std::move(endpoint)), fe_(fe), rt_(std::move(rt)) {}

QuicListener::~QuicListener() { close(); }

void QuicListener::close() {
  if (armed()) w_.loop().cancel(*this);
  if (registered_) w_.loop().remove(endpoint_->fd);
  registered_ = false;
  accepting_ = false;
}

bool QuicListener::start() {
  registered_ = w_.loop().add(endpoint_->fd, EPOLLIN, static_cast<event::EventHandler*>(this));
  if (registered_) readSome();  // datagrams queued while the socket had no reader
  return registered_;
}

void QuicListener::onEvents(uint32_t) noexcept { readSome(); }

void QuicListener::onTimer() noexcept { readSome(); }

void QuicListener::readSome() noexcept {
  if (!registered_) return;
  net::DatagramBatch& batch = flows_.batch();
  for (int round = 0; round < kBatchesPerEvent; ++round) {
    int n = batch.receive(endpoint_->fd);
    if (n <= 0) return;  // drained (or an error a UDP socket reports for a past send)
    for (int i = 0; i < n; ++i) {
      flows_.received(endpoint_, rt_, *fe_, accepting_, batch.data(i), batch.meta(i), batch.peer(i),
                      batch.local(i));
    }
    if (n < net::DatagramBatch::kBatch) return;
  }
  w_.loop().schedule(*this, w_.loop().now());
}

}  // namespace sluice::session
