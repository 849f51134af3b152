// SPDX-License-Identifier: Apache-2.0
// Statistics snapshot and its HAProxy-compatible renderings; see stats.h.
#include "admin/stats.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "health/checker.h"
#include "observe/counters.h"

namespace sluice::admin {

namespace {

uint64_t load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

uint64_t residentBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t heapInUse() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// HAProxy's words for a server: the state of its checks and its admin state.
void serverStatus(const balance::ServerState& s, StatRow& r) {
  const balance::ServerLive& live = *s.live;
  bool up = s.up.load();
  balance::AdminState admin = s.admin.load();
  r.up = up;
  r.admin = admin;
  if (admin == balance::AdminState::Maint || !s.resolved()) {
    // No address yet from DNS: HAProxy's "MAINT (resolution)".
    r.status = admin == balance::AdminState::Maint ? "MAINT" : "MAINT (resolution)";
    r.state = "MAINT";
    return;
  }
  if (admin == balance::AdminState::Drain) {
    r.status = up ? "DRAIN" : "DOWN";
    r.state = up ? "DRAIN" : "DOWN";
    return;
  }
  r.state = up ? "UP" : "DOWN";
  if (!s.checked) {
    r.status = "no check";
    return;
  }
  // Transitions under way: "UP 1/3" (failing, still up), "DOWN 1/2" (passing, still down).
  uint32_t rise = live.checkRise, fall = live.checkFall, health = live.checkHealth;
  if (up && rise && fall && health < rise + fall - 1) {
    r.status = "UP " + std::to_string(health - rise + 1) + "/" + std::to_string(fall);
  } else if (!up && health > 0) {
    r.status = "DOWN " + std::to_string(health) + "/" + std::to_string(rise);
  } else {
    r.status = up ? "UP" : "DOWN";
  }
}

// Backends and servers count the same times and aborts (their own types).
template <typename Counters>
void timesAndAborts(const Counters& c, StatRow& r) {
  r.qtime = c.queueTime.average();
  r.ctime = c.connectTime.average();
  r.ttime = c.totalTime.average();
  r.qtimeMax = c.queueTime.max();
  r.ctimeMax = c.connectTime.max();
  r.ttimeMax = c.totalTime.max();
  r.cliAbrt = load(c.clientAborts);
  r.srvAbrt = load(c.serverAborts);
}

void proxyCounters(const runtime::ProxyCounters& c, uint64_t sec, StatRow& r) {
  r.scur = static_cast<uint64_t>(std::max<int32_t>(0, c.current.load(std::memory_order_relaxed)));
  r.smax = c.max.load(std::memory_order_relaxed);
  r.stot = load(c.total);
  r.bin = load(c.bytesIn);
  r.bout = load(c.bytesOut);
  r.rate = c.sessionRate.rate(sec);
  r.rateMax = c.sessionRate.peak(sec);
  uint64_t last = load(c.lastSession);
  r.lastsess = last ? static_cast<int64_t>(sec - std::min(sec, last)) : -1;
}

// Proxy ids as HAProxy numbers them: the file's "id", else, in file order,
// the next number from 2 (HAProxy keeps 1 for a proxy of its own) that no
// explicit "id" has taken.
class ProxyIds {
 public:
  explicit ProxyIds(const config::Config& cfg) {
    for (const config::ProxyConfig& pc : cfg.proxies) {
      if (pc.id) taken_.insert(pc.id);
    }
  }
  uint32_t of(const config::ProxyConfig& pc) {
    if (pc.id) return pc.id;
    do {
      ++next_;
    } while (taken_.count(next_));
    return next_;
  }

