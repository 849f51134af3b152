// SPDX-License-Identifier: Apache-2.0
// QUIC flows: routing by the Initial's ClientHello, forwarding of datagrams
// both ways over one server socket per client path, confirmation and the
// 3x limit on unvalidated paths; see quic_flow.h.
#include "session/quic_flow.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/byte_reader.h"
#include "net/socket.h"
#include "observe/tcplog.h"
#include "session/quic_flows.h"
#include "session/quic_listener.h"
#include "session/worker.h"

namespace sluice::session {

namespace {

// What a flow may hold while its route is decided and its server has not
// answered yet: a post-quantum hello takes 2-3 datagrams, 0-RTT a few more.
constexpr size_t kMaxHeldDatagrams = 32;
constexpr size_t kMaxHeldBytes = 64 * 1024;
// Flow idleness when the file sets no timeout: QUIC has no visible close,
// so a flow must end on silence.
constexpr uint32_t kDefaultIdleMs = 30000;
// How long a refused client's address stays known, so that the Initials it
// retransmits are dropped quietly (a QUIC client gives up after a few).
constexpr uint64_t kRefusedMemoryMs = 3000;
// Batches of datagrams read in one event before yielding the thread.
constexpr int kBatchesPerEvent = 8;
constexpr size_t kMaxConnectionIds = 4;
constexpr uint64_t kNoDeadline = UINT64_MAX;
// RFC 9000 §8: an endpoint sends an unvalidated address at most three
// times what it received from it.
constexpr uint64_t kAmplification = 3;

bool startsWith(std::span<const uint8_t> d, size_t at, std::span<const uint8_t> id) {
  return !id.empty() && d.size() >= at + id.size() && std::equal(id.begin(), id.end(), d.begin() + static_cast<std::ptrdiff_t>(at));
}

}  // namespace

// ---------------------------------------------------------------------------
// QuicPath

QuicPath::~QuicPath() { net::closeFd(fd); }

void QuicPath::onEvents(uint32_t events) noexcept { flow.serverEvents(*this, events); }

// ---------------------------------------------------------------------------
// QuicFlow

QuicFlow::QuicFlow(Worker& worker, QuicFlows& flows, std::shared_ptr<const runtime::Runtime> rt,
                   runtime::Frontend& fe, std::shared_ptr<UdpEndpoint> endpoint, RuleContext rc,
                   std::unique_ptr<proto::QuicHelloReader> reader, const core::Address& peer,
                   const core::Address& local)
    : worker_(worker),
      flows_(flows),
      core_(worker, std::move(rt), fe, std::move(rc)),
      endpoint_(std::move(endpoint)),
      reader_(std::move(reader)) {
  lastClient_ = lastServer_ = core_.acceptMono;
  paths_.push_back(std::make_unique<QuicPath>(*this, peer, local, core_.acceptMono));
  current_ = paths_.front().get();
}

QuicFlow::~QuicFlow() {
  if (armed()) worker_.loop().cancel(*this);
}

uint64_t QuicFlow::now() const noexcept { return worker_.loop().now(); }

route::SessionView QuicFlow::view(bool final) noexcept {
  route::SessionView v;
  v.src = core_.rc.src;
  v.dst = core_.rc.dst;
  v.frontendName = core_.fe.name;
  v.captures = &core_.rc.captures;
  v.vars = &core_.rc.vars;
  v.tables = &core_.rt->tables;
  v.proxies = core_.rt.get();
  v.stickTable = core_.fe.stickTable;
  v.tracking = core_.rc.tracking.get();
  if (core_.be) {
    v.backendName = core_.be->name;
    v.stickTable = core_.be->stickTable ? core_.be->stickTable : core_.fe.stickTable;
  }
  if (reader_ && reader_->status() == proto::QuicStatus::Done) v.hello = &reader_->info();
  else if (hello_) v.hello = hello_.get();
  v.helloFinal = helloFinal_ || !core_.fe.waitsForHello;
  v.final = final;
  return v;
}

char QuicFlow::stageLetter() const noexcept {
  switch (state_) {
    case State::Inspecting: return 'R';
    case State::TurnAround:
    case State::Connecting: return 'C';
    case State::Forwarding: return 'D';
    case State::Dropping:
    case State::Closed: return '-';
  }
  return '-';
}

void QuicFlow::start(std::span<const uint8_t> first, uint8_t ecn) noexcept {
  core_.rc.countSession();
  QuicPath& path = *paths_.front();
  path.fromClient += first.size();
  bytesIn_ += first.size();
  held_.push_back({std::vector<uint8_t>(first.begin(), first.end()), ecn});
  heldBytes_ = first.size();
  if (!rulesAdmit(core_.fe.sessionRules)) return;
  if (core_.fe.inspects) {
    if (core_.fe.inspectWindow > 0) {
      inspectDeadline_ = core_.acceptMono + core_.fe.inspectWindow;
    } else {
      windowOver_ = true;
    }
  }
  evaluate();
}

void QuicFlow::evaluate() noexcept {
  if (state_ != State::Inspecting) return;
  if (!helloFinal_ && reader_ && reader_->status() != proto::QuicStatus::NeedMore) {
    helloFinal_ = true;
    runtime::HelloCounters& c = core_.fe.counters->hello;
    switch (reader_->status()) {
      case proto::QuicStatus::Done:
        c.done.fetch_add(1, std::memory_order_relaxed);
        if (reader_->info().hasSni) {
          c.sniFound.fetch_add(1, std::memory_order_relaxed);
          sni_ = reader_->info().sni;
        }
        if (reader_->datagrams() > 1) c.multiSegment.fetch_add(1, std::memory_order_relaxed);
        break;
      case proto::QuicStatus::TooLarge: c.tooLarge.fetch_add(1, std::memory_order_relaxed); break;
      default: c.malformed.fetch_add(1, std::memory_order_relaxed); break;
    }
  }
  if (core_.fe.waitsForHello && !helloFinal_ && !windowOver_) {
    rearmTimer();
    return;
  }
  decide();
}

void QuicFlow::decide() noexcept {
  // Nothing a rule could read comes later in a QUIC flow than the hello:
  // the rules see a final state.
  if (core_.fe.inspects && !rulesAdmit(core_.fe.contentRules)) return;
  core_.be = core_.rc.chooseBackend(*core_.rt, core_.fe, view(true));
  if (!core_.be) {
    core_.fe.counters->noServer.fetch_add(1, std::memory_order_relaxed);
    refuse('S', 'C');
    return;
  }
  core_.be->counters->opened();
  core_.queueMs = 0;  // QUIC flows never wait in a queue
  if (!rulesAdmit(core_.be->contentRules)) return;
  // The hello is kept only when the log line prints from it.
  if (reader_ && core_.fe.logFormat && reader_->status() == proto::QuicStatus::Done) {
    hello_ = std::make_unique<proto::ClientHelloInfo>(reader_->info());
  }
  reader_.reset();
  assignServer();
}

bool QuicFlow::rulesAdmit(const std::vector<runtime::Rule>& rules) noexcept {
  RuleVerdict v = core_.rc.contentRules(rules, [this] { return view(true); }, true);
  // "tls-alert" refuses a QUIC flow as "reject" does: its alert would have
  // to travel in a CONNECTION_CLOSE frame of an Initial packet sluice does
  // not write (docs/configuration.md).
  if (v != RuleVerdict::Reject && v != RuleVerdict::SilentDrop && v != RuleVerdict::TlsAlert) return true;
  core_.fe.counters->denied.fetch_add(1, std::memory_order_relaxed);
  refuse('P', 'R');
  return false;
}

void QuicFlow::assignServer() noexcept {
  bool allFull = false;
  balance::ServerState* chosen =
      core_.rc.pickServer(*core_.be, view(true), core_.tried, core_.redispatched, /*quic=*/true, allFull);
  if (!chosen) {
    // QUIC flows do not queue for a slot: at maxconn the flow is refused.
    core_.be->counters->noServer.fetch_add(1, std::memory_order_relaxed);
    refuse(core_.lastError ? (core_.timedOut ? 's' : 'S') : 'S', allFull ? 'Q' : 'C');
    return;
  }
  core_.useServer(chosen, now());
  // A client that never confirms (a spoofed address) ends this long after
  // its datagrams first reached a server.
  if (!unconfirmedDeadline_) unconfirmedDeadline_ = now() + core_.rt->quicUnconfirmedMs;
  connect();
}

bool QuicFlow::openServerSocket(QuicPath& path, const core::Address& client) noexcept {
  const core::Address target = core_.target();
  runtime::Backend::Origin origin = core_.origin(target, client);
  path.fd = net::openUdpConnected(target, origin.bindTo, origin.transparent, *origin.interface);
  serverFamily_ = target.family();
  if (path.fd < 0) return false;
  if (!worker_.loop().add(path.fd, EPOLLIN, &path)) {
    net::closeFd(path.fd);
    errno = ENOMEM;
    return false;
  }
  return true;
}

void QuicFlow::connect() noexcept {
  // Before the server's first answer the flow has one path: the client
  // cannot move before it has the server's connection ID.
  QuicPath& path = *paths_.front();
  // "usesrc client": the server sees the client as the rules report it.
  if (!openServerSocket(path, core_.rc.src)) {
    connectFailed(errno ? errno : EIO, false);
    return;
  }
  state_ = State::Connecting;
  connectDeadline_ = core_.be->timeoutConnect ? now() + core_.be->timeoutConnect : 0;
  // A send refused at once moves the flow to another server, which
  // connect() replays everything to itself: this loop then stops, or the
  // rest would reach the new server twice.
  const uint32_t attempt = ++attempts_;
  for (const Held& d : held_) {
    toServer(path, d.bytes, {0, d.ecn});
    if (state_ != State::Connecting || attempts_ != attempt) return;
  }
  rearmTimer();
}

void QuicFlow::connectFailed(int error, bool timedOut) noexcept {
  net::closeFd(paths_.front()->fd);
  switch (core_.connectFailed(error, timedOut)) {
    case ConnectionCore::Retry::GiveUp:
      refuse(timedOut ? 's' : 'S', 'C');
      return;
    case ConnectionCore::Retry::OtherServer:
      state_ = State::Inspecting;  // no server yet
      assignServer();
      return;
    case ConnectionCore::Retry::SameServerLater:
      state_ = State::TurnAround;
      retryAt_ = now() + core_.retryPauseMs();
      rearmTimer();
      return;
  }
}

void QuicFlow::toServer(QuicPath& path, std::span<const uint8_t> data, net::DatagramMeta meta) noexcept {
  const net::OutDatagram out{data, meta.segment, meta.ecn};
  // A full queue loses datagrams, as any link may; QUIC retransmits.
  const net::SendResult sent = net::sendDatagrams(path.fd, {&out, 1}, nullptr, {}, serverFamily_);
  countSent(sent);
  const int err = sent.error;
  if (!err) return;
  // An ICMP error from an earlier datagram (the port is closed, the host
  // unreachable): before the server's first answer the retries decide;
  // after it, the path has lost its server (and with its last path, the
  // flow).
  if (state_ == State::Connecting) {
    connectFailed(err, false);
  } else if (paths_.size() > 1) {
    closePath(path);
  } else {
    finish('S', 'D');
  }
}

void QuicFlow::fromClient(QuicPath& path, std::span<const uint8_t> data, net::DatagramMeta meta) noexcept {
  if (state_ == State::Closed) return;
  if (meta.segment && data.size() > meta.segment && state_ != State::Forwarding) {
    // Held, read and replayed one datagram at a time until forwarding.
    net::forEachDatagram(data, meta.segment,
                         [&](std::span<const uint8_t> one) { fromClient(path, one, {0, meta.ecn}); });
    return;
  }
  const uint64_t t = now();
  lastClient_ = path.lastClient = t;
  if (state_ == State::Dropping) return;
  current_ = &path;
  path.fromClient += data.size();
  bytesIn_ += data.size();
  // The client answers on this path what the server sent there: the path
  // (and with it the flow) is the client's own.
  if (path.serverSpoke && !path.validated && carriesFlowId(data, path)) {
    path.validated = true;
    if (!confirmed_) {
      confirm();
      if (state_ != State::Forwarding) return;
    }
  }
  if (state_ == State::Forwarding) {
    toServer(path, data, meta);
    return;
  }
  if (held_.size() >= kMaxHeldDatagrams || heldBytes_ + data.size() > kMaxHeldBytes) {
    core_.fe.counters->quic.heldDropped.fetch_add(1, std::memory_order_relaxed);
    if (state_ == State::Connecting) toServer(path, data, meta);
    return;
  }
  held_.push_back({std::vector<uint8_t>(data.begin(), data.end()), meta.ecn});
  heldBytes_ += data.size();
  if (state_ == State::Connecting) {
    toServer(path, data, meta);
    return;
  }
  if (state_ == State::TurnAround) return;  // replayed with the rest on the next attempt
  if (reader_ && reader_->status() == proto::QuicStatus::NeedMore) reader_->addDatagram(data);
  evaluate();
}

bool QuicFlow::carriesFlowId(std::span<const uint8_t> d, const QuicPath& path) const noexcept {
  if (d.size() < 2) return false;
  if (d[0] & 0x80) {  // long header: the Destination Connection ID is spelled out
    if (d.size() < 6) return false;
    const size_t len = d[5];
    if (d.size() < 6 + len) return false;
    for (const QuicCid& c : cids_) {
      if (c.size == len && startsWith(d, 6, c.view())) return true;
    }
    return false;
  }
  for (const QuicCid& c : cids_) {
    if (startsWith(d, 1, c.view())) return true;
  }
  return startsWith(d, 1, path.openedWith.view());
}

// The client proved it receives what the server sends: the flow becomes a
// session, under the limits every connection obeys.
void QuicFlow::confirm() noexcept {
  confirmed_ = true;
  flows_.confirmed(*this);
  runtime::QuicCounters& q = core_.fe.counters->quic;
  q.confirmed.fetch_add(1, std::memory_order_relaxed);
  ProcessState& ps = worker_.process();
  if (ps.full(core_.fe)) {
    q.overLimit.fetch_add(1, std::memory_order_relaxed);
    refuse('P', 'C');
    return;
  }
  ps.admitted();
  core_.fe.counters->opened();
  counted_ = true;
}

void QuicFlow::migrate(const core::Address& peer, const core::Address& local, std::span<const uint8_t> data,
                       net::DatagramMeta meta, const QuicCid& opener) noexcept {
  // Nothing moves before the server answered (the client has no ID of it
  // yet), nor once the flow was refused.
  if (state_ != State::Forwarding) return;
  if (paths_.size() >= kMaxPaths) {
    // Room for the new path: the one heard from longest ago, unvalidated
    // ones first (a spoofed path never validates), never the current one.
    QuicPath* victim = nullptr;
    for (const auto& p : paths_) {
      if (p.get() == current_) continue;
      if (!victim || (victim->validated && !p->validated) ||
          (victim->validated == p->validated && std::max(p->lastClient, p->lastServer) <
                                                    std::max(victim->lastClient, victim->lastServer))) {
        victim = p.get();
      }
    }
    if (victim) closePath(*victim);
  }
  auto path = std::make_unique<QuicPath>(*this, peer, local, now());
  // A path found by its client's IP: the ID it came with is as long as
  // the server's others (the length is not on the wire).
  path->openedWith = opener;
  if (opener.size) {
    if (cids_.empty()) return;
    path->openedWith.size = std::min(opener.size, cids_.front().size);
  }
  if (!openServerSocket(*path, peer)) return;  // no descriptor: the client keeps its old path
  QuicPath& p = *path;
  paths_.push_back(std::move(path));
  flows_.pathOpened(p);
  core_.fe.counters->quic.pathsOpened.fetch_add(1, std::memory_order_relaxed);
  fromClient(p, data, meta);
  rearmTimer();
}

void QuicFlow::closePath(QuicPath& path) noexcept {
  auto it = std::find_if(paths_.begin(), paths_.end(), [&](const auto& p) { return p.get() == &path; });
  if (it == paths_.end() || paths_.size() == 1) return;
  flows_.pathClosed(path);
  net::closeFd(path.fd);  // out of epoll; an event of this batch may still name the path
  if (current_ == &path) current_ = paths_.front().get() == &path ? paths_.back().get() : paths_.front().get();
  worker_.loop().deferDelete(std::unique_ptr<event::EventHandler>(it->release()));
  paths_.erase(it);
}

void QuicFlow::serverEvents(QuicPath& path, uint32_t) noexcept {
  if ((state_ != State::Connecting && state_ != State::Forwarding) || path.fd < 0) return;
  net::DatagramBatch& batch = flows_.batch();
  for (int round = 0; round < kBatchesPerEvent; ++round) {
    int n = batch.receive(path.fd, /*wantAddresses=*/false);
    if (n < 0) {
      int err = errno;
      if (state_ == State::Connecting) {
        connectFailed(err, false);
      } else if (paths_.size() > 1) {
        closePath(path);
      } else {
        finish('S', 'D');
      }
      return;
    }
    if (n > 0) fromServer(path, batch, n);
    if ((state_ != State::Connecting && state_ != State::Forwarding) || path.fd < 0) return;
    if (n < net::DatagramBatch::kBatch) {
      accountBytes(false);
      return;
    }
  }
  // More may be queued: let the thread's other work run, then come back
  // (the edge will not come again for data already there).
  accountBytes(false);
  path.resume = true;
  worker_.loop().schedule(*this, now());
}

void QuicFlow::fromServer(QuicPath& path, const net::DatagramBatch& batch, int count) noexcept {
  const uint64_t t = now();
  if (state_ == State::Connecting) {
    state_ = State::Forwarding;
    core_.connectMs = static_cast<int64_t>(t - core_.connectStart);
    std::vector<Held>().swap(held_);
    heldBytes_ = 0;
    core_.rc.storeStickiness(*core_.be, *core_.server, view(true));
  }
  lastServer_ = path.lastServer = t;
  std::array<net::OutDatagram, net::DatagramBatch::kBatch> out;
  size_t n = 0;
  uint64_t coalesced = 0, held = 0;
  // One sendmmsg() for the batch; coalesced buffers leave whole (GSO).
  auto flush = [&] {
    for (size_t i = 0; i < n; ++i) bytesOut_ += out[i].data.size();
    if (n) countSent(net::sendDatagrams(endpoint_->fd, {out.data(), n}, &path.peer, path.local));
    n = 0;
  };
  for (int i = 0; i < count; ++i) {
    const net::DatagramMeta& meta = batch.meta(i);
    std::span<const uint8_t> buffer = batch.data(i);
    size_t datagrams = 0;
    net::forEachDatagram(buffer, meta.segment, [&](std::span<const uint8_t> d) {
      learnConnectionId(d);
      ++datagrams;
    });
    if (datagrams > 1) coalesced += datagrams;
    if (path.validated) {
      if (n == out.size()) flush();
      out[n++] = {buffer, meta.segment, meta.ecn};
      path.toClient += buffer.size();
      continue;
    }
    // Not validated: what fits in three times what the path sent, datagram
    // by datagram; the rest is not sent (the server, seeing a new path too,
    // keeps within the same limit and sends again once it validated it).
    net::forEachDatagram(buffer, meta.segment, [&](std::span<const uint8_t> d) {
      if (path.toClient + d.size() > kAmplification * path.fromClient) {
        ++held;
        return;
      }
      if (n == out.size()) flush();
      out[n++] = {d, 0, meta.ecn};
      path.toClient += d.size();
    });
  }
  flush();
  path.serverSpoke = true;
  if (held) core_.fe.counters->quic.amplificationDropped.fetch_add(held, std::memory_order_relaxed);
  if (coalesced) core_.fe.counters->quic.groDatagrams.fetch_add(coalesced, std::memory_order_relaxed);
}

void QuicFlow::countSent(const net::SendResult& sent) noexcept {
  runtime::QuicCounters& q = core_.fe.counters->quic;
  if (sent.lost) q.sendErrors.fetch_add(sent.lost, std::memory_order_relaxed);
  if (sent.coalesced) q.gsoDatagrams.fetch_add(sent.coalesced, std::memory_order_relaxed);
}

// The server's long-header packets carry, in clear, the connection ID it
// chose (their Source Connection ID): the client puts it in every packet
// it sends next, which is how the flow is confirmed and found again at a
// new address.
void QuicFlow::learnConnectionId(std::span<const uint8_t> d) noexcept {
  if (cids_.size() >= kMaxConnectionIds || d.size() < 7 || !(d[0] & 0x80)) return;
  if (core::loadU32(d, 1) == 0) return;  // Version Negotiation: echoes the client's IDs
  size_t at = 5;
  const size_t dcidLen = d[at++];
  if (dcidLen > 20 || d.size() < at + dcidLen + 1) return;
  at += dcidLen;
  const size_t scidLen = d[at++];
  if (scidLen == 0 || scidLen > 20 || d.size() < at + scidLen) return;
  const QuicCid cid(d.subspan(at, scidLen));
  if (std::find(cids_.begin(), cids_.end(), cid) != cids_.end()) return;
  cids_.push_back(cid);
  flows_.learned(*this, cid);
}

void QuicFlow::onTimer() noexcept {
  if (state_ == State::Closed) return;
  const uint64_t t = now();
  for (size_t i = 0; i < paths_.size() && state_ != State::Closed; ++i) {
    if (!paths_[i]->resume) continue;
    paths_[i]->resume = false;
    serverEvents(*paths_[i], EPOLLIN);
  }
  if (state_ == State::Closed) return;
  if (state_ == State::Dropping) {
    if (t >= dropUntil_) finish(core_.termCause, core_.termStage);
    else rearmTimer();
    return;
  }
  if (state_ == State::Inspecting && inspectDeadline_ && t >= inspectDeadline_ && !windowOver_) {
    windowOver_ = true;
    evaluate();
    return;
  }
  if (state_ == State::TurnAround && t >= retryAt_) {
    connect();
    return;
  }
  if (state_ == State::Connecting && connectDeadline_ && t >= connectDeadline_) {
    connectFailed(ETIMEDOUT, true);
    return;
  }
  if (!confirmed_ && unconfirmedDeadline_ && t >= unconfirmedDeadline_) {
    // Never confirmed: a client that does not receive what the server
    // sends it (a spoofed address), or a server that never answered.
    core_.fe.counters->quic.unconfirmedExpired.fetch_add(1, std::memory_order_relaxed);
    if (state_ == State::Forwarding) {
      finish('c', 'C');
    } else {
      core_.fe.counters->noServer.fetch_add(1, std::memory_order_relaxed);
      finish('s', 'C');
    }
    return;
  }
  const IdleLimits idle = idleLimits();
  if (t - lastClient_ >= idle.client) {
    // Silence is how a QUIC connection ends as seen from outside: its
    // CONNECTION_CLOSE is encrypted. Before any answer, it is the client's
    // timeout.
    finish(state_ == State::Forwarding ? '-' : 'c', state_ == State::Forwarding ? '-' : stageLetter());
    return;
  }
  if (state_ == State::Forwarding && t - lastServer_ >= idle.server) {
    finish('-', '-');
    return;
  }
  // Paths the client left: closed once silent both ways for a while (the
  // server may still probe an old path before it moves).
  for (size_t i = 0; i < paths_.size() && paths_.size() > 1;) {
    QuicPath& p = *paths_[i];
    if (&p != current_ && t - std::max(p.lastClient, p.lastServer) >= kPathIdleMs) {
      closePath(p);
      continue;
    }
    ++i;
  }
  rearmTimer();
}

QuicFlow::IdleLimits QuicFlow::idleLimits() const noexcept {
  const uint32_t tunnel = core_.be ? core_.be->timeoutTunnel : 0;
  if (tunnel) return {tunnel, tunnel};
  return {core_.fe.timeoutClient ? core_.fe.timeoutClient : kDefaultIdleMs,
          core_.be && core_.be->timeoutServer ? core_.be->timeoutServer : kDefaultIdleMs};
}

void QuicFlow::rearmTimer() noexcept {
  if (state_ == State::Closed) return;
  uint64_t next = kNoDeadline;
  if (state_ == State::Dropping) {
    next = dropUntil_;
  } else {
    const IdleLimits idle = idleLimits();
    next = lastClient_ + idle.client;
    if (state_ == State::Forwarding) next = std::min(next, lastServer_ + idle.server);
    if (state_ == State::Inspecting && inspectDeadline_ && !windowOver_) next = std::min(next, inspectDeadline_);
    if (state_ == State::TurnAround) next = std::min(next, retryAt_);
    if (state_ == State::Connecting && connectDeadline_) next = std::min(next, connectDeadline_);
    if (!confirmed_ && unconfirmedDeadline_) next = std::min(next, unconfirmedDeadline_);
    for (const auto& p : paths_) {
      if (p.get() != current_ && paths_.size() > 1) next = std::min(next, std::max(p->lastClient, p->lastServer) + kPathIdleMs);
    }
  }
  // Activity only moves deadlines later: a timer already due earlier fires,
  // finds nothing to do and re-arms (no heap work per datagram).
  if (armed() && deadline() <= next) return;
  worker_.loop().schedule(*this, next);
}

void QuicFlow::closeServerSockets() noexcept {
  // close() takes a socket out of epoll; an event of this batch naming a
  // path finds the flow in another state.
  for (const auto& p : paths_) net::closeFd(p->fd);
}

void QuicFlow::accountBytes(bool final) noexcept {
  core_.accountBytes(bytesIn_, bytesOut_, bytesIn_ + bytesOut_, now(), final);
}

// Counters, the server slot, the frontend's place: given back once.
void QuicFlow::release() noexcept {
  if (released_) return;
  released_ = true;
  accountBytes(true);
  core_.rc.untrack();
  core_.recordTimes(core_.termCause, state_ == State::Forwarding, now());
  if (core_.be) core_.be->counters->closed();
  core_.releaseServer();
  if (counted_) {
    core_.fe.counters->closed();
    worker_.process().actconn.fetch_sub(1, std::memory_order_relaxed);
  }
}

void QuicFlow::refuse(char cause, char stage) noexcept {
  core_.termCause = cause;
  core_.termStage = stage;
  emitLog();
  logged_ = true;
  closeServerSockets();
  release();
  std::vector<Held>().swap(held_);
  heldBytes_ = 0;
  reader_.reset();
  state_ = State::Dropping;
  flows_.dropping(*this);
  if (state_ == State::Closed) return;  // the table of refused flows was full: this one is forgotten
  dropUntil_ = now() + kRefusedMemoryMs;
  worker_.loop().schedule(*this, dropUntil_);
}

void QuicFlow::finish(char cause, char stage) noexcept {
  if (state_ == State::Closed) return;
  core_.termCause = cause;
  core_.termStage = stage;
  if (!logged_) {
    accountBytes(true);
    emitLog();
    logged_ = true;
  }
  worker_.loop().cancel(*this);
  closeServerSockets();
  release();
  state_ = State::Closed;
  flows_.closed(this);
}

void QuicFlow::kill(char cause) noexcept { finish(cause, stageLetter()); }

void QuicFlow::emitLog() noexcept {
  if (!core_.rc.logWanted(core_.fe, core_.termCause == '-' && core_.termStage == '-')) return;
  // "option dontlognull": a flow its client never confirmed carried no
  // exchange (spoofed Initials among them).
  if (core_.fe.dontlognull && !confirmed_) return;
  observe::LogRecord r = core_.logRecord(now());
  r.bytesIn = bytesIn_;
  r.bytesOut = bytesOut_;
  route::SessionView v = view(true);
  r.view = &v;
  core_.log(r, core_.termCause != '-');
}

SessionInfo QuicFlow::describe() const {
  SessionInfo i = SessionInfo::of(core_.id, worker_.index(), core_.rc, core_.fe, core_.be, core_.server);
  i.ageMs = worker_.loop().now() - core_.acceptMono;
  i.bytesIn = bytesIn_;
  i.bytesOut = bytesOut_;
  i.spliced = false;
  i.quic = true;
  static const char* kStates[] = {"quic-inspecting", "quic-turnaround", "quic-connecting", "quic-forwarding",
                                  "quic-refused", "closed"};
  i.state = kStates[static_cast<int>(state_)];
  if (!confirmed_ && state_ == State::Forwarding) i.state = "quic-unconfirmed";
  i.sni = sni_;
  return i;
}

}  // namespace sluice::session
