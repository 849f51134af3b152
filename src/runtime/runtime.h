// SPDX-License-Identifier: Apache-2.0
// The live form of a Config: frontends and backends with their rules
// compiled, their balancers built, their log targets opened. Built once per
// load (and, later, per reload), then shared read-only by every worker
// thread; only the atomics inside (counters, server state) change.
//
//   core::Diagnostics diag;
//   auto rt = runtime::build(std::make_shared<config::Config>(cfg), diag);  // nullptr on errors
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "balance/balancer.h"
#include "balance/server_state.h"
#include "balance/wait_queue.h"
#include "config/model.h"
#include "core/diagnostics.h"
#include "health/plan.h"
#include "observe/counters.h"
#include "observe/log_sink.h"
#include "observe/mail_alerts.h"
#include "route/acl.h"
#include "route/expression.h"
#include "route/format.h"
#include "stick/table.h"

namespace sluice::runtime {

// How long a frontend that routes on the ClientHello waits for it when the
// file sets no "tcp-request inspect-delay" (HAProxy would not wait at all and
// route on whatever arrived first; see docs/configuration.md).
inline constexpr uint32_t kDefaultHelloWaitMs = 5000;

// Counters of the ClientHello reader, for tests and (later) metrics.
struct HelloCounters {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> sniFound{0};
  std::atomic<uint64_t> notTls{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> tooLarge{0};
  std::atomic<uint64_t> timedOut{0};       // inspect window ended before the hello was whole
  std::atomic<uint64_t> multiSegment{0};   // hellos that needed more than one read
  std::atomic<uint64_t> multiRecord{0};    // hellos spread over several TLS records
};

// Counters of a frontend or backend; shared by name across reloads. The
// names in comments are HAProxy's "show stat" columns they feed.
// QUIC datagrams a frontend dropped (nothing is ever answered to them) and
// what happened to its flows.
struct QuicCounters {
  std::atomic<uint64_t> notQuic{0};        // from an unknown client and no QUIC Initial of v1/v2
  std::atomic<uint64_t> shortInitial{0};   // an Initial in a datagram under 1200 bytes
  std::atomic<uint64_t> undecryptable{0};  // an Initial that did not open or broke the format
  std::atomic<uint64_t> overLimit{0};      // a new flow beyond maxconn
  std::atomic<uint64_t> heldDropped{0};    // a datagram beyond what a flow may hold while routing
  std::atomic<uint64_t> sendErrors{0};     // a datagram the kernel refused to send
  std::atomic<uint64_t> migrated{0};       // a flow found again by its connection ID at a new address
  std::atomic<uint64_t> groDatagrams{0};   // datagrams that arrived coalesced by GRO
  std::atomic<uint64_t> gsoDatagrams{0};   // datagrams sent coalesced with GSO
  // Flows whose client has not confirmed its address yet (issue 22): they
  // take no connection slot and live at most tune.quic.unconfirmed-timeout.
  std::atomic<int32_t> unconfirmed{0};       // now (a gauge, across workers)
  std::atomic<uint64_t> confirmed{0};        // flows that became sessions
  std::atomic<uint64_t> unconfirmedExpired{0};  // ended unconfirmed at their timeout
  std::atomic<uint64_t> unconfirmedEvicted{0};  // ended to make room for a newer one
  std::atomic<uint64_t> pathsOpened{0};      // client addresses after the first, each with its own server socket
  std::atomic<uint64_t> amplificationDropped{0};  // server datagrams held back: 3x what the path sent
  std::atomic<uint64_t> droppingEvicted{0};  // refused flows forgotten early (their table is bounded)
};

struct ProxyCounters {
  std::atomic<int32_t> current{0};         // scur
  std::atomic<uint32_t> max{0};            // smax
  std::atomic<uint64_t> total{0};          // stot
  std::atomic<uint64_t> bytesIn{0};        // bin: client -> server
  std::atomic<uint64_t> bytesOut{0};       // bout: server -> client
  std::atomic<uint64_t> denied{0};         // dreq: rejected by content rules
  std::atomic<uint64_t> deniedResponses{0};  // dresp: rejected by tcp-response rules
  std::atomic<uint64_t> deniedConnections{0};  // dcon: by "tcp-request connection" rules
  std::atomic<uint64_t> errors{0};         // ereq (frontend), econ (backend)
  std::atomic<uint64_t> noServer{0};       // no server available
  std::atomic<uint64_t> clientAborts{0};   // cli_abrt
  std::atomic<uint64_t> serverAborts{0};   // srv_abrt
  std::atomic<uint64_t> badProxyHeaders{0};
  std::atomic<uint64_t> tlsAlerts{0};       // connections refused with a TLS alert (tls-alert)
  std::atomic<uint64_t> routeMisses{0};    // no use_backend rule matched: default_backend
  std::atomic<uint64_t> lastSession{0};    // monotonic seconds of the last session (lastsess)
  observe::RateCounter sessionRate;        // rate, rate_max
  observe::SlidingAverage queueTime;       // qtime, qtime_max (ms)
  observe::SlidingAverage connectTime;     // ctime, ctime_max
  observe::SlidingAverage totalTime;       // ttime, ttime_max
  HelloCounters hello;                     // frontends only
  QuicCounters quic;                       // frontends with quic4@/quic6@ binds

