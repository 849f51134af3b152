// SPDX-License-Identifier: Apache-2.0
// Compiles a Config into a Runtime; see runtime.h.
#include "runtime/runtime.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "config/parser.h"
#include "core/strings.h"
#include "proto/tls_alert.h"

namespace sluice::runtime {

namespace {

std::string hostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

uint32_t cpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<uint32_t>(n);
  }
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

class Builder {
 public:
  Builder(std::shared_ptr<const config::Config> cfg, core::Diagnostics& diag, const Runtime* previous)
      : cfg_(std::move(cfg)), diag_(diag), previous_(previous) {}

  std::shared_ptr<Runtime> run() {
    auto rt = std::make_shared<Runtime>();
    rt_ = rt.get();
    rt->source = cfg_;
    const config::GlobalConfig& g = cfg_->global;
    rt->maps = std::make_unique<route::MapRegistry>(g.defaultPath);
    rt->nbthread = g.nbthread ? *g.nbthread : std::min<uint32_t>(cpuCount(), 64);
    rt->maxconn = g.maxconn ? *g.maxconn : defaultMaxconn();
    rt->splice = !g.noSplice;
    rt->pipeSize = g.pipeSize ? *g.pipeSize : 0;
    rt->quicGro = !g.quicNoGro;
    rt->quicGso = !g.quicNoGso;
    rt->quicMaxUnconfirmed = g.quicMaxUnconfirmed;
    rt->quicUnconfirmedMs = g.quicUnconfirmedMs;
    rt->maxAccept = g.maxAccept ? *g.maxAccept : 64;
    hostname_ = g.logSendHostname ? (g.logSendHostname->empty() ? hostName() : *g.logSendHostname)
                                  : std::string();

    for (const config::LogTarget& t : g.log.targets) {
      std::string error;
      auto sink = observe::LogSink::open(t, g.logTag, hostname_, error);
      if (!sink) {
        diag_.error(t.where, error);
        continue;
      }
      globalSinks_.push_back(sink);
      rt->globalLogger.add(sink);
    }

    buildTables();
    for (const config::ProxyConfig& p : cfg_->proxies) {
      if (p.isBackend && !p.disabled) {
        buildBackend(p);
      }
    }
    for (const config::ProxyConfig& p : cfg_->proxies) {
      if (p.isFrontend && !p.disabled) {
        buildFrontend(p);
      }
    }
    linkTrackedServers(*rt);
    if (diag_.hasErrors()) {
      return nullptr;
    }
    return rt;
  }

 private:
  // "track [<backend>/]<server>": links trackers to the server they follow
  // and starts them in its state. A chain must end at a server with checks
  // and may not loop; a tracking server has no checks of its own, as in
  // HAProxy.
  void linkTrackedServers(Runtime& rt) {
    for (const auto& be : rt.backends) {
      for (size_t i = 0; i < be->servers.size(); ++i) {
        const config::ServerConfig& sc = *be->serverConfigs[i];
        if (sc.track.empty()) continue;
        size_t slash = sc.track.find('/');
        std::string beName = slash == std::string::npos ? be->name : sc.track.substr(0, slash);
        std::string srvName = slash == std::string::npos ? sc.track : sc.track.substr(slash + 1);
        Backend* other = rt.findBackend(beName);
        balance::ServerState* target = other ? other->findServer(srvName) : nullptr;
        if (!target) {
          diag_.error(sc.where, "server '" + sc.name + "': unable to find the tracked server '" + sc.track + "'",
                      "write 'track <backend>/<server>' or 'track <server>' for one of this backend");
          continue;
        }
        if (sc.check) {
          diag_.error(sc.where, "server '" + sc.name + "': unable to enable checks and tracking at the same time",
                      "remove 'check': the server takes the state of '" + sc.track + "'");
          continue;
        }
        if (target == be->servers[i].get()) {
          diag_.error(sc.where, "server '" + sc.name + "' cannot track itself");
          continue;
        }
        be->servers[i]->tracks = target;
        // The newest tracker first, as HAProxy tells them (its list grows at the head).
        target->trackers.insert(target->trackers.begin(), be->servers[i].get());
      }
    }
    // Every chain must end at a checked server, without a loop.
    for (const auto& be : rt.backends) {
      for (size_t i = 0; i < be->servers.size(); ++i) {
        balance::ServerState* s = be->servers[i].get();
        if (!s->tracks) continue;
        balance::ServerState* end = s;
        size_t steps = 0;
        while (end->tracks && steps <= 1024) {
          end = end->tracks;
          ++steps;
        }
        if (end->tracks) {
          diag_.error(be->serverConfigs[i]->where, "server '" + s->name + "': its 'track' chain loops");
        } else if (!end->checked) {
          diag_.error(be->serverConfigs[i]->where,
                      "server '" + s->name + "' tracks '" + end->backendName + "/" + end->name +
                          "', which has no 'check': nothing would decide its state",
                      "add 'check' to the tracked server");
        } else {
          s->up.store(end->up.load());  // a tracker is as its target is
        }
      }
    }
  }

  void buildLogger(const config::ProxyConfig& p, observe::Logger& logger) {
    if (p.log.disabled) return;
    if (p.log.global) {
      for (const auto& s : globalSinks_) logger.add(s);
    }
    std::string tag = p.logTag.empty() ? cfg_->global.logTag : p.logTag;
    for (const config::LogTarget& t : p.log.targets) {
      std::string error;
      auto sink = observe::LogSink::open(t, tag, hostname_, error);
      if (!sink) {
        diag_.error(t.where, error);
        continue;
      }
      logger.add(sink);
    }
  }

