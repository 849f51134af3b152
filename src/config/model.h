// SPDX-License-Identifier: Apache-2.0
// The configuration as plain data: what the file says, checked for syntax,
// with defaults applied and every item remembering its file:line. Rules and
// expressions are kept as words here; route/ compiles them. Nothing in this
// header touches sockets or threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/address.h"
#include "stick/spec.h"
#include "core/diagnostics.h"

namespace sluice::config {

using core::SourceLocation;

// Milliseconds; unset when the file does not say.
using Millis = std::optional<uint32_t>;

enum class LogFormat { Local, Rfc3164, Rfc5424, Raw, Short, Priority, Iso, Timed };

struct LogTarget {
  SourceLocation where;
  enum class Kind { Fd, Unix, Udp } kind = Kind::Fd;
  int fd = -1;                  // for Kind::Fd (stdout is fd 1, stderr fd 2)
  std::string path;             // for Kind::Unix
  core::Address address;        // for Kind::Udp
  std::string spec;             // as written
  size_t maxLength = 1024;
  LogFormat format = LogFormat::Local;
  int facility = 16;            // local0
  int maxLevel = 7;             // debug: send everything
  int minLevel = 0;
};

struct LogSettings {
  bool global = false;          // "log global" seen
  bool disabled = false;        // "no log"
  std::vector<LogTarget> targets;
};

// One "cpu-map" line: the threads (1-based ids) it names and the CPUs,
// both sorted. automatic ("auto:"): the i-th thread gets the i-th CPU;
// otherwise each thread may run on all of the CPUs.
struct CpuMapLine {
  SourceLocation where;
  bool automatic = false;
  std::vector<uint32_t> threads;
  std::vector<uint32_t> cpus;
  // The same binding, wherever it is written.
  bool operator==(const CpuMapLine& o) const {
    return automatic == o.automatic && threads == o.threads && cpus == o.cpus;
  }
};

struct StatsSocketConfig {
  SourceLocation where;
  std::string address;          // path or ipv4@host:port
  uint32_t mode = 0;            // file mode, 0 when unset
  std::string level = "user";
  bool exposeFdListeners = false;
  bool master = false;          // the -S socket: HAProxy's master CLI
  std::string user, group, uid, gid;   // owner of a UNIX socket file
};

struct GlobalConfig {
  SourceLocation where;
  LogSettings log;
  std::string logTag = "sluice";
  std::optional<std::string> logSendHostname;
  std::optional<uint32_t> maxconn;
  std::optional<uint32_t> nbthread;
  bool daemon = false;
  bool masterWorker = false;
  std::string pidfile;
  std::string chroot;
  std::string user;
  std::string group;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  bool noSplice = false;
  bool pp2NeverSendLocal = false;          // checks' PROXY v2 header says PROXY, not LOCAL
  bool externalCheck = false;              // "external-check": external check commands may run
  std::string node;                        // "node": this instance's name (show info, stats page)
  std::string localPeer;                   // "localpeer": this instance's name in peers sections
  std::string description;                 // "description"
  bool zeroWarning = false;                // "zero-warning": a warning is as fatal as an error
  std::string serverStateBase;             // "server-state-base <dir>"
  std::string serverStateFile;             // "server-state-file <file>"
  std::string statsFile;                   // "stats-file <path>": counters preloaded at start
  SourceLocation statsFileWhere;
  bool noReusePort = false;
  std::optional<uint32_t> ulimitN;
  std::optional<uint32_t> hardStopAfter;
  std::optional<uint32_t> pipeSize;        // tune.pipesize
  std::optional<uint32_t> maxAccept;       // tune.maxaccept
  bool quicNoGso = false;                  // tune.quic.disable-udp-gso: coalesced datagrams sent one by one
  bool quicNoGro = false;                  // tune.quic.disable-udp-gro (sluice's own): no coalesced receives
  std::string caBase, crtBase;             // where relative "ca-file"/"crt" of peers TLS are looked up
  bool sslServerVerifyNone = false;        // "ssl-server-verify none": peers' TLS servers not verified by default
  uint32_t quicMaxUnconfirmed = 1000;      // tune.quic.max-unconfirmed (sluice's own): per frontend
  uint32_t quicUnconfirmedMs = 5000;       // tune.quic.unconfirmed-timeout (sluice's own)
  std::vector<CpuMapLine> cpuMap;          // "cpu-map", in file order (later lines win)
  bool cpuSteering = false;                // tune.listener.cpu-steering on (sluice's own)
  std::vector<StatsSocketConfig> statsSockets;
  std::optional<uint32_t> statsTimeout;
  std::optional<uint32_t> statsMaxconn;    // runtime API connections at once (default 10)
  bool quiet = false;
  bool strictLimits = false;
  bool setDumpable = false;                // keep core dumps possible after dropping privileges
  std::string defaultPath;                 // for relative map/ACL files
  SourceLocation locationOfDaemon;
};

struct BindConfig {
  SourceLocation where;
  std::string spec;                        // as written, for messages
  std::vector<core::Address> addresses;    // one per address and port of the range
  std::string guidPrefix;                  // "guid-prefix": its listeners are <prefix>-0, -1, ...
  std::vector<int> inheritedFds;           // "fd@N": listening sockets handed over by the parent
  std::vector<int> sockpairFds;            // "sockpair@N": connected UNIX sockets that pass connections
  bool quic = false;                       // "quic4@"/"quic6@": QUIC passthrough on UDP
  bool v4v6 = false;
  bool v6only = false;
  bool acceptProxy = false;
  bool deferAccept = false;
  bool transparent = false;
  bool tfo = false;
  std::string name;
  std::string interface;
  std::optional<uint32_t> backlog;
  std::optional<uint32_t> maxconn;
  std::optional<uint32_t> tcpUserTimeout;
  std::optional<uint32_t> mss;
};

enum class ProxyProtocolOut { None, V1, V2 };

// "source <addr>[:port] [usesrc client|clientip|<addr>[:port]] [interface <if>]"
struct SourceSpec {
  bool set = false;
  core::Address address;                   // local address to bind (0.0.0.0: any)
  enum class Usesrc { None, Client, ClientIp, Address } usesrc = Usesrc::None;
  core::Address usesrcAddress;
  std::string interface;
};

struct ServerConfig {
  SourceLocation where;
  std::string name;
  std::string addressSpec;                 // as written ("web1:443", "10.0.0.1")
  bool dynamic = false;                    // added through the runtime API ("add server")
  core::Address address;                   // resolved at load time
  std::string guid;                        // "guid" (HAProxy 3.0)
  std::string initState;                   // "init-state" (HAProxy 3.1); empty or "none": as "up"
  bool portFromClient = false;             // no port, or +N/-N: derived from the destination port
  bool addressFromClient = false;          // 0.0.0.0, :: or no host: the client's destination address
  bool quic = false;                       // "quic4@"/"quic6@": a QUIC server (UDP), for QUIC flows only
  int portOffset = 0;
  uint32_t id = 0;
  uint32_t weight = 1;
  uint32_t maxconn = 0;                    // 0: unlimited
  uint32_t maxqueue = 0;
  uint32_t minconn = 0;
  bool backup = false;
  bool nonStick = false;                   // never stuck to by "stick" rules
  bool disabled = false;                   // starts in maintenance
  bool check = false;
  uint32_t inter = 2000;
  std::optional<uint32_t> fastinter;
  std::optional<uint32_t> downinter;
  uint32_t rise = 2;
  uint32_t fall = 3;
  std::optional<uint16_t> checkPort;
  std::string checkAddr;
  bool checkSsl = false;
  std::string checkSni;
  std::vector<std::string> checkAlpn;
  bool checkSendProxy = false;
  std::optional<uint32_t> tcpUserTimeout;  // "tcp-ut": TCP_USER_TIMEOUT on connections to it
  std::string track;                       // "track [<backend>/]<server>": follows that one's health
  bool observeLayer4 = false;              // "observe layer4": connection errors count
  std::string onError = "fail-check";      // fastinter, fail-check, sudden-death, mark-down
  uint32_t errorLimit = 10;                // consecutive errors that trigger on-error
  std::string socks4;                      // "socks4 <addr>:<port>": connect through this SOCKS4 proxy
  bool checkViaSocks4 = false;
  bool agentCheck = false;
  std::optional<uint16_t> agentPort;
  std::string agentAddr;
  std::optional<uint32_t> agentInter;
  std::string agentSend;
  ProxyProtocolOut sendProxy = ProxyProtocolOut::None;
  std::vector<std::string> proxyV2Options;
  // "set-proxy-v2-tlv-fmt(<id>) <fmt>": a TLV of type <id> whose value is <fmt>
  std::vector<std::pair<uint8_t, std::string>> proxyTlvFormats;
  std::optional<uint32_t> slowstart;
  std::string onMarkedDown;
  std::string onMarkedUp;
  SourceSpec source;
  std::string verify;
  std::string caFile;
  std::string initAddr;                    // "last,libc" when not given, as in HAProxy
  // DNS service discovery: the section its name is resolved through, the
  // name (an SRV label when it starts with '_'), the family preferred, and
  // whether it has an address yet (a server without one takes no traffic,
  // "MAINT (resolution)").
  std::string resolvers;
  std::string fqdn;
  std::string resolvePrefer = "ipv6";
  bool hasAddress = true;
  // "server-template <prefix> <num>": the servers it made share the prefix.
  std::string templatePrefix;
};

// One "tcp-request connection|content|session" or "tcp-response content" rule.
struct TcpRuleConfig {
  SourceLocation where;
  std::string action;                      // "accept", "reject", "expect-proxy", ...
  std::vector<std::string> actionArgs;     // words between the action and if/unless
  std::vector<std::string> condition;      // "if"/"unless" followed by the condition words
};

// "stick match|on|store-request <expr> [table <name>] [if|unless <cond>]".
struct StickRuleConfig {
  SourceLocation where;
  bool match = false;                      // "stick match" or "stick on"
  bool store = false;                      // "stick store-request" or "stick on"
  std::string expr;
  std::string table;                       // empty: the backend's own
  std::vector<std::string> condition;
};

struct AclConfig {
  SourceLocation where;
  std::string name;
  std::vector<std::string> words;          // fetch, flags, patterns
};

struct UseBackendConfig {
  SourceLocation where;
  std::string backend;                     // a name or a log-format string with %[...]
  std::vector<std::string> condition;
};

struct UseServerConfig {
  SourceLocation where;
  std::string server;
  std::vector<std::string> condition;
};

struct BalanceConfig {
  SourceLocation where;
  std::string algorithm = "roundrobin";
  std::vector<std::string> args;           // e.g. random(2) draws, hash expression
};

struct HashTypeConfig {
  std::string method = "map-based";        // map-based | consistent | maglev
  std::string function = "sdbm";
  bool functionGiven = false;              // consistent without one: sdbm with avalanche, as HAProxy
  bool avalanche = false;
};

struct CheckRuleConfig {                   // tcp-check / http-check lines, kept as words
  SourceLocation where;
  std::vector<std::string> words;
};

enum class ProxyMode { Tcp, Http };

struct KeepAliveSpec {
  uint32_t count = 0;
  uint32_t idleSeconds = 0;
  uint32_t intervalSeconds = 0;
};

// The TCP/HTTP rules a defaults section holds, by who may use them.
struct DefaultsRules {
  static constexpr unsigned kFrontendOnly = 1;  // tcp-request connection/session
  static constexpr unsigned kBackendOnly = 2;   // tcp-response content
  static constexpr unsigned kEither = 4;        // tcp-request content, http-*
  unsigned kinds = 0;
  SourceLocation where;                         // the first rule
};

// "stats ..." lines of a proxy (HAProxy manual, 4.2 "stats").
struct StatsConfig {
  SourceLocation where;
  bool enable = false;                     // any "stats" line but "stats disable" enables
  std::string uri = "/haproxy?stats";      // prefix that serves the page
  std::string realm = "HAProxy Statistics";
  std::vector<std::string> auth;           // "user:password" (password may be crypt(3))
  SourceLocation httpRequestWhere;         // a "stats http-request" line (not served yet), if any
  Millis refresh;
  bool adminSet = false;
  std::vector<std::string> adminCondition; // "if"/"unless" + words
  SourceLocation adminWhere;
  bool hideVersion = false;
  bool showLegends = false;
  bool showNode = false;
  std::string nodeName;
  bool showDesc = false;
  std::string description;
  std::vector<std::string> scopes;         // proxies shown; empty: all
};

// A frontend, backend, listen or defaults section. Defaults are proxies too:
// a new proxy starts as a copy of the defaults it inherits from.
struct ProxyConfig {
  SourceLocation where;
  std::string kind;                        // "frontend", "backend", "listen", "defaults"
  std::string name;
  std::string guid;                        // "guid" (HAProxy 3.0): a name unique in the process
  bool isFrontend = false;
  bool isBackend = false;
  bool disabled = false;
  uint32_t id = 0;
  std::string description;

