// SPDX-License-Identifier: Apache-2.0
// The per-connection state machine; see session.h for the way of one
// connection and docs/architecture.md for the memory it costs.
#include "session/session.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <climits>

#include "net/socket.h"
#include "observe/tcplog.h"
#include "proto/proxy_protocol.h"
#include "proto/rdp.h"
#include "proto/socks4.h"
#include "proto/tls_alert.h"
#include "session/worker.h"

namespace sluice::session {

namespace {

constexpr uint32_t kClientEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
constexpr size_t kInitialInspectBuffer = 2048;
// A read this large means bulk data is queued: the flow switches to splice.
constexpr size_t kSpliceThreshold = 32768;
// Rounds of both pumps in one forward() before it yields the thread.
constexpr int kForwardRounds = 8;
constexpr uint64_t kNoDeadline = UINT64_MAX;

bool isResourceError(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == EADDRNOTAVAIL ||
         err == EPERM || err == EACCES || err == EADDRINUSE;
}

// Sends what is left of a held buffer (the replayed request, the inspected
// response) and frees it once all went out. False: the peer failed the send.
bool sendHeld(int fd, std::vector<uint8_t>& buf, size_t& sent, bool& writable, uint64_t& lastActivity,
              uint64_t nowMs) noexcept {
  while (sent < buf.size() && writable) {
    ssize_t n = ::send(fd, buf.data() + sent, buf.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      lastActivity = nowMs;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writable = false;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
  if (sent >= buf.size() && !buf.empty()) {
    std::vector<uint8_t>().swap(buf);  // give the memory back
    sent = 0;
  }
  return true;
}

}  // namespace

Session::Session(Worker& worker, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend& fe,
                 int clientFd, const core::Address& src, const core::Address& dst, const config::BindConfig* bind)
    : worker_(worker),
      core_(worker, std::move(rt), fe, RuleContext(src, dst)),
      clientFd_(clientFd),
      expectProxy_(bind && bind->acceptProxy),
      bind_(bind) {
  core_.rc.clientFd = clientFd_;
  lastClientActivity_ = core_.acceptMono;
  lastServerActivity_ = core_.acceptMono;
}

Session::~Session() {
  core_.rc.untrack();
  net::closeFd(clientFd_);
  net::closeFd(serverFd_);
}

uint64_t Session::now() const noexcept { return worker_.loop().now(); }

route::SessionView Session::view(bool final) noexcept {
  route::SessionView v;
  v.src = core_.rc.src;
  v.dst = core_.rc.dst;
  v.frontendName = core_.fe.name;
  if (core_.be) v.backendName = core_.be->name;
  v.hello = hello_ && hello_->status() == proto::HelloStatus::Done ? &hello_->info() : nullptr;
  v.helloFinal = helloFinal_ || !core_.fe.waitsForHello;
  v.payload = std::span<const uint8_t>(inspectBuffer_.data(), inspectBuffer_.size());
  v.final = final;
  v.response = std::span<const uint8_t>(responseBuffer_.data(), responseBuffer_.size());
  v.captures = &core_.rc.captures;
  v.proxyTlvs = core_.rc.proxyTlvs;
  v.vars = &core_.rc.vars;
  v.tables = &core_.rt->tables;
  v.proxies = core_.rt.get();
  v.stickTable = core_.be ? core_.be->stickTable : core_.fe.stickTable;
  v.tracking = core_.rc.tracking.get();
  // A TCP session moves what it reads: what came in one side went out the
  // other (the PROXY header excepted, which Flow does not count).
  v.counted = true;
  v.fromClient = v.toServer = c2s_.bytes();
  v.fromServer = v.toClient = s2c_.bytes();
  return v;
}

char Session::stageLetter() const noexcept {
  switch (state_) {
    case State::Inspecting: return 'R';
    case State::Queued: return 'Q';
    case State::TurnAround:
    case State::Connecting: return 'C';
    case State::Forwarding: return 'D';
    case State::Closed: return '-';
  }
  return '-';
}

void Session::start() noexcept {
  counted_ = true;
  core_.fe.counters->opened();
  // TCP_NODELAY comes from the listening socket (Linux copies it to each
  // accepted one): no setsockopt per connection.
  if (core_.fe.clitcpka) {
    net::setKeepAlive(clientFd_, core_.fe.clitcpkaSpec.count, core_.fe.clitcpkaSpec.idleSeconds,
                      core_.fe.clitcpkaSpec.intervalSeconds);
  }

  // tcp-request connection: before any byte is read. Rejected connections are
  // not sessions: they are counted as denied and not logged (as HAProxy).
  RuleVerdict verdict = core_.rc.connectionRules(core_.fe.connectionRules, [this] { return view(true); }, expectProxy_);
  if (verdict == RuleVerdict::Reject || verdict == RuleVerdict::SilentDrop) {
    core_.fe.counters->deniedConnections.fetch_add(1, std::memory_order_relaxed);
    if (verdict == RuleVerdict::SilentDrop) net::setLingerZero(clientFd_);
    loggedEarly_ = true;  // not logged
    finish('P', 'R');
    return;
  }
  // The connection is accepted: it is now a session for the counters it
  // tracks (sess_cnt, sess_rate).
  core_.rc.countSession();

  if (!worker_.loop().add(clientFd_, kClientEvents, this)) {
    finish('R', 'R');
    return;
  }
  state_ = State::Inspecting;
  if (expectProxy_) {
    // The header must come within the client timeout (5 s when none is set).
    proxyDone_ = false;
    proxyDeadline_ = core_.acceptMono + (core_.fe.timeoutClient ? core_.fe.timeoutClient : 5000);
    clientReadable_ = true;
    readProxyHeader();
    return;
  }
  afterHandshake();
}

// After the PROXY header (if any): session rules, the "Connect from" line,
// then inspection or straight to the server.
void Session::afterHandshake() noexcept {
  if (!core_.fe.sessionRules.empty()) {
    bool waiting = false;
    windowOver_ = true;
    if (!runRules(core_.fe.sessionRules, waiting)) return;
    windowOver_ = false;
  }
  if (!core_.fe.tcplog && !core_.fe.logFormat && !core_.fe.logger.empty()) {
    observe::LogRecord r;
    r.client = core_.rc.src;
    r.frontendAddress = core_.rc.dst;
    r.frontend = core_.fe.name;
    core_.fe.logger.log(observe::kInfo, observe::formatConnectLog(r));
  }
  if (core_.fe.inspects) {
    if (core_.fe.inspectWindow > 0) {
      inspectDeadline_ = now() + core_.fe.inspectWindow;
    } else {
      windowOver_ = true;  // rules see what is there now, as HAProxy without inspect-delay
    }
    clientReadable_ = true;  // try at once: the hello often arrives with the connection
    inspect();
  } else {
    decide();
  }
}

void Session::readProxyHeader() noexcept {
  if (!readClient()) return;
  proto::ProxyHeader h;
  proto::ProxyError err;
  proto::ProxyStatus st = proto::parseProxyHeader(inspectBuffer_, h, err);
  if (st == proto::ProxyStatus::NeedMore) {
    if (c2s_.srcEof()) {
      refuseProxyHeader('C', inspectBuffer_.empty() ? "Connection closed while waiting for PROXY protocol header"
                                                    : "Truncated PROXY protocol header received");
      return;
    }
    rearmTimer();
    return;
  }
  if (st == proto::ProxyStatus::Invalid) {
    core_.fe.counters->badProxyHeaders.fetch_add(1, std::memory_order_relaxed);
    refuseProxyHeader('P', err == proto::ProxyError::NotProxy
                               ? "Received something which does not look like a PROXY protocol header"
                           : err == proto::ProxyError::V2BadFamily || err == proto::ProxyError::V2BadCommand
                               ? "Received an unhandled protocol in the PROXY protocol header"
                               : "Received an invalid PROXY protocol header");
    return;
  }
  if (!h.local) {
    core_.rc.src = h.src;
    core_.rc.dst = h.dst;
  }
  core_.rc.proxyTlvs = std::move(h.tlvArea);
  inspectBuffer_.erase(inspectBuffer_.begin(), inspectBuffer_.begin() + static_cast<std::ptrdiff_t>(h.length));
  c2s_.uncount(h.length);
  proxyDone_ = true;
  afterHandshake();
}

void Session::onEvents(uint32_t events) noexcept {
  if (state_ == State::Closed) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) clientReadable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) clientWritable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c2s_.peerClosed();
  switch (state_) {
    case State::Inspecting:
      if (proxyDone_) {
        inspect();
      } else {
        readProxyHeader();
      }
      break;
    case State::Queued:
    case State::TurnAround:
    case State::Connecting:
      // A reset (or full close) while waiting for the server aborts the
      // session; a half-close is passed on once connected.
      if (events & (EPOLLERR | EPOLLHUP)) {
        finish('C', stageLetter());
      }
      break;
    case State::Forwarding:
      forward();
      break;
    case State::Closed:
      break;
  }
}

void Session::onServerEvents(uint32_t events) noexcept {
  if (state_ == State::Closed) return;
  if (state_ == State::Connecting) {
    if (socksPending_) {
      socksEvents(events);
      return;
    }
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      // Writable without error or hang-up: the connect succeeded; only a
      // failure needs SO_ERROR for its reason.
      bool clean = (events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP));
      int err = clean ? 0 : net::socketError(serverFd_);
      if (err == 0 && clean && core_.server->socks4) {
        // A new socket's send buffer takes the 16-byte request whole.
        const auto req = proto::socks4Connect(socksTarget_);
        if (::send(serverFd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
          connectFailed(errno ? errno : EIO, false);
          return;
        }
        socksPending_ = true;
        socksGot_ = 0;
        socksEvents(events);
        return;
      }
      if (err == 0 && clean) {
        serverWritable_ = true;
        if (events & (EPOLLIN | EPOLLRDHUP)) serverReadable_ = true;
        if (events & EPOLLRDHUP) s2c_.peerClosed();
        established();
      } else {
        connectFailed(err ? err : ECONNREFUSED, false);
      }
    }
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) serverReadable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) serverWritable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s2c_.peerClosed();
  if (state_ == State::Forwarding) forward();
}