  // One stick table per "stick-table" line, named after its proxy, and one
  // per "table" line of a peers section, named "<section>/<table>". A table
  // whose declaration did not change keeps its entries across a reload.
  void buildTables() {
    std::set<std::string> storesServer;  // tables that "stick" rules write to
    for (const config::ProxyConfig& p : cfg_->proxies) {
      for (const config::StickRuleConfig& r : p.stickRules) {
        storesServer.insert(r.table.empty() ? p.name : r.table);
      }
    }
    std::vector<std::string> names;
    for (const config::ProxyConfig& p : cfg_->proxies) {
      if (!p.stickTable || p.disabled) continue;
      if (rt_->tables.find(p.name)) {
        diag_.error(p.stickTableWhere, "a stick-table named '" + p.name + "' is declared twice",
                    "a frontend and a backend of the same name cannot both declare one; rename one");
        continue;
      }
      addTable(*p.stickTable, storesServer, names);
    }
    for (const config::PeersConfig& section : cfg_->peers) {
      for (const config::PeersConfig::Table& t : section.tables) addTable(t.spec, storesServer, names);
    }
    rt_->maps->setTableNames(names);
    std::map<std::string, std::vector<std::string>> backends;
    std::set<std::string> frontends;
    for (const config::ProxyConfig& p : cfg_->proxies) {
      if (p.isFrontend) frontends.insert(p.name);
      if (!p.isBackend) continue;
      std::vector<std::string>& servers = backends[p.name];
      for (const config::ServerConfig& s : p.servers) servers.push_back(s.name);
    }
    rt_->maps->setProxyNames(std::move(backends), std::move(frontends));
  }

  void addTable(stick::TableSpec spec, const std::set<std::string>& storesServer, std::vector<std::string>& names) {
    if (storesServer.count(spec.name)) spec.stored[static_cast<size_t>(stick::DataType::ServerId)] = true;
    std::shared_ptr<stick::Table> table;
    if (previous_) {
      auto old = previous_->tables.share(spec.name);
      if (old && old->spec() == spec) table = old;
    }
    if (!table) table = std::make_shared<stick::Table>(spec);
    rt_->tables.add(table);
    names.push_back(spec.name);
  }

  // The table a rule names ("table <name>"), or the proxy's own.
  stick::Table* tableFor(const std::string& named, stick::Table* own, const core::SourceLocation& where,
                         const std::string& what) {
    if (!named.empty()) {
      stick::Table* t = rt_->tables.find(named);
      if (!t) diag_.error(where, "'" + what + "' names the table '" + named + "', but no proxy declares a stick-table by that name");
      return t;
    }
    if (!own) {
      diag_.error(where, "'" + what + "' needs a stick-table",
                  "declare one in this section ('stick-table type ip size 100k expire 30s store "
                  "conn_cur') or name one with 'table <proxy>'");
    }
    return own;
  }

  // Compiles tcp-request rules (connection or content).
  void buildRules(const std::vector<config::TcpRuleConfig>& in, route::AclScope& scope,
                  std::vector<Rule>& out, bool connectionLevel, const std::string& label,
                  stick::Table* ownTable = nullptr) {
    for (const config::TcpRuleConfig& r : in) {
      Rule rule;
      rule.where = r.where;
      std::string base = r.action.substr(0, r.action.find('('));
      if (base == "accept") {
        rule.action = Rule::Action::Accept;
      } else if (base == "reject") {
        rule.action = Rule::Action::Reject;
      } else if (base == "silent-drop") {
        rule.action = Rule::Action::SilentDrop;
      } else if (base == "tls-alert") {
        rule.action = Rule::Action::TlsAlert;
        rule.value = *proto::tlsAlertCode(r.actionArgs.empty() ? "unrecognized_name" : r.actionArgs[0]);
      } else if (base == "set-var" || base == "unset-var") {
        rule.action = base == "set-var" ? Rule::Action::SetVar : Rule::Action::UnsetVar;
        size_t open = r.action.find('(');
        rule.variable = r.action.substr(open + 1, r.action.size() - open - 2);
        std::string scopeName = rule.variable.substr(0, rule.variable.find('.'));
        if (rule.variable.find('.') == std::string::npos ||
            (scopeName != "txn" && scopeName != "sess" && scopeName != "req" &&
             scopeName != "res" && scopeName != "proc")) {
          diag_.error(r.where, "invalid variable name '" + rule.variable + "'",
                      "variables are named <scope>.<name> with scope txn, sess, req, res or proc");
          continue;
        }
        if (base == "set-var") {
          std::string error;
          std::string text;
          for (const auto& w : r.actionArgs) text += w;
          rule.expr = route::SampleExpr::parse(text, *rt_->maps, error);
          if (!rule.expr) {
            diag_.error(r.where, "in '" + r.action + "': " + error);
            continue;
          }
        }
      } else if (base == "expect-proxy") {
        rule.action = Rule::Action::ExpectProxy;
      } else if (core::startsWith(base, "track-sc")) {
        rule.action = Rule::Action::TrackSc;
        rule.counter = static_cast<uint8_t>(base.back() - '0');
        std::string error;
        rule.expr = route::SampleExpr::parse(r.actionArgs[0], *rt_->maps, error);
        if (!rule.expr) {
          diag_.error(r.where, "in '" + r.action + "': " + error);
          continue;
        }
        rule.table = tableFor(r.actionArgs.size() == 3 ? r.actionArgs[2] : std::string(), ownTable,
                              r.where, r.action);
        if (!rule.table) continue;
      } else if (core::startsWith(base, "sc-")) {
        rule.action = base == "sc-inc-gpc0"   ? Rule::Action::IncGpc0
                      : base == "sc-inc-gpc1" ? Rule::Action::IncGpc1
                                              : Rule::Action::SetGpt0;
        rule.counter = r.action.back() == ')' ? static_cast<uint8_t>(r.action[r.action.size() - 2] - '0') : 0;
        if (rule.action == Rule::Action::SetGpt0) {
          std::string error;
          rule.expr = route::SampleExpr::parse(
              core::parseInt(r.actionArgs[0]) ? "int(" + r.actionArgs[0] + ")" : r.actionArgs[0],
              *rt_->maps, error);
          if (!rule.expr) {
            diag_.error(r.where, "in '" + r.action + "': " + error);
            continue;
          }
        }
      } else if (base == "capture" || base == "set-src" || base == "set-dst" || base == "set-src-port" ||
                 base == "set-dst-port") {
        rule.action = base == "capture"        ? Rule::Action::Capture
                      : base == "set-src"      ? Rule::Action::SetSrc
                      : base == "set-dst"      ? Rule::Action::SetDst
                      : base == "set-src-port" ? Rule::Action::SetSrcPort
                                               : Rule::Action::SetDstPort;
        // "capture <sample> len <n>"
        std::vector<std::string> args = r.actionArgs;
        if (rule.action == Rule::Action::Capture) {
          auto len = args.size() == 3 && args[1] == "len" ? core::parseInt(args[2]) : std::nullopt;
          if (!len || *len <= 0 || *len > 65536) {
            diag_.error(r.where, "'capture' needs '<sample> len <length>'", "e.g. 'capture req.ssl_sni len 64'");
            continue;
          }
          rule.value = static_cast<uint32_t>(*len);
          args.resize(1);
        }
        std::string error;
        std::string text;
        for (const auto& w : args) text += w;
        rule.expr = route::SampleExpr::parse(text, *rt_->maps, error);
        if (!rule.expr) {
          diag_.error(r.where, "in '" + base + "': " + error);
          continue;
        }
      } else if (base == "set-mark" || base == "set-tos") {
        rule.action = base == "set-mark" ? Rule::Action::SetMark : Rule::Action::SetTos;
        auto v = r.actionArgs.size() == 1 ? core::parseUnsigned(r.actionArgs[0]) : std::nullopt;
        if (!v || *v > UINT32_MAX || (base == "set-tos" && *v > 255)) {
          diag_.error(r.where, "'" + base + "' needs an integer (decimal or 0x...)");
          continue;
        }
        rule.value = static_cast<uint32_t>(*v);
      } else if (base == "set-log-level") {
        rule.action = Rule::Action::SetLogLevel;
        const std::string level = r.actionArgs.empty() ? "" : r.actionArgs[0];
        rule.logLevel = level == "silent" ? -2 : config::syslogLevel(level);
        if (rule.logLevel == -1 || r.actionArgs.size() != 1) {
          diag_.error(r.where, "'set-log-level' needs a level: silent, emerg, alert, crit, err, warning, notice, info or debug");
          continue;
        }
      } else {
        // set-nice: a stream's scheduling priority; sluice's loops take
        // connections in turn, so there is nothing to reorder.
        rule.action = Rule::Action::NoOp;
        diag_.warnOnce("action:" + base, r.where,
                       "rule action '" + base + "' is accepted but ignored: sluice schedules connections in turn");
      }
      std::string error;
      scope.at(r.where);
      rule.condition = scope.compileCondition(r.condition, error);
      if (!r.condition.empty() && !rule.condition) {
        diag_.error(r.where, error);
        continue;
      }
      bool usesPayload = (rule.condition && rule.condition->usesPayload()) ||
                         (rule.expr && rule.expr->usesPayload());
      if (rule.action == Rule::Action::TrackSc && tracks_) *tracks_ = true;
      if (connectionLevel && usesPayload) {
        diag_.error(r.where,
                    "'tcp-request connection' rules run before any byte is read, so they cannot "
                    "use request contents (ClientHello, req.len, payload)",
                    "use 'tcp-request content' for this rule");
        continue;
      }
      (void)label;
      if (rule.action == Rule::Action::Capture) {  // the next capture slot of this proxy
        rule.counter = static_cast<uint8_t>(std::count_if(out.begin(), out.end(), [](const Rule& x) {
          return x.action == Rule::Action::Capture;
        }));
      }
      out.push_back(std::move(rule));
    }
  }