  ProxyMode mode = ProxyMode::Tcp;
  SourceLocation modeWhere;

  // Logging
  LogSettings log;
  bool tcplog = false;
  bool httplog = false;                    // inherited from defaults; no meaning in TCP
  SourceLocation httplogWhere;
  bool dontlognull = false;
  bool dontlogNormal = false;
  bool logasap = false;
  bool logSeparateErrors = false;
  bool logHealthChecks = false;
  std::string logFormat;
  SourceLocation logFormatWhere;
  std::string logTag;

  // Limits and timeouts
  std::optional<uint32_t> maxconn;
  std::optional<uint32_t> backlog;
  uint32_t retries = 3;
  bool redispatch = false;
  int redispatchInterval = -1;
  Millis timeoutClient, timeoutServer, timeoutConnect, timeoutTunnel;
  Millis timeoutClientFin, timeoutServerFin, timeoutQueue, timeoutCheck;
  Millis inspectDelay;
  SourceLocation inspectDelayWhere;

  // TCP options
  bool tcpka = false;
  bool clitcpka = false;
  bool srvtcpka = false;
  // clitcpka-cnt/-idle/-intvl, srvtcpka-*: the keepalive probes' count and
  // timings (seconds), 0 for the kernel's defaults.
  KeepAliveSpec clitcpkaSpec;
  KeepAliveSpec srvtcpkaSpec;
  bool nolinger = false;
  bool abortonclose = false;
  bool spliceAuto = false;