  void opened() {
    int32_t now = current.fetch_add(1, std::memory_order_relaxed) + 1;
    total.fetch_add(1, std::memory_order_relaxed);
    observe::raiseTo(max, static_cast<uint32_t>(now));
    uint64_t sec = observe::monotonicSeconds();
    sessionRate.add(sec);
    lastSession.store(sec, std::memory_order_relaxed);
  }
  void closed() { current.fetch_sub(1, std::memory_order_relaxed); }
};

struct Rule {
  enum class Action {
    Accept, Reject, SilentDrop, SetVar, UnsetVar, ExpectProxy, TrackSc, IncGpc0, IncGpc1,
    SetGpt0, Capture, SetSrc, SetDst, SetSrcPort, SetDstPort, SetMark, SetTos, SetLogLevel, TlsAlert, NoOp
  };
  core::SourceLocation where;
  Action action = Action::Accept;
  std::string variable;                          // set-var / unset-var
  std::unique_ptr<route::SampleExpr> expr;       // set-var value, track-sc key, sc-set-gpt0 value
  std::unique_ptr<route::Condition> condition;   // null: always
  uint8_t counter = 0;                           // track-sc<N>, sc-*(<N>)
  uint32_t value = 0;                            // capture length, set-mark, set-tos, tls-alert's code
  int logLevel = -1;                             // set-log-level: syslog level, -2 for "silent"
  stick::Table* table = nullptr;                 // track-sc: where the key is counted