  void buildBackend(const config::ProxyConfig& p) {
    auto be = std::make_unique<Backend>();
    be->name = p.name;
    be->config = &p;
    be->checkKind = p.checkKind;
    be->retries = p.retries;
    be->redispatch = p.redispatch;
    be->redispatchInterval = p.redispatchInterval;
    be->timeoutConnect = p.timeoutConnect.value_or(0);
    be->timeoutServer = p.timeoutServer.value_or(0);
    be->timeoutTunnel = p.timeoutTunnel.value_or(0);
    be->timeoutServerFin = p.timeoutServerFin.value_or(0);
    be->srvtcpka = p.srvtcpka;
    be->srvtcpkaSpec = p.srvtcpkaSpec;
    be->inspectDelay = p.inspectDelay.value_or(0);
    be->timeoutQueue = p.timeoutQueue.value_or(be->timeoutConnect);
    bool unboundedQueue = false;
    for (const config::ServerConfig& sc : p.servers) {
      if (sc.maxqueue == 0) unboundedQueue = true;
      be->maxQueue += sc.maxqueue;
    }
    if (unboundedQueue) be->maxQueue = 0;
    be->source = p.source;

    const Backend* before = previous_ ? previous_->findBackend(p.name) : nullptr;
    if (before) {
      // Sessions of the previous configuration still count and queue here.
      be->counters = before->counters;
      be->queue = before->queue;
    }

    uint32_t nextId = 1;
    std::vector<balance::ServerState*> raw;
    std::vector<balance::ServerState*> rawQuic;
    for (const config::ServerConfig& sc : p.servers) {
      const balance::ServerState* old = before ? before->findServer(sc.name) : nullptr;
      auto s = old ? std::make_shared<balance::ServerState>(old->live)
                   : std::make_shared<balance::ServerState>();
      // "init-state down|fully-down": a new checked server waits for its checks.
      if (!old && sc.check && (sc.initState == "down" || sc.initState == "fully-down")) s->up.store(false);
      s->name = sc.name;
      s->backendName = p.name;
      s->position = static_cast<uint32_t>(be->servers.size());
      s->id = sc.id ? sc.id : nextId;
      nextId = std::max(nextId, s->id) + 1;
      s->address = sc.address;
      s->portFromClient = sc.portFromClient;
      s->addressFromClient = sc.addressFromClient;
      s->portOffset = sc.portOffset;
      if (!sc.socks4.empty()) s->socks4 = core::Address::parse(sc.socks4);
      s->tcpUserTimeout = sc.tcpUserTimeout.value_or(0);
      s->errorLimit = sc.observeLayer4 && sc.check ? sc.errorLimit : 0;
      s->backup = sc.backup;
      s->quic = sc.quic;
      s->configWeight = sc.weight;
      s->maxconn = sc.maxconn;
      s->checked = sc.check;
      s->hasAddress = sc.hasAddress;
      s->configAdmin = sc.disabled ? balance::AdminState::Maint : balance::AdminState::Ready;
      if (!old) {  // else adoptLiveState() reconciles the shared state
        s->live->address.store(sc.address);
        s->live->resolved.store(sc.hasAddress);
        // As HAProxy: checks of a server added at runtime wait for "enable health".
        if (sc.dynamic && sc.check) s->live->healthDisabled.store(true);
        s->weight.store(sc.weight);
        s->admin.store(s->configAdmin);
        s->lastChange.store(static_cast<uint64_t>(time(nullptr)));
      }
      (sc.quic ? rawQuic : raw).push_back(s.get());
      be->addServer(s, &sc);
      for (const auto& [type, text] : sc.proxyTlvFormats) {
        std::string error;
        auto format = route::FormatString::parse(text, *rt_->maps, false, error);
        if (!format) {
          diag_.error(sc.where, "server '" + sc.name + "': in 'set-proxy-v2-tlv-fmt(" + std::to_string(type) +
                                    ")': " + error,
                      "write samples as %[fetch,converter], e.g. %[req.ssl_ja4]");
          continue;
        }
        be->proxyTlvs.back().push_back({type, std::move(format)});
      }
    }

    be->logHealthChecks = p.logHealthChecks;
    buildLogger(p, be->logger);
    if (!p.emailMailers.empty() && !p.emailFrom.empty() && !p.emailTo.empty()) {
      for (const config::MailersConfig& m : cfg_->mailers) {
        if (m.name != p.emailMailers) continue;
        auto recipe = std::make_shared<observe::MailRecipe>();
        for (const auto& [name, address] : m.mailers) recipe->mailers.push_back(address);
        recipe->timeoutMs = m.timeoutMs;
        recipe->from = p.emailFrom;
        recipe->to = p.emailTo;
        recipe->hostname = p.emailHostname.empty() ? hostName() : p.emailHostname;
        recipe->level = p.emailLevel;
        recipe->proxy = p.name;
        be->mail = std::move(recipe);
      }
    }
    bool anyCheck = std::any_of(p.servers.begin(), p.servers.end(),
                                [](const config::ServerConfig& s) { return s.check; });
    std::shared_ptr<const health::CheckPlan> plan;
    if (anyCheck) plan = health::compilePlan(p, *rt_->maps, diag_);
    for (const config::ServerConfig& sc : p.servers) {
      std::shared_ptr<const health::ServerCheckSpec> check;
      if (sc.check) {
        auto spec = health::resolveServerCheck(cfg_->global, p, sc, plan, diag_);
        if (spec) check = std::make_shared<const health::ServerCheckSpec>(std::move(*spec));
      }
      be->checks.push_back(check);
    }

    balance::BalanceSpec spec;
    spec.algorithm = p.balance.algorithm;
    spec.consistent = p.hashType.method == "consistent";
    spec.maglev = p.hashType.method == "maglev";
    spec.hashFunction = p.hashType.function;
    // HAProxy: "consistent hash uses sdbm and avalanche if no hash function
    // is specified" (so do maglev's); without it, nearby source addresses
    // would land on one arc of the ring.
    spec.avalanche = p.hashType.avalanche || (p.hashType.method != "map-based" && !p.hashType.functionGiven);
    spec.allBackups = p.allbackups;
    if (spec.algorithm == "random" && !p.balance.args.empty()) {
      spec.randomDraws = static_cast<uint32_t>(core::parseInt(p.balance.args[0]).value_or(2));
    }
    be->roundRobinKind = spec.algorithm == "roundrobin" || spec.algorithm == "static-rr";
    be->hashFunction = spec.hashFunction;
    be->hashAvalanche = spec.avalanche;
    be->hashOnSource = spec.algorithm == "source";
    be->balancer = std::make_unique<balance::Backend>(spec, raw);
    if (!rawQuic.empty()) be->quicBalancer = std::make_unique<balance::Backend>(spec, rawQuic);

    rt_->maps->setOwnTable(rt_->tables.find(p.name) != nullptr);
    rt_->maps->setCurrentProxy(p.name);
    auto scope = std::make_unique<route::AclScope>(*rt_->maps);
    scope->define(p.acls, diag_);
    if (spec.algorithm == "hash") {
      std::string text;
      for (const auto& a : p.balance.args) text += a;
      std::string error;
      be->hashExpr = route::SampleExpr::parse(text, *rt_->maps, error);
      if (!be->hashExpr) {
        diag_.error(p.balance.where, "in 'balance hash': " + error);
      } else if (be->hashExpr->usesHello()) {
        be->usesHello = true;
      }
      if (be->hashExpr && be->hashExpr->usesPayload()) be->usesPayload = true;
    }
    if (!p.persistRdpCookie.empty()) {
      std::string error;
      be->persistExpr = route::SampleExpr::parse("req.rdp_cookie(" + p.persistRdpCookie + ")", *rt_->maps, error);
      be->usesPayload = true;
    }
    be->stickTable = rt_->tables.find(p.name);
    tracks_ = &be->tracks;
    buildRules(p.tcpRequestContent, *scope, be->contentRules, false, "backend " + p.name, be->stickTable);
    buildRules(p.tcpResponseContent, *scope, be->responseRules, false, "backend " + p.name, be->stickTable);
    be->responseInspectDelay = p.tcpResponseInspectDelay.value_or(0);
    tracks_ = nullptr;
    for (const config::StickRuleConfig& r : p.stickRules) {
      StickRule rule;
      rule.where = r.where;
      rule.match = r.match;
      rule.store = r.store;
      std::string error;
      rule.expr = route::SampleExpr::parse(r.expr, *rt_->maps, error);
      if (!rule.expr) {
        diag_.error(r.where, "in 'stick': " + error);
        continue;
      }
      rule.table = tableFor(r.table, be->stickTable, r.where, "stick");
      if (!rule.table) continue;
      scope->at(r.where);
      rule.condition = scope->compileCondition(r.condition, error);
      if (!r.condition.empty() && !rule.condition) {
        diag_.error(r.where, error);
        continue;
      }
      if (rule.expr->usesHello() || (rule.condition && rule.condition->usesHello())) be->usesHello = true;
      be->stickRules.push_back(std::move(rule));
    }
    for (const Rule& r : be->contentRules) {
      if (r.readsHello()) be->usesHello = true;
      if (r.readsPayload()) be->usesPayload = true;
    }
    for (const config::UseServerConfig& u : p.useServers) {
      ServerRule rule;
      rule.where = u.where;
      std::string error;
      if (u.server.find("%[") != std::string::npos) {
        rule.dynamic = route::FormatString::parse(u.server, *rt_->maps, false, error);
        if (!rule.dynamic) {
          diag_.error(u.where, "in 'use-server': " + error);
          continue;
        }
        if (rule.dynamic->usesHello()) be->usesHello = true;
      } else {
        rule.server = be->findServer(u.server);
        if (!rule.server) {
          diag_.error(u.where, "'use-server': no server '" + u.server + "' in backend '" + p.name + "'");
          continue;
        }
      }
      scope->at(u.where);
      rule.condition = scope->compileCondition(u.condition, error);
      if (!u.condition.empty() && !rule.condition) {
        diag_.error(u.where, error);
        continue;
      }
      if (rule.condition && rule.condition->usesHello()) be->usesHello = true;
      be->serverRules.push_back(std::move(rule));
    }
    scopes_.push_back(std::move(scope));
    rt_->addBackend(std::move(be));
  }