 private:
  std::set<uint32_t> taken_;
  uint32_t next_ = 1;
};

StatRow frontendRow(const runtime::Frontend& fe, uint32_t iid, uint32_t maxconn, bool stopping, uint64_t sec) {
  StatRow r;
  r.type = RowType::Frontend;
  r.proxy = fe.name;
  r.name = "FRONTEND";
  r.proxyId = iid;
  const runtime::ProxyCounters& c = *fe.counters;
  proxyCounters(c, sec, r);
  r.slim = fe.maxconn ? fe.maxconn : maxconn;
  r.dreq = load(c.denied);
  r.dcon = load(c.deniedConnections);
  r.ereq = load(c.errors) + load(c.badProxyHeaders) + load(c.hello.malformed);
  r.status = stopping ? "STOP" : "OPEN";
  r.state = r.status;
  r.connRate = r.rate;
  r.connRateMax = r.rateMax;
  r.connTot = r.stot + r.dcon;
  const runtime::HelloCounters& h = c.hello;
  r.helloParsed = load(h.done);
  r.helloWithSni = load(h.sniFound);
  r.helloNotTls = load(h.notTls);
  r.helloMalformed = load(h.malformed);
  r.helloTooLarge = load(h.tooLarge);
  r.helloTimedOut = load(h.timedOut);
  r.helloMultiSegment = load(h.multiSegment);
  r.helloMultiRecord = load(h.multiRecord);
  r.noServer = load(c.noServer);
  r.badProxyHeaders = load(c.badProxyHeaders);
  r.tlsAlerts = load(c.tlsAlerts);
  r.routeMisses = load(c.routeMisses);
  if (fe.config) {
    for (const config::BindConfig& b : fe.config->binds) r.quic = r.quic || b.quic;
  }
  const runtime::QuicCounters& q = c.quic;
  r.quicNotQuic = load(q.notQuic);
  r.quicShortInitial = load(q.shortInitial);
  r.quicUndecryptable = load(q.undecryptable);
  r.quicOverLimit = load(q.overLimit);
  r.quicHeldDropped = load(q.heldDropped);
  r.quicSendErrors = load(q.sendErrors);
  r.quicMigrated = load(q.migrated);
  r.quicGro = load(q.groDatagrams);
  r.quicGso = load(q.gsoDatagrams);
  r.quicUnconfirmed = static_cast<uint64_t>(std::max<int32_t>(0, q.unconfirmed.load(std::memory_order_relaxed)));
  r.quicConfirmed = load(q.confirmed);
  r.quicUnconfirmedExpired = load(q.unconfirmedExpired);
  r.quicUnconfirmedEvicted = load(q.unconfirmedEvicted);
  r.quicPathsOpened = load(q.pathsOpened);
  r.quicAmplificationDropped = load(q.amplificationDropped);
  r.quicDroppingEvicted = load(q.droppingEvicted);
  r.statsProxy = fe.stats != nullptr;
  return r;
}

StatRow serverRow(const runtime::Backend& be, const balance::ServerState& s, uint32_t iid, uint64_t sec,
                  uint64_t wall) {
  StatRow r;
  r.type = RowType::Server;
  r.proxy = be.name;
  r.name = s.name;
  r.proxyId = iid;
  r.serverId = s.id;
  const balance::ServerCounters& c = s.counters;
  const balance::ServerLive& live = *s.live;
  r.scur = static_cast<uint64_t>(std::max<int32_t>(0, s.currentConnections.load()));
  r.smax = c.maxConnections.load(std::memory_order_relaxed);
  r.slim = s.maxconn.load();
  r.stot = load(c.connections);
  r.lbtot = r.stot;
  r.bin = load(c.bytesIn);
  r.bout = load(c.bytesOut);
  r.econ = load(c.connectErrors);
  r.wretr = load(c.retries);
  r.wredis = load(c.redispatches);
  r.rate = c.sessionRate.rate(sec);
  r.rateMax = c.sessionRate.peak(sec);
  uint64_t last = load(c.lastSession);
  r.lastsess = last ? static_cast<int64_t>(sec - std::min(sec, last)) : -1;
  serverStatus(s, r);
  r.weight = s.weight.load();
  r.uweight = r.weight;
  r.iweight = s.configWeight;
  r.backup = s.backup;
  r.act = s.backup ? 0 : 1;
  r.bck = s.backup ? 1 : 0;
  r.checked = s.checked;
  r.chkfail = load(c.checkFailures);
  r.chkdown = load(c.wentDown);
  uint64_t changed = s.lastChange.load();
  r.lastchg = wall > changed ? wall - changed : 0;
  r.downtime = live.downtimeTotal + (live.downSince ? wall - std::min(wall, live.downSince) : 0);
  const config::ServerConfig* sc = s.position < be.serverConfigs.size() ? be.serverConfigs[s.position] : nullptr;
  r.qlimit = sc ? sc->maxqueue : 0;
  r.throttle = live.throttle.load();
  if (s.checked) {
    r.checkStatus = live.checkStatus.empty() ? "INI" : live.checkStatus;
    r.checkDesc = live.checkStatus.empty() ? "Initializing" : std::string(health::reasonText(live.checkStatus));
    r.lastCheck = live.checkInfo;
    r.checkCode = live.checkCode;
    r.checkDuration = live.checkDurationMs;
    r.checkRise = live.checkRise;
    r.checkFall = live.checkFall;
    r.checkHealth = live.checkHealth;
  }
  timesAndAborts(c, r);
  const core::Address at = s.currentAddress();
  r.address = s.portFromClient ? at.ipString() : at.toString();
  r.quic = s.quic;
  if (s.quic) r.prefix = at.isV6() ? "quic6@" : "quic4@";
  return r;
}

StatRow backendRow(const runtime::Backend& be, uint32_t iid, const std::vector<StatRow>& servers,
                   uint64_t sec, uint64_t startedAt, uint64_t wall) {
  StatRow r;
  r.type = RowType::Backend;
  r.proxy = be.name;
  r.name = "BACKEND";
  r.proxyId = iid;
  const runtime::ProxyCounters& c = *be.counters;
  proxyCounters(c, sec, r);
  r.qcur = be.queue->size();
  r.qmax = be.queue->maxSeen();
  r.slim = be.config && be.config->fullconn ? *be.config->fullconn : 0;
  r.dreq = load(c.denied);
  r.dresp = load(c.deniedResponses);
  r.econ = load(c.errors);
  uint64_t activeWeight = 0, backupWeight = 0;
  for (const StatRow& s : servers) {
    r.econ += 0;  // server connect errors are already counted in the backend's
    r.wretr += s.wretr;
    r.wredis += s.wredis;
    r.lbtot += s.lbtot;
    bool usable = s.up && s.admin == balance::AdminState::Ready;
    if (!usable) continue;
    if (s.backup) {
      ++r.bck;
      backupWeight += s.weight;
    } else {
      ++r.act;
      activeWeight += s.weight;
    }
  }
  r.weight = r.act ? activeWeight : backupWeight;
  r.uweight = r.weight;
  r.status = (r.act + r.bck) > 0 ? "UP" : "DOWN";
  r.state = r.status;
  r.chkdown = 0;
  r.lastchg = wall > startedAt ? wall - startedAt : 0;
  for (const StatRow& s : servers) r.chkdown += s.chkdown;
  timesAndAborts(c, r);
  r.algo = be.balancer ? be.balancer->spec().algorithm : "";
  r.statsProxy = be.config && be.config->mode == config::ProxyMode::Http;
  if (r.statsProxy && servers.empty()) {
    r.status = "UP";  // a stats listen section serves its page itself
    r.state = "UP";
  }
  return r;
}

}  // namespace

Snapshot collect(const runtime::Runtime& rt, const session::ProcessState& ps, const ProcessFacts& facts) {
  Snapshot snap;
  uint64_t nowMs = stick::monotonicMs();
  for (const auto& t : rt.tables.all()) {
    snap.tables.push_back({t->name(), std::string(stick::keyTypeName(t->spec().keyType)), t->size(),
                           t->used(nowMs)});
  }
  uint64_t sec = observe::monotonicSeconds();
  uint64_t wall = static_cast<uint64_t>(time(nullptr));
  ProcessStats& p = snap.process;
  p.facts = facts;
  p.version = SLUICE_VERSION;
  p.now = wall;
  p.uptime = wall > facts.startedAt ? wall - facts.startedAt : 0;
  p.maxconn = ps.maxconn.load();
  p.currentConnections = static_cast<uint64_t>(std::max<int32_t>(0, ps.actconn.load()));
  p.totalConnections = load(ps.accepted);
  p.connectionRate = ps.connectionRate.rate(sec);
  p.maxConnectionRate = ps.connectionRate.peak(sec);
  p.acceptErrors = load(ps.acceptErrors);
  p.splicedBytes = load(ps.splicedBytes);
  p.copiedBytes = load(ps.copiedBytes);
  p.residentBytes = residentBytes();
  p.heapBytes = heapInUse();
  p.stopping = facts.stopping;

  // HAProxy lists proxies in file order; a listen section is one proxy with
  // a FRONTEND and a BACKEND row.
  ProxyIds ids(*rt.source);
  for (const config::ProxyConfig& pc : rt.source->proxies) {
    runtime::Frontend* fe = pc.isFrontend ? rt.findFrontend(pc.name) : nullptr;
    runtime::Backend* be = pc.isBackend ? rt.findBackend(pc.name) : nullptr;
    if (!fe && !be) continue;
    uint32_t id = ids.of(pc);
    if (fe) {
      snap.rows.push_back(frontendRow(*fe, id, p.maxconn, facts.stopping, sec));
      const StatRow& f = snap.rows.back();
      p.bytesIn += f.bin;
      p.bytesOut += f.bout;
      p.quicUnconfirmed += f.quicUnconfirmed;
      p.quicUnconfirmedExpired += f.quicUnconfirmedExpired;
      p.quicUnconfirmedEvicted += f.quicUnconfirmedEvicted;
      p.quicAmplificationDropped += f.quicAmplificationDropped;
      p.quicPathsOpened += f.quicPathsOpened;
      ++p.frontends;
    }
    if (be) {
      std::vector<StatRow> servers;
      for (const auto& s : be->servers) servers.push_back(serverRow(*be, *s, id, sec, wall));
      StatRow b = backendRow(*be, id, servers, sec, facts.startedAt, wall);
      p.servers += servers.size();
      for (auto& s : servers) snap.rows.push_back(std::move(s));
      snap.rows.push_back(std::move(b));
      ++p.backends;
    }
  }
  return snap;
}

std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string uptimeText(uint64_t seconds) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%llud %lluh%02llum%02llus", static_cast<unsigned long long>(seconds / 86400),
           static_cast<unsigned long long>((seconds / 3600) % 24),
           static_cast<unsigned long long>((seconds / 60) % 60), static_cast<unsigned long long>(seconds % 60));
  return buf;
}

