// SPDX-License-Identifier: Apache-2.0
// QUIC flows: routing by the Initial's ClientHello and forwarding of
// datagrams both ways; see quic_flow.h.
#include "session/quic_flow.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/socket.h"
#include "observe/tcplog.h"
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

uint32_t readU32(std::span<const uint8_t> d, size_t at) {
  return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) | d[at + 3];
}

// A client's Initial packet of a version sluice reads, by its first bytes.
bool looksLikeInitial(std::span<const uint8_t> d) {
  if (d.size() < 7 || !(d[0] & 0x80) || !(d[0] & 0x40)) return false;
  const uint32_t version = readU32(d, 1);
  const unsigned type = (d[0] >> 4) & 3;
  return (version == proto::kQuicV1 && type == 0) || (version == proto::kQuicV2 && type == 1);
}

route::SessionView baseView(RuleContext& rc, runtime::Frontend& fe, const runtime::Runtime& rt) {
  route::SessionView v;
  v.src = rc.src;
  v.dst = rc.dst;
  v.frontendName = fe.name;
  v.helloFinal = true;
  v.final = true;
  v.captures = &rc.captures;
  v.vars = &rc.vars;
  v.tables = &rt.tables;
  v.stickTable = fe.stickTable;
  v.tracking = rc.tracking.get();
  return v;
}

}  // namespace

UdpEndpoint::UdpEndpoint(int f, const core::Address& l) : fd(f), local(l) {
  struct stat st{};
  if (::fstat(fd, &st) == 0) inode = st.st_ino;
}

UdpEndpoint::~UdpEndpoint() { net::closeFd(fd); }

// ---------------------------------------------------------------------------
// QuicFlow

QuicFlow::QuicFlow(Worker& worker, QuicFlows& flows, std::shared_ptr<const runtime::Runtime> rt,
                   runtime::Frontend& fe, std::shared_ptr<UdpEndpoint> endpoint, RuleContext rc,
                   std::unique_ptr<proto::QuicHelloReader> reader, const core::Address& peer,
                   const core::Address& local)
    : worker_(worker),
      flows_(flows),
      rt_(std::move(rt)),
      fe_(fe),
      endpoint_(std::move(endpoint)),
      rc_(std::move(rc)),
      peer_(peer),
      replyFrom_(local),
      reader_(std::move(reader)) {
  id_ = worker_.process().nextSessionId.fetch_add(1, std::memory_order_relaxed) + 1;
  startWallMicros_ = event::wallMicros();
  startMono_ = worker_.loop().now();
  lastClient_ = startMono_;
  lastServer_ = startMono_;
}

QuicFlow::~QuicFlow() {
  if (armed()) worker_.loop().cancel(*this);
  net::closeFd(serverFd_);
}

uint64_t QuicFlow::now() const noexcept { return worker_.loop().now(); }

route::SessionView QuicFlow::view(bool final) noexcept {
  route::SessionView v = baseView(rc_, fe_, *rt_);
  if (be_) {
    v.backendName = be_->name;
    v.stickTable = be_->stickTable ? be_->stickTable : fe_.stickTable;
  }
  if (reader_ && reader_->status() == proto::QuicStatus::Done) v.hello = &reader_->info();
  else if (hello_) v.hello = hello_.get();
  v.helloFinal = helloFinal_ || !fe_.waitsForHello;
  v.final = final;
  return v;
}

char QuicFlow::stageLetter() const noexcept {
  switch (state_) {
    case State::Inspecting: return 'R';
    case State::Connecting: return 'C';
    case State::Forwarding: return 'D';
    case State::Dropping:
    case State::Closed: return '-';
  }
  return '-';
}