  void buildStats(const config::ProxyConfig& p, route::AclScope& scope, Frontend& fe) {
    auto st = std::make_unique<StatsService>();
    st->config = &p.stats;
    st->page = p.stats.enable;
    std::string error;
    if (p.stats.adminSet) {
      st->admin = true;
      scope.at(p.stats.adminWhere);
      st->adminCondition = scope.compileCondition(p.stats.adminCondition, error);
      if (!st->adminCondition) diag_.error(p.stats.adminWhere, "in 'stats admin': " + error);
    }
    for (const config::TcpRuleConfig& r : p.httpRequest) {
      HttpRule rule;
      rule.where = r.where;
      rule.action = r.action == "use-service" ? HttpRule::Action::UsePrometheus
                    : r.action == "deny"      ? HttpRule::Action::Deny
                                              : HttpRule::Action::Allow;
      if (!r.condition.empty()) {
        scope.at(r.where);
        rule.condition = scope.compileCondition(r.condition, error);
        if (!rule.condition) {
          diag_.error(r.where, "in 'http-request " + r.action + "': " + error);
          continue;
        }
      }
      st->rules.push_back(std::move(rule));
    }
    fe.stats = std::move(st);
  }

  void buildFrontend(const config::ProxyConfig& p) {
    auto fe = std::make_unique<Frontend>();
    fe->name = p.name;
    if (const Frontend* before = previous_ ? previous_->findFrontend(p.name) : nullptr) {
      fe->counters = before->counters;
    }
    fe->config = &p;
    buildLogger(p, fe->logger);
    fe->tcplog = p.tcplog || p.httplog;
    fe->dontlognull = p.dontlognull;
    fe->dontlogNormal = p.dontlogNormal;
    fe->logasap = p.logasap;
    fe->logSeparateErrors = p.logSeparateErrors;
    fe->timeoutClient = p.timeoutClient.value_or(0);
    fe->timeoutClientFin = p.timeoutClientFin.value_or(0);
    fe->maxconn = p.maxconn.value_or(0);
    fe->clitcpka = p.clitcpka;
    fe->clitcpkaSpec = p.clitcpkaSpec;
    fe->nolinger = p.nolinger;

    rt_->maps->setOwnTable(rt_->tables.find(p.name) != nullptr);
    rt_->maps->setCurrentProxy(p.name);
    auto scope = std::make_unique<route::AclScope>(*rt_->maps);
    scope->define(p.acls, diag_);
    if (p.servesStats()) buildStats(p, *scope, *fe);
    fe->stickTable = rt_->tables.find(p.name);
    tracks_ = &fe->tracks;
    buildRules(p.tcpRequestConnection, *scope, fe->connectionRules, true, "frontend " + p.name, fe->stickTable);
    buildRules(p.tcpRequestSession, *scope, fe->sessionRules, true, "frontend " + p.name, fe->stickTable);
    buildRules(p.tcpRequestContent, *scope, fe->contentRules, false, "frontend " + p.name, fe->stickTable);
    tracks_ = nullptr;

    bool usesHello = false;
    bool usesPayload = false;
    bool dynamicSwitch = false;
    for (const Rule& r : fe->contentRules) {
      if (r.readsHello()) usesHello = true;
      if (r.readsPayload()) usesPayload = true;
    }
    const bool frontendReadsPayload = usesPayload;
    std::vector<Backend*> reachable;
    for (const config::UseBackendConfig& u : p.useBackends) {
      SwitchRule rule;
      rule.where = u.where;
      std::string error;
      if (u.backend.find("%[") != std::string::npos) {
        rule.dynamic = route::FormatString::parse(u.backend, *rt_->maps, false, error);
        if (!rule.dynamic) {
          diag_.error(u.where, "in 'use_backend': " + error);
          continue;
        }
        if (rule.dynamic->usesHello()) usesHello = true;
        dynamicSwitch = true;
      } else {
        rule.backend = rt_->findBackend(u.backend);
        if (!rule.backend) continue;  // already reported by the parser
        reachable.push_back(rule.backend);
      }
      scope->at(u.where);
      rule.condition = scope->compileCondition(u.condition, error);
      if (!u.condition.empty() && !rule.condition) {
        diag_.error(u.where, error);
        continue;
      }
      if (rule.condition && rule.condition->usesHello()) usesHello = true;
      fe->switchRules.push_back(std::move(rule));
    }
    if (!p.defaultBackend.empty()) {
      fe->defaultBackend = rt_->findBackend(p.defaultBackend);
      if (fe->defaultBackend) reachable.push_back(fe->defaultBackend);
    } else if (p.isBackend) {
      fe->defaultBackend = rt_->findBackend(p.name);  // a listen section serves itself
      if (fe->defaultBackend) reachable.push_back(fe->defaultBackend);
    }
    if (dynamicSwitch) {
      for (const auto& b : rt_->backends) reachable.push_back(b.get());
    }
    // Backends that inspect bring their own inspect-delay (HAProxy waits on
    // the backend's rules with the backend's delay): the longest one bounds
    // the wait when the frontend sets none.
    bool frontendUsesHello = usesHello;
    uint32_t backendDelay = 0;
    bool backendsHaveDelay = true;
    const Backend* payloadWithoutDelay = nullptr;  // a backend whose rules read data it gives no time for
    for (Backend* b : reachable) {
      if (b->usesHello) {
        usesHello = true;
        if (b->inspectDelay == 0) backendsHaveDelay = false;
        backendDelay = std::max(backendDelay, b->inspectDelay);
      }
      if (b->usesPayload) {
        usesPayload = true;
        if (b->inspectDelay == 0 && !payloadWithoutDelay) payloadWithoutDelay = b;
      }
    }
    if (!p.logFormat.empty()) {
      std::string error;
      fe->logFormat = route::FormatString::parse(p.logFormat, *rt_->maps, true, error);
      if (!fe->logFormat) {
        diag_.error(p.logFormatWhere, "in 'log-format': " + error);
      } else {
        for (const auto& seg : fe->logFormat->segments()) {
          if (seg.kind == route::FormatString::Segment::Kind::Variable && !knownLogVariable(seg.text)) {
            diag_.error(p.logFormatWhere, "unknown log-format variable '%" + seg.text + "'",
                        "see docs/configuration.md for the variables sluice renders");
          }
        }
        if (fe->logFormat->usesHello()) usesHello = true;
      }
    }
    fe->waitsForHello = usesHello;
    if (p.inspectDelay) {
      fe->inspectWindow = *p.inspectDelay;
    } else if (usesHello && !frontendUsesHello && backendsHaveDelay) {
      fe->inspectWindow = backendDelay;
    } else if (usesHello) {
      fe->inspectWindow = kDefaultHelloWaitMs;
      diag_.warning(p.where,
                    p.kind + " '" + p.name + "' routes on the TLS ClientHello but sets no "
                    "'tcp-request inspect-delay'; sluice waits up to " +
                        std::to_string(kDefaultHelloWaitMs / 1000) +
                        "s for the whole hello anyway (HAProxy would route on whatever arrived first)",
                    "add 'tcp-request inspect-delay 5s' to say how long to wait");
    } else if (frontendReadsPayload) {
      diag_.warning(p.where,
                    p.kind + " '" + p.name + "' has content rules that read request data but no "
                    "'tcp-request inspect-delay': they only see what arrived with the connection",
                    "add 'tcp-request inspect-delay 5s'");
    } else if (payloadWithoutDelay) {
      diag_.warning(payloadWithoutDelay->config ? payloadWithoutDelay->config->where : p.where,
                    "backend '" + payloadWithoutDelay->name + "' reads request data (content rules, 'balance' or "
                    "persistence) but neither it nor frontend '" + p.name + "' sets 'tcp-request inspect-delay': "
                    "it only sees what arrived with the connection",
                    "add 'tcp-request inspect-delay 5s' to the backend or the frontend");
    }
    fe->inspects = fe->waitsForHello || !fe->contentRules.empty() || usesPayload;
    scopes_.push_back(std::move(scope));
    rt_->addFrontend(std::move(fe));
  }

