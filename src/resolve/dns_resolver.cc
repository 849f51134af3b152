// SPDX-License-Identifier: Apache-2.0
// DNS service discovery with c-ares; see dns_resolver.h. One c-ares channel
// per name server, so that every answer is counted for the server that gave
// it; c-ares does the retries ("timeout retry", "resolve_retries"). Its
// sockets are polled (poll(2), no select's FD_SETSIZE limit) every few
// milliseconds while queries are out, which keeps it off the event loop's
// edge-triggered contract; a handful of queries per second need no more.
#include "resolve/dns_resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>

namespace sluice::resolve {
namespace {

constexpr int kTypeA = 1, kTypeAAAA = 28, kTypeSrv = 33;
constexpr uint64_t kPollMs = 10;

struct LibraryInit {
  LibraryInit() { ares_library_init(ARES_LIB_INIT_ALL); }
};

// HAProxy's reading of an SRV weight (0..65535) as a server weight (1..256).
uint32_t srvWeight(unsigned short w) { return std::clamp<uint32_t>(w / 256 + 1, 1, 256); }

}  // namespace

struct DnsResolver::Channel {
  std::string section;
  std::string name;
  ares_channel ch = nullptr;
  NameserverCounters counters;
  ~Channel() {
    if (ch) ares_destroy(ch);  // outstanding queries are called back with ARES_EDESTRUCTION
  }
};

struct DnsResolver::Target {
  std::string backend;
  std::vector<std::string> servers;  // the slots: one server, or a template's
  std::string fqdn;
  bool srv = false;
  bool preferV6 = true;
  core::Address initial;             // what the files gave (libc, init-addr): kept while DNS agrees
  uint32_t resolveMs = 1000, holdNx = 30000, holdRefused = 30000, holdTimeout = 30000, holdOther = 30000;
  std::vector<Channel*> channels;
  // The current round.
  bool running = false;
  uint64_t round = 0;
  int phase = 0;                      // 0: A/AAAA or SRV; 1: the SRV targets' A/AAAA
  int pending = 0;
  bool anyValid = false;
  int lastStatus = ARES_SUCCESS;
  Channel* validFrom = nullptr;
  std::set<std::pair<std::string, int>> answered;  // (name, type) with a valid answer already
  std::map<std::string, std::vector<core::Address>> addrs;  // name -> its addresses, preferred family first
  struct SrvRecord {
    std::string host;
    uint16_t port;
    uint16_t weight;
  };
  std::vector<SrvRecord> records;
  uint64_t nextAt = 0;
  uint64_t lastValid = 0;
};

struct DnsResolver::Query {
  DnsResolver* self;
  Target* target;
  Channel* channel;
  std::string name;
  int type;
  uint64_t round;
  int phase;
};

DnsResolver::DnsResolver(event::EventLoop& loop, std::function<void()> changed)
    : loop_(loop), changed_(std::move(changed)) {
  static LibraryInit init;
}

DnsResolver::~DnsResolver() {
  loop_.cancel(*this);
  channels_.clear();  // before the targets their callbacks point to
}

void DnsResolver::configure(const config::Config& cfg) {
  loop_.cancel(*this);
  // Counters survive a reload, name server by name server.
  std::map<std::pair<std::string, std::string>, NameserverCounters> before;
  for (const auto& c : channels_) before[{c->section, c->name}] = c->counters;
  channels_.clear();
  targets_.clear();
  sectionCounters_.clear();
  const uint64_t now = loop_.now();
  std::map<std::pair<std::string, std::string>, Channel*> byName;
  for (const config::ResolversConfig& r : cfg.resolvers) {
    for (const auto& ns : r.nameservers) {
      auto c = std::make_unique<Channel>();
      c->section = r.name;
      c->name = ns.name;
      if (auto it = before.find({r.name, ns.name}); it != before.end()) c->counters = it->second;
      ares_options o{};
      o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP |
                (ns.tcp ? ARES_FLAG_USEVC : 0);
      o.timeout = static_cast<int>(r.timeoutRetryMs);
      o.tries = static_cast<int>(r.resolveRetries);
      o.ednspsz = static_cast<int>(r.acceptedPayloadSize);
      if (ares_init_options(&c->ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ) !=
          ARES_SUCCESS) {
        c->ch = nullptr;
        continue;
      }
      ares_addr_port_node node{};
      node.next = nullptr;
      const core::Address a = ns.address.unmapped();
      node.family = a.isV6() ? AF_INET6 : AF_INET;
      std::string_view raw = a.rawBytes();
      std::memcpy(node.family == AF_INET6 ? static_cast<void*>(&node.addr.addr6) : static_cast<void*>(&node.addr.addr4),
                  raw.data(), raw.size());
      node.udp_port = node.tcp_port = a.port();
      ares_set_servers_ports(c->ch, &node);
      sectionCounters_[r.name].push_back(&c->counters);
      byName[{r.name, ns.name}] = c.get();
      channels_.push_back(std::move(c));
    }
  }
  std::set<std::string> keep;
  for (const config::ProxyConfig& p : cfg.proxies) {
    if (!p.isBackend) continue;
    std::map<std::string, Target*> templates;
    for (const config::ServerConfig& s : p.servers) {
      if (s.resolvers.empty() || s.fqdn.empty()) continue;
      const config::ResolversConfig* r = nullptr;
      for (const auto& section : cfg.resolvers) {
        if (section.name == s.resolvers) r = &section;
      }
      if (!r) continue;
      keep.insert(p.name + "/" + s.name);
      if (!s.templatePrefix.empty()) {
        auto it = templates.find(s.templatePrefix);
        if (it != templates.end()) {
          it->second->servers.push_back(s.name);
          continue;
        }
      }
      auto t = std::make_unique<Target>();
      t->backend = p.name;
      t->servers = {s.name};
      t->fqdn = s.fqdn;
      t->srv = s.fqdn[0] == '_';
      t->preferV6 = s.resolvePrefer != "ipv4";
      t->initial = s.address;
      t->resolveMs = r->timeoutResolveMs;
      t->holdNx = r->holdNxMs;
      t->holdRefused = r->holdRefusedMs;
      t->holdTimeout = r->holdTimeoutMs;
      t->holdOther = r->holdOtherMs;
      for (const auto& c : channels_) {
        if (c->section == r->name) t->channels.push_back(c.get());
      }
      // What the files gave counts as valid until the first answer.
      t->lastValid = now;
      t->nextAt = now;
      if (!s.templatePrefix.empty()) templates[s.templatePrefix] = t.get();
      targets_.push_back(std::move(t));
    }
  }
  std::erase_if(assigned_, [&](const auto& kv) { return !keep.count(kv.first); });
  reschedule();
}

void DnsResolver::applyTo(config::Config& cfg) const {
  for (config::ProxyConfig& p : cfg.proxies) {
    if (!p.isBackend) continue;
    for (config::ServerConfig& s : p.servers) {
      auto it = assigned_.find(p.name + "/" + s.name);
      if (it == assigned_.end()) continue;
      const Assigned& a = it->second;
      s.hasAddress = a.has;
      if (!a.has) {
        // No address from DNS: none shown, the port kept.
        const uint16_t port = s.address.port();
        s.address = *core::Address::parse(s.address.isV6() ? "[::]:0" : "0.0.0.0:0");
        s.address.setPort(port);
        continue;
      }
      if (s.fqdn[0] == '_') {
        s.address = a.address;
        s.portFromClient = false;
      } else {
        const uint16_t port = s.address.port();
        s.address = a.address;
        s.address.setPort(port);
      }
      if (a.weight) s.weight = *a.weight;
    }
  }
}

void DnsResolver::onTimer() noexcept {
  poll();
  const uint64_t now = loop_.now();
  for (auto& t : targets_) {
    if (!t->running && now >= t->nextAt) startRound(*t, now);
  }
  poll();
  if (pendingChange_) {
    pendingChange_ = false;
    changed_();
  }
  reschedule();
}

void DnsResolver::reschedule() {
  uint64_t next = UINT64_MAX;
  for (const auto& t : targets_) next = std::min(next, t->running ? loop_.now() + kPollMs : t->nextAt);
  if (next != UINT64_MAX) loop_.schedule(*this, std::max(next, loop_.now() + 1));
}

void DnsResolver::startRound(Target& t, uint64_t now) {
  (void)now;
  if (t.channels.empty()) {
    t.nextAt = loop_.now() + t.resolveMs;
    return;
  }
  t.running = true;
  ++t.round;
  t.phase = 0;
  t.pending = 0;
  t.anyValid = false;
  t.lastStatus = ARES_SUCCESS;
  t.validFrom = nullptr;
  t.answered.clear();
  t.addrs.clear();
  t.records.clear();
  if (t.srv) {
    ask(t, t.fqdn, kTypeSrv, 0);
  } else {
    ask(t, t.fqdn, kTypeA, 0);
    ask(t, t.fqdn, kTypeAAAA, 0);
  }
}

void DnsResolver::ask(Target& t, const std::string& name, int type, int phase) {
  for (Channel* c : t.channels) {
    if (!c->ch) continue;
    ++t.pending;
    ++c->counters.sent;
    ares_query(c->ch, name.c_str(), 1 /* IN */, type, &DnsResolver::answered,
               new Query{this, &t, c, name, type, t.round, phase});
  }
}

void DnsResolver::answered(void* arg, int status, int, unsigned char* abuf, int alen) {
  std::unique_ptr<Query> q(static_cast<Query*>(arg));
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
  Target& t = *q->target;
  NameserverCounters& n = q->channel->counters;
  if (q->round != t.round || q->phase != t.phase || !t.running) {
    if (status == ARES_SUCCESS) ++n.outdated;
    return;
  }
  --t.pending;
  if (status == ARES_SUCCESS || status == ARES_ENODATA) {
    std::vector<core::Address> found;
    bool parsed = true;
    if (status == ARES_SUCCESS && q->type == kTypeA) {
      ares_addrttl a[64];
      int count = 64;
      parsed = ares_parse_a_reply(abuf, alen, nullptr, a, &count) == ARES_SUCCESS;
      for (int i = 0; parsed && i < count; ++i) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr = a[i].ipaddr;
        found.push_back(core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&sa), sizeof(sa)));
      }
    } else if (status == ARES_SUCCESS && q->type == kTypeAAAA) {
      ares_addr6ttl a[64];
      int count = 64;
      parsed = ares_parse_aaaa_reply(abuf, alen, nullptr, a, &count) == ARES_SUCCESS;
      for (int i = 0; parsed && i < count; ++i) {
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        std::memcpy(&sa.sin6_addr, &a[i].ip6addr, sizeof(sa.sin6_addr));
        found.push_back(core::Address::fromSockaddr(reinterpret_cast<sockaddr*>(&sa), sizeof(sa)));
      }
    } else if (status == ARES_SUCCESS && q->type == kTypeSrv) {
      ares_srv_reply* list = nullptr;
      parsed = ares_parse_srv_reply(abuf, alen, &list) == ARES_SUCCESS;
      if (parsed && !t.answered.count({q->name, q->type})) {
        for (ares_srv_reply* r = list; r; r = r->next) {
          t.records.push_back({r->host, r->port, r->weight});
        }
      }
      if (list) ares_free_data(list);
    }
    if (!parsed) {
      ++n.invalid;  // garbage: counted, and no answer
      t.lastStatus = ARES_EBADRESP;
    } else {
      ++n.valid;
      if (!t.answered.insert({q->name, q->type}).second) {
        ++n.outdated;  // another name server answered first
      } else {
        t.anyValid = true;
        if (!t.validFrom) t.validFrom = q->channel;
        auto& list = t.addrs[q->name];
        for (const core::Address& a : found) {
          if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
        }
      }
    }
  } else {
    t.lastStatus = status;
    switch (status) {
      case ARES_ENOTFOUND: ++n.nx; break;
      case ARES_EREFUSED: ++n.refused; break;
      case ARES_ETIMEOUT: ++n.timeout; break;
      case ARES_EBADRESP:
      case ARES_EFORMERR: ++n.invalid; break;
      default: ++n.other; break;
    }
  }
  if (t.pending == 0) q->self->finishPhase(t);
}