  // Whether evaluating the rule reads the ClientHello, or any client bytes.
  bool readsHello() const { return (condition && condition->usesHello()) || (expr && expr->usesHello()); }
  bool readsPayload() const { return (condition && condition->usesPayload()) || (expr && expr->usesPayload()); }
};

// "stick match|on|store-request" in a backend.
struct StickRule {
  core::SourceLocation where;
  bool match = false;
  bool store = false;
  std::unique_ptr<route::SampleExpr> expr;
  stick::Table* table = nullptr;
  std::unique_ptr<route::Condition> condition;
};

struct Backend;
struct Runtime;

struct SwitchRule {
  core::SourceLocation where;
  Backend* backend = nullptr;                    // static name
  std::unique_ptr<route::FormatString> dynamic;  // %[...] name
  std::unique_ptr<route::Condition> condition;
};

struct ServerRule {
  core::SourceLocation where;
  balance::ServerState* server = nullptr;
  std::unique_ptr<route::FormatString> dynamic;
  std::unique_ptr<route::Condition> condition;
};

struct Backend {
  std::string name;
  const config::ProxyConfig* config = nullptr;
  config::ProxyConfig::CheckKind checkKind = config::ProxyConfig::CheckKind::Tcp;
  std::vector<std::shared_ptr<balance::ServerState>> servers;   // add with addServer()
  std::vector<const config::ServerConfig*> serverConfigs;  // same order as servers
  // "set-proxy-v2-tlv-fmt" of each server, compiled (same order as servers).
  struct ProxyTlv {
    uint8_t type = 0;
    std::unique_ptr<route::FormatString> format;
  };
  std::vector<std::vector<ProxyTlv>> proxyTlvs;
  std::vector<std::shared_ptr<const health::ServerCheckSpec>> checks;  // null: not checked
  bool logHealthChecks = false;
  // The backend's own "log" targets: health check results and server state
  // changes go there, as HAProxy sends them (empty: to the global log).
  observe::Logger logger;
  // Where the backend's events are logged: its own targets, else `global`.
  const observe::Logger& eventLog(const observe::Logger& global) const { return logger.empty() ? global : logger; }
  // Usable servers now, {active, backup}: "N active and M backup servers left".
  std::pair<int, int> usableServers() const {
    std::pair<int, int> n{0, 0};
    for (const auto& s : servers) {
      if (s->usable()) ++(s->backup ? n.second : n.first);
    }
    return n;
  }
  // The backend's TCP servers and its QUIC servers are balanced apart: a
  // connection only ever goes to a server of its own kind.
  std::unique_ptr<balance::Backend> balancer;
  std::unique_ptr<balance::Backend> quicBalancer;   // null: no QUIC server
  std::unique_ptr<route::SampleExpr> hashExpr;   // "balance hash <expr>"
  std::string hashFunction = "sdbm";
  bool hashAvalanche = false;
  bool hashOnSource = false;                     // "balance source"
  // "persist rdp-cookie": the RDP routing token that names a server.
  std::unique_ptr<route::SampleExpr> persistExpr;
  bool usesPayload = false;  // balancing or persistence reads the client's first bytes
  std::shared_ptr<const observe::MailRecipe> mail;  // "email-alert": null when none
  // Logs a server event to the backend's log and, when it asks for it, mails it.
  void event(const Runtime& rt, int level, const std::string& message) const;
  std::vector<Rule> contentRules;
  // "tcp-response content": the server's first bytes wait for these
  // (at most tcp-response inspect-delay) before the client gets them.
  std::vector<Rule> responseRules;
  uint32_t responseInspectDelay = 0;
  std::vector<ServerRule> serverRules;
  std::vector<StickRule> stickRules;
  stick::Table* stickTable = nullptr;            // its own "stick-table", if any
  bool tracks = false;                           // some rule tracks counters
  uint32_t retries = 3;
  bool redispatch = false;
  int redispatchInterval = -1;
  bool roundRobinKind = false;                   // roundrobin / static-rr: retries move on
  uint32_t timeoutConnect = 0;                   // 0: none
  uint32_t timeoutServer = 0;
  uint32_t timeoutTunnel = 0;
  uint32_t timeoutServerFin = 0;
  config::SourceSpec source;                     // backend-wide "source"
  bool srvtcpka = false;
  config::KeepAliveSpec srvtcpkaSpec;
  bool usesHello = false;
  uint32_t inspectDelay = 0;                     // the backend's own tcp-request inspect-delay
  std::shared_ptr<balance::WaitQueue> queue = std::make_shared<balance::WaitQueue>();  // waiting for a slot
  uint32_t timeoutQueue = 0;                     // "timeout queue" (default: timeout connect)
  uint32_t maxQueue = 0;                         // sum of the servers' "maxqueue"; 0 unlimited
  std::shared_ptr<ProxyCounters> counters = std::make_shared<ProxyCounters>();