void Session::onTimer() noexcept {
  if (state_ == State::Closed) return;
  uint64_t t = now();
  bool clientIdle = core_.fe.timeoutClient && t >= lastClientActivity_ + core_.fe.timeoutClient;
  switch (state_) {
    case State::Inspecting:
      if (!proxyDone_) {
        if (t >= proxyDeadline_) {
          refuseProxyHeader('c', "Timeout while waiting for PROXY protocol header");
          return;
        }
        break;
      }
      if (!windowOver_ && inspectDeadline_ && t >= inspectDeadline_) {
        windowOver_ = true;
        if (core_.fe.waitsForHello && !helloFinal_) {
          core_.fe.counters->hello.timedOut.fetch_add(1, std::memory_order_relaxed);
        }
        decide();
        return;
      }
      if (clientIdle) {
        finish('c', 'R');
        return;
      }
      break;
    case State::Queued:
      if (t >= queueDeadline_) {
        leaveQueue();
        core_.be->counters->noServer.fetch_add(1, std::memory_order_relaxed);
        finish('s', 'Q');
        return;
      }
      if (clientIdle) {
        leaveQueue();
        finish('c', 'Q');
        return;
      }
      break;
    case State::TurnAround:
      if (t >= retryAt_) {
        connect();
        return;
      }
      if (clientIdle) {
        finish('c', 'C');
        return;
      }
      break;
    case State::Connecting:
      if (connectDeadline_ && t >= connectDeadline_) {
        connectFailed(ETIMEDOUT, true);
        return;
      }
      if (clientIdle) {
        finish('c', 'C');
        return;
      }
      break;
    case State::Forwarding: {
      if (resume_) {
        // forward() yielded with work left (see there): go on now.
        resume_ = false;
        forward();
        return;
      }
      if (responseInspecting_ && responseDeadline_ && t >= responseDeadline_) {
        forward();  // the inspection window is over: the rules decide now
        return;
      }
      ForwardTimeouts to = forwardTimeouts();
      if (to.client && t >= lastClientActivity_ + to.client) {
        finish('c', s2c_.srcEof() && s2c_.pending() ? 'L' : 'D');
        return;
      }
      if (to.server && t >= lastServerActivity_ + to.server) {
        finish('s', 'D');
        return;
      }
      if (to.tunnel && t >= std::max(lastClientActivity_, lastServerActivity_) + to.tunnel) {
        finish('c', 'D');
        return;
      }
      break;
    }
    case State::Closed:
      return;
  }
  rearmTimer();
}