namespace {

// One CSV column: which row types have a value (F=1, B=2, S=4) and how to
// print it. Columns no row type has stay empty (HTTP, SSL, agents, cookies).
struct Column {
  const char* name;
  int types;
  std::function<std::string(const StatRow&, const ProcessStats&)> value;
};

constexpr int F = 1, B = 2, S = 4, FBS = 7, BS = 6;

std::string n(uint64_t v) { return std::to_string(v); }

const std::vector<Column>& columns() {
  static const std::vector<Column> kColumns = {
      {"pxname", FBS, [](const StatRow& r, const ProcessStats&) { return csvField(r.proxy); }},
      {"svname", FBS, [](const StatRow& r, const ProcessStats&) { return csvField(r.name); }},
      {"qcur", BS, [](const StatRow& r, const ProcessStats&) { return n(r.qcur); }},
      {"qmax", BS, [](const StatRow& r, const ProcessStats&) { return n(r.qmax); }},
      {"scur", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.scur); }},
      {"smax", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.smax); }},
      {"slim", FBS, [](const StatRow& r, const ProcessStats&) { return r.slim ? n(r.slim) : std::string(); }},
      {"stot", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.stot); }},
      {"bin", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.bin); }},
      {"bout", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.bout); }},
      {"dreq", F | B, [](const StatRow& r, const ProcessStats&) { return n(r.dreq); }},
      {"dresp", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.dresp); }},
      {"ereq", F, [](const StatRow& r, const ProcessStats&) { return n(r.ereq); }},
      {"econ", BS, [](const StatRow& r, const ProcessStats&) { return n(r.econ); }},
      {"eresp", BS, [](const StatRow& r, const ProcessStats&) { return n(r.eresp); }},
      {"wretr", BS, [](const StatRow& r, const ProcessStats&) { return n(r.wretr); }},
      {"wredis", BS, [](const StatRow& r, const ProcessStats&) { return n(r.wredis); }},
      {"status", FBS, [](const StatRow& r, const ProcessStats&) { return r.status; }},
      {"weight", BS, [](const StatRow& r, const ProcessStats&) { return n(r.weight); }},
      {"act", BS, [](const StatRow& r, const ProcessStats&) { return n(r.act); }},
      {"bck", BS, [](const StatRow& r, const ProcessStats&) { return n(r.bck); }},
      {"chkfail", S, [](const StatRow& r, const ProcessStats&) { return r.checked ? n(r.chkfail) : ""; }},
      {"chkdown", BS, [](const StatRow& r, const ProcessStats&) {
         return r.type == RowType::Server && !r.checked ? std::string() : n(r.chkdown);
       }},
      {"lastchg", BS, [](const StatRow& r, const ProcessStats&) { return n(r.lastchg); }},
      {"downtime", BS, [](const StatRow& r, const ProcessStats&) {
         return r.type == RowType::Server && !r.checked ? std::string() : n(r.downtime);
       }},
      {"qlimit", S, [](const StatRow& r, const ProcessStats&) { return r.qlimit ? n(r.qlimit) : ""; }},
      {"pid", FBS, [](const StatRow&, const ProcessStats&) { return std::string("1"); }},
      {"iid", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.proxyId); }},
      {"sid", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.serverId); }},
      {"throttle", S, [](const StatRow& r, const ProcessStats&) {
         return r.throttle >= 0 ? std::to_string(r.throttle) : std::string();
       }},
      {"lbtot", BS, [](const StatRow& r, const ProcessStats&) { return n(r.lbtot); }},
      {"tracked", 0, nullptr},
      {"type", FBS, [](const StatRow& r, const ProcessStats&) { return n(static_cast<uint64_t>(r.type)); }},
      {"rate", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.rate); }},
      {"rate_lim", F, [](const StatRow& r, const ProcessStats&) { return n(r.rateLimit); }},
      {"rate_max", FBS, [](const StatRow& r, const ProcessStats&) { return n(r.rateMax); }},
      {"check_status", S, [](const StatRow& r, const ProcessStats&) { return r.checkStatus; }},
      {"check_code", S, [](const StatRow& r, const ProcessStats&) {
         return r.checkCode ? std::to_string(r.checkCode) : std::string();
       }},
      {"check_duration", S, [](const StatRow& r, const ProcessStats&) {
         return r.checked && !r.checkStatus.empty() && r.checkStatus != "INI" ? n(r.checkDuration) : "";
       }},
      {"hrsp_1xx", 0, nullptr}, {"hrsp_2xx", 0, nullptr}, {"hrsp_3xx", 0, nullptr},
      {"hrsp_4xx", 0, nullptr}, {"hrsp_5xx", 0, nullptr}, {"hrsp_other", 0, nullptr},
      {"hanafail", 0, nullptr},
      {"req_rate", F, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"req_rate_max", F, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"req_tot", F, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"cli_abrt", BS, [](const StatRow& r, const ProcessStats&) { return n(r.cliAbrt); }},
      {"srv_abrt", BS, [](const StatRow& r, const ProcessStats&) { return n(r.srvAbrt); }},
      {"comp_in", F | B, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"comp_out", F | B, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"comp_byp", F | B, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"comp_rsp", F | B, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"lastsess", BS, [](const StatRow& r, const ProcessStats&) { return std::to_string(r.lastsess); }},
      {"last_chk", S, [](const StatRow& r, const ProcessStats&) { return csvField(r.lastCheck); }},
      {"last_agt", 0, nullptr},
      {"qtime", BS, [](const StatRow& r, const ProcessStats&) { return n(r.qtime); }},
      {"ctime", BS, [](const StatRow& r, const ProcessStats&) { return n(r.ctime); }},
      {"rtime", BS, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"ttime", BS, [](const StatRow& r, const ProcessStats&) { return n(r.ttime); }},
      {"agent_status", 0, nullptr}, {"agent_code", 0, nullptr}, {"agent_duration", 0, nullptr},
      {"check_desc", S, [](const StatRow& r, const ProcessStats&) { return csvField(r.checkDesc); }},
      {"agent_desc", 0, nullptr},
      {"check_rise", S, [](const StatRow& r, const ProcessStats&) { return r.checked ? n(r.checkRise) : ""; }},
      {"check_fall", S, [](const StatRow& r, const ProcessStats&) { return r.checked ? n(r.checkFall) : ""; }},
      {"check_health", S, [](const StatRow& r, const ProcessStats&) { return r.checked ? n(r.checkHealth) : ""; }},
      {"agent_rise", 0, nullptr}, {"agent_fall", 0, nullptr}, {"agent_health", 0, nullptr},
      {"addr", S, [](const StatRow& r, const ProcessStats&) { return r.address; }},
      {"cookie", 0, nullptr},
      {"mode", FBS, [](const StatRow& r, const ProcessStats&) { return std::string(r.statsProxy ? "http" : "tcp"); }},
      {"algo", B, [](const StatRow& r, const ProcessStats&) { return r.algo; }},
      {"conn_rate", F, [](const StatRow& r, const ProcessStats&) { return n(r.connRate); }},
      {"conn_rate_max", F, [](const StatRow& r, const ProcessStats&) { return n(r.connRateMax); }},
      {"conn_tot", F, [](const StatRow& r, const ProcessStats&) { return n(r.connTot); }},
      {"intercepted", 0, nullptr},
      {"dcon", F, [](const StatRow& r, const ProcessStats&) { return n(r.dcon); }},
      {"dses", F, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"wrew", FBS, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"connect", BS, [](const StatRow& r, const ProcessStats&) { return n(r.lbtot + r.wretr); }},
      {"reuse", BS, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"cache_lookups", 0, nullptr}, {"cache_hits", 0, nullptr},
      {"srv_icur", S, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"src_ilim", 0, nullptr},
      {"qtime_max", BS, [](const StatRow& r, const ProcessStats&) { return n(r.qtimeMax); }},
      {"ctime_max", BS, [](const StatRow& r, const ProcessStats&) { return n(r.ctimeMax); }},
      {"rtime_max", BS, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"ttime_max", BS, [](const StatRow& r, const ProcessStats&) { return n(r.ttimeMax); }},
      {"eint", FBS, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"idle_conn_cur", S, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"safe_conn_cur", S, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"used_conn_cur", S, [](const StatRow& r, const ProcessStats&) { return n(r.scur); }},
      {"need_conn_est", S, [](const StatRow& r, const ProcessStats&) { return n(r.scur); }},
      {"uweight", BS, [](const StatRow& r, const ProcessStats&) { return n(r.uweight); }},
      {"agg_server_status", B, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"agg_server_check_status", B, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"agg_check_status", B, [](const StatRow&, const ProcessStats&) { return std::string("0"); }},
      {"-", FBS, [](const StatRow&, const ProcessStats&) { return std::string("-"); }},
  };
  return kColumns;
}