  // Where a connection to `server` leaves from: the server's "source", else
  // the backend's; with "usesrc" the client's address (transparent, when
  // the families match). `target` is the address connected to.
  // The "source" line that applies to `server`: its own, else the backend's.
  const config::SourceSpec& sourceFor(const balance::ServerState& server) const {
    return serverConfigs[server.position]->source.set ? serverConfigs[server.position]->source : source;
  }
  struct Origin {
    core::Address bindTo;
    bool transparent = false;
    const std::string* interface = nullptr;
  };
  Origin originFor(const balance::ServerState& server, const core::Address& client,
                   const core::Address& target) const;

  void addServer(std::shared_ptr<balance::ServerState> s, const config::ServerConfig* sc) {
    serversByName_.emplace(s->name, s.get());
    serversById_.emplace(s->id, s.get());
    servers.push_back(std::move(s));
    serverConfigs.push_back(sc);
    proxyTlvs.emplace_back();
  }
  // By name through an index: a reload of a backend of 10,000 servers looks
  // each one up in the previous configuration.
  balance::ServerState* findServer(std::string_view n) const {
    auto it = serversByName_.find(n);
    return it == serversByName_.end() ? nullptr : it->second;
  }
  // By id (a stick table's entry names its server so, on every connection).
  balance::ServerState* findServerById(int64_t id) const {
    if (id < 0 || id > UINT32_MAX) return nullptr;
    auto it = serversById_.find(static_cast<uint32_t>(id));
    return it == serversById_.end() ? nullptr : it->second;
  }

 private:
  std::unordered_map<std::string_view, balance::ServerState*> serversByName_;  // views of ServerState::name
  std::unordered_map<uint32_t, balance::ServerState*> serversById_;
};

// A "mode http" proxy that serves the stats page and metrics (admin/).
struct HttpRule {
  enum class Action { UsePrometheus, Allow, Deny };
  core::SourceLocation where;
  Action action = Action::Allow;
  std::unique_ptr<route::Condition> condition;   // nullptr: always
};

struct StatsService {
  const config::StatsConfig* config = nullptr;
  bool page = false;                             // "stats enable" (or any stats line)
  bool admin = false;                            // "stats admin" present
  std::unique_ptr<route::Condition> adminCondition;
  std::vector<HttpRule> rules;                   // "http-request" in order
};

struct Frontend {
  std::string name;
  const config::ProxyConfig* config = nullptr;   // binds and other plain settings
  observe::Logger logger;
  bool tcplog = false;
  std::unique_ptr<route::FormatString> logFormat;
  bool dontlognull = false;
  bool dontlogNormal = false;
  bool logasap = false;
  bool logSeparateErrors = false;
  uint32_t timeoutClient = 0;
  uint32_t timeoutClientFin = 0;
  uint32_t inspectWindow = 0;                    // ms the rules may wait for data
  bool waitsForHello = false;                    // routing needs the whole ClientHello
  bool inspects = false;                         // any content rule or hello wait
  uint32_t maxconn = 0;                          // 0: only the global limit
  bool clitcpka = false;
  config::KeepAliveSpec clitcpkaSpec;
  bool nolinger = false;
  std::vector<Rule> connectionRules;
  std::vector<Rule> sessionRules;                // after the PROXY header, before content
  std::vector<Rule> contentRules;
  std::vector<SwitchRule> switchRules;
  Backend* defaultBackend = nullptr;
  stick::Table* stickTable = nullptr;            // its own "stick-table", if any
  bool tracks = false;                           // some rule tracks counters
  std::unique_ptr<StatsService> stats;           // set: served by admin/, not by workers
  std::shared_ptr<ProxyCounters> counters = std::make_shared<ProxyCounters>();
};

struct Runtime final : route::ProxyStates {
  std::shared_ptr<const config::Config> source;
  uint32_t maxconn = 0;
  uint32_t nbthread = 1;
  bool splice = true;
  uint32_t pipeSize = 0;
  bool quicGro = true;   // QUIC sockets ask for UDP GRO (tune.quic.disable-udp-gro)
  bool quicGso = true;   // and send coalesced buffers with GSO (tune.quic.disable-udp-gso)
  uint32_t quicMaxUnconfirmed = 1000;   // flows not confirmed by their client, per frontend
  uint32_t quicUnconfirmedMs = 5000;    // how long one may wait to be confirmed
  uint32_t maxAccept = 64;
  observe::Logger globalLogger;                  // process messages
  // Email alerts are sent by the control thread's MailAlerts, set by the
  // process before the runtime is published (null: none sent).
  observe::MailAlerts* mailAlerts = nullptr;
  std::unique_ptr<route::MapRegistry> maps;
  stick::TableSet tables;                        // kept across reloads by name when unchanged
  std::vector<std::unique_ptr<Backend>> backends;     // add with addBackend()
  std::vector<std::unique_ptr<Frontend>> frontends;   // add with addFrontend()

