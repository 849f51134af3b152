// SPDX-License-Identifier: Apache-2.0
// A worker's table of QUIC flows; see quic_flows.h.
#include "session/quic_flows.h"

#include <cstring>

#include "core/byte_reader.h"
#include "proto/quic_initial.h"
#include "session/quic_flow.h"
#include "session/quic_listener.h"
#include "session/worker.h"

namespace sluice::session {

namespace {

// A client's Initial packet of a version sluice reads, by its first bytes.
bool looksLikeInitial(std::span<const uint8_t> d) {
  if (d.size() < 7 || !(d[0] & 0x80) || !(d[0] & 0x40)) return false;
  const uint32_t version = core::loadU32(d, 1);
  const unsigned type = (d[0] >> 4) & 3;
  return (version == proto::kQuicV1 && type == 0) || (version == proto::kQuicV2 && type == 1);
}

route::SessionView connectionView(RuleContext& rc, runtime::Frontend& fe, const runtime::Runtime& rt) {
  route::SessionView v;
  v.src = rc.src;
  v.dst = rc.dst;
  v.frontendName = fe.name;
  v.helloFinal = true;
  v.final = true;
  v.captures = &rc.captures;
  v.vars = &rc.vars;
  v.tables = &rt.tables;
  v.proxies = &rt;
  v.stickTable = fe.stickTable;
  v.tracking = rc.tracking.get();
  return v;
}

}  // namespace

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

void QuicFlows::Queue::push(QuicFlow* f) {
  f->queuePrev = tail;
  f->queueNext = nullptr;
  if (tail) tail->queueNext = f;
  else head = f;
  tail = f;
  ++size;
}

void QuicFlows::Queue::remove(QuicFlow* f) {
  if (f->queuePrev) f->queuePrev->queueNext = f->queueNext;
  else head = f->queueNext;
  if (f->queueNext) f->queueNext->queuePrev = f->queuePrev;
  else tail = f->queuePrev;
  f->queuePrev = f->queueNext = nullptr;
  --size;
}

QuicFlows::QuicFlows(Worker& worker, QuicDirectory& directory) : worker_(worker), directory_(directory) {}

QuicFlows::~QuicFlows() { killAll('K'); }

template <typename F>
void QuicFlows::publish(F change) {
  change(directory_);
  for (Worker* w : worker_.peers()) {
    if (w == &worker_) continue;
    w->loop().post([w, change] { change(w->quicDirectory()); });
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
  if (auto it = byAddress_.find(FlowKey(local, peer)); it != byAddress_.end()) {
    QuicPath& path = *it->second;
    path.flow.fromClient(path, data, meta);
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
    // A short header from an address no flow has: a client whose address
    // changed, if a flow owns it.
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
  RuleVerdict verdict =
      rc.connectionRules(fe.connectionRules, [&] { return connectionView(rc, fe, *rt); }, expectProxy);
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
  makeRoom(rt, fe);
  qc.unconfirmed.fetch_add(1, std::memory_order_relaxed);
  auto* f = new QuicFlow(worker_, *this, rt, fe, ep, std::move(rc), std::move(reader), peer, local);
  f->next = flows_;
  if (flows_) flows_->prev = f;
  flows_ = f;
  ++count_;
  unconfirmed_[fe.counters.get()].push(f);
  f->queue = QuicFlow::Queued::Unconfirmed;
  byAddress_[FlowKey(local, peer)] = f->paths().front().get();
  byId_[f->id()] = f;
  f->start(data, meta.ecn);
}

// Spoofed Initials from ever new addresses must not keep real clients out:
// once this worker's share of the frontend's budget is full, its oldest
// unconfirmed flow here makes room (a real client confirms within a round
// trip or two; a spoofed one never does). Each worker has an equal share
// (at least one), so the budget holds exactly without a count shared by
// the workers, and a client is never turned away because other workers
// hold the flows.
void QuicFlows::makeRoom(const std::shared_ptr<const runtime::Runtime>& rt, runtime::Frontend& fe) noexcept {
  const size_t threads = std::max<size_t>(1, rt->nbthread), limit = rt->quicMaxUnconfirmed;
  const size_t share = std::max<size_t>(1, limit / threads + (worker_.index() < limit % threads ? 1 : 0));
  auto it = unconfirmed_.find(fe.counters.get());
  if (it == unconfirmed_.end() || it->second.size < share) return;
  fe.counters->quic.unconfirmedEvicted.fetch_add(1, std::memory_order_relaxed);
  it->second.head->kill('c');
}

bool QuicFlows::migrate(runtime::Frontend& fe, std::span<const uint8_t> data, uint8_t ecn,
                        const core::Address& peer, const core::Address& local) noexcept {
  QuicCid opener;
  auto owner = directory_.findShortHeader(data);
  if (!owner) {
    // A connection ID sluice never saw (active migration takes one the
    // server handed over encrypted): the one confirmed flow from that IP,
    // if there is exactly one.
    owner = directory_.soleFlow(QuicClientKey(local, peer));
    if (!owner) return false;
    opener = QuicCid(data.subspan(1, std::min<size_t>(data.size() - 1, 20)));
  }
  fe.counters->quic.migrated.fetch_add(1, std::memory_order_relaxed);
  if (owner->worker == worker_.index()) {
    deliverMigrated(owner->flow, data, peer, local, {0, ecn}, opener);
    return true;
  }
  // Another worker holds the flow: the datagram goes to its thread.
  Worker* target = worker_.peer(owner->worker);
  if (!target) return false;
  std::vector<uint8_t> copy(data.begin(), data.end());
  return target->loop().post([target, flow = owner->flow, copy = std::move(copy), peer, local, ecn, opener] {
    if (QuicFlows* q = target->quicFlows()) q->deliverMigrated(flow, copy, peer, local, {0, ecn}, opener);
  });
}

void QuicFlows::deliverMigrated(uint64_t id, std::span<const uint8_t> data, const core::Address& peer,
                                const core::Address& local, net::DatagramMeta meta, const QuicCid& opener) noexcept {
  if (auto known = byAddress_.find(FlowKey(local, peer)); known != byAddress_.end()) {
    // A path opened by an earlier datagram (posted here, or read here).
    if (known->second->flow.id() == id) known->second->flow.fromClient(*known->second, data, meta);
    return;
  }
  auto it = byId_.find(id);
  if (it == byId_.end() || it->second->closed()) return;
  it->second->migrate(peer, local, data, meta, opener);
}

void QuicFlows::pathOpened(QuicPath& path) { byAddress_[FlowKey(path.local, path.peer)] = &path; }

void QuicFlows::pathClosed(QuicPath& path) {
  auto it = byAddress_.find(FlowKey(path.local, path.peer));
  if (it != byAddress_.end() && it->second == &path) byAddress_.erase(it);
}

void QuicFlows::learned(QuicFlow& flow, const QuicCid& cid) {
  const QuicOwner owner{worker_.index(), flow.id()};
  publish([cid, owner](QuicDirectory& d) { d.addId(cid, owner); });
}

void QuicFlows::confirmed(QuicFlow& flow) {
  leaveQueues(flow);
  const QuicClientKey key(flow.firstPath().local, flow.firstPath().peer);
  flow.clientKey = key;
  const QuicOwner owner{worker_.index(), flow.id()};
  publish([key, owner](QuicDirectory& d) { d.addClient(key, owner); });
}

void QuicFlows::dropping(QuicFlow& flow) {
  leaveQueues(flow);
  dropping_.push(&flow);
  flow.queue = QuicFlow::Queued::Dropping;
  if (dropping_.size > kMaxDropping) {
    QuicFlow* oldest = dropping_.head;
    oldest->frontend().counters->quic.droppingEvicted.fetch_add(1, std::memory_order_relaxed);
    oldest->kill('-');
  }
}

// Out of the list the flow is in; leaving the unconfirmed one gives its
// place in the frontend's budget back.
void QuicFlows::leaveQueues(QuicFlow& flow) {
  switch (flow.queue) {
    case QuicFlow::Queued::None:
      return;
    case QuicFlow::Queued::Unconfirmed: {
      auto it = unconfirmed_.find(flow.frontend().counters.get());
      it->second.remove(&flow);
      if (it->second.size == 0) unconfirmed_.erase(it);
      flow.frontend().counters->quic.unconfirmed.fetch_sub(1, std::memory_order_relaxed);
      break;
    }
    case QuicFlow::Queued::Dropping:
      dropping_.remove(&flow);
      break;
  }
  flow.queue = QuicFlow::Queued::None;
}

void QuicFlows::closed(QuicFlow* flow) noexcept {
  leaveQueues(*flow);
  for (const auto& p : flow->paths()) pathClosed(*p);
  const uint64_t id = flow->id();
  std::vector<QuicCid> cids = flow->connectionIds();
  if (!cids.empty()) {
    publish([cids = std::move(cids), id](QuicDirectory& d) {
      for (const QuicCid& c : cids) d.removeId(c, id);
    });
  }
  if (flow->clientKey) {
    const QuicClientKey key = *flow->clientKey;
    publish([key, id](QuicDirectory& d) { d.removeClient(key, id); });
  }
  byId_.erase(id);
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
  auto it = byId_.find(id);
  if (it == byId_.end()) return false;
  it->second->kill('K');
  return true;
}

}  // namespace sluice::session
