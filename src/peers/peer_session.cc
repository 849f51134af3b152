// SPDX-License-Identifier: Apache-2.0
// One peers-protocol connection; see peer_session.h.
#include "peers/peer_session.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/socket.h"
#include "observe/log_sink.h"

namespace sluice::peers {

namespace wire = proto::peers;

namespace {

constexpr uint64_t kHeartbeatMs = 3000;   // as HAProxy
constexpr uint64_t kSilenceMs = 10000;    // nothing heard for this long: the peer is gone
constexpr size_t kResyncChunk = 512;      // entries snapshotted at once during a resync
bool sameHost(const core::Address& a, const core::Address& b) { return a.rawBytes() == b.rawBytes(); }

}  // namespace

uint8_t wireType(stick::DataType t) {
  switch (t) {
    case stick::DataType::HttpFailCnt: return wire::kHttpFailCnt;
    case stick::DataType::HttpFailRate: return wire::kHttpFailRate;
    case stick::DataType::GlitchCnt: return wire::kGlitchCnt;
    case stick::DataType::GlitchRate: return wire::kGlitchRate;
    default: return static_cast<uint8_t>(t);
  }
}

std::optional<stick::DataType> localType(uint8_t w) {
  if (w <= wire::kGpc1Rate) return static_cast<stick::DataType>(w);
  if (w == wire::kHttpFailCnt) return stick::DataType::HttpFailCnt;
  if (w == wire::kHttpFailRate) return stick::DataType::HttpFailRate;
  if (w == wire::kGlitchCnt) return stick::DataType::GlitchCnt;
  if (w == wire::kGlitchRate) return stick::DataType::GlitchRate;
  return std::nullopt;  // server_key and the arrays: not stored by sluice
}

uint64_t widen(uint32_t id, uint64_t ceiling) {
  uint64_t v = (ceiling & ~uint64_t{0xffffffff}) | id;
  if (v > ceiling && v >= (uint64_t{1} << 32)) v -= uint64_t{1} << 32;
  return v > ceiling ? 0 : v;
}

PeerSession* Link::carrier() const {
  for (PeerSession* s : {out, in}) {
    if (s && s->state() == PeerSession::State::Established && s->resyncing()) return s;
  }
  if (out && out->state() == PeerSession::State::Established) return out;
  if (in && in->state() == PeerSession::State::Established) return in;
  return nullptr;
}

PeerSession::PeerSession(PeerSessionHost& host, Section& section, Link* link, int fd, bool outgoing,
                         const core::Address& source)
    : host_(host), section_(section), link_(link), fd_(fd), outgoing_(outgoing), source_(source),
      state_(outgoing ? State::Connecting : State::AwaitHello), serial_(host.nextSerial()) {
  createdAt_ = lastRx_ = lastTx_ = host_.loop().now();
  if (!outgoing) {
    handshaking_ = true;
    ++section_.handshaking;
    if (section_.listenTls) startTls();
  }
}

PeerSession::~PeerSession() {
  leaveHandshake();
  tls_.reset();
  net::closeFd(fd_);
}

void PeerSession::leaveHandshake() {
  if (!handshaking_) return;
  handshaking_ = false;
  --section_.handshaking;
}

void PeerSession::startTls() {
  const bool server = !outgoing_;
  tls_ = server ? std::make_unique<net::TlsStream>(section_.listenTls, fd_, true)
                : std::make_unique<net::TlsStream>(link_->tls, fd_, false, link_->sni, link_->verifyHost);
  state_ = State::TlsHandshake;
}

// The TLS handshake is over (or there is none): the peers protocol starts.
void PeerSession::afterTls() {
  if (outgoing_) {
    state_ = State::AwaitStatus;
    send(wire::encodeHello(link_->name, section_.localName, static_cast<uint64_t>(getpid())));
  } else {
    state_ = State::AwaitHello;
  }
}

void PeerSession::onEvents(uint32_t events) noexcept {
  if (state_ == State::Closed) return;
  if (state_ == State::Connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = net::socketError(fd_);
    if (err || (events & (EPOLLERR | EPOLLHUP))) {
      close(std::string("connect: ") + std::strerror(err ? err : ECONNREFUSED));
      return;
    }
    if (link_->tls) {
      startTls();
    } else {
      afterTls();
    }
  }
  if (state_ == State::TlsHandshake) {
    const int r = tls_->handshake();
    if (r < 0) {
      if (outgoing_) {
        link_->lastStatus = "TLS";
        ++link_->protocolErrors;
      } else {
        ++section_.refused.badHandshakes;
      }
      close("TLS handshake failed: " + tls_->error());
      return;
    }
    if (r == 0) return;
    lastRx_ = host_.loop().now();
    afterTls();
    if (state_ == State::Closed) return;
    // What came with the handshake's last flight is already inside OpenSSL:
    // no edge will announce it.
    events |= EPOLLIN | EPOLLOUT;
  }
  if (events & EPOLLOUT) flush();
  if (state_ != State::Closed && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) readAll();
  // A resync waits for room in the send buffer; the peer just took some.
  if (state_ == State::Established && resyncing_ && out_.size() < kSendWatermark) {
    continueResync(host_.loop().now());
  }
}

ssize_t PeerSession::rawRecv(char* buf, size_t n) {
  if (tls_) return tls_->read(buf, n);
  return ::recv(fd_, buf, n, MSG_DONTWAIT);
}

ssize_t PeerSession::rawSend(const char* data, size_t n) {
  if (tls_) return tls_->write(data, n);
  return ::send(fd_, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void PeerSession::send(const std::string& bytes) {
  if (state_ == State::Closed) return;
  out_ += bytes;
  lastTx_ = host_.loop().now();
  if (out_.size() > kMaxPending) {
    close("the peer does not read (over 4 MiB queued)");
    return;
  }
  flush();
}

void PeerSession::detach() {
  state_ = State::Closed;
  tls_.reset();
  net::closeFd(fd_);
}

void PeerSession::close(const std::string& why) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  leaveHandshake();
  tls_.reset();
  net::closeFd(fd_);
  host_.sessionClosed(this, why);
}

void PeerSession::tick(uint64_t now) {
  if (state_ == State::Closed) return;
  if (state_ != State::Established && now - createdAt_ > kHandshakeMs) {
    // A byte now and then must not keep a handshake open forever.
    if (outgoing_) {
      link_->lastStatus = "TOUT";
    } else {
      ++section_.refused.handshakeTimeouts;
    }
    close("no handshake within 5 s");
    return;
  }
  // The peer is gone when nothing came from it for 10 s on any of its
  // sessions: a second, idle session whose heartbeats queue behind a bulk
  // transfer on a slow link is not a dead peer.
  const uint64_t heard = link_ && state_ == State::Established ? std::max(lastRx_, link_->lastHeard) : lastRx_;
  if (now - heard > kSilenceMs) {
    if (link_) ++link_->silences;
    close("nothing heard for 10 s");
    return;
  }
  if (state_ != State::Established) return;
  for (auto& [id, rt] : remote_) {
    if (!rt.ackPending) continue;
    send(wire::encodeAck(id, rt.lastRx));
    rt.ackPending = false;
  }
  if (resyncing_) continueResync(now);
  if (state_ == State::Established && now - lastTx_ >= kHeartbeatMs) {
    if (link_) ++link_->heartbeatsOut;
    send(wire::encodeMessage(wire::kControl, wire::kHeartbeat));
  }
}

void PeerSession::teach(SharedTable& st, const stick::Table::Snapshot& snap, uint64_t id, uint64_t now) {
  if (state_ != State::Established) return;
  if (!defined_.count(st.def.id)) {
    send(wire::encodeDefine(st.def));
    defined_.insert(st.def.id);
    currentTx_ = static_cast<int64_t>(st.def.id);
  } else if (currentTx_ != static_cast<int64_t>(st.def.id)) {
    send(wire::encodeSwitch(st.def.id));
    currentTx_ = static_cast<int64_t>(st.def.id);
  }
  wire::Update u;
  u.id = static_cast<uint32_t>(id);
  u.expireMs = snap.expireInMs ? snap.expireInMs : static_cast<uint32_t>(st.def.expireMs);
  u.key = snap.key;
  if (st.def.keyType == wire::kKeySint && u.key.size() == 4) std::reverse(u.key.begin(), u.key.end());
  for (const auto& [t, v] : snap.values) {
    wire::Value w;
    w.type = wireType(t);
    if (stick::isRate(t)) {
      w.rates.push_back({v.rate.start && now > v.rate.start ? now - v.rate.start : 0, v.rate.current, v.rate.previous});
    } else {
      w.ints.push_back(v.counter);
    }
    u.values.push_back(std::move(w));
  }
  std::sort(u.values.begin(), u.values.end(), [](const wire::Value& a, const wire::Value& b) { return a.type < b.type; });
  send(wire::encodeUpdate(st.def, u));
  if (link_) ++link_->updatesOut;
}

// A full resync: every entry, a chunk at a time, only while the peer keeps
// up (kSendWatermark), so that a large table over a slow link never fills
// the send buffer and costs a disconnect and a new resync. The entries go
// out with the number the peer last acknowledged (their order is the
// table's, not the log's, so none of them may move the acknowledgement);
// once all went out, pushing goes on from where the log stood at the start.
void PeerSession::startResync(uint64_t now) {
  if (!link_) return;
  resyncing_ = true;
  resyncTable_ = 0;
  resyncSent_ = 0;
  resyncStart_ = now;
  cursor_ = {};
  resyncUpTo_.assign(section_.tables.size(), 0);
  continueResync(now);
}

void PeerSession::continueResync(uint64_t now) {
  while (resyncing_ && state_ == State::Established && out_.size() < kSendWatermark) {
    if (resyncTable_ >= section_.tables.size()) {
      resyncing_ = false;
      for (size_t i = 0; i < section_.tables.size(); ++i) {
        Progress& p = link_->progress[i];
        if (link_->pushedVia == serial_) p.pushed = std::max(p.pushed, resyncUpTo_[i]);
      }
      send(wire::encodeMessage(wire::kControl, wire::kResyncFinished));
      host_.log(observe::kNotice, "sluice: peer '" + link_->name + "' resynchronized: " + std::to_string(resyncSent_) +
                             " entries in " + std::to_string(now - resyncStart_) + " ms");
      return;
    }
    SharedTable& st = section_.tables[resyncTable_];
    const uint64_t baseline = link_->progress[resyncTable_].acked;
    for (const auto& snap : st.table->resyncChunk(cursor_, now, kResyncChunk)) {
      teach(st, snap, baseline, now);
      ++resyncSent_;
    }
    if (cursor_.done) {
      resyncUpTo_[resyncTable_] = cursor_.upTo;
      ++resyncTable_;
      cursor_ = {};
    }
  }
}

void PeerSession::flush() {
  while (!out_.empty() && fd_ >= 0) {
    ssize_t n = rawSend(out_.data(), out_.size());
    if (n > 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close(std::string("send: ") + (tls_ && !tls_->error().empty() ? tls_->error() : std::strerror(errno)));
    return;
  }
}

void PeerSession::readAll() {
  char buf[16384];
  for (;;) {
    ssize_t n = rawRecv(buf, sizeof(buf));
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      lastRx_ = host_.loop().now();
      if (link_ && state_ == State::Established) link_->lastHeard = lastRx_;
      const bool handshake = state_ == State::AwaitHello || state_ == State::AwaitStatus;
      if (handshake && in_.size() > kMaxHelloBytes) {
        refuseHandshake("a hello longer than " + std::to_string(kMaxHelloBytes) + " bytes");
        return;
      }
      if (in_.size() > kMaxUnreadBytes) {
        protocolError("over 1 MiB of unreadable bytes");
        return;
      }
      // Messages are taken as they come, so that a long burst (a resync)
      // never piles up here.
      if (in_.size() >= sizeof(buf)) {
        process();
        if (state_ == State::Closed) return;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    process();
    close(n == 0 ? "closed by the peer"
                 : std::string("recv: ") + (tls_ && !tls_->error().empty() ? tls_->error() : std::strerror(errno)));
    return;
  }
  process();
}

void PeerSession::protocolError(const std::string& why) {
  if (link_) ++link_->protocolErrors;
  if (state_ == State::Established) send(wire::encodeMessage(wire::kError, wire::kErrProtocol));
  close("protocol error: " + why);
}

void PeerSession::refuseHandshake(const std::string& why) {
  if (outgoing_) {
    ++link_->protocolErrors;
    link_->lastStatus = "garbage";
  } else {
    ++section_.refused.badHandshakes;
  }
  close("handshake refused: " + why);
}

void PeerSession::process() {
  size_t used = 0;
  if (state_ == State::AwaitHello) {
    wire::Hello h;
    wire::Status st = wire::parseHello(in_, h, used);
    if (st == wire::Status::NeedMore) return;
    if (st == wire::Status::Error) {
      send(wire::encodeStatus(wire::kProtocolError));
      refuseHandshake("bad hello");
      return;
    }
    in_.erase(0, used);
    int code = wire::kSucceeded;
    Link* link = nullptr;
    for (auto& l : section_.links) {
      if (l->name == h.localPeer) link = l.get();
    }
    if (h.protocol != wire::kProtocol) code = wire::kProtocolError;
    else if (h.major != wire::kMajor) code = wire::kBadVersion;
    else if (h.remotePeer != section_.localName) code = wire::kLocalNameMismatch;
    else if (!link) code = wire::kRemoteNameMismatch;
    // A peer speaks from its own address: another host naming it is not it.
    else if (source_.valid() && !sameHost(source_, link->address)) code = wire::kRemoteNameMismatch;
    if (code != wire::kSucceeded) {
      send(wire::encodeStatus(code));
      flush();
      refuseHandshake("hello refused (" + std::to_string(code) + ")");
      return;
    }
    link_ = link;
    send(wire::encodeStatus(wire::kSucceeded));
    // The send may have found the connection gone (and closed the session,
    // which is then freed after this batch): it must not become the link's.
    if (state_ == State::Closed) return;
    state_ = State::Established;
    leaveHandshake();
    host_.sessionEstablished(*this);
    if (state_ == State::Closed) return;
  }
  if (state_ == State::AwaitStatus) {
    int code = 0;
    wire::Status st = wire::parseStatus(in_, code, used);
    if (st == wire::Status::NeedMore) return;
    if (st == wire::Status::Error || code != wire::kSucceeded) {
      if (st == wire::Status::Error) ++link_->protocolErrors;
      link_->lastStatus = st == wire::Status::Error ? "garbage" : std::to_string(code);
      close("handshake refused (" + link_->lastStatus + ")");
      return;
    }
    in_.erase(0, used);
    state_ = State::Established;
    host_.sessionEstablished(*this);
    if (state_ == State::Closed) return;
  }
  if (state_ != State::Established) return;
  size_t pos = 0;
  std::span<const uint8_t> all(reinterpret_cast<const uint8_t*>(in_.data()), in_.size());
  while (state_ == State::Established) {
    wire::Message m;
    wire::Status st = wire::parseMessage(all.subspan(pos), m, used);
    if (st == wire::Status::NeedMore) break;
    if (st == wire::Status::Error) {
      protocolError("unreadable message");
      return;
    }
    if (!handle(m)) return;
    pos += used;
  }
  if (state_ != State::Closed) in_.erase(0, pos);
}

bool PeerSession::handle(const wire::Message& m) {
  const uint64_t now = host_.loop().now();
  if (m.cls == wire::kControl) {
    switch (m.type) {
      case wire::kResyncRequest:
        if (!resyncing_) startResync(now);  // kResyncFinished follows the last entry
        return true;
      case wire::kResyncFinished:
      case wire::kResyncPartial:
        send(wire::encodeMessage(wire::kControl, wire::kResyncConfirm));
        return true;
      case wire::kResyncConfirm:
        return true;
      case wire::kHeartbeat:
        if (link_) ++link_->heartbeatsIn;
        return true;
      default:
        protocolError("unknown control message " + std::to_string(m.type));
        return false;
    }
  }
  if (m.cls == wire::kError) {
    if (link_) ++link_->protocolErrors;
    close("the peer reported an error (" + std::to_string(m.type) + ")");
    return false;
  }
  if (m.cls != wire::kStickTable) {
    protocolError("unknown message class " + std::to_string(m.cls));
    return false;
  }
  switch (m.type) {
    case wire::kDefine: {
      RemoteTable rt;
      if (!wire::parseDefine(m.data, rt.def)) {
        protocolError("bad table definition");
        return false;
      }
      if (remote_.size() >= kMaxRemoteTables && !remote_.count(rt.def.id)) {
        protocolError("more than " + std::to_string(kMaxRemoteTables) + " table definitions");
        return false;
      }
      // Only the tables this section shares, by name and key type: a peer
      // writes nothing else here.
      bool sameName = false;
      for (SharedTable& st : section_.tables) {
        sameName = sameName || st.def.name == rt.def.name;
        if (st.def.name == rt.def.name && st.def.keyType == rt.def.keyType) rt.local = &st;
      }
      // Said once per session: the peer's updates to it are skipped.
      if (!rt.local && link_ && toldSkipped_.size() < kMaxRemoteTables && toldSkipped_.insert(rt.def.name).second) {
        host_.log(observe::kNotice, "sluice: peer '" + link_->name + "' shares table '" + rt.def.name + "', which " +
                               (sameName ? "has another key type here" : "is not shared here") +
                               ": its updates are skipped (a table declared in a peers section is '/<name>' "
                               "on the wire, one declared in a proxy is the proxy's name)");
      }
      const uint64_t id = rt.def.id;
      remote_[id] = std::move(rt);
      currentRx_ = &remote_[id];
      return true;
    }
    case wire::kSwitch: {
      size_t p = 0;
      uint64_t id = 0;
      if (!wire::getVarint(m.data, p, id)) {
        protocolError("bad table switch");
        return false;
      }
      auto it = remote_.find(id);
      currentRx_ = it == remote_.end() ? nullptr : &it->second;
      return true;
    }
    case wire::kUpdate:
    case wire::kIncrementalUpdate:
    case wire::kUpdateTimed:
    case wire::kIncrementalUpdateTimed: {
      if (!currentRx_) return true;  // a table not defined (HAProxy skips these too)
      const bool withId = m.type == wire::kUpdate || m.type == wire::kUpdateTimed;
      const bool timed = m.type == wire::kUpdateTimed || m.type == wire::kIncrementalUpdateTimed;
      wire::Update u;
      if (!wire::parseUpdate(m.data, currentRx_->def, withId, timed, u)) {
        protocolError("bad update");
        return false;
      }
      currentRx_->lastRx = u.id ? *u.id : currentRx_->lastRx + 1;
      currentRx_->ackPending = true;
      if (link_) ++link_->updatesIn;
      if (currentRx_->local) learn(*currentRx_->local, u, now);
      return true;
    }
    case wire::kAck: {
      uint64_t tableId = 0;
      uint32_t id = 0;
      if (!wire::parseAck(m.data, tableId, id)) {
        protocolError("bad acknowledgement");
        return false;
      }
      acknowledged(tableId, id);
      return true;
    }
    default:
      protocolError("unknown table message " + std::to_string(m.type));
      return false;
  }
}

// Every update this link was sent, on any session, went in log order from
// a point the peer had acknowledged (resyncs send the acknowledged number
// itself); so an acknowledged id means the peer has everything up to it.
void PeerSession::acknowledged(uint64_t tableId, uint32_t id) {
  if (!link_) return;
  for (size_t i = 0; i < section_.tables.size(); ++i) {
    if (section_.tables[i].def.id != tableId) continue;
    Progress& p = link_->progress[i];
    const uint64_t n = widen(id, std::max(p.pushed, section_.tables[i].table->lastUpdate()));
    p.acked = std::max(p.acked, n);
    return;
  }
}

void PeerSession::learn(SharedTable& st, const wire::Update& u, uint64_t now) {
  const stick::TableSpec& spec = st.table->spec();
  std::string key = u.key;
  switch (spec.keyType) {
    case stick::KeyType::Integer:
      if (key.size() != 4) return;
      std::reverse(key.begin(), key.end());
      break;
    case stick::KeyType::String:
      if (key.size() > spec.keyLength) key.resize(spec.keyLength);
      break;
    case stick::KeyType::Binary:
      key.resize(spec.keyLength, '\0');
      break;
    default:
      break;
  }
  std::vector<std::pair<stick::DataType, stick::Value>> values;
  for (const wire::Value& w : u.values) {
    auto t = localType(w.type);
    if (!t || !spec.stores(*t)) continue;
    stick::Value v;
    if (stick::isRate(*t)) {
      if (w.rates.empty()) continue;
      v.rate.start = now > w.rates[0].ageMs ? now - w.rates[0].ageMs : 0;
      v.rate.current = static_cast<uint32_t>(std::min<uint64_t>(w.rates[0].current, UINT32_MAX));
      v.rate.previous = static_cast<uint32_t>(std::min<uint64_t>(w.rates[0].previous, UINT32_MAX));
    } else {
      if (w.ints.empty()) continue;
      v.counter = w.ints[0];
    }
    values.emplace_back(*t, v);
  }
  st.table->learn(key, u.expireMs, values, now);
}

}  // namespace sluice::peers
