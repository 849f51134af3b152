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
#include "observe/log_sink.h"
#include "peers/peer_session.h"
#include "proto/peers.h"

namespace sluice::peers {

namespace wire = proto::peers;

namespace {

constexpr uint64_t kTickMs = 100;
constexpr uint32_t kMaxBackoffMs = 5000;

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

// The listening socket of a section's local peer. Edge-triggered: it
// accepts until the queue is empty, 64 at a time, coming back on its timer
// for the rest (a burst of strangers must not strand a real peer's
// connection in the queue until the next one arrives).
class PeersListener final : public event::EventHandler, public event::Timer {
 public:
  PeersListener(PeersService& svc, Section& section, int fd) : svc_(svc), section_(section), fd_(fd) {}
  ~PeersListener() override {
    if (armed()) svc_.loop_.cancel(*this);
    net::closeFd(fd_);
  }
  void detach() {
    if (armed()) svc_.loop_.cancel(*this);
    net::closeFd(fd_);
  }
  void onEvents(uint32_t) noexcept override {
    for (int i = 0; i < 64 && fd_ >= 0; ++i) {
      sockaddr_storage from{};
      socklen_t len = sizeof(from);
      int c = ::accept4(fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      svc_.incoming(section_, c, core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&from), len));
    }
    if (fd_ >= 0) svc_.loop_.schedule(*this, svc_.loop_.now());
  }
  void onTimer() noexcept override { onEvents(EPOLLIN); }

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

namespace {

// A section line's TLS parameters as a context; null without "ssl".
// `server`: the listener's (bind) side.
net::TlsContext tlsContext(const config::PeerTls& t, bool server, bool verifyNoneByDefault, std::string& error) {
  if (!t.enabled) return nullptr;
  net::TlsOptions o;
  o.certFile = t.crt;
  o.caFile = t.caFile;
  o.crlFile = t.crlFile;
  o.ciphers = t.ciphers;
  o.ciphersuites = t.ciphersuites;
  o.minVersion = t.minVersion;
  o.maxVersion = t.maxVersion;
  using V = config::PeerTls::Verify;
  if (server) {
    // A bind verifies clients only when asked ("verify optional|required").
    o.verifyPeer = t.verify == V::Optional || t.verify == V::Required;
    o.requirePeerCert = t.verify == V::Required;
  } else {
    o.verifyPeer = t.verify == V::Required || (t.verify == V::Default && !verifyNoneByDefault);
  }
  return net::makeTlsContext(o, server, error);
}

}  // namespace

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
      if (p.tls.enabled) {
        std::string error;
        link->tls = tlsContext(p.tls, /*server=*/false, cfg.global.sslServerVerifyNone, error);
        if (!link->tls) {
          log_(observe::kWarning, "sluice: peers section '" + pc.name + "', peer '" + p.name + "': TLS: " + error +
                             "; this peer is not connected to");
          continue;
        }
        link->sni = p.tls.sni;
        link->verifyHost = !p.tls.verifyHost.empty() ? p.tls.verifyHost : p.tls.sni;
      }
      section->links.push_back(std::move(link));
    }
    if (pc.bind) section->localAddress = *pc.bind;
    if (!local) {
      log_(observe::kWarning, "sluice: peers section '" + pc.name + "' has no peer named '" + localName +
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
    if (pc.bindTls.enabled) {
      std::string error;
      section->listenTls = tlsContext(pc.bindTls, /*server=*/true, false, error);
      if (!section->listenTls) {
        log_(observe::kWarning, "sluice: peers section '" + pc.name + "': TLS on its bind: " + error +
                           "; it does not listen");
        section->localAddress = core::Address();
      }
    }
    if (section->localAddress.valid()) {
      std::string error;
      net::ListenOptions o;
      o.reusePort = false;
      int fd = net::openListener(section->localAddress, o, error);
      if (fd < 0) {
        log_(observe::kWarning, "sluice: peers section '" + pc.name + "': cannot listen on " +
                           section->localAddress.toString() + ": " + error);
      } else {
        section->listener = std::make_unique<PeersListener>(*this, *section, fd);
        loop_.add(fd, EPOLLIN, section->listener.get());
      }
    }
    sections_.push_back(std::move(section));
  }
  if (!sections_.empty()) loop_.schedule(*this, loop_.now() + 1);
}

// Only the section's peers may talk to its port: a connection from any
// other address is closed before a byte is read, and handshakes at once
// are capped (one per peer and a few more for reconnections), so that a
// stranger can hold neither descriptors nor memory here.
void PeersService::incoming(Section& section, int fd, const core::Address& from) {
  const bool declared = std::any_of(section.links.begin(), section.links.end(), [&](const auto& l) {
    return l->address.rawBytes() == from.rawBytes();
  });
  if (!declared) {
    ++section.refused.notAPeer;
    net::setLingerZero(fd);
    net::closeFd(fd);
    return;
  }
  if (section.handshaking >= section.links.size() + kExtraHandshakes) {
    ++section.refused.tooMany;
    net::setLingerZero(fd);
    net::closeFd(fd);
    return;
  }
  auto s = std::make_unique<PeerSession>(static_cast<PeerSessionHost&>(*this), section, nullptr, fd, /*outgoing=*/false, from);
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
      auto s = std::make_unique<PeerSession>(static_cast<PeerSessionHost&>(*this), *section, link.get(), fd, /*outgoing=*/true);
      if (!loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, s.get())) continue;
      link->out = s.get();
      section->sessions.push_back(std::move(s));
    }
  }
}