void QuicFlow::start(std::span<const uint8_t> first, uint8_t ecn) noexcept {
  fe_.counters->opened();
  rc_.countSession();
  bytesIn_ += first.size();
  held_.push_back({std::vector<uint8_t>(first.begin(), first.end()), ecn});
  heldBytes_ = first.size();
  if (!rulesAdmit(fe_.sessionRules)) return;
  if (fe_.inspects) {
    if (fe_.inspectWindow > 0) {
      inspectDeadline_ = startMono_ + fe_.inspectWindow;
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
    runtime::HelloCounters& c = fe_.counters->hello;
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
  if (fe_.waitsForHello && !helloFinal_ && !windowOver_) {
    rearmTimer();
    return;
  }
  decide();
}

void QuicFlow::decide() noexcept {
  // Nothing a rule could read comes later in a QUIC flow than the hello:
  // the rules see a final state.
  if (fe_.inspects && !rulesAdmit(fe_.contentRules)) return;
  be_ = rc_.chooseBackend(*rt_, fe_, view(true));
  if (!be_) {
    fe_.counters->noServer.fetch_add(1, std::memory_order_relaxed);
    refuse('S', 'C');
    return;
  }
  be_->counters->opened();
  if (!rulesAdmit(be_->contentRules)) return;
  // The hello is kept only when the log line prints from it.
  if (reader_ && fe_.logFormat && reader_->status() == proto::QuicStatus::Done) {
    hello_ = std::make_unique<proto::ClientHelloInfo>(reader_->info());
  }
  reader_.reset();
  connect();
}

bool QuicFlow::rulesAdmit(const std::vector<runtime::Rule>& rules) noexcept {
  RuleVerdict v = rc_.contentRules(rules, [this] { return view(true); }, true);
  // "tls-alert" refuses a QUIC flow as "reject" does: its alert would have
  // to travel in a CONNECTION_CLOSE frame of an Initial packet sluice does
  // not write (docs/configuration.md).
  if (v != RuleVerdict::Reject && v != RuleVerdict::SilentDrop && v != RuleVerdict::TlsAlert) return true;
  fe_.counters->denied.fetch_add(1, std::memory_order_relaxed);
  refuse('P', 'R');
  return false;
}

void QuicFlow::connect() noexcept {
  bool allFull = false;
  server_ = rc_.pickServer(*be_, view(true), tried_, redispatched_, /*quic=*/true, allFull);
  if (!server_) {
    // QUIC flows do not queue for a slot: at maxconn the flow is refused.
    be_->counters->noServer.fetch_add(1, std::memory_order_relaxed);
    refuse(lastError_ ? (timedOut_ ? 's' : 'S') : 'S', allFull ? 'Q' : 'C');
    return;
  }
  server_->connectionOpened();
  if (connectStart_ == 0) connectStart_ = now();
  core::Address target = server_->address;
  if (server_->portFromClient) {
    int port = static_cast<int>(rc_.dst.port()) + server_->portOffset;
    target.setPort(static_cast<uint16_t>(std::clamp(port, 1, 65535)));
  }
  runtime::Backend::Origin origin = be_->originFor(*server_, rc_.src, target);
  serverFd_ = net::openUdpConnected(target, origin.bindTo, origin.transparent, *origin.interface);
  serverFamily_ = target.family();
  if (serverFd_ < 0 || !worker_.loop().add(serverFd_, EPOLLIN, this)) {
    connectFailed(errno ? errno : EIO, false);
    return;
  }
  state_ = State::Connecting;
  connectDeadline_ = be_->timeoutConnect ? now() + be_->timeoutConnect : 0;
  // A send refused at once moves the flow to another server, which
  // connect() replays everything to itself: this loop then stops, or the
  // rest would reach the new server twice.
  const uint32_t attempt = ++attempts_;
  for (const Held& d : held_) {
    toServer(d.bytes, {0, d.ecn});
    if (state_ != State::Connecting || attempts_ != attempt) return;
  }
  rearmTimer();
}

void QuicFlow::connectFailed(int error, bool timedOut) noexcept {
  lastError_ = error;
  timedOut_ = timedOut;
  if (server_) {
    server_->counters.connectErrors.fetch_add(1, std::memory_order_relaxed);
    be_->counters->errors.fetch_add(1, std::memory_order_relaxed);
    tried_.push_back(server_);
    server_->connectionClosed();
    server_ = nullptr;
  }
  closeServerSide();
  if (retries_ < be_->retries) {
    ++retries_;
    if (!tried_.empty()) tried_.back()->counters.retries.fetch_add(1, std::memory_order_relaxed);
    if (be_->redispatch && retries_ == be_->retries) redispatched_ = true;
    state_ = State::Inspecting;  // no server yet
    connect();
    return;
  }
  refuse(timedOut ? 's' : 'S', 'C');
}

void QuicFlow::toServer(std::span<const uint8_t> data, net::DatagramMeta meta) noexcept {
  const net::OutDatagram out{data, meta.segment, meta.ecn};
  // A full queue loses datagrams, as any link may; QUIC retransmits.
  const net::SendResult sent = net::sendDatagrams(serverFd_, {&out, 1}, nullptr, {}, serverFamily_);
  countSent(sent);
  const int err = sent.error;
  if (!err) return;
  // An ICMP error from an earlier datagram (the port is closed, the host
  // unreachable): before the server's first answer another server may take
  // the flow; after it, the flow has lost its server.
  if (state_ == State::Connecting) {
    connectFailed(err, false);
  } else {
    finish('S', 'D');
  }
}

void QuicFlow::fromClient(std::span<const uint8_t> data, const core::Address& peer, const core::Address& local,
                          net::DatagramMeta meta) noexcept {
  if (state_ == State::Closed) return;
  if (meta.segment && data.size() > meta.segment && state_ != State::Forwarding) {
    // Held, read and replayed one datagram at a time until forwarding.
    net::forEachDatagram(data, meta.segment,
                         [&](std::span<const uint8_t> one) { fromClient(one, peer, local, {0, meta.ecn}); });
    return;
  }
  lastClient_ = now();
  // NAT rebinding, found again by connection ID: the table already files
  // the flow under the new addresses (QuicFlows::rekey), which key() derives.
  peer_ = peer;
  replyFrom_ = local;
  if (state_ == State::Dropping) return;
  bytesIn_ += data.size();
  if (state_ == State::Forwarding) {
    toServer(data, meta);
    return;
  }
  if (held_.size() >= kMaxHeldDatagrams || heldBytes_ + data.size() > kMaxHeldBytes) {
    fe_.counters->quic.heldDropped.fetch_add(1, std::memory_order_relaxed);
    if (state_ == State::Connecting) toServer(data, meta);
    return;
  }
  held_.push_back({std::vector<uint8_t>(data.begin(), data.end()), meta.ecn});
  heldBytes_ += data.size();
  if (state_ == State::Connecting) {
    toServer(data, meta);
    return;
  }
  if (reader_ && reader_->status() == proto::QuicStatus::NeedMore) reader_->addDatagram(data);
  evaluate();
}

void QuicFlow::onEvents(uint32_t events) noexcept {
  if (state_ != State::Connecting && state_ != State::Forwarding) return;
  net::DatagramBatch& batch = flows_.batch();
  for (int round = 0; round < kBatchesPerEvent; ++round) {
    int n = batch.receive(serverFd_, /*wantAddresses=*/false);
    if (n < 0) {
      int err = errno;
      if (state_ == State::Connecting) {
        connectFailed(err, false);
      } else {
        finish('S', 'D');
      }
      return;
    }
    if (n > 0) fromServer(batch, n);
    if (state_ != State::Connecting && state_ != State::Forwarding) return;
    if (n < net::DatagramBatch::kBatch) {
      accountBytes(false);
      return;
    }
  }
  // More may be queued: let the thread's other work run, then come back
  // (the edge will not come again for data already there).
  accountBytes(false);
  resume_ = true;
  worker_.loop().schedule(*this, now());
  (void)events;
}

void QuicFlow::fromServer(const net::DatagramBatch& batch, int count) noexcept {
  const uint64_t t = now();
  if (state_ == State::Connecting) {
    state_ = State::Forwarding;
    connectMs_ = static_cast<int64_t>(t - connectStart_);
    std::vector<Held>().swap(held_);
    heldBytes_ = 0;
    rc_.storeStickiness(*be_, *server_, view(true));
  }
  lastServer_ = t;
  std::array<net::OutDatagram, net::DatagramBatch::kBatch> out;
  uint64_t coalesced = 0;
  for (int i = 0; i < count; ++i) {
    const net::DatagramMeta& meta = batch.meta(i);
    out[static_cast<size_t>(i)] = {batch.data(i), meta.segment, meta.ecn};
    bytesOut_ += batch.data(i).size();
    size_t datagrams = 0;
    net::forEachDatagram(batch.data(i), meta.segment, [&](std::span<const uint8_t> d) {
      learnConnectionId(d);
      ++datagrams;
    });
    if (datagrams > 1) coalesced += datagrams;
  }
  if (coalesced) fe_.counters->quic.groDatagrams.fetch_add(coalesced, std::memory_order_relaxed);
  // One sendmmsg() for the batch; coalesced buffers leave whole (GSO).
  countSent(net::sendDatagrams(endpoint_->fd, {out.data(), static_cast<size_t>(count)}, &peer_, replyFrom_));
}

void QuicFlow::countSent(const net::SendResult& sent) noexcept {
  runtime::QuicCounters& q = fe_.counters->quic;
  if (sent.lost) q.sendErrors.fetch_add(sent.lost, std::memory_order_relaxed);
  if (sent.coalesced) q.gsoDatagrams.fetch_add(sent.coalesced, std::memory_order_relaxed);
}

// The server's long-header packets carry, in clear, the connection ID it
// chose (their Source Connection ID): the client puts it in every
// short-header packet, so it finds the flow again if the client's address
// changes (NAT rebinding).
void QuicFlow::learnConnectionId(std::span<const uint8_t> d) noexcept {
  if (cids_.size() >= kMaxConnectionIds || d.size() < 7 || !(d[0] & 0x80)) return;
  if (readU32(d, 1) == 0) return;  // Version Negotiation: echoes the client's IDs
  size_t at = 5;
  const size_t dcidLen = d[at++];
  if (dcidLen > 20 || d.size() < at + dcidLen + 1) return;
  at += dcidLen;
  const size_t scidLen = d[at++];
  if (scidLen == 0 || scidLen > 20 || d.size() < at + scidLen) return;
  std::string cid(reinterpret_cast<const char*>(d.data() + at), scidLen);
  if (std::find(cids_.begin(), cids_.end(), cid) != cids_.end()) return;
  cids_.push_back(cid);
  flows_.learned(this, cid);
}

void QuicFlow::onTimer() noexcept {
  if (state_ == State::Closed) return;
  const uint64_t t = now();
  if (resume_) {
    resume_ = false;
    onEvents(EPOLLIN);
    if (state_ == State::Closed || resume_) return;
  }
  if (state_ == State::Dropping) {
    if (t >= dropUntil_) finish(termCause_, termStage_);
    else rearmTimer();
    return;
  }
  if (state_ == State::Inspecting && inspectDeadline_ && t >= inspectDeadline_ && !windowOver_) {
    windowOver_ = true;
    evaluate();
    return;
  }
  if (state_ == State::Connecting && connectDeadline_ && t >= connectDeadline_) {
    connectFailed(ETIMEDOUT, true);
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
  rearmTimer();
}

QuicFlow::IdleLimits QuicFlow::idleLimits() const noexcept {
  const uint32_t tunnel = be_ ? be_->timeoutTunnel : 0;
  if (tunnel) return {tunnel, tunnel};
  return {fe_.timeoutClient ? fe_.timeoutClient : kDefaultIdleMs,
          be_ && be_->timeoutServer ? be_->timeoutServer : kDefaultIdleMs};
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
    if (state_ == State::Connecting && connectDeadline_) next = std::min(next, connectDeadline_);
  }
  // Activity only moves deadlines later: a timer already due earlier fires,
  // finds nothing to do and re-arms (no heap work per datagram).
  if (armed() && deadline() <= next) return;
  worker_.loop().schedule(*this, next);
}

void QuicFlow::closeServerSide() noexcept {
  // close() takes the socket out of epoll; an event of this batch naming
  // the flow finds it in another state.
  net::closeFd(serverFd_);
}

void QuicFlow::accountBytes(bool final) noexcept {
  const uint64_t in = bytesIn_ - accountedIn_;
  const uint64_t out = bytesOut_ - accountedOut_;
  if (!final && in + out < 256 * 1024) return;
  accountedIn_ = bytesIn_;
  accountedOut_ = bytesOut_;
  auto add = [](std::atomic<uint64_t>& a, uint64_t v) {
    if (v) a.fetch_add(v, std::memory_order_relaxed);
  };
  add(fe_.counters->bytesIn, in);
  add(fe_.counters->bytesOut, out);
  if (be_) {
    add(be_->counters->bytesIn, in);
    add(be_->counters->bytesOut, out);
  }
  if (server_) {
    add(server_->counters.bytesIn, in);
    add(server_->counters.bytesOut, out);
  }
  add(worker_.process().copiedBytes, in + out);
}

// Counters, the server slot, the frontend's place: given back once.
void QuicFlow::release() noexcept {
  if (released_) return;
  released_ = true;
  accountBytes(true);
  rc_.untrack();
  if (be_) {
    const uint64_t total = now() - startMono_;
    be_->counters->totalTime.add(total);
    if (connectMs_ >= 0) be_->counters->connectTime.add(static_cast<uint64_t>(connectMs_));
    if (server_) {
      server_->counters.totalTime.add(total);
      if (connectMs_ >= 0) server_->counters.connectTime.add(static_cast<uint64_t>(connectMs_));
    }
    be_->counters->closed();
  }
  if (server_) server_->connectionClosed();
  fe_.counters->closed();  // opened in start(), which every flow runs first
  worker_.process().actconn.fetch_sub(1, std::memory_order_relaxed);
}

void QuicFlow::refuse(char cause, char stage) noexcept {
  termCause_ = cause;
  termStage_ = stage;
  emitLog();
  logged_ = true;
  closeServerSide();
  release();
  std::vector<Held>().swap(held_);
  heldBytes_ = 0;
  reader_.reset();
  state_ = State::Dropping;
  dropUntil_ = now() + kRefusedMemoryMs;
  worker_.loop().schedule(*this, dropUntil_);
}

void QuicFlow::finish(char cause, char stage) noexcept {
  if (state_ == State::Closed) return;
  termCause_ = cause;
  termStage_ = stage;
  if (!logged_) {
    accountBytes(true);
    emitLog();
    logged_ = true;
  }
  worker_.loop().cancel(*this);
  closeServerSide();
  release();
  state_ = State::Closed;
  flows_.closed(this);
}

void QuicFlow::kill(char cause) noexcept { finish(cause, stageLetter()); }

void QuicFlow::emitLog() noexcept {
  if (!rc_.logWanted(fe_, termCause_ == '-' && termStage_ == '-')) return;
  observe::LogRecord r;
  r.acceptWallMicros = startWallMicros_;
  r.tw = be_ ? 0 : -1;
  r.tc = connectMs_;
  r.tt = static_cast<int64_t>(now() - startMono_);
  r.bytesIn = bytesIn_;
  r.bytesOut = bytesOut_;
  r.term[0] = termCause_;
  r.term[1] = termStage_;
  r.retries = retries_;
  r.redispatched = redispatched_;
  route::SessionView v = view(true);
  r.view = &v;
  rc_.log(fe_, be_, server_, worker_.process().actconn.load(std::memory_order_relaxed), r, termCause_ != '-');
}

SessionInfo QuicFlow::describe() const {
  SessionInfo i = SessionInfo::of(id_, worker_.index(), rc_, fe_, be_, server_);
  i.ageMs = worker_.loop().now() - startMono_;
  i.bytesIn = bytesIn_;
  i.bytesOut = bytesOut_;
  i.spliced = false;
  i.quic = true;
  static const char* kStates[] = {"quic-inspecting", "quic-connecting", "quic-forwarding", "quic-refused",
                                  "closed"};
  i.state = kStates[static_cast<int>(state_)];
  i.sni = sni_;
  return i;
}

// ---------------------------------------------------------------------------
// QuicFlows

QuicFlows::QuicFlows(Worker& worker) : worker_(worker) {}

QuicFlows::~QuicFlows() { killAll('K'); }

FlowKey::FlowKey(const core::Address& local, const core::Address& peer) {
  for (const core::Address* a : {&local, &peer}) {
    std::string_view raw = a->rawBytes();
    const uint16_t port = a->port();
    bytes[size++] = static_cast<char>(raw.size());
    std::copy(raw.begin(), raw.end(), bytes.begin() + size);
    size = static_cast<uint8_t>(size + raw.size());
    std::memcpy(bytes.data() + size, &port, sizeof(port));
    size = static_cast<uint8_t>(size + sizeof(port));
  }
}

void QuicFlows::received(const std::shared_ptr<UdpEndpoint>& ep, const std::shared_ptr<const runtime::Runtime>& rt,
                         runtime::Frontend& fe, bool accepting, std::span<const uint8_t> data, net::DatagramMeta meta,
                         const core::Address& peer, const core::Address& localSeen) noexcept {
  // The address the client sent to: the bound one, or on a wildcard the one
  // the datagram says (with the bound port).
  core::Address local = ep->local;
  if (localSeen.valid() && (local.isAny() || !local.valid())) {
    local = localSeen;
    local.setPort(ep->local.port());
  }
  const uint16_t segment = meta.segment;
  if (segment && data.size() > segment) {
    fe.counters->quic.groDatagrams.fetch_add((data.size() + segment - 1) / segment, std::memory_order_relaxed);
  }
  const FlowKey key(local, peer);
  if (auto it = byAddress_.find(key); it != byAddress_.end()) {
    it->second->fromClient(data, peer, local, meta);
    return;
  }
  if (segment && data.size() > segment) {
    // Several datagrams of a client sluice does not know yet: each on its
    // own (the first may open the flow the others then belong to).
    net::forEachDatagram(data, segment, [&](std::span<const uint8_t> one) {
      received(ep, rt, fe, accepting, one, {0, meta.ecn}, peer, localSeen);
    });
    return;
  }
  runtime::QuicCounters& qc = fe.counters->quic;
  if (data.empty()) {
    qc.notQuic.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!(data[0] & 0x80)) {
    // A short header from an address no flow has: a client whose NAT
    // changed its address, if a server chose this connection ID.
    if (migrate(fe, data, meta.ecn, peer, local)) return;
    qc.notQuic.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!accepting) return;
  if (!looksLikeInitial(data)) {
    qc.notQuic.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (data.size() < proto::kQuicMinInitialDatagram) {
    qc.shortInitial.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ProcessState& ps = worker_.process();
  if (ps.full(fe)) {
    qc.overLimit.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // tcp-request connection rules come before any decryption: a client
  // they refuse costs no AES.
  RuleContext rc(peer, local);
  bool expectProxy = false;
  RuleVerdict verdict = rc.connectionRules(fe.connectionRules, [&] { return baseView(rc, fe, *rt); }, expectProxy);
  if (verdict == RuleVerdict::Reject || verdict == RuleVerdict::SilentDrop) {
    fe.counters->deniedConnections.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto reader = std::make_unique<proto::QuicHelloReader>();
  proto::QuicStatus st = reader->addDatagram(data);
  if (st == proto::QuicStatus::NotQuic) {
    qc.notQuic.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (st == proto::QuicStatus::Malformed || st == proto::QuicStatus::TooLarge) {
    qc.undecryptable.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ps.admitted();
  auto* f = new QuicFlow(worker_, *this, rt, fe, ep, std::move(rc), std::move(reader), peer, local);
  f->next = flows_;
  if (flows_) flows_->prev = f;
  flows_ = f;
  ++count_;
  byAddress_[key] = f;
  byId_[f->id()] = f;
  f->start(data, meta.ecn);
}

bool QuicFlows::migrate(runtime::Frontend& fe, std::span<const uint8_t> data, uint8_t ecn,
                        const core::Address& peer, const core::Address& local) noexcept {
  auto owner = worker_.process().quicIds.find(data);
  if (!owner) return false;
  fe.counters->quic.migrated.fetch_add(1, std::memory_order_relaxed);
  if (owner->worker == worker_.index()) {
    deliverMigrated(owner->flow, data, peer, local, {0, ecn});
    return true;
  }
  // Another worker holds the flow: the datagram goes to its thread.
  Worker* target = worker_.peer(owner->worker);
  if (!target) return false;
  std::vector<uint8_t> copy(data.begin(), data.end());
  return target->loop().post([target, flow = owner->flow, copy = std::move(copy), peer, local, ecn] {
    if (QuicFlows* q = target->quicFlows()) q->deliverMigrated(flow, copy, peer, local, {0, ecn});
  });
}

void QuicFlows::deliverMigrated(uint64_t id, std::span<const uint8_t> data, const core::Address& peer,
                                const core::Address& local, net::DatagramMeta meta) noexcept {
  auto it = byId_.find(id);
  if (it == byId_.end() || it->second->closed()) return;
  rekey(it->second, local, peer);
  it->second->fromClient(data, peer, local, meta);
}

void QuicFlows::learned(QuicFlow* flow, const std::string& cid) {
  worker_.process().quicIds.add(cid, {worker_.index(), flow->id()});
}

void QuicFlows::rekey(QuicFlow* flow, const core::Address& local, const core::Address& peer) {
  auto it = byAddress_.find(flow->key());
  if (it != byAddress_.end() && it->second == flow) byAddress_.erase(it);
  byAddress_[FlowKey(local, peer)] = flow;
}

void QuicFlows::closed(QuicFlow* flow) noexcept {
  auto it = byAddress_.find(flow->key());
  if (it != byAddress_.end() && it->second == flow) byAddress_.erase(it);
  for (const std::string& cid : flow->connectionIds()) worker_.process().quicIds.remove(cid, flow->id());
  byId_.erase(flow->id());
  if (flow->prev) flow->prev->next = flow->next;
  if (flow->next) flow->next->prev = flow->prev;
  if (flows_ == flow) flows_ = flow->next;
  flow->prev = flow->next = nullptr;
  --count_;
  worker_.loop().deferDelete(std::unique_ptr<event::EventHandler>(flow));
  worker_.flowClosed();
}

void QuicFlows::killAll(char cause) noexcept {
  while (flows_) {
    QuicFlow* f = flows_;
    f->kill(cause);
    if (flows_ == f) flows_ = f->next;  // should not happen; never loop forever
  }
}

void QuicFlows::killOn(const balance::ServerState* server, char cause) noexcept {
  for (QuicFlow* f = flows_; f;) {
    QuicFlow* next = f->next;
    if (f->server() && f->server()->live == server->live) f->kill(cause);
    f = next;
  }
}

void QuicFlows::describe(std::vector<SessionInfo>& out) const {
  for (QuicFlow* f = flows_; f; f = f->next) out.push_back(f->describe());
}

bool QuicFlows::shutdown(uint64_t id) noexcept {
  for (QuicFlow* f = flows_; f; f = f->next) {
    if (f->id() == id) {
      f->kill('K');
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// QuicListener

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