  static bool knownLogVariable(const std::string& v) {
    static const char* kVars[] = {"ci", "cp", "fi", "fp", "bi", "bp", "si", "sp", "t", "tr", "T",
                                  "Tl", "Ts", "ms", "ft", "f", "b", "s", "Tw", "Tc", "Tt", "Td",
                                  "Th", "Ti", "TR", "Ta", "B", "U", "ts", "tsc", "ac", "fc", "bc",
                                  "sc", "rc", "sq", "bq", "pid", "H", "ID", "lc", "rt", "hr", "hs",
                                  "ST", "r", "CC", "CS", "hrl", "hsl", "HM", "HP", "HQ", "HU", "HV",
                                  "sslc", "sslv", "o", "fn", "bn"};
    for (const char* k : kVars) {
      if (v == k) return true;
    }
    return false;
  }

  std::shared_ptr<const config::Config> cfg_;
  core::Diagnostics& diag_;
  const Runtime* previous_;
  Runtime* rt_ = nullptr;
  bool* tracks_ = nullptr;  // set while building rules of a proxy: "a rule tracks counters"
  std::string hostname_;
  std::vector<std::shared_ptr<observe::LogSink>> globalSinks_;
  // ACL scopes own the named ACLs shared by the compiled conditions.
  std::vector<std::unique_ptr<route::AclScope>> scopes_;
};

void forgetHealth(balance::ServerLive& live);

}  // namespace