// Inactivity limits while forwarding: client and server timeouts, replaced
// by "timeout tunnel" once connected, and by client-fin / server-fin once
// either direction is shut.
Session::ForwardTimeouts Session::forwardTimeouts() const noexcept {
  bool halfClosed = c2s_.srcEof() || s2c_.srcEof();
  uint32_t tunnel = core_.be->timeoutTunnel;
  ForwardTimeouts t;
  t.client = halfClosed && core_.fe.timeoutClientFin ? core_.fe.timeoutClientFin : (tunnel ? 0 : core_.fe.timeoutClient);
  t.server = halfClosed && core_.be->timeoutServerFin ? core_.be->timeoutServerFin : (tunnel ? 0 : core_.be->timeoutServer);
  t.tunnel = t.client || t.server ? 0 : tunnel;
  return t;
}

uint64_t Session::nextDeadline() const noexcept {
  uint64_t d = kNoDeadline;
  auto consider = [&d](uint64_t v) {
    if (v && v < d) d = v;
  };
  uint64_t clientIdle = core_.fe.timeoutClient ? lastClientActivity_ + core_.fe.timeoutClient : 0;
  switch (state_) {
    case State::Inspecting:
      if (!proxyDone_) {
        consider(proxyDeadline_);
        break;
      }
      if (!windowOver_) consider(inspectDeadline_);
      consider(clientIdle);
      break;
    case State::Queued:
      consider(queueDeadline_);
      consider(clientIdle);
      break;
    case State::TurnAround:
      consider(retryAt_);
      consider(clientIdle);
      break;
    case State::Connecting:
      consider(connectDeadline_);
      consider(clientIdle);
      break;
    case State::Forwarding: {
      if (responseInspecting_) consider(responseDeadline_);
      ForwardTimeouts to = forwardTimeouts();
      if (to.client) consider(lastClientActivity_ + to.client);
      if (to.server) consider(lastServerActivity_ + to.server);
      if (to.tunnel) consider(std::max(lastClientActivity_, lastServerActivity_) + to.tunnel);
      break;
    }
    case State::Closed:
      break;
  }
  return d;
}

void Session::rearmTimer() noexcept {
  if (state_ == State::Closed) return;
  uint64_t d = nextDeadline();
  if (d == kNoDeadline) {
    worker_.loop().cancel(timer_);
    return;
  }
  // Activity only pushes deadlines later; a timer that fires early re-checks
  // and re-arms, which is cheaper than moving it in the heap on every read.
  if (!timer_.armed() || d < timer_.deadline()) {
    worker_.loop().schedule(timer_, d);
  }
}