int typeBit(RowType t) {
  switch (t) {
    case RowType::Frontend: return F;
    case RowType::Backend: return B;
    case RowType::Server: return S;
    default: return 8;
  }
}

}  // namespace

const std::vector<std::string>& statColumns() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> out;
    for (const Column& c : columns()) out.push_back(c.name);
    return out;
  }();
  return kNames;
}

namespace {

bool rowWanted(const StatRow& r, const StatFilter& filter) {
  if (filter.proxyId >= 0 && static_cast<int>(r.proxyId) != filter.proxyId) return false;
  if (filter.typeMask >= 0 && !(filter.typeMask & typeBit(r.type))) return false;
  if (filter.serverId >= 0 && r.type == RowType::Server && static_cast<int>(r.serverId) != filter.serverId) {
    return false;
  }
  if (r.type == RowType::Server) {
    if (filter.upOnly && r.state != "UP") return false;
    if (filter.noMaint && r.admin == balance::AdminState::Maint) return false;
  }
  return true;
}

// A column's tags in the typed format (origin, nature, scope) and its type,
// by the rules of HAProxy's manual: names are keys, limits and weights
// configuration, states status, the rest metrics; totals are counters
// (u64), current values gauges, peaks maxima, times averages.
std::pair<const char*, const char*> typedTags(std::string_view name) {
  static const std::map<std::string_view, std::pair<const char*, const char*>> kTags = {
      {"pxname", {"KNS", "str"}},       {"svname", {"KNS", "str"}},        {"pid", {"KGP", "u32"}},
      {"iid", {"KGS", "u32"}},          {"sid", {"KGS", "u32"}},           {"type", {"CGS", "u32"}},
      {"qcur", {"MGP", "u32"}},         {"qmax", {"MMP", "u32"}},          {"scur", {"MGP", "u32"}},
      {"smax", {"MMP", "u32"}},         {"slim", {"CLP", "u32"}},          {"qlimit", {"CLP", "u32"}},
      {"status", {"SOS", "str"}},       {"weight", {"MAS", "u32"}},        {"uweight", {"MAS", "u32"}},
      {"act", {"MGS", "u32"}},          {"bck", {"MGS", "u32"}},           {"lastchg", {"MAP", "u32"}},
      {"downtime", {"MDP", "u32"}},     {"throttle", {"MGP", "u32"}},      {"rate", {"MRP", "u32"}},
      {"rate_lim", {"CLP", "u32"}},     {"rate_max", {"MMP", "u32"}},      {"conn_rate", {"MRP", "u32"}},
      {"conn_rate_max", {"MMP", "u32"}}, {"req_rate", {"MRP", "u32"}},     {"req_rate_max", {"MMP", "u32"}},
      {"check_status", {"SOS", "str"}}, {"check_code", {"MOS", "u32"}},    {"check_duration", {"MDS", "u64"}},
      {"check_desc", {"MOS", "str"}},   {"last_chk", {"MOS", "str"}},      {"check_rise", {"MCS", "u32"}},
      {"check_fall", {"MCS", "u32"}},   {"check_health", {"SGS", "u32"}},  {"addr", {"COS", "str"}},
      {"mode", {"COP", "str"}},         {"algo", {"COP", "str"}},          {"lastsess", {"MAP", "s32"}},
      {"qtime", {"MaP", "u32"}},        {"ctime", {"MaP", "u32"}},         {"rtime", {"MaP", "u32"}},
      {"ttime", {"MaP", "u32"}},        {"qtime_max", {"MMP", "u32"}},     {"ctime_max", {"MMP", "u32"}},
      {"rtime_max", {"MMP", "u32"}},    {"ttime_max", {"MMP", "u32"}},     {"srv_icur", {"MGP", "u32"}},
      {"idle_conn_cur", {"MGP", "u32"}}, {"safe_conn_cur", {"MGP", "u32"}}, {"used_conn_cur", {"MGP", "u32"}},
      {"need_conn_est", {"MGP", "u32"}}, {"agg_server_status", {"MGP", "u32"}},
      {"agg_server_check_status", {"MGP", "u32"}}, {"agg_check_status", {"MGP", "u32"}},
  };
  auto it = kTags.find(name);
  return it != kTags.end() ? it->second : std::pair<const char*, const char*>{"MCP", "u64"};  // the totals
}

}  // namespace