bool moveServer(balance::ServerState& s, const core::Address& address, bool resolved);

namespace {

void forgetHealth(balance::ServerLive& live) {
  live.up.store(true);
  live.checkStatus.clear();
  live.checkInfo.clear();
  live.checkPassed = live.checkFailed = 0;
  live.checkDueAt = live.agentDueAt = 0;  // checked again soon, at the start-up spread
  live.rampFrom = live.rampUntil = 0;
}

// A server of the previous configuration with the same backend and name:
// its live state continues, except where the new file says otherwise.
void carryOver(const balance::ServerState& old, balance::ServerState& s) {
  balance::ServerLive& live = *s.live;
  if (!live.weightSetLive.load() || old.configWeight != s.configWeight) {
    live.weightSetLive.store(false);
    live.weight.store(s.configWeight);
  }
  // A slow start under way ends here; the new checker takes it up again
  // where it stood when the server's slowstart did not change.
  live.throttle.store(-1);
  // "disabled" added or removed in the file wins over a state set live.
  if (old.configAdmin != s.configAdmin) live.admin.store(s.configAdmin);
  // Health observed on another address, or by a check that is gone, says
  // nothing about this server now. (The address it was last at is the live
  // one: DNS and the runtime API change it in place.)
  const bool moved = moveServer(s, s.address, s.hasAddress);
  if (!moved && (old.portFromClient != s.portFromClient || !s.checked)) forgetHealth(live);
}

}  // namespace