// ---------------------------------------------------------------------------
// Inspection

// Reads what the client sent into the inspection buffer, up to its cap.
// Returns false if the session ended.
bool Session::readClient() noexcept {
  while (clientReadable_ && !c2s_.srcEof()) {
    if (inspectBuffer_.size() >= proto::kMaxHelloWireBytes) {
      windowOver_ = true;  // the buffer is full: rules decide with what is there
      break;
    }
    size_t used = inspectBuffer_.size();
    size_t want = std::min<size_t>(std::max<size_t>(kInitialInspectBuffer, used * 2),
                                   proto::kMaxHelloWireBytes);
    inspectBuffer_.resize(want);
    ssize_t n = ::recv(clientFd_, inspectBuffer_.data() + used, want - used, 0);
    if (n > 0) {
      inspectBuffer_.resize(used + static_cast<size_t>(n));
      c2s_.count(static_cast<uint64_t>(n));
      lastClientActivity_ = now();
      ++reads_;
      // A short read drained the socket (edge-triggered epoll reports what
      // comes next); after the peer's FIN, read on until 0.
      if (static_cast<size_t>(n) < want - used && !c2s_.peerHasClosed()) {
        clientReadable_ = false;
        break;
      }
      continue;
    }
    inspectBuffer_.resize(used);
    if (n == 0) {
      c2s_.sourceEnded();
      windowOver_ = true;  // nothing more will come
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      clientReadable_ = false;
      break;
    }
    if (errno == EINTR) continue;
    finish('C', 'R');
    return false;
  }
  return true;
}

void Session::feedHello() noexcept {
  if (!core_.fe.waitsForHello || helloFinal_ || inspectBuffer_.empty()) return;
  // Only while it is needed: most connections free it once connected.
  if (!hello_) hello_ = std::make_unique<proto::ClientHelloParser>();
  proto::HelloStatus st = hello_->parse(inspectBuffer_);
  if (st == proto::HelloStatus::NeedMore) return;
  helloFinal_ = true;
  runtime::HelloCounters& c = core_.fe.counters->hello;
  switch (st) {
    case proto::HelloStatus::Done:
      c.done.fetch_add(1, std::memory_order_relaxed);
      if (hello_->info().hasSni) c.sniFound.fetch_add(1, std::memory_order_relaxed);
      if (reads_ > 1) c.multiSegment.fetch_add(1, std::memory_order_relaxed);
      if (hello_->info().recordCount > 1) c.multiRecord.fetch_add(1, std::memory_order_relaxed);
      break;
    case proto::HelloStatus::NotTls: c.notTls.fetch_add(1, std::memory_order_relaxed); break;
    case proto::HelloStatus::Malformed: c.malformed.fetch_add(1, std::memory_order_relaxed); break;
    case proto::HelloStatus::TooLarge: c.tooLarge.fetch_add(1, std::memory_order_relaxed); break;
    case proto::HelloStatus::NeedMore: break;
  }
}

void Session::inspect() noexcept {
  if (!readClient()) return;
  feedHello();
  if (core_.fe.waitsForHello && !helloFinal_ && !windowOver_) {
    rearmTimer();
    return;
  }
  decide();
}

// Runs tcp-request rules in order. Returns false if the session ended.
// `waiting` is set when a condition cannot be decided yet.
bool Session::runRules(const std::vector<runtime::Rule>& rules, bool& waiting) noexcept {
  return evaluateRules(rules, windowOver_, /*response=*/false, waiting);
}

// Content rules in order until one decides: on the client's bytes, or on
// the server's ("tcp-response content"). A rule that needs more data makes
// them wait (`waiting`) until `final`. False when the session ended.
bool Session::evaluateRules(const std::vector<runtime::Rule>& rules, bool final, bool response,
                            bool& waiting) noexcept {
  auto makeView = [&] {
    route::SessionView v = view(response ? true : final);
    if (response) v.responseFinal = final;
    return v;
  };
  RuleVerdict verdict = core_.rc.contentRules(rules, makeView, final);
  waiting = verdict == RuleVerdict::Wait;
  if (verdict != RuleVerdict::Reject && verdict != RuleVerdict::SilentDrop && verdict != RuleVerdict::TlsAlert) {
    return true;
  }
  (response ? core_.be->counters->deniedResponses : core_.fe.counters->denied).fetch_add(1, std::memory_order_relaxed);
  if (verdict == RuleVerdict::SilentDrop) net::setLingerZero(clientFd_);
  if (verdict == RuleVerdict::TlsAlert) sendTlsAlert(core_.rc.tlsAlert);
  finish('P', response ? 'D' : 'R');
  return false;
}

