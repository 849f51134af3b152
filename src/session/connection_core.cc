// SPDX-License-Identifier: Apache-2.0
// What a TCP session and a QUIC flow share; see connection_core.h.
#include "session/connection_core.h"

#include <algorithm>

#include "session/worker.h"
#include "stick/table.h"

namespace sluice::session {

namespace {

// How often a connection adds its bytes to the shared counters while it
// lives: they are cache lines every thread writes.
constexpr uint64_t kAccountBytes = 256 * 1024;
constexpr uint64_t kAccountMs = 500;

}  // namespace

ConnectionCore::ConnectionCore(Worker& w, std::shared_ptr<const runtime::Runtime> runtime,
                               runtime::Frontend& frontend, RuleContext context)
    : worker(w), rt(std::move(runtime)), fe(frontend), rc(std::move(context)), acceptedDst(rc.dst) {
  id = worker.process().nextSessionId.fetch_add(1, std::memory_order_relaxed) + 1;
  acceptWallMicros = event::wallMicros();
  acceptMono = worker.loop().now();
  lastAccounted_ = acceptMono;
}

core::Address ConnectionCore::target() const {
  core::Address t = server->currentAddress();  // DNS and the runtime API change it in place
  const core::Address& dst = interceptedDst ? *interceptedDst : rc.dst;
  if (server->addressFromClient && dst.valid()) {
    uint16_t own = t.port();
    t = dst;
    t.setPort(own);
  }
  if (server->portFromClient) {
    int port = static_cast<int>(dst.port()) + server->portOffset;
    t.setPort(static_cast<uint16_t>(std::clamp(port, 1, 65535)));
  }
  return t;
}

runtime::Backend::Origin ConnectionCore::origin(const core::Address& t, const core::Address& client) const {
  return be->originFor(*server, client, t);
}

void ConnectionCore::useServer(balance::ServerState* chosen, uint64_t now) {
  server = chosen;
  server->connectionOpened();
  if (connectStart == 0) connectStart = now;
}

void ConnectionCore::releaseServer() {
  if (!server) return;
  server->connectionClosed();
  if (server->maxconn.load(std::memory_order_relaxed) > 0 && be) be->queue->wakeOne();
  server = nullptr;
}

ConnectionCore::Retry ConnectionCore::connectFailed(int error, bool timedOutNow) {
  if (server->errorLimit) {  // "observe layer4": the control thread applies "on-error"
    uint32_t n = server->live->consecutiveErrors.fetch_add(1, std::memory_order_relaxed) + 1;
    const auto& notify = worker.process().serverErrors;
    if (n == server->errorLimit && notify) notify(server->live, timedOutNow ? ETIMEDOUT : error);
  }
  lastError = error;
  timedOut = timedOutNow;
  server->counters.connectErrors.fetch_add(1, std::memory_order_relaxed);
  if (retries >= be->retries) {
    be->counters->errors.fetch_add(1, std::memory_order_relaxed);
    return Retry::GiveUp;
  }
  ++retries;
  server->counters.retries.fetch_add(1, std::memory_order_relaxed);
  bool moveOn = false;
  if (be->redispatch) {
    const int interval = be->redispatchInterval;
    const int done = static_cast<int>(retries);
    if (!server->usable()) {
      moveOn = true;
    } else if (interval > 0 && done % interval == 0) {
      moveOn = true;
    } else if (interval < 0) {
      const int period = static_cast<int>(be->retries) + 1 + interval;
      if (period > 0 && done % period == 0) moveOn = true;
    }
    if (be->roundRobinKind && be->balancer->usableCount() > 1) moveOn = true;
  }
  if (!moveOn) return Retry::SameServerLater;
  tried.push_back(server);
  server->counters.redispatches.fetch_add(1, std::memory_order_relaxed);
  releaseServer();
  redispatched = true;
  return Retry::OtherServer;
}

uint32_t ConnectionCore::retryPauseMs() const {
  uint32_t delay = 1000;
  if (be->timeoutConnect && be->timeoutConnect < delay) delay = be->timeoutConnect;
  return delay;
}

void ConnectionCore::accountBytes(uint64_t inTotal, uint64_t outTotal, uint64_t copiedTotal, uint64_t now,
                                  bool final) {
  const uint64_t in = inTotal - accountedIn_;
  const uint64_t out = outTotal - accountedOut_;
  if (in == 0 && out == 0) return;
  if (!final && in + out < kAccountBytes && now < lastAccounted_ + kAccountMs) return;
  lastAccounted_ = now;
  accountedIn_ = inTotal;
  accountedOut_ = outTotal;
  auto add = [](std::atomic<uint64_t>& c, uint64_t v) {
    if (v) c.fetch_add(v, std::memory_order_relaxed);
  };
  add(fe.counters->bytesIn, in);
  add(fe.counters->bytesOut, out);
  if (rc.tracking) {
    const uint64_t nowMs = stick::monotonicMs();
    for (stick::Tracked& t : rc.tracking->sc) {
      if (t.entry) t.table->countBytes(t.entry, in, out, nowMs);
    }
  }
  if (be) {
    add(be->counters->bytesIn, in);
    add(be->counters->bytesOut, out);
  }
  if (server) {
    add(server->counters.bytesIn, in);
    add(server->counters.bytesOut, out);
  }
  ProcessState& ps = worker.process();
  const uint64_t newlyCopied = copiedTotal - accountedCopied_;
  accountedCopied_ = copiedTotal;
  add(ps.copiedBytes, newlyCopied);
  add(ps.splicedBytes, in + out - newlyCopied);
}

void ConnectionCore::recordTimes(char cause, bool forwarding, uint64_t now) {
  if (!be) return;
  runtime::ProxyCounters& b = *be->counters;
  balance::ServerCounters* s = server ? &server->counters : nullptr;
  if (queueMs >= 0) {
    b.queueTime.add(static_cast<uint64_t>(queueMs));
    if (s) s->queueTime.add(static_cast<uint64_t>(queueMs));
  }
  if (connectMs >= 0) {
    b.connectTime.add(static_cast<uint64_t>(connectMs));
    if (s) s->connectTime.add(static_cast<uint64_t>(connectMs));
  }
  const uint64_t total = now - acceptMono;
  b.totalTime.add(total);
  if (s) s->totalTime.add(total);
  if (forwarding && cause == 'C') {
    b.clientAborts.fetch_add(1, std::memory_order_relaxed);
    if (s) s->clientAborts.fetch_add(1, std::memory_order_relaxed);
  } else if (forwarding && cause == 'S') {
    b.serverAborts.fetch_add(1, std::memory_order_relaxed);
    if (s) s->serverAborts.fetch_add(1, std::memory_order_relaxed);
  }
}

observe::LogRecord ConnectionCore::logRecord(uint64_t now) const {
  observe::LogRecord r;
  r.acceptWallMicros = acceptWallMicros;
  r.tw = queueMs;
  r.tc = connectMs;
  r.tt = static_cast<int64_t>(now - acceptMono);
  r.term[0] = termCause;
  r.term[1] = termStage;
  r.retries = retries;
  r.redispatched = redispatched;
  return r;
}

void ConnectionCore::log(observe::LogRecord& r, bool error) {
  rc.log(fe, be, server, worker.process().actconn.load(std::memory_order_relaxed), r, error);
}

}  // namespace sluice::session