bool moveServer(balance::ServerState& s, const core::Address& address, bool resolved) {
  balance::ServerLive& live = *s.live;
  const bool moved = !(live.address.load() == address);
  live.address.store(address);
  live.resolved.store(resolved);
  if (moved) forgetHealth(live);
  return moved;
}

void adoptLiveState(const Runtime& next, const Runtime& previous) {
  for (const auto& be : next.backends) {
    const Backend* before = previous.findBackend(be->name);
    if (!before) continue;
    for (const auto& s : be->servers) {
      const balance::ServerState* old = before->findServer(s->name);
      if (old && old->live == s->live) carryOver(*old, *s);
    }
  }
}

uint32_t defaultMaxconn() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 1024;
  }
  rlim_t limit = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
  // Two descriptors per connection; 1024 kept for listeners, pipes and logs.
  rlim_t conns = limit > 2048 ? (limit - 1024) / 2 : 256;
  return static_cast<uint32_t>(std::min<rlim_t>(conns, 100000));
}

std::shared_ptr<Runtime> build(std::shared_ptr<const config::Config> cfg, core::Diagnostics& diag,
                               const Runtime* previous) {
  Builder b(std::move(cfg), diag, previous);
  return b.run();
}

// A server entering or leaving forced maintenance (the runtime API, an
// agent-check agent), said as HAProxy says it, in the backend's own log
// (the global one when it has none).
void logMaintenance(const Runtime& rt, const Backend& be, const balance::ServerState& s, bool entering) {
  if (!entering) {
    be.event(rt, observe::kNotice, "Server " + be.name + "/" + s.name + " is " + (s.up.load() ? "UP" : "DOWN") + "/" +
                                       (s.admin.load() == balance::AdminState::Drain ? "DRAIN" : "READY") +
                                       " (leaving forced maintenance).");
    return;
  }
  auto [active, backup] = be.usableServers();
  be.event(rt, observe::kAlert, "Server " + be.name + "/" + s.name + " is going DOWN for maintenance. " +
                                    std::to_string(active) + " active and " + std::to_string(backup) +
                                    " backup servers left. " + std::to_string(s.currentConnections.load()) +
                                    " sessions active, 0 requeued, 0 remaining in queue.");
  if (active == 0 && backup == 0) be.event(rt, observe::kEmerg, "backend " + be.name + " has no server available!");
}

void Backend::event(const Runtime& rt, int level, const std::string& message) const {
  eventLog(rt.globalLogger).log(level, message);
  if (mail && rt.mailAlerts) rt.mailAlerts->send(*mail, level, message);
}

Backend::Origin Backend::originFor(const balance::ServerState& server, const core::Address& client,
                                   const core::Address& target) const {
  const config::SourceSpec& spec = sourceFor(server);
  Origin o;
  o.bindTo = spec.address;
  o.interface = &spec.interface;
  switch (spec.usesrc) {
    case config::SourceSpec::Usesrc::None:
      break;
    case config::SourceSpec::Usesrc::Client:
    case config::SourceSpec::Usesrc::ClientIp:
      o.bindTo = client.unmapped();
      if (spec.usesrc == config::SourceSpec::Usesrc::ClientIp) o.bindTo.setPort(0);
      o.transparent = o.bindTo.family() == target.family();
      if (!o.transparent) o.bindTo = spec.address;  // a v6 client to a v4 server cannot be spoofed
      break;
    case config::SourceSpec::Usesrc::Address:
      o.bindTo = spec.usesrcAddress;
      o.transparent = true;
      break;
  }
  return o;
}

// Sets a server's administrative state (runtime API, agent), says so when
// maintenance starts or ends, and carries maintenance to the servers that
// track it (HAProxy's "inherited" maintenance).
void setServerAdmin(const Runtime& rt, const Backend& be, balance::ServerState& s, balance::AdminState state,
                    bool inherited) {
  balance::AdminState before = s.admin.exchange(state);
  s.live->maintInherited.store(inherited && state == balance::AdminState::Maint);
  const bool wasMaint = before == balance::AdminState::Maint;
  const bool isMaint = state == balance::AdminState::Maint;
  if (wasMaint != isMaint) logMaintenance(rt, be, s, isMaint);
  if (wasMaint == isMaint) return;
  for (balance::ServerState* t : s.trackers) {
    const Backend* tb = rt.findBackend(t->backendName);
    if (!tb) continue;
    if (isMaint && t->admin.load() != balance::AdminState::Maint) {
      setServerAdmin(rt, *tb, *t, balance::AdminState::Maint, /*inherited=*/true);
    } else if (!isMaint && t->live->maintInherited.load()) {
      setServerAdmin(rt, *tb, *t, balance::AdminState::Ready, /*inherited=*/false);
    }
  }
}