void DnsResolver::finishPhase(Target& t) {
  if (!t.anyValid) {
    conclude(t, false, t.lastStatus);
    return;
  }
  if (t.srv && t.phase == 0) {
    std::set<std::string> hosts;
    for (const auto& r : t.records) hosts.insert(r.host);
    if (hosts.empty()) {
      conclude(t, true, ARES_SUCCESS);
      return;
    }
    t.phase = 1;
    for (const std::string& h : hosts) {
      ask(t, h, kTypeA, 1);
      ask(t, h, kTypeAAAA, 1);
    }
    if (t.pending == 0) conclude(t, true, ARES_SUCCESS);
    return;
  }
  conclude(t, true, ARES_SUCCESS);
}

void DnsResolver::conclude(Target& t, bool valid, int status) {
  t.running = false;
  const uint64_t now = loop_.now();
  t.nextAt = now + t.resolveMs;
  if (valid) {
    t.lastValid = now;
    std::vector<std::pair<core::Address, std::optional<uint32_t>>> found;
    auto ordered = [&](const std::string& name) {
      std::vector<core::Address> v = t.addrs[name];
      std::stable_sort(v.begin(), v.end(), [&](const core::Address& a, const core::Address& b) {
        return (a.isV6() == t.preferV6) > (b.isV6() == t.preferV6);
      });
      return v;
    };
    if (t.srv) {
      for (const auto& r : t.records) {
        for (core::Address a : ordered(r.host)) {
          a.setPort(r.port);
          found.emplace_back(a, srvWeight(r.weight));
          break;  // one address per record: its preferred one
        }
      }
    } else {
      std::vector<core::Address> all = ordered(t.fqdn);
      // Only the preferred family when it has any, as HAProxy.
      bool havePreferred = std::any_of(all.begin(), all.end(), [&](const core::Address& a) { return a.isV6() == t.preferV6; });
      for (const core::Address& a : all) {
        if (!havePreferred || a.isV6() == t.preferV6) found.emplace_back(a, std::nullopt);
      }
    }
    assign(t, found);
    return;
  }
  uint32_t hold = status == ARES_ENOTFOUND ? t.holdNx
                  : status == ARES_EREFUSED ? t.holdRefused
                  : status == ARES_ETIMEOUT ? t.holdTimeout
                                            : t.holdOther;
  if (now - t.lastValid > hold) assign(t, {});  // failed for longer than "hold": no address
}