  // Frontend side
  std::vector<BindConfig> binds;
  std::vector<AclConfig> acls;
  std::vector<TcpRuleConfig> tcpRequestConnection;
  std::vector<TcpRuleConfig> tcpRequestSession;
  std::vector<TcpRuleConfig> tcpRequestContent;
  std::vector<UseBackendConfig> useBackends;
  std::string defaultBackend;
  SourceLocation defaultBackendWhere;

  // Backend side
  BalanceConfig balance;
  bool balanceSet = false;
  HashTypeConfig hashType;
  std::vector<ServerConfig> servers;
  ServerConfig defaultServer;
  std::vector<UseServerConfig> useServers;
  bool allbackups = false;
  std::optional<uint32_t> fullconn;
  SourceSpec source;                       // backend-wide "source"
  std::string dispatch;                    // "dispatch <address>:<port>"
  std::string loadServerState;             // "load-server-state-from-file global|local|none"
  std::string persistRdpCookie;            // "persist rdp-cookie[(<name>)]": the cookie's name
  std::string externalCheckCommand;        // "external-check command <cmd>"
  // "email-alert mailers|from|to|level|myhostname"
  std::string emailMailers, emailFrom, emailTo, emailHostname;
  int emailLevel = 1;                      // alert
  SourceLocation emailWhere;
  std::string externalCheckPath;           // "external-check path <PATH>"
  std::string serverStateFileName;         // "server-state-file-name [<file>|use-backend-name]"
  DefaultsRules defaultsRules;             // a defaults section's rules (empty elsewhere)
  SourceLocation dispatchWhere;