std::string renderStatTyped(const Snapshot& snap, const StatFilter& filter) {
  std::string out;
  const std::vector<Column>& cols = columns();
  for (const StatRow& r : snap.rows) {
    if (!rowWanted(r, filter)) continue;
    const char obj = r.type == RowType::Frontend ? 'F' : r.type == RowType::Backend ? 'B' : 'S';
    const std::string prefix = std::string(1, obj) + "." + std::to_string(r.proxyId) + "." +
                               std::to_string(r.type == RowType::Server ? r.serverId : 0) + ".";
    for (size_t i = 0; i < cols.size(); ++i) {
      const Column& c = cols[i];
      if (!(c.types & typeBit(r.type)) || !c.value) continue;
      std::string v = c.value(r, snap.process);
      if (v.empty()) continue;
      auto [tags, type] = typedTags(c.name);
      // The value as it is: the typed format does not quote.
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out += prefix + std::to_string(i) + "." + c.name + ".1:" + tags + ":" + type + ":" + v + "\n";
    }
  }
  return out;
}

std::string renderStatCsv(const Snapshot& snap, const StatFilter& filter) {
  std::string out = "# ";
  for (const Column& c : columns()) {
    out += c.name;
    out += ',';
  }
  out += '\n';
  for (const StatRow& r : snap.rows) {
    if (!rowWanted(r, filter)) continue;
    for (const Column& c : columns()) {
      if ((c.types & typeBit(r.type)) && c.value) out += c.value(r, snap.process);
      out += ',';
    }
    out += '\n';
  }
  return out;
}