// "load-server-state-from-file": the state a previous process saved with
// "show servers state" (version 1), applied at start to the servers that
// have the same backend and name: maintenance and drain forced from the
// runtime API, a weight set at run time (when the file's configured weight
// is still the configuration's), and DOWN for checked servers.
void loadServerStates(Runtime& rt, core::Diagnostics& diag) {
  const config::GlobalConfig& g = rt.source->global;
  auto pathOf = [&](const std::string& file) {
    if (file.empty() || file[0] == '/' || g.serverStateBase.empty()) return file;
    return g.serverStateBase + (g.serverStateBase.back() == '/' ? "" : "/") + file;
  };
  std::map<std::string, std::vector<std::vector<std::string>>> files;  // path -> lines of words
  for (const auto& be : rt.backends) {
    const config::ProxyConfig& p = *be->config;
    std::string path;
    if (p.loadServerState == "global") {
      path = pathOf(g.serverStateFile);
    } else if (p.loadServerState == "local") {
      path = pathOf(p.serverStateFileName.empty() || p.serverStateFileName == "use-backend-name"
                        ? p.name
                        : p.serverStateFileName);
    }
    if (path.empty()) {
      if (p.loadServerState == "global") {
        diag.warning(p.where, "backend '" + p.name + "' loads the global server state file, but none is set",
                     "add 'server-state-file <file>' to the global section");
      }
      continue;
    }
    if (!files.count(path)) {
      std::ifstream in(path);
      auto& lines = files[path];
      if (!in) {
        diag.warning(p.where, "cannot read the server state file '" + path + "' for backend '" + p.name +
                                  "'; its servers start as the configuration says");
        continue;
      }
      std::string line;
      bool first = true;
      while (std::getline(in, line)) {
        if (first) {
          first = false;
          if (core::trim(line) != "1") {
            diag.warning(p.where, "server state file '" + path + "' is not of version 1; it is ignored");
            break;
          }
          continue;
        }
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> words;
        for (auto w : core::split(line, ' ')) {
          if (!w.empty()) words.emplace_back(w);
        }
        if (words.size() >= 14) lines.push_back(std::move(words));
      }
    }
    const uint64_t now = static_cast<uint64_t>(time(nullptr));
    for (const auto& w : files[path]) {
      if (w[1] != be->name) continue;
      balance::ServerState* s = be->findServer(w[3]);
      if (!s) continue;
      auto num = [&](size_t i) { return core::parseInt(w[i]).value_or(-1); };
      const int64_t op = num(5), admin = num(6), uweight = num(7), iweight = num(8), health = num(12);
      const config::ServerConfig& sc = *be->serverConfigs[s->position];
      // "init-addr last" (part of the default "last,libc"): a name takes the
      // address the file recorded, before DNS answers again.
      if (!sc.fqdn.empty() && w.size() >= 19 && w[4] != "-") {
        bool last = false;
        const std::string methods = sc.initAddr.empty() ? "last,libc" : sc.initAddr;  // split() views into it
        for (auto m : core::split(methods, ',')) {
          if (m == "last") last = true;
          if (m == "last" || m == "libc" || m == "none") break;  // the first method decides
        }
        auto ip = core::Address::parse(w[4].find(':') != std::string::npos ? "[" + w[4] + "]:0" : w[4] + ":0");
        auto port = core::parseInt(w[18]);
        if (last && ip && !ip->isAny()) {
          ip->setPort(sc.portFromClient || !port || *port <= 0 || *port > 65535 ? s->address.port()
                                                                              : static_cast<uint16_t>(*port));
          s->address = *ip;
          s->hasAddress = true;
          s->live->address.store(*ip);
          s->live->resolved.store(true);
        }
      }
      if (admin >= 0 && (admin & 0x01)) {
        s->admin.store(balance::AdminState::Maint);
      } else if (admin >= 0 && (admin & 0x08) && s->admin.load() == balance::AdminState::Ready) {
        s->admin.store(balance::AdminState::Drain);
      } else if (admin == 0 && sc.dynamic) {
        // A server added at runtime starts in maintenance; the file says it
        // had been put in service.
        s->admin.store(balance::AdminState::Ready);
      }
      // Check state: configured (2) without enabled (4) is "disable health".
      const int64_t checkState = num(13);
      if (s->checked && checkState >= 0) s->live->healthDisabled.store((checkState & 0x06) == 0x02);
      if (uweight >= 0 && iweight == static_cast<int64_t>(s->configWeight) && uweight != iweight) {
        s->weight.store(static_cast<uint32_t>(std::min<int64_t>(uweight, 256)));
        s->live->weightSetLive.store(true);
      }
      if (s->checked && op == 0) {
        s->up.store(false);
        s->live->downSince = now;
        s->live->checkHealth = 0;
      } else if (s->checked && health >= 0) {
        s->live->checkHealth = static_cast<uint32_t>(health);
      }
    }
  }
}

bool Runtime::backendState(std::string_view name, route::ProxyStateView& out) const {
  const Backend* be = findBackend(name);
  if (!be) return false;
  const uint64_t sec = observe::monotonicSeconds();
  int64_t active = 0, backup = 0, free = 0;
  bool unlimited = false;
  for (const auto& s : be->servers) {
    if (s->quic || !s->usable()) continue;
    ++(s->backup ? backup : active);
    const uint32_t limit = s->maxconn.load(std::memory_order_relaxed);
    if (limit == 0) unlimited = true;
    else free += std::max<int64_t>(0, int64_t{limit} - s->currentConnections.load(std::memory_order_relaxed));
  }
  out.usableServers = active ? active : backup;
  out.connections = be->counters->current.load(std::memory_order_relaxed);
  out.queued = static_cast<int64_t>(be->queue->size());
  out.sessionRate = be->counters->sessionRate.rate(sec);
  out.freeSlots = unlimited ? -1 : free;
  out.queueRoom = be->maxQueue == 0 ? -1 : std::max<int64_t>(0, int64_t{be->maxQueue} - out.queued);
  return true;
}

bool Runtime::frontendState(std::string_view name, route::ProxyStateView& out) const {
  const Frontend* fe = findFrontend(name);
  if (!fe) return false;
  out.connections = fe->counters->current.load(std::memory_order_relaxed);
  out.sessionRate = fe->counters->sessionRate.rate(observe::monotonicSeconds());
  return true;
}

bool Runtime::serverState(std::string_view backend, std::string_view server, route::ServerStateView& out) const {
  const Backend* be = findBackend(backend);
  if (!be) return false;
  for (const auto& s : be->servers) {
    if (s->name != server) continue;
    const int32_t current = s->currentConnections.load(std::memory_order_relaxed);
    const uint32_t limit = s->maxconn.load(std::memory_order_relaxed);
    const uint32_t weight = s->weight.load(std::memory_order_relaxed);
    const int32_t ramp = s->live->throttle.load(std::memory_order_relaxed);
    out.up = s->usable();
    out.connections = current;
    out.queued = 0;  // sluice queues at the backend (queue(), avg_queue())
    out.sessionRate = s->counters.sessionRate.rate(observe::monotonicSeconds());
    out.freeSlots = limit == 0 ? -1 : std::max<int64_t>(0, int64_t{limit} - current);
    out.userWeight = weight;
    out.weight = ramp >= 0 ? int64_t{weight} * ramp / 100 : weight;
    out.initialWeight = s->configWeight;
    return true;
  }
  return false;
}

}  // namespace sluice::runtime
