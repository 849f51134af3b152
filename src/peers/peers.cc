// SPDX-License-Identifier: Apache-2.0
// Stick tables shared over HAProxy's peers protocol; see peers.h.
#include "peers/peers.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "net/socket.h"
#include "proto/peers.h"

namespace sluice::peers {

namespace wire = proto::peers;

namespace {

constexpr uint64_t kTickMs = 100;
constexpr uint64_t kHeartbeatMs = 3000;   // as HAProxy
constexpr uint64_t kSilenceMs = 10000;    // nothing heard for this long: the peer is gone
constexpr uint32_t kMaxBackoffMs = 5000;
constexpr size_t kMaxPending = 4 << 20;   // bytes queued for a peer that does not read
constexpr int kNotice = 5, kWarning = 4;

// sluice's data types and the protocol's share their numbers up to gpc1_rate;
// http_fail_cnt and http_fail_rate come after HAProxy's server_key.
uint8_t wireType(stick::DataType t) {
  switch (t) {
    case stick::DataType::HttpFailCnt: return wire::kHttpFailCnt;
    case stick::DataType::HttpFailRate: return wire::kHttpFailRate;
    default: return static_cast<uint8_t>(t);
  }
}

std::optional<stick::DataType> localType(uint8_t w) {
  if (w <= wire::kGpc1Rate) return static_cast<stick::DataType>(w);
  if (w == wire::kHttpFailCnt) return stick::DataType::HttpFailCnt;
  if (w == wire::kHttpFailRate) return stick::DataType::HttpFailRate;
  return std::nullopt;  // server_key and the arrays: not stored by sluice
}

wire::TableDef definitionOf(const stick::TableSpec& spec, uint64_t localId) {
  wire::TableDef d;
  d.id = localId;
  // A table declared in the peers section is "<section>/<name>" here and
  // "/<name>" on the wire, as HAProxy 2.6 sends it (proxy names cannot hold
  // a '/', so such a table only meets tables declared the same way).
  d.name = spec.name.starts_with(spec.peers + "/") ? spec.name.substr(spec.peers.size()) : spec.name;
  switch (spec.keyType) {
    case stick::KeyType::Ip: d.keyType = wire::kKeyIpv4, d.keyLength = 4; break;
    case stick::KeyType::Ipv6: d.keyType = wire::kKeyIpv6, d.keyLength = 16; break;
    case stick::KeyType::Integer: d.keyType = wire::kKeySint, d.keyLength = 4; break;
    // HAProxy counts a string key's terminating NUL in its length.
    case stick::KeyType::String: d.keyType = wire::kKeyString, d.keyLength = spec.keyLength + 1; break;
    case stick::KeyType::Binary: d.keyType = wire::kKeyBinary, d.keyLength = spec.keyLength; break;
  }
  d.expireMs = spec.expireMs;
  for (size_t i = 0; i < stick::kDataTypes; ++i) {
    if (!spec.stored[i]) continue;
    const auto t = static_cast<stick::DataType>(i);
    const uint8_t w = wireType(t);
    d.dataTypes |= uint64_t{1} << w;
    if (stick::isRate(t)) d.params[w] = {spec.period[i]};
  }
  return d;
}

// "01/Dec/2026:05:50:12", as HAProxy dates its sections in "show peers".
std::string logDate() {
  time_t now = time(nullptr);
  tm t{};
  gmtime_r(&now, &t);
  char buf[32];
  strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S", &t);
  return buf;
}

}  // namespace

struct SharedTable {
  stick::Table* table = nullptr;
  wire::TableDef def;
};

// How far one peer is in one shared table's update log (stick/table.h):
// what it acknowledged, and what was sent on the session carrying it.
struct Progress {
  uint64_t acked = 0;
  uint64_t pushed = 0;
};

// The 64-bit update number a 32-bit id on the wire stands for: the latest
// one at or below `ceiling` with those low bits.
uint64_t widen(uint32_t id, uint64_t ceiling) {
  uint64_t v = (ceiling & ~uint64_t{0xffffffff}) | id;
  if (v > ceiling && v >= (uint64_t{1} << 32)) v -= uint64_t{1} << 32;
  return v > ceiling ? 0 : v;
}

struct PeersService::Link {
  std::string name;
  core::Address address;
  Session* out = nullptr;
  Session* in = nullptr;
  uint64_t nextConnectAt = 0;
  uint32_t backoffMs = 250;
  uint64_t establishedAt = 0;
  bool askedResync = false;
  std::vector<Progress> progress;  // one per shared table of the section
  uint64_t pushedVia = 0;          // the session `pushed` counts for (its serial)
  uint64_t connects = 0, establishments = 0, protocolErrors = 0, updatesIn = 0, updatesOut = 0, heartbeatsIn = 0,
           heartbeatsOut = 0, silences = 0;
  std::string lastStatus = "NONE";
  Session* carrier() const;
};

struct PeersService::Section {
  std::string name;
  std::string localName;
  core::Address localAddress;
  std::vector<std::unique_ptr<Link>> links;
  std::vector<SharedTable> tables;
  std::unique_ptr<Listener> listener;
  std::vector<std::unique_ptr<Session>> sessions;
};

class PeersService::Session final : public event::EventHandler {
 public:
  enum class State { Connecting, AwaitStatus, AwaitHello, Established, Closed };
  Session(PeersService& svc, Section& section, Link* link, int fd, bool outgoing)
      : svc_(svc), section_(section), link_(link), fd_(fd), outgoing_(outgoing),
        state_(outgoing ? State::Connecting : State::AwaitHello), serial_(++svc.sessionSerial_) {
    lastRx_ = lastTx_ = svc_.loop_.now();
  }
  ~Session() override { net::closeFd(fd_); }