  void addBackend(std::unique_ptr<Backend> b) {
    backendsByName_.emplace(b->name, b.get());
    backends.push_back(std::move(b));
  }
  void addFrontend(std::unique_ptr<Frontend> f) {
    frontendsByName_.emplace(f->name, f.get());
    frontends.push_back(std::move(f));
  }
  // By name through an index (rules name backends; a file may hold thousands).
  Frontend* findFrontend(std::string_view name) const {
    auto it = frontendsByName_.find(name);
    return it == frontendsByName_.end() ? nullptr : it->second;
  }
  Backend* findBackend(std::string_view name) const {
    auto it = backendsByName_.find(name);
    return it == backendsByName_.end() ? nullptr : it->second;
  }

  // The state fetches' view of proxies and servers (nbsrv, srv_is_up, ...).
  bool backendState(std::string_view name, route::ProxyStateView& out) const override;
  bool frontendState(std::string_view name, route::ProxyStateView& out) const override;
  bool serverState(std::string_view backend, std::string_view server, route::ServerStateView& out) const override;

 private:
  std::unordered_map<std::string_view, Frontend*> frontendsByName_;
  std::unordered_map<std::string_view, Backend*> backendsByName_;
};

// Compiles a parsed configuration. Errors (bad ACLs, unreadable maps, log
// targets that cannot be opened) go to `diag`; returns nullptr if any.
// With `previous` (a reload), frontends, backends and servers found there by
// name share its live state: counters, queues, health, drain, live weights.
// Nothing of `previous` changes until adoptLiveState() is called, so a
// reload that fails later leaves the running configuration as it was.
std::shared_ptr<Runtime> build(std::shared_ptr<const config::Config> cfg, core::Diagnostics& diag,
                               const Runtime* previous = nullptr);

// Reconciles the shared server state with what the new file says: a weight
// or "disabled" changed in the file wins over one set live; health seen at
// another address is forgotten. Called once `next` is sure to replace
// `previous`.
void adoptLiveState(const Runtime& next, const Runtime& previous);
// A server's address and resolution changed in place (DNS, "set server
// addr"): every connection from now on, under this runtime or an older
// one, goes to `address`. Health seen on the old address is forgotten.
// True when the address moved.
bool moveServer(balance::ServerState& s, const core::Address& address, bool resolved);

// The default maxconn when the file sets none: what the descriptor limit
// allows (two descriptors per connection plus a reserve), at most 100000.
uint32_t defaultMaxconn();

// "Server b/s is going DOWN for maintenance..." / "... (leaving forced maintenance)."
void logMaintenance(const Runtime& rt, const Backend& be, const balance::ServerState& s, bool entering);

// Sets a server's administrative state, logs maintenance changes, and
// carries maintenance to its trackers.
void setServerAdmin(const Runtime& rt, const Backend& be, balance::ServerState& s, balance::AdminState state,
                    bool inherited = false);

// At start: applies the state files of backends with
// "load-server-state-from-file" (warnings for files that cannot be read).
void loadServerStates(Runtime& rt, core::Diagnostics& diag);

}  // namespace sluice::runtime