void PeersService::sessionEstablished(PeerSession& s) {
  Link* link = s.link();
  link->lastStatus = "ESTA";
  link->backoffMs = 250;
  link->establishedAt = loop_.now();
  ++link->establishments;
  if (!s.outgoing()) {
    if (link->in && link->in != &s) link->in->close("replaced by a new connection from the peer");
    link->in = &s;
  }
  log_(observe::kNotice, "sluice: peer '" + link->name + "' connected (" + (s.outgoing() ? "outgoing" : "incoming") + ")");
  // Once per process: ask what the peers know (a restart learns it back).
  if (!link->askedResync) {
    link->askedResync = true;
    s.send(wire::encodeMessage(wire::kControl, wire::kResyncRequest));
  }
}

void PeersService::sessionClosed(PeerSession* s, const std::string& why) {
  // Called from inside the session: it is freed after this batch of events.
  for (auto& section : sections_) {
    for (auto& link : section->links) {
      if (link->out == s) {
        link->out = nullptr;
        link->nextConnectAt = loop_.now() + link->backoffMs;
        link->backoffMs = std::min(link->backoffMs * 2, kMaxBackoffMs);
        log_(observe::kNotice, "sluice: peer '" + link->name + "' disconnected: " + why);
      }
      if (link->in == s) {
        link->in = nullptr;
        log_(observe::kNotice, "sluice: peer '" + link->name + "' (incoming) disconnected: " + why);
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
  constexpr size_t kMaxPerTick = 1000;
  for (auto& section : sections_) {
    for (auto& link : section->links) {
      PeerSession* c = link->carrier();
      if (!c) continue;
      if (link->pushedVia != c->serial()) {
        link->pushedVia = c->serial();
        for (Progress& p : link->progress) p.pushed = p.acked;
      }
      // Only while the peer keeps up: a slow link gets its updates later,
      // never a send buffer past its limit (and a disconnect).
      for (size_t i = 0; i < section->tables.size() && c->canSend(); ++i) {
        SharedTable& st = section->tables[i];
        Progress& p = link->progress[i];
        while (c->canSend()) {
          auto chunk = st.table->changesAfter(p.pushed, now, kMaxPerTick);
          if (chunk.empty()) break;
          for (const auto& snap : chunk) {
            c->teach(st, snap, snap.update, now);
            p.pushed = snap.update;
          }
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
    std::vector<PeerSession*> all;
    for (auto& s : section->sessions) all.push_back(s.get());
    for (PeerSession* s : all) s->tick(now);
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
    // sluice's own: incoming connections turned away, by reason.
    const Refusals& r = section->refused;
    o << "  refused: not_a_peer=" << r.notAPeer << " too_many=" << r.tooMany
      << " handshake_timeout=" << r.handshakeTimeouts << " bad_handshake=" << r.badHandshakes
      << " tls=" << (section->listenTls ? "yes" : "no") << "\n";
    for (const auto& link : section->links) {
      PeerSession* c = link->carrier();
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