  State state() const { return state_; }
  bool outgoing() const { return outgoing_; }
  Link* link() const { return link_; }
  uint64_t serial() const { return serial_; }

  void onEvents(uint32_t events) noexcept override {
    if (state_ == State::Closed) return;
    if (state_ == State::Connecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = net::socketError(fd_);
      if (err || (events & (EPOLLERR | EPOLLHUP))) {
        close(std::string("connect: ") + std::strerror(err ? err : ECONNREFUSED));
        return;
      }
      state_ = State::AwaitStatus;
      send(wire::encodeHello(link_->name, section_.localName, static_cast<uint64_t>(getpid())));
    }
    if (events & EPOLLOUT) flush();
    if (state_ != State::Closed && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) readAll();
  }

  void send(const std::string& bytes) {
    if (state_ == State::Closed) return;
    out_ += bytes;
    lastTx_ = svc_.loop_.now();
    if (out_.size() > kMaxPending) {
      close("the peer does not read (over 4 MiB queued)");
      return;
    }
    flush();
  }

  // Closed without telling the service (it is being reconfigured).
  void detach() {
    state_ = State::Closed;
    net::closeFd(fd_);
  }

  void close(const std::string& why) {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    net::closeFd(fd_);
    svc_.sessionClosed(this, why);
  }

  // The timer's look: heartbeats, silent peers, acknowledgements.
  void tick(uint64_t now) {
    if (state_ == State::Closed) return;
    if (now - lastRx_ > kSilenceMs) {
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
    if (now - lastTx_ >= kHeartbeatMs) {
      if (link_) ++link_->heartbeatsOut;
      send(wire::encodeMessage(wire::kControl, wire::kHeartbeat));
    }
  }

  // An entry of a shared table, as an update message (with the table's
  // definition or a switch to it first when needed). Its id is the entry's
  // number in the update log, so the peer's acknowledgement says how far
  // it got.
  void teach(SharedTable& st, const stick::Table::Snapshot& snap, uint64_t id, uint64_t now) {
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

  // A full resync: every entry, in the order of the update log (those
  // only learned from peers first), so that an acknowledgement of any of
  // them still means "everything up to here". Then pushing goes on from
  // where the snapshot stood.
  void teachAll(uint64_t now) {
    if (!link_) return;
    for (size_t i = 0; i < section_.tables.size(); ++i) {
      SharedTable& st = section_.tables[i];
      Progress& p = link_->progress[i];
      uint64_t upTo = 0;
      auto all = st.table->snapshotAll(now, &upTo);
      std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.update < b.update; });
      for (const auto& snap : all) teach(st, snap, snap.update ? snap.update : p.acked, now);
      if (link_->pushedVia == serial_) p.pushed = std::max(p.pushed, upTo);
    }
  }