// "tls-alert": one fatal alert record in the version the client offered,
// then a FIN; the socket is closed once the client has closed too (or a
// second later), so that its TLS stack reads the alert, not a reset. A
// client that has not spoken TLS gets the plain close of "reject".
void Session::sendTlsAlert(uint8_t code) noexcept {
  const proto::ClientHelloInfo* hello =
      hello_ && hello_->status() == proto::HelloStatus::Done ? &hello_->info() : nullptr;
  const uint16_t version = proto::alertRecordVersion(hello, inspectBuffer_);
  if (version == 0) return;
  const auto record = proto::tlsAlertRecord(version, code);
  // A socket that has sent nothing yet takes 7 bytes whole.
  if (::send(clientFd_, record.data(), record.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
      static_cast<ssize_t>(record.size())) {
    return;
  }
  core_.fe.counters->tlsAlerts.fetch_add(1, std::memory_order_relaxed);
  ::shutdown(clientFd_, SHUT_WR);
  lingerClient_ = true;
}

void Session::decide() noexcept {
  if (state_ != State::Inspecting) return;
  bool waiting = false;
  if (core_.fe.inspects && !runRules(core_.fe.contentRules, waiting)) return;
  if (waiting) {
    rearmTimer();
    return;
  }
  windowOver_ = true;
  core_.be = core_.rc.chooseBackend(*core_.rt, core_.fe, view(true));
  if (!core_.be) {
    core_.fe.counters->noServer.fetch_add(1, std::memory_order_relaxed);
    finish('S', 'C');
    return;
  }
  core_.be->counters->opened();
  if (!core_.be->contentRules.empty() && !runRules(core_.be->contentRules, waiting)) return;
  core_.queueMs = 0;  // no server queue yet: a server is chosen at once
  assignServer();
}

void Session::assignServer() noexcept {
  route::SessionView v = view(true);
  bool allFull = false;
  balance::ServerState* chosen = core_.rc.pickServer(*core_.be, v, core_.tried, core_.redispatched, /*quic=*/false, allFull);
  if (!chosen && allFull) {
    enqueue();
    return;
  }
  if (!chosen) {
    core_.be->counters->noServer.fetch_add(1, std::memory_order_relaxed);
    finish(core_.lastError ? (core_.timedOut ? 's' : 'S') : 'S', 'C');
    return;
  }
  core_.useServer(chosen, now());
  connect();
}

// Every usable server is at its maxconn: wait in the backend's queue, at
// most "timeout queue", until a slot frees (HAProxy's pending connections).
void Session::enqueue() noexcept {
  balance::WaitQueue* q = core_.be->queue.get();
  size_t ahead = q->size();
  queueTicket_ = q->push(worker_.queueWaker(core_.id, core_.be->queue),
      core_.be->maxQueue, requeueAtFront_);
  if (queueTicket_ == 0) {
    core_.be->counters->noServer.fetch_add(1, std::memory_order_relaxed);
    finish('P', 'Q');  // queue full ("maxqueue")
    return;
  }
  if (!requeueAtFront_) {
    backendQueuePosition_ = static_cast<uint32_t>(ahead);
    queueStart_ = now();
    queueDeadline_ = queueStart_ + (core_.be->timeoutQueue ? core_.be->timeoutQueue : 1000);
  }
  worker_.registerWaiting(core_.id, this);
  state_ = State::Queued;
  rearmTimer();
}

void Session::leaveQueue() noexcept {
  if (queueTicket_) {
    core_.be->queue->remove(queueTicket_);
    queueTicket_ = 0;
  }
  worker_.unregisterWaiting(core_.id);
}

void Session::dequeued() noexcept {
  if (state_ != State::Queued) return;
  queueTicket_ = 0;
  core_.queueMs = static_cast<int64_t>(now() - queueStart_);
  requeueAtFront_ = true;  // if the slot was taken meanwhile, keep our place
  assignServer();
}

void Session::connect() noexcept {
  if (core_.server->addressFromClient && !core_.interceptedDst) {
    // Where the client meant to go: a PROXY header's or set-dst's address
    // when they changed it, else netfilter's original before a REDIRECT.
    core_.interceptedDst = core_.rc.dst == core_.acceptedDst
                               ? net::originalDestination(clientFd_).value_or(core_.rc.dst)
                               : core_.rc.dst;
  }
  core::Address target = core_.target();
  state_ = State::Connecting;
  // "source": the server's own, else the backend's. With "usesrc", the
  // server sees the client's address (transparent proxying).
  runtime::Backend::Origin origin = core_.origin(target, core_.rc.src);
  socksPending_ = false;
  if (core_.server->socks4) {
    socksTarget_ = target;
    target = *core_.server->socks4;
  }
  int fd = net::startConnect(target, origin.bindTo, origin.transparent, *origin.interface);
  if (fd < 0) {
    int err = errno;
    if (isResourceError(err)) {
      core_.be->counters->errors.fetch_add(1, std::memory_order_relaxed);
      finish('R', 'C');
      return;
    }
    connectFailed(err, false);
    return;
  }
  serverFd_ = fd;
  net::setUserTimeout(serverFd_, core_.server->tcpUserTimeout);
  serverReadable_ = false;
  serverWritable_ = false;
  if (!worker_.loop().add(serverFd_, kClientEvents, &serverSide_)) {
    finish('R', 'C');
    return;
  }
  connectDeadline_ = core_.be->timeoutConnect ? now() + core_.be->timeoutConnect : 0;
  rearmTimer();
}

// The SOCKS4 proxy's answer: 8 bytes, the second 0x5a when it connected us.
// Anything else is a failed connect (retried, redispatched, 'SC' at the end).
void Session::socksEvents(uint32_t events) noexcept {
  while (socksGot_ < sizeof(socksReply_)) {
    ssize_t n = ::recv(serverFd_, socksReply_ + socksGot_, sizeof(socksReply_) - socksGot_, 0);
    if (n > 0) {
      socksGot_ = static_cast<uint8_t>(socksGot_ + n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !(events & (EPOLLERR | EPOLLHUP))) return;
    int err = n == 0 ? ECONNRESET : errno;
    if (err == EAGAIN || err == EWOULDBLOCK) err = net::socketError(serverFd_);
    socksPending_ = false;
    connectFailed(err ? err : ECONNRESET, false);
    return;
  }
  socksPending_ = false;
  if (socksReply_[1] != proto::kSocks4Granted) {
    connectFailed(ECONNREFUSED, false);
    return;
  }
  serverWritable_ = true;
  // Edge-triggered: what came with the answer must be read now.
  serverReadable_ = true;
  established();
}

void Session::connectFailed(int error, bool timedOut) noexcept {
  // Closing a socket takes it out of epoll: no EPOLL_CTL_DEL needed.
  net::closeFd(serverFd_);
  switch (core_.connectFailed(error, timedOut)) {
    case ConnectionCore::Retry::GiveUp:
      finish(timedOut ? 's' : 'S', 'C');
      return;
    case ConnectionCore::Retry::OtherServer:
      assignServer();
      return;
    case ConnectionCore::Retry::SameServerLater:
      state_ = State::TurnAround;
      retryAt_ = now() + core_.retryPauseMs();
      rearmTimer();
      return;
  }
}

// "send-proxy" / "send-proxy-v2": the header goes first, before the
// replayed client bytes, on this (successful) connection only.
void Session::prependProxyHeader() noexcept {
  const config::ServerConfig& sc = *core_.be->serverConfigs[core_.server->position];
  if (sc.sendProxy == config::ProxyProtocolOut::None) return;
  std::string header;
  if (sc.sendProxy == config::ProxyProtocolOut::V1) {
    header = proto::encodeProxyV1(core_.rc.src, core_.rc.dst);
  } else {
    proto::ProxyV2Options o;
    for (const std::string& opt : sc.proxyV2Options) {
      if (opt == "crc32c") o.crc32c = true;
      if (opt == "authority" && hello_ && hello_->status() == proto::HelloStatus::Done && hello_->info().hasSni) {
        o.authority = hello_->info().sni;
      }
    }
    const auto& tlvs = core_.be->proxyTlvs[core_.server->position];
    if (!tlvs.empty()) {
      const route::SessionView v = view(true);
      for (const auto& t : tlvs) o.tlvs.emplace_back(t.type, t.format->renderSamples(v));
    }
    header = proto::encodeProxyV2(core_.rc.src, core_.rc.dst, o);
  }
  inspectBuffer_.insert(inspectBuffer_.begin() + static_cast<std::ptrdiff_t>(replayed_), header.begin(),
                        header.end());
}

void Session::established() noexcept {
  core_.connectMs = static_cast<int64_t>(now() - core_.connectStart);
  if (core_.server->errorLimit && core_.server->live->consecutiveErrors.load(std::memory_order_relaxed)) {
    core_.server->live->consecutiveErrors.store(0, std::memory_order_relaxed);
  }
  prependProxyHeader();
  state_ = State::Forwarding;
  if (!core_.be->responseRules.empty()) {
    responseInspecting_ = true;
    responseDeadline_ = core_.be->responseInspectDelay ? now() + core_.be->responseInspectDelay : 0;
  }
  if (core_.server) core_.rc.storeStickiness(*core_.be, *core_.server, view(true));
  lastServerActivity_ = now();
  lastClientActivity_ = now();
  if (core_.be->srvtcpka) {
    net::setKeepAlive(serverFd_, core_.be->srvtcpkaSpec.count, core_.be->srvtcpkaSpec.idleSeconds,
                      core_.be->srvtcpkaSpec.intervalSeconds);
  }
  // The server is chosen and the PROXY header built: the ClientHello is no
  // longer needed, unless the log line prints from it at the end.
  if (hello_) {
    if (hello_->status() == proto::HelloStatus::Done && hello_->info().hasSni) sni_ = hello_->info().sni;
    if (!core_.fe.logFormat || !core_.fe.logFormat->usesHello()) hello_.reset();
  }
  if (core_.fe.logasap) {
    emitLog(/*early=*/true);
    loggedEarly_ = true;
  }
  worker_.loop().cancel(timer_);
  forward();
}

// ---------------------------------------------------------------------------
// Forwarding

bool Session::flushReplay() noexcept {
  if (sendHeld(serverFd_, inspectBuffer_, replayed_, serverWritable_, lastServerActivity_, now())) return true;
  finish('S', 'D');
  return false;
}

bool Session::inspectResponse() noexcept {
  // The response buffer holds at most what a request's inspection may.
  const size_t cap = proto::kMaxHelloWireBytes;
  while (serverReadable_ && !responseEof_ && responseBuffer_.size() < cap) {
    size_t used = responseBuffer_.size();
    size_t want = std::min(cap, std::max<size_t>(kInitialInspectBuffer, used * 2));
    responseBuffer_.resize(want);
    ssize_t n = ::recv(serverFd_, responseBuffer_.data() + used, want - used, 0);
    if (n > 0) {
      responseBuffer_.resize(used + static_cast<size_t>(n));
      s2c_.count(static_cast<uint64_t>(n));
      lastServerActivity_ = now();
      continue;
    }
    responseBuffer_.resize(used);
    if (n == 0) {
      responseEof_ = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      serverReadable_ = false;
      break;
    }
    finish('S', 'D');
    return false;
  }
  if (responseBuffer_.empty() && !responseEof_) {
    // Rules look at a response: nothing to judge before its first byte,
    // unless the delay is over.
    if (!responseDeadline_ || now() < responseDeadline_) return true;
  }
  const bool final = responseEof_ || responseBuffer_.size() >= cap || !responseDeadline_ ||
                     now() >= responseDeadline_;
  bool waiting = false;
  if (!evaluateRules(core_.be->responseRules, final, /*response=*/true, waiting)) return false;
  if (waiting) return true;  // wait for more of the response
  // Accepted, or no rule stopped it: the client gets the response.
  responseInspecting_ = false;
  if (responseEof_) serverReadable_ = true;  // the pump meets the EOF itself
  return true;
}

bool Session::flushResponse() noexcept {
  if (sendHeld(clientFd_, responseBuffer_, responseSent_, clientWritable_, lastClientActivity_, now())) return true;
  finish('C', 'D');
  return false;
}

void Session::forward() noexcept {
  if (state_ != State::Forwarding) return;
  net::PumpEnv env;
  env.pipes = &worker_.pipes();
  env.scratch = worker_.scratch();
  env.scratchSize = Worker::kScratchSize;
  env.spliceAllowed = core_.rt->splice;
  env.spliceThreshold = kSpliceThreshold;
  // Each pump runs until its direction is blocked; a second round is needed
  // only when one direction's progress unblocked the other (a FIN passed
  // on, the replay done). A pump that spent its budget, or rounds that keep
  // making progress, hand the thread back and resume from the timer, so
  // that one fast transfer cannot starve the thread's other connections.
  bool resume = true;
  for (int round = 0; round < kForwardRounds; ++round) {
    bool progressed = false;
    bool yielded = false;
    size_t replayLeft = inspectBuffer_.size() - replayed_;
    if (replayLeft > 0) {
      if (!flushReplay()) return;
      progressed = inspectBuffer_.size() - replayed_ != replayLeft;
    }
    if (replayed_ >= inspectBuffer_.size()) {
      net::PumpActivity a;
      net::PumpResult r = c2s_.pump(env, clientFd_, clientReadable_, serverFd_, serverWritable_, s2c_.dstShut(), a);
      if (r != net::PumpResult::Ok) {
        finish(r == net::PumpResult::SrcError ? 'C' : 'S', 'D');
        return;
      }
      if (a.read) lastClientActivity_ = now();
      if (a.wrote) lastServerActivity_ = now();
      progressed = progressed || a.read || a.wrote;
      yielded = a.yielded;
    }
    if (responseInspecting_ || responseSent_ < responseBuffer_.size()) {
      size_t before = responseSent_;
      bool inspecting = responseInspecting_;
      if (responseInspecting_ && !inspectResponse()) return;
      if (!responseInspecting_ && !flushResponse()) return;
      progressed = progressed || responseSent_ != before || inspecting != responseInspecting_;
      if (responseInspecting_ || responseSent_ < responseBuffer_.size()) {
        if (!progressed) {
          resume = false;
          break;
        }
        continue;
      }
    }
    net::PumpActivity a;
    net::PumpResult r = s2c_.pump(env, serverFd_, serverReadable_, clientFd_, clientWritable_, c2s_.dstShut(), a);
    if (r != net::PumpResult::Ok) {
      bool lastData = s2c_.srcEof();
      finish(r == net::PumpResult::SrcError ? 'S' : 'C', r == net::PumpResult::DstError && lastData ? 'L' : 'D');
      return;
    }
    if (a.read) lastServerActivity_ = now();
    if (a.wrote) lastClientActivity_ = now();
    progressed = progressed || a.read || a.wrote;
    yielded = yielded || a.yielded;
    if (c2s_.dstShut() && s2c_.dstShut()) {
      finish('-', '-');
      return;
    }
    if (yielded) break;
    if (!progressed) {
      resume = false;
      break;
    }
  }
  accountBytes(/*final=*/false);
  if (resume) {
    resume_ = true;
    worker_.loop().schedule(timer_, now());
    return;
  }
  rearmTimer();
}

// Byte counters move while a session lives, so that the stats page and the
// metrics show long transfers as they happen, not when they end.
void Session::accountBytes(bool final) noexcept {
  core_.accountBytes(c2s_.bytes(), s2c_.bytes(), c2s_.copied() + s2c_.copied(), now(), final);
}

// ---------------------------------------------------------------------------
// End of a session

void Session::emitLog(bool early) noexcept {
  if (!core_.rc.logWanted(core_.fe, !early && core_.termCause == '-' && core_.termStage == '-')) return;
  if (!early && core_.fe.dontlognull && c2s_.bytes() == 0) return;
  observe::LogRecord r = core_.logRecord(now());
  if (serverFd_ >= 0) r.backendSource = net::localAddress(serverFd_);
  r.early = early;
  r.bytesIn = c2s_.bytes();
  r.bytesOut = s2c_.bytes();
  if (early) r.term[0] = r.term[1] = '-';
  r.beQueue = backendQueuePosition_;
  route::SessionView v = view(true);
  r.view = &v;
  core_.log(r, !early && core_.termCause != '-');
}

void Session::refuseProxyHeader(char cause, std::string_view what) noexcept {
  const bool nothing = c2s_.bytes() == 0 && inspectBuffer_.empty();
  if (!core_.fe.logger.empty() && !(core_.fe.dontlognull && nothing)) {
    // The listener as HAProxy names it: the bind's name, else its number
    // in the frontend (the first address of each line counted).
    std::string listener = bind_ && !bind_->name.empty() ? bind_->name : "?";
    if (bind_ && bind_->name.empty() && core_.fe.config) {
      size_t id = 1;
      for (const config::BindConfig& b : core_.fe.config->binds) {
        if (&b == bind_) break;
        id += std::max<size_t>(1, b.addresses.size());
      }
      listener = std::to_string(id);
    }
    observe::LogRecord r = core_.logRecord(now());
    r.client = core_.rc.src;
    r.frontend = core_.fe.name;
    const int level = core_.fe.logSeparateErrors ? observe::kErr : observe::kInfo;
    core_.fe.logger.log(level, observe::formatEmbryonicLog(r, listener, what));
  }
  loggedEarly_ = true;  // that line is the connection's only one, as HAProxy's
  finish(cause, 'R');
}

void Session::kill(char cause) noexcept { finish(cause, stageLetter()); }

SessionInfo Session::describe() const {
  SessionInfo i = SessionInfo::of(core_.id, worker_.index(), core_.rc, core_.fe, core_.be, core_.server);
  i.ageMs = worker_.loop().now() - core_.acceptMono;
  i.bytesIn = c2s_.bytes();
  i.bytesOut = s2c_.bytes();
  i.spliced = c2s_.spliced() || s2c_.spliced();
  static const char* kStates[] = {"inspecting", "queued", "turnaround", "connecting", "forwarding", "closed"};
  i.state = kStates[static_cast<int>(state_)];
  i.sni = sni_;
  return i;
}

void Session::finish(char cause, char stage) noexcept {
  if (state_ == State::Closed) return;
  core_.termCause = cause;
  core_.termStage = stage;
  if (state_ == State::Queued) {
    leaveQueue();
    if (queueStart_) core_.queueMs = static_cast<int64_t>(now() - queueStart_);
  }
  if (!loggedEarly_) emitLog(/*early=*/false);

  worker_.loop().cancel(timer_);
  // An abort on one side is passed on as an abort (RST) to the other, so a
  // truncated stream never looks like a complete one.
  bool forwarding = state_ == State::Forwarding;
  // Counters first, so that whoever sees the connection close (a client, a
  // test, "show table") finds them already updated.
  accountBytes(/*final=*/true);
  core_.rc.untrack();
  // close() takes the sockets out of epoll (they are never duplicated), so
  // no EPOLL_CTL_DEL; an event of this batch still naming them finds the
  // session closed (it is freed after the batch).
  if (clientFd_ >= 0 && lingerClient_) {
    worker_.lingerClose(clientFd_);
    clientFd_ = -1;
  }
  if (clientFd_ >= 0) {
    if (core_.fe.nolinger || (forwarding && cause == 'S')) {
      net::setLingerZero(clientFd_);
    } else if (!forwarding && (stage == 'C' || stage == 'Q')) {
      // No server was reached: what the client sent is still unread, and
      // closing over unread bytes sends a reset. Read it away (bounded) so
      // that the client sees its connection closed, as with HAProxy, which
      // holds those bytes in its buffer by then.
      for (int i = 0; i < 4; ++i) {
        ssize_t n = ::recv(clientFd_, worker_.scratch(), Worker::kScratchSize, MSG_DONTWAIT);
        if (n <= 0) break;
      }
    }
    net::closeFd(clientFd_);
  }
  if (serverFd_ >= 0) {
    if (forwarding && cause == 'C') net::setLingerZero(serverFd_);
    net::closeFd(serverFd_);
  }
  c2s_.release(worker_.pipes());
  s2c_.release(worker_.pipes());
  core_.recordTimes(cause, forwarding, now());
  if (core_.be) core_.be->counters->closed();
  core_.releaseServer();
  if (counted_) {
    core_.fe.counters->closed();
  }
  worker_.process().actconn.fetch_sub(1, std::memory_order_relaxed);
  state_ = State::Closed;
  worker_.sessionClosed(this);
}

}  // namespace sluice::session