std::string renderInfo(const Snapshot& snap) {
  const ProcessStats& p = snap.process;
  std::ostringstream o;
  auto line = [&](const char* k, const std::string& v) { o << k << ": " << v << "\n"; };
  auto num = [&](const char* k, uint64_t v) { line(k, std::to_string(v)); };
  line("Name", "sluice");
  line("Version", p.version);
  line("Release_date", "");
  num("Nbthread", p.facts.threads);
  num("Nbproc", 1);
  num("Process_num", 1);
  num("Pid", p.facts.pid);
  line("Uptime", uptimeText(p.uptime));
  num("Uptime_sec", p.uptime);
  num("Memmax_MB", 0);
  num("PoolAlloc_MB", p.heapBytes >> 20);
  num("PoolUsed_MB", p.heapBytes >> 20);
  num("PoolFailed", 0);
  num("Ulimit-n", p.facts.fdLimit);
  num("Maxsock", p.facts.fdLimit);
  num("Maxconn", p.maxconn);
  num("Hard_maxconn", p.maxconn);
  num("CurrConns", p.currentConnections);
  num("CumConns", p.totalConnections);
  num("CumReq", 0);
  num("Maxpipes", 0);
  num("ConnRate", p.connectionRate);
  num("ConnRateLimit", 0);
  num("MaxConnRate", p.maxConnectionRate);
  num("SessRate", p.connectionRate);
  num("SessRateLimit", 0);
  num("MaxSessRate", p.maxConnectionRate);
  line("node", p.facts.node);
  line("description", p.facts.description);
  num("Stopping", p.stopping ? 1 : 0);
  num("Jobs", p.currentConnections + p.facts.listeningSockets);
  num("Listeners", p.facts.listeningSockets);
  num("TotalBytesOut", p.bytesOut);
  num("TotalSplicdedBytesOut", p.splicedBytes);
  line("Build info", p.version);
  num("Memmax_bytes", 0);
  num("PoolAlloc_bytes", p.heapBytes);
  num("PoolUsed_bytes", p.heapBytes);
  num("Start_time_sec", p.facts.startedAt);
  // sluice's own, after HAProxy's fields.
  num("Resident_bytes", p.residentBytes);
  num("TotalBytesIn", p.bytesIn);
  num("SplicedBytes", p.splicedBytes);
  num("CopiedBytes", p.copiedBytes);
  num("AcceptErrors", p.acceptErrors);
  num("Reloads", p.facts.reloads);
  num("RuntimeRebuilds", p.facts.rebuilds);
  num("InPlaceServerChanges", p.facts.inPlaceChanges);
  num("QuicUnconfirmedFlows", p.quicUnconfirmed);
  num("QuicUnconfirmedExpired", p.quicUnconfirmedExpired);
  num("QuicUnconfirmedEvicted", p.quicUnconfirmedEvicted);
  num("QuicAmplificationDropped", p.quicAmplificationDropped);
  num("QuicPathsOpened", p.quicPathsOpened);
  return o.str();
}