 private:
  struct RemoteTable {
    wire::TableDef def;
    SharedTable* local = nullptr;
    uint32_t lastRx = 0;       // the id of the last update received
    bool ackPending = false;
  };

  void flush() {
    while (!out_.empty() && fd_ >= 0) {
      ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        out_.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close(std::string("send: ") + std::strerror(errno));
      return;
    }
  }

  void readAll() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        lastRx_ = svc_.loop_.now();
        if (in_.size() > (1u << 20)) {
          protocolError("over 1 MiB of unreadable bytes");
          return;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      process();
      close(n == 0 ? "closed by the peer" : std::string("recv: ") + std::strerror(errno));
      return;
    }
    process();
  }

  void protocolError(const std::string& why) {
    if (link_) ++link_->protocolErrors;
    if (state_ == State::Established) send(wire::encodeMessage(wire::kError, wire::kErrProtocol));
    close("protocol error: " + why);
  }

  void process() {
    size_t used = 0;
    if (state_ == State::AwaitHello) {
      wire::Hello h;
      wire::Status st = wire::parseHello(in_, h, used);
      if (st == wire::Status::NeedMore) return;
      if (st == wire::Status::Error) {
        send(wire::encodeStatus(wire::kProtocolError));
        close("bad hello");
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
      if (code != wire::kSucceeded) {
        send(wire::encodeStatus(code));
        flush();
        close("hello refused (" + std::to_string(code) + ")");
        return;
      }
      link_ = link;
      send(wire::encodeStatus(wire::kSucceeded));
      state_ = State::Established;
      svc_.sessionEstablished(*this);
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
      svc_.sessionEstablished(*this);
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

  bool handle(const wire::Message& m) {
    const uint64_t now = svc_.loop_.now();
    if (m.cls == wire::kControl) {
      switch (m.type) {
        case wire::kResyncRequest:
          teachAll(now);
          send(wire::encodeMessage(wire::kControl, wire::kResyncFinished));
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
        bool sameName = false;
        for (SharedTable& st : section_.tables) {
          sameName = sameName || st.def.name == rt.def.name;
          if (st.def.name == rt.def.name && st.def.keyType == rt.def.keyType) rt.local = &st;
        }
        // Said once per session: the peer's updates to it are skipped.
        if (!rt.local && link_ && toldSkipped_.insert(rt.def.name).second) {
          svc_.log_(kNotice, "sluice: peer '" + link_->name + "' shares table '" + rt.def.name + "', which " +
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

  // Every update this link was sent, on any session, went in log order
  // from a point the peer had acknowledged; so an acknowledged id means the
  // peer has everything up to it.
  void acknowledged(uint64_t tableId, uint32_t id) {
    if (!link_) return;
    for (size_t i = 0; i < section_.tables.size(); ++i) {
      if (section_.tables[i].def.id != tableId) continue;
      Progress& p = link_->progress[i];
      const uint64_t n = widen(id, std::max(p.pushed, section_.tables[i].table->lastUpdate()));
      p.acked = std::max(p.acked, n);
      return;
    }
  }

  void learn(SharedTable& st, const wire::Update& u, uint64_t now) {
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

  PeersService& svc_;
  Section& section_;
  Link* link_;
  int fd_;
  bool outgoing_;
  State state_;
  std::string in_, out_;
  uint64_t lastRx_ = 0, lastTx_ = 0;
  std::map<uint64_t, RemoteTable> remote_;
  RemoteTable* currentRx_ = nullptr;
  std::set<uint64_t> defined_;
  std::set<std::string> toldSkipped_;  // tables of the peer's not shared here, logged
  int64_t currentTx_ = -1;
  uint64_t serial_;
};

PeersService::Session* PeersService::Link::carrier() const {
  if (out && out->state() == Session::State::Established) return out;
  if (in && in->state() == Session::State::Established) return in;
  return nullptr;
}

class PeersService::Listener final : public event::EventHandler {
 public:
  Listener(PeersService& svc, Section& section, int fd) : svc_(svc), section_(section), fd_(fd) {}
  ~Listener() override { net::closeFd(fd_); }
  int fd() const { return fd_; }
  void detach() { net::closeFd(fd_); }
  void onEvents(uint32_t) noexcept override {
    for (int i = 0; i < 64 && fd_ >= 0; ++i) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      svc_.incoming(section_, c);
    }
  }

 private:
  PeersService& svc_;
  Section& section_;
  int fd_;
};

PeersService::PeersService(event::EventLoop& loop, Log log) : loop_(loop), log_(std::move(log)) {}

PeersService::~PeersService() {
  loop_.cancel(*this);
  sections_.clear();
}

void PeersService::configure(const config::Config& cfg, const std::string& localName, std::shared_ptr<const void> keep,
                             const stick::TableSet& tables) {
  loop_.cancel(*this);
  // What each peer acknowledged survives a reload for the tables carried
  // over (the same objects, so the same update numbers); a peer whose
  // tables all carried over is not asked for a resync again.
  struct Kept {
    std::map<const stick::Table*, uint64_t> acked;
    bool askedResync = false;
  };
  std::map<std::pair<std::string, std::string>, Kept> kept;
  for (auto& s : sections_) {
    for (auto& link : s->links) {
      Kept& k = kept[{s->name, link->name}];
      k.askedResync = link->askedResync;
      for (size_t i = 0; i < s->tables.size(); ++i) k.acked[s->tables[i].table] = link->progress[i].acked;
    }
  }
  // Sessions and listeners start again (a reload); peers reconnect at once.
  // Events of this batch may still name them: freed after it.
  for (auto& s : sections_) {
    for (auto& session : s->sessions) {
      session->detach();
      loop_.deferDelete(std::unique_ptr<event::EventHandler>(session.release()));
    }
    if (s->listener) {
      s->listener->detach();
      loop_.deferDelete(std::unique_ptr<event::EventHandler>(s->listener.release()));
    }
  }
  sections_.clear();
  keep_ = std::move(keep);
  for (const config::PeersConfig& pc : cfg.peers) {
    if (pc.disabled) continue;
    auto section = std::make_unique<Section>();
    section->name = pc.name;
    section->localName = localName;
    bool local = false;
    for (const auto& p : pc.peers) {
      if (p.name == localName) {
        local = true;
        if (p.address) section->localAddress = *p.address;
        continue;
      }
      if (!p.address) continue;
      auto link = std::make_unique<Link>();
      link->name = p.name;
      link->address = *p.address;
      section->links.push_back(std::move(link));
    }
    if (pc.bind) section->localAddress = *pc.bind;
    if (!local) {
      log_(kWarning, "sluice: peers section '" + pc.name + "' has no peer named '" + localName +
                         "' (this instance's name, from -L, localpeer or the host name): its tables are not shared");
      continue;
    }
    uint64_t id = 1;
    for (const auto& t : tables.all()) {
      if (t->spec().peers != pc.name) continue;
      section->tables.push_back({t.get(), definitionOf(t->spec(), id++)});
    }
    for (auto& link : section->links) {
      link->progress.resize(section->tables.size());
      auto k = kept.find({section->name, link->name});
      if (k == kept.end()) continue;
      bool all = true;
      for (size_t i = 0; i < section->tables.size(); ++i) {
        auto a = k->second.acked.find(section->tables[i].table);
        if (a == k->second.acked.end()) {
          all = false;
        } else {
          link->progress[i].acked = link->progress[i].pushed = a->second;
        }
      }
      link->askedResync = k->second.askedResync && all;
    }
    if (section->localAddress.valid()) {
      std::string error;
      net::ListenOptions o;
      o.reusePort = false;
      int fd = net::openListener(section->localAddress, o, error);
      if (fd < 0) {
        log_(kWarning, "sluice: peers section '" + pc.name + "': cannot listen on " +
                           section->localAddress.toString() + ": " + error);
      } else {
        section->listener = std::make_unique<Listener>(*this, *section, fd);
        loop_.add(fd, EPOLLIN, section->listener.get());
      }
    }
    sections_.push_back(std::move(section));
  }
  if (!sections_.empty()) loop_.schedule(*this, loop_.now() + 1);
}

void PeersService::incoming(Section& section, int fd) {
  auto s = std::make_unique<Session>(*this, section, nullptr, fd, /*outgoing=*/false);
  if (!loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, s.get())) return;
  section.sessions.push_back(std::move(s));
}

void PeersService::connectDue(uint64_t now) {
  for (auto& section : sections_) {
    for (auto& link : section->links) {
      if (link->out || now < link->nextConnectAt) continue;
      ++link->connects;
      int fd = net::startConnect(link->address, core::Address());
      if (fd < 0) {
        link->lastStatus = "CONN";
        link->nextConnectAt = now + link->backoffMs;
        link->backoffMs = std::min(link->backoffMs * 2, kMaxBackoffMs);
        continue;
      }
      auto s = std::make_unique<Session>(*this, *section, link.get(), fd, /*outgoing=*/true);
      if (!loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, s.get())) continue;
      link->out = s.get();
      section->sessions.push_back(std::move(s));
    }
  }
}

void PeersService::sessionEstablished(Session& s) {
  Link* link = s.link();
  link->lastStatus = "ESTA";
  link->backoffMs = 250;
  link->establishedAt = loop_.now();
  ++link->establishments;
  if (!s.outgoing()) {
    if (link->in && link->in != &s) link->in->close("replaced by a new connection from the peer");
    link->in = &s;
  }
  log_(kNotice, "sluice: peer '" + link->name + "' connected (" + (s.outgoing() ? "outgoing" : "incoming") + ")");
  // Once per process: ask what the peers know (a restart learns it back).
  if (!link->askedResync) {
    link->askedResync = true;
    s.send(wire::encodeMessage(wire::kControl, wire::kResyncRequest));
  }
}

void PeersService::sessionClosed(Session* s, const std::string& why) {
  // Called from inside the session: it is freed after this batch of events.
  for (auto& section : sections_) {
    for (auto& link : section->links) {
      if (link->out == s) {
        link->out = nullptr;
        link->nextConnectAt = loop_.now() + link->backoffMs;
        link->backoffMs = std::min(link->backoffMs * 2, kMaxBackoffMs);
        log_(kNotice, "sluice: peer '" + link->name + "' disconnected: " + why);
      }
      if (link->in == s) {
        link->in = nullptr;
        log_(kNotice, "sluice: peer '" + link->name + "' (incoming) disconnected: " + why);
      }
    }
    for (auto it = section->sessions.begin(); it != section->sessions.end(); ++it) {
      if (it->get() == s) {
        loop_.deferDelete(std::unique_ptr<event::EventHandler>(it->release()));
        section->sessions.erase(it);
        return;
      }
    }
  }
}

// Each connected peer gets, per table, what the update log holds past what
// was sent to it; a new carrying session starts again from what the peer
// acknowledged (what was in flight on a broken one is sent again, as
// HAProxy does). Bounded per tick, so a peer that was away for long is
// caught up over several ticks without a burst past its queue limit.
void PeersService::pushChanges(uint64_t now) {
  constexpr size_t kMaxPerTick = 10000;
  for (auto& section : sections_) {
    for (auto& link : section->links) {
      Session* c = link->carrier();
      if (!c) continue;
      if (link->pushedVia != c->serial()) {
        link->pushedVia = c->serial();
        for (Progress& p : link->progress) p.pushed = p.acked;
      }
      for (size_t i = 0; i < section->tables.size() && c->state() == Session::State::Established; ++i) {
        SharedTable& st = section->tables[i];
        Progress& p = link->progress[i];
        for (const auto& snap : st.table->changesAfter(p.pushed, now, kMaxPerTick)) {
          c->teach(st, snap, snap.update, now);
          p.pushed = snap.update;
        }
      }
    }
  }
}

void PeersService::onTimer() noexcept {
  const uint64_t now = loop_.now();
  connectDue(now);
  pushChanges(now);
  for (auto& section : sections_) {
    // A copy: a tick may close (and so remove) a session.
    std::vector<Session*> all;
    for (auto& s : section->sessions) all.push_back(s.get());
    for (Session* s : all) s->tick(now);
  }
  loop_.schedule(*this, now + kTickMs);
}

// HAProxy's "show peers" layout (its management guide), the fields sluice
// keeps filled: the section, each remote peer (its state, handshake age,
// heartbeats, connections, protocol errors), the local one, and per peer
// the shared tables with the updates sent and received.
std::string PeersService::show() const {
  std::ostringstream o;
  const uint64_t now = loop_.now();
  auto ptr = [](const void* p) {
    std::ostringstream a;
    a << p;
    return a.str();
  };
  for (const auto& section : sections_) {
    o << ptr(section.get()) << ": [" << logDate() << "] id=" << section->name
      << " disabled=0 flags=0x0 resync_timeout=<NEVER> task_calls=0\n";
    for (const auto& link : section->links) {
      Session* c = link->carrier();
      o << "  " << ptr(link.get()) << ": id=" << link->name << "(remote," << (c ? "active" : "inactive")
        << ") addr=" << link->address.toString() << " last_status=" << link->lastStatus << " last_hdshk="
        << (link->establishedAt ? std::to_string((now - link->establishedAt) / 1000) + "s" : std::string("<NEVER>"))
        << "\n";
      o << "        reconnect=" << (link->out ? std::string("<NEVER>") : std::to_string(link->backoffMs) + "ms")
        << " heartbeat=" << (c ? "3s" : "<NEVER>") << " confirm=0 tx_hbt=" << link->heartbeatsOut
        << " rx_hbt=" << link->heartbeatsIn << " no_hbt=" << link->silences << " new_conn=" << link->connects
        << " proto_err=" << link->protocolErrors << " coll=0\n";
      o << "        flags=0x0 " << (c ? (c->outgoing() ? "out" : "in") : "no") << "_session updates_in="
        << link->updatesIn << " updates_out=" << link->updatesOut << "\n";
      o << "        shared tables:\n";
      for (const SharedTable& st : section->tables) {
        o << "          " << ptr(&st) << " local_id=" << st.def.id << " remote_id=0 flags=0x0 remote_data=0x0\n";
        const Progress& p = link->progress[static_cast<size_t>(&st - section->tables.data())];
        const uint64_t last = st.table->lastUpdate();
        o << "              last_acked=" << static_cast<uint32_t>(p.acked) << " last_pushed="
          << static_cast<uint32_t>(p.pushed) << " last_get=" << link->updatesIn
          << " teaching_origin=0 update=" << static_cast<uint32_t>(last) << "\n";
        o << "              table:" << ptr(st.table) << " id=" << st.def.name << " update=" << static_cast<uint32_t>(last)
          << " localupdate=" << static_cast<uint32_t>(last) << " commitupdate=0 refcnt=1\n";
      }
    }
    o << "  " << ptr(&section->localName) << ": id=" << section->localName << "(local,inactive) addr="
      << (section->localAddress.valid() ? section->localAddress.toString() : std::string("-"))
      << " last_status=NONE last_hdshk=<NEVER>\n";
  }
  return o.str();
}

}  // namespace sluice::peers