void DnsResolver::assign(Target& t, const std::vector<std::pair<core::Address, std::optional<uint32_t>>>& found) {
  auto same = [](const core::Address& a, const core::Address& b, bool withPort) {
    return a.ipString() == b.ipString() && (!withPort || a.port() == b.port());
  };
  std::vector<bool> used(found.size(), false);
  std::vector<std::optional<size_t>> slotOf(t.servers.size());
  // A slot keeps its address while DNS still lists it.
  for (size_t s = 0; s < t.servers.size(); ++s) {
    auto it = assigned_.find(t.backend + "/" + t.servers[s]);
    core::Address current = it != assigned_.end() ? it->second.address : t.initial;
    bool had = it != assigned_.end() ? it->second.has : t.initial.valid() && !t.initial.isAny();
    if (!had) continue;
    for (size_t i = 0; i < found.size(); ++i) {
      if (!used[i] && same(found[i].first, current, t.srv)) {
        used[i] = true;
        slotOf[s] = i;
        break;
      }
    }
  }
  size_t next = 0;
  for (size_t s = 0; s < t.servers.size(); ++s) {
    if (slotOf[s]) continue;
    while (next < found.size() && used[next]) ++next;
    if (next < found.size()) {
      used[next] = true;
      slotOf[s] = next;
    }
  }
  bool changedAny = false;
  for (size_t s = 0; s < t.servers.size(); ++s) {
    Assigned a;
    if (slotOf[s]) {
      a.has = true;
      a.address = found[*slotOf[s]].first;
      a.weight = found[*slotOf[s]].second;
    }
    const std::string key = t.backend + "/" + t.servers[s];
    auto it = assigned_.find(key);
    bool differs;
    if (it == assigned_.end()) {
      // Against what the files gave.
      bool initialHas = t.initial.valid() && !t.initial.isAny();
      differs = a.has != initialHas || (a.has && !same(a.address, t.initial, t.srv)) || a.weight.has_value();
    } else {
      differs = it->second.has != a.has || (a.has && (!same(it->second.address, a.address, true) ||
                                                      it->second.weight != a.weight));
    }
    if (differs) changedAny = true;
    assigned_[key] = a;
  }
  if (changedAny) {
    pendingChange_ = true;
    if (t.validFrom) ++t.validFrom->counters.update;
  }
}