std::string renderServersState(const runtime::Runtime& rt, const std::string& backend, std::string& error,
                               const std::vector<config::ServerEdit>& edits) {
  // Check status numbers of HAProxy's server-state file format.
  auto statusCode = [](const std::string& s) {
    static const char* kCodes[] = {"UNK",   "INI",   "",      "",      "HANA", "SOCKERR", "L4OK",
                                   "L4TOUT", "L4CON", "L6OK",  "L6TOUT", "L6RSP", "L7TOUT",  "L7RSP",
                                   "",      "L7OK",  "L7OKC", "L7STS"};
    for (size_t i = 0; i < sizeof(kCodes) / sizeof(kCodes[0]); ++i) {
      if (s == kCodes[i] && kCodes[i][0]) return static_cast<int>(i);
    }
    return 1;
  };
  if (!backend.empty() && !rt.findBackend(backend)) {
    error = "Can't find backend.\n";
    return {};
  }
  std::ostringstream o;
  o << "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
       "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
       "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
       "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";
  uint64_t wall = static_cast<uint64_t>(time(nullptr));
  ProxyIds ids(*rt.source);
  for (const config::ProxyConfig& pc : rt.source->proxies) {
    bool frontend = pc.isFrontend && rt.findFrontend(pc.name);
    runtime::Backend* be = pc.isBackend ? rt.findBackend(pc.name) : nullptr;
    if (!frontend && !be) continue;
    uint32_t id = ids.of(pc);
    if (!be || (!backend.empty() && be->name != backend)) continue;
    for (const auto& s : be->servers) {
      const balance::ServerLive& live = *s->live;
      balance::AdminState admin = s->admin.load();
      // HAProxy's bits: 0x01 forced maintenance, 0x02 inherited (track),
      // 0x04 from the configuration, 0x08 forced drain.
      const config::ServerConfig& sc = *be->serverConfigs[s->position];
      int adminBits = admin == balance::AdminState::Maint
                          ? (live.maintInherited.load()                                         ? 0x02
                             : s->configAdmin == balance::AdminState::Maint && !sc.dynamic ? 0x04
                                                                                           : 0x01)
                          : admin == balance::AdminState::Drain ? 0x08 : 0;
      if (!s->resolved()) adminBits |= 0x20;  // maintenance by resolution
      int checkResult = !s->checked || live.checkStatus.empty() ? 0 : s->up.load() ? 3 : 2;
      uint64_t changed = s->lastChange.load();
      // In forced maintenance HAProxy reports the server stopped and its
      // check paused (configured|enabled|paused = 14).
      bool maint = admin == balance::AdminState::Maint;
      o << id << ' ' << be->name << ' ' << s->id << ' ' << s->name << ' ' << s->currentAddress().ipString() << ' '
        << (s->up.load() && !maint && s->resolved() ? 2 : 0) << ' ' << adminBits << ' ' << s->weight.load() << ' ' << s->configWeight
        << ' ' << (wall > changed ? wall - changed : 0) << ' '
        << (s->checked ? statusCode(live.checkStatus) : 1) << ' ' << checkResult << ' '
        // An unchecked server's health counter stays at its "rise", as HAProxy's.
        << (s->checked ? live.checkHealth : sc.rise) << ' '
        // Check state bits: configured 2, enabled 4, paused 8.
        << (s->checked ? (live.healthDisabled.load() ? 2 : maint ? 14 : 6) : 0) << " 0 0 0 "
        // srv_fqdn, srv_port, srvrecord: the name DNS resolves, an SRV label apart.
        << (sc.fqdn.empty() || sc.fqdn[0] == '_' ? "-" : sc.fqdn) << ' '
        << (s->portFromClient ? 0 : s->currentAddress().port()) << ' ' << (!sc.fqdn.empty() && sc.fqdn[0] == '_' ? sc.fqdn : "-")
        << " 0 " << sc.checkPort.value_or(0) << " - - 0\n";
    }
    // sluice's own: the runtime API's changes to this backend, as comments
    // (config/server_edit.h), so that a restart that loads the file keeps them.
    for (const config::ServerEdit& e : edits) {
      if (e.backend == be->name) o << config::serverEditLine(e) << '\n';
    }
  }
  return o.str();
}

}  // namespace sluice::admin