  // Stick tables
  std::optional<stick::TableSpec> stickTable;
  SourceLocation stickTableWhere;
  std::vector<StickRuleConfig> stickRules;

  // Health checks
  enum class CheckKind { Tcp, SslHello, TcpCheck, HttpCheck, Redis, Mysql, Pgsql, Ldap, Smtp, Spop, External };
  CheckKind checkKind = CheckKind::Tcp;
  SourceLocation checkKindWhere;
  std::vector<std::string> checkArgs;      // the option's arguments (httpchk: method, uri, version)
  std::vector<CheckRuleConfig> tcpChecks;
  std::vector<CheckRuleConfig> httpChecks;
  std::vector<TcpRuleConfig> tcpResponseContent;
  Millis tcpResponseInspectDelay;

  // The stats page and metrics, in a "mode http" proxy (admin/ serves it).
  StatsConfig stats;
  std::vector<TcpRuleConfig> httpRequest;  // "http-request" rules; served only in stats proxies

  // A "mode http" frontend that sluice serves itself: the stats page
  // ("stats enable", "stats uri", ...) or the Prometheus exporter.
  bool servesStats() const {
    if (mode != ProxyMode::Http || !isFrontend) return false;
    if (stats.enable) return true;
    for (const TcpRuleConfig& r : httpRequest) {
      if (r.action == "use-service" && !r.actionArgs.empty() && r.actionArgs[0] == "prometheus-exporter") {
        return true;
      }
    }
    return false;
  }
};

// A "mailers" section: where email alerts go.
struct MailersConfig {
  SourceLocation where;
  std::string name;
  std::vector<std::pair<std::string, core::Address>> mailers;  // "mailer <name> <ip>:<port>"
  uint32_t timeoutMs = 10000;                                  // "timeout mail"
};

// A "resolvers" section: name servers that servers with "resolvers <name>"
// are resolved through while sluice runs (DNS service discovery).
struct ResolversConfig {
  SourceLocation where;
  std::string name;
  struct Nameserver {
    std::string name;
    core::Address address;   // port 53 when not given
    bool tcp = false;        // "tcp@": queries over TCP
  };
  std::vector<Nameserver> nameservers;  // "nameserver <name> <ip>[:<port>]", parse-resolv-conf
  uint32_t acceptedPayloadSize = 512;
  uint32_t timeoutResolveMs = 1000;   // between two resolutions
  uint32_t timeoutRetryMs = 1000;     // before a query without answer is sent again
  uint32_t resolveRetries = 3;
  // "hold <status> <period>": how long a failed resolution leaves a server
  // as it was (nx, refused, timeout, other), "valid" and "obsolete".
  uint32_t holdNxMs = 30000, holdRefusedMs = 30000, holdTimeoutMs = 30000, holdOtherMs = 30000;
  uint32_t holdValidMs = 10000, holdObsoleteMs = 0;
};

// A "peers" section: the instances that share stick tables over HAProxy's
// peers protocol ("stick-table ... peers <name>").
// TLS on one side of a peers link (HAProxy's bind and server parameters
// that apply there): sluice speaks the peers protocol over it.
struct PeerTls {
  bool enabled = false;          // "ssl"
  std::string crt;               // "crt <file>": a PEM with the certificate (and chain) and its key
  std::string caFile;            // "ca-file <file>": who may sign the other side's certificate
  std::string crlFile;           // "crl-file <file>"
  enum class Verify : uint8_t { Default, None, Optional, Required };
  Verify verify = Verify::Default;  // "verify": a server's default is ssl-server-verify's (required)
  std::string verifyHost;        // "verifyhost <name>" (server side)
  std::string sni;               // "sni str(<name>)" (server side)
  std::string ciphers, ciphersuites, minVersion, maxVersion;  // "ciphers", "ciphersuites", "ssl-min-ver", "ssl-max-ver"
};

struct PeersConfig {
  SourceLocation where;
  std::string name;
  bool disabled = false;
  struct Peer {
    SourceLocation where;
    std::string name;
    std::optional<core::Address> address;  // none: "server <name>" for the local peer
    PeerTls tls;                           // its line's parameters over default-server's
  };
  std::vector<Peer> peers;                 // "peer <name> <ip>:<port>", "server <name> [<ip>:<port>]"
  std::optional<core::Address> bind;       // "bind <ip>:<port>": the local peer's address
  PeerTls bindTls;                         // "bind ... ssl crt ..." over "default-bind"
  PeerTls defaultServerTls;                // "default-server ..." (applies to the peer lines after it)
  SourceLocation bindWhere;
  // "table <name> type ... size ...": stick tables declared in the section,
  // named "<section>/<name>" in rules and on the runtime API, "/<name>" on
  // the wire, as HAProxy does.
  struct Table {
    SourceLocation where;
    stick::TableSpec spec;
  };
  std::vector<Table> tables;
};

// A "program" section: a command sluice starts beside itself, stops when it
// stops, and restarts on reload unless "no option start-on-reload".
struct ProgramConfig {
  SourceLocation where;
  std::string name;
  std::vector<std::string> command;        // argv, run with execvp
  std::string user, group;
  bool startOnReload = true;
};

struct Config {
  GlobalConfig global;
  std::vector<ProxyConfig> proxies;        // frontends, listens and backends, in file order
  std::vector<ProgramConfig> programs;
  std::vector<MailersConfig> mailers;
  std::vector<ResolversConfig> resolvers;
  std::vector<PeersConfig> peers;
  std::vector<std::string> files;          // files read, for show info and messages

  const ProxyConfig* findProxy(const std::string& name, bool backend) const {
    for (const ProxyConfig& p : proxies) {
      if (p.name == name && (backend ? p.isBackend : p.isFrontend)) {
        return &p;
      }
    }
    return nullptr;
  }
};

}  // namespace sluice::config