void DnsResolver::poll() {
  for (auto& c : channels_) {
    if (!c->ch) continue;
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(c->ch, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    int n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
      if (ev) fds[n++] = {socks[i], ev, 0};
    }
    if (n > 0 && ::poll(fds, static_cast<nfds_t>(n), 0) > 0) {
      for (int i = 0; i < n; ++i) {
        if (!fds[i].revents) continue;
        ares_process_fd(c->ch, (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD,
                        (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
      }
    }
    ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
  }
}

std::vector<DnsResolver::NameserverReport> DnsResolver::counters() const {
  std::vector<NameserverReport> out;
  for (const auto& c : channels_) out.push_back({c->section, c->name, c->counters});
  return out;
}

std::string DnsResolver::show(const std::string& section, std::string& error) const {
  if (!section.empty() && !sectionCounters_.count(section)) {
    error = "Can't find resolvers section.\n";
    return {};
  }
  std::ostringstream o;
  std::string last;
  for (const auto& c : channels_) {
    if (!section.empty() && c->section != section) continue;
    if (c->section != last) {
      o << "Resolvers section " << c->section << "\n";
      last = c->section;
    }
    const NameserverCounters& n = c->counters;
    auto line = [&](const char* name, uint64_t v) {
      o << "  " << name << std::string(13 - std::strlen(name), ' ') << v << "\n";
    };
    o << " nameserver " << c->name << ":\n";
    line("sent:", n.sent);
    line("snd_error:", n.sendErrors);
    line("valid:", n.valid);
    line("update:", n.update);
    line("cname:", 0);
    line("cname_error:", 0);
    line("any_err:", 0);
    line("nx:", n.nx);
    line("timeout:", n.timeout);
    line("refused:", n.refused);
    line("other:", n.other);
    line("invalid:", n.invalid);
    line("too_big:", 0);
    line("truncated:", 0);
    line("outdated:", n.outdated);
  }
  return o.str();
}

}  // namespace sluice::resolve
