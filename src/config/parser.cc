// SPDX-License-Identifier: Apache-2.0
// HAProxy-dialect configuration parser: sections, keywords, defaults. See
// parser.h; the keywords and how each is treated are listed in
// docs/configuration.md (kept true by a unit test over knownKeywords()).
#include "config/parser.h"

#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>
#include <unordered_map>

#include "core/strings.h"

namespace sluice::config {

namespace {

using core::Diagnostics;

bool gNameResolution = true;

// ---------------------------------------------------------------------------
// Section masks

enum : unsigned {
  kDefaults = 1,
  kFrontend = 2,
  kListen = 4,
  kBackend = 8,
  kFe = kFrontend | kListen,
  kBe = kBackend | kListen,
  kAll = kDefaults | kFrontend | kListen | kBackend,
  kDfFe = kDefaults | kFe,
  kDfBe = kDefaults | kBe,
};

unsigned sectionBit(const ProxyConfig& p) {
  if (p.kind == "defaults") return kDefaults;
  if (p.kind == "frontend") return kFrontend;
  if (p.kind == "listen") return kListen;
  return kBackend;
}

std::string proxyLabel(const ProxyConfig& p) {
  if (p.kind == "defaults") {
    return p.name.empty() ? "defaults section" : "defaults section '" + p.name + "'";
  }
  return p.kind + " '" + p.name + "'";
}

std::string joinWords(const std::vector<std::string>& w, size_t from, size_t to = SIZE_MAX) {
  std::string out;
  for (size_t i = from; i < w.size() && i < to; ++i) {
    out += (i > from ? " " : "") + w[i];
  }
  return out;
}

// ---------------------------------------------------------------------------
// Syslog vocabulary

const std::vector<std::string_view> kFacilities = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
const std::vector<std::string_view> kLevels = {"emerg", "alert", "crit", "err",
                                               "warning", "notice", "info", "debug"};

int indexOf(const std::vector<std::string_view>& list, std::string_view word) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] == word) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

int syslogLevel(std::string_view name) { return indexOf(kLevels, name); }

namespace {

// ---------------------------------------------------------------------------
// Keywords that are valid HAProxy but have no meaning for a passthrough
// balancer, or that sluice does not implement yet. They are accepted with one
// warning (per keyword) or refused with a clear error.

struct Known {
  std::string_view name;
  std::string_view treatment;  // "ignored" or "unsupported"
  std::string_view note;
};

const std::vector<Known> kGlobalKnown = {
    {"ca-base", "ignored", "sluice never terminates TLS, so it loads no certificates"},
    {"crt-base", "ignored", "sluice never terminates TLS, so it loads no certificates"},
    {"ssl-default-bind-ciphers", "ignored", "sluice never terminates TLS"},
    {"ssl-default-bind-ciphersuites", "ignored", "sluice never terminates TLS"},
    {"ssl-default-bind-curves", "ignored", "sluice never terminates TLS"},
    {"ssl-default-bind-options", "ignored", "sluice never terminates TLS"},
    {"ssl-default-bind-sigalgs", "ignored", "sluice never terminates TLS"},
    {"ssl-default-bind-client-sigalgs", "ignored", "sluice never terminates TLS"},
    {"ssl-default-server-ciphers", "ignored", "sluice never originates TLS to servers"},
    {"ssl-default-server-ciphersuites", "ignored", "sluice never originates TLS to servers"},
    {"ssl-default-server-options", "ignored", "sluice never originates TLS to servers"},
    {"ssl-default-server-curves", "ignored", "sluice never originates TLS to servers"},
    {"ssl-dh-param-file", "ignored", "sluice never terminates TLS"},
    {"ssl-server-verify", "ignored", "sluice never originates TLS to servers"},
    {"ssl-engine", "ignored", "sluice never terminates TLS"},
    {"ssl-mode-async", "ignored", "sluice never terminates TLS"},
    {"ssl-propquery", "ignored", "sluice never terminates TLS"},
    {"ssl-provider", "ignored", "sluice never terminates TLS"},
    {"ssl-provider-path", "ignored", "sluice never terminates TLS"},
    {"ssl-skip-self-issued-ca", "ignored", "sluice never terminates TLS"},
    {"ssl-load-extra-files", "ignored", "sluice never terminates TLS"},
    {"ssl-load-extra-del-ext", "ignored", "sluice never terminates TLS"},
    {"issuers-chain-path", "ignored", "sluice never terminates TLS"},
    {"maxsslconn", "ignored", "sluice never terminates TLS"},
    {"maxsslrate", "ignored", "sluice never terminates TLS"},
    {"numa-cpu-mapping", "ignored", "threads are not pinned"},
    {"thread-groups", "ignored", "sluice runs one group of nbthread threads"},
    {"thread-group", "ignored", "sluice runs one group of nbthread threads"},
    {"busy-polling", "ignored", "sluice always sleeps in epoll_wait"},
    {"spread-checks", "ignored", "first checks are spread over a quarter of 'inter'"},
    {"max-spread-checks", "ignored", "first checks are spread over a quarter of 'inter'"},
    {"maxpipes", "ignored", "pipes come from a per-thread pool sized by sluice"},
    {"maxcomprate", "ignored", "HTTP compression has no meaning in passthrough"},
    {"maxcompcpuusage", "ignored", "HTTP compression has no meaning in passthrough"},
    {"maxzlibmem", "ignored", "HTTP compression has no meaning in passthrough"},
    {"noepoll", "ignored", "sluice always uses epoll"},
    {"nopoll", "ignored", "sluice always uses epoll"},
    {"nokqueue", "ignored", "sluice always uses epoll"},
    {"noevports", "ignored", "sluice always uses epoll"},
    {"nogetaddrinfo", "ignored", "names are resolved once at start through libc"},
    {"no-memory-trimming", "ignored", "no equivalent"},
    {"grace", "ignored", "no equivalent"},
    {"insecure-fork-wanted", "ignored", "sluice never forks helpers"},
    {"insecure-setuid-wanted", "ignored", "sluice never runs setuid helpers"},
    {"unix-bind", "ignored", "sluice binds TCP sockets only"},
    {"h1-case-adjust", "ignored", "HTTP-only"},
    {"h1-case-adjust-file", "ignored", "HTTP-only"},
    {"h1-accept-payload-with-any-method", "ignored", "HTTP-only"},
    {"h2-workaround-bogus-websocket-clients", "ignored", "HTTP-only"},
    {"httpclient.resolvers.id", "ignored", "sluice has no HTTP client"},
    {"httpclient.resolvers.prefer", "ignored", "sluice has no HTTP client"},
    {"httpclient.ssl.ca-file", "ignored", "sluice has no HTTP client"},
    {"httpclient.ssl.verify", "ignored", "sluice has no HTTP client"},
    {"localpeer", "ignored", "peers sections are not used"},
    {"cluster-secret", "ignored", "no QUIC in sluice"},
    {"expose-experimental-directives", "ignored", "no experimental directives"},
    {"mworker-max-reloads", "ignored", "no equivalent"},
    {"fd-hard-limit", "ignored", "descriptors are sized from maxconn"},
    {"close-spread-time", "ignored", "no equivalent yet"},
    {"profiling.tasks", "ignored", "no equivalent"},
    {"profiling.memory", "ignored", "no equivalent"},
    {"default-path", "supported", ""},
    {"maxconnrate", "unsupported", "connection rate limits are not implemented yet"},
    {"maxsessrate", "unsupported", "session rate limits are not implemented yet"},
    {"lua-load", "unsupported", "sluice has no Lua engine"},
    {"lua-load-per-thread", "unsupported", "sluice has no Lua engine"},
    {"lua-prepend-path", "unsupported", "sluice has no Lua engine"},
    {"set-var", "unsupported", "process-wide variables are not implemented"},
    {"wurfl-data-file", "ignored", "device detection is HTTP-only"},
    {"51degrees-data-file", "ignored", "device detection is HTTP-only"},
    {"deviceatlas-json-file", "ignored", "device detection is HTTP-only"},
};

const std::vector<Known> kProxyKnown = {
    {"capture", "ignored", "HTTP-only"},
    {"compression", "ignored", "HTTP-only"},
    {"cookie", "ignored", "HTTP-only persistence"},
    {"declare", "ignored", "captures are not logged yet"},
    {"errorfile", "ignored", "HTTP error pages are never sent by a passthrough balancer"},
    {"errorfiles", "ignored", "HTTP error pages are never sent by a passthrough balancer"},
    {"errorloc", "ignored", "HTTP-only"},
    {"errorloc302", "ignored", "HTTP-only"},
    {"errorloc303", "ignored", "HTTP-only"},
    {"error-log-format", "ignored", "sluice logs every connection in the TCP format"},
    {"filter", "ignored", "HTTP-only"},
    {"http-after-response", "ignored", "HTTP-only"},
    {"http-error", "ignored", "HTTP-only"},
    {"http-response", "ignored", "HTTP-only"},
    {"http-reuse", "ignored", "HTTP-only"},
    {"http-send-name-header", "ignored", "HTTP-only"},
    {"monitor", "ignored", "HTTP-only"},
    {"monitor-uri", "ignored", "HTTP-only"},
    {"monitor-net", "ignored", "removed from HAProxy"},
    {"redirect", "ignored", "HTTP-only"},
    {"unique-id-format", "ignored", "HTTP-only"},
    {"unique-id-header", "ignored", "HTTP-only"},
    {"use-fcgi-app", "ignored", "HTTP-only"},
    {"max-keep-alive-queue", "ignored", "HTTP-only"},
    {"force-persist", "ignored", "HTTP-only"},
    {"ignore-persist", "ignored", "HTTP-only"},
    {"log-format-sd", "ignored", "RFC 5424 structured data is not emitted"},
    {"bind-process", "ignored", "sluice runs one process"},
    {"retry-on", "ignored", "in TCP mode sluice retries connection failures, as HAProxy does"},
    {"rate-limit", "unsupported", "session rate limits are not implemented yet"},
    {"server-template", "unsupported", "DNS-discovered servers are not implemented yet"},
    {"userlist", "ignored", "used by HTTP authentication only"},
};

// Options and their treatment: supported ones set a flag; HTTP-only ones are
// ignored with a warning.
const std::vector<Known> kHttpOptions = {
    {"forwardfor", "ignored", "HTTP-only"},
    {"originalto", "ignored", "HTTP-only"},
    {"http-keep-alive", "ignored", "HTTP-only"},
    {"http-server-close", "ignored", "HTTP-only"},
    {"httpclose", "ignored", "HTTP-only"},
    {"http-buffer-request", "ignored", "HTTP-only"},
    {"http-ignore-probes", "ignored", "HTTP-only"},
    {"http-no-delay", "ignored", "HTTP-only"},
    {"http-pretend-keepalive", "ignored", "HTTP-only"},
    {"http-use-proxy-header", "ignored", "HTTP-only"},
    {"http-restrict-req-hdr-names", "ignored", "HTTP-only"},
    {"http-use-htx", "ignored", "HTTP-only"},
    {"httpslog", "ignored", "HTTP-only"},
    {"accept-invalid-http-request", "ignored", "HTTP-only"},
    {"accept-invalid-http-response", "ignored", "HTTP-only"},
    {"checkcache", "ignored", "HTTP-only"},
    {"h1-case-adjust-bogus-client", "ignored", "HTTP-only"},
    {"h1-case-adjust-bogus-server", "ignored", "HTTP-only"},
    {"disable-h2-upgrade", "ignored", "HTTP-only"},
    {"idle-close-on-response", "ignored", "HTTP-only"},
    {"contstats", "ignored", "counters are always continuous"},
    {"socket-stats", "ignored", "no per-socket counters"},
    {"independent-streams", "ignored", "each direction has its own inactivity timer already"},
    {"prefer-last-server", "ignored", "HTTP-only"},
    {"persist", "ignored", "cookie persistence is HTTP-only"},
    {"tcp-smart-accept", "ignored", "sluice decides this itself"},
    {"tcp-smart-connect", "ignored", "sluice decides this itself"},
    {"splice-auto", "ignored", "sluice decides by itself: small records are copied, bulk data spliced (global 'nosplice' turns splicing off)"},
    {"splice-request", "ignored", "sluice decides by itself: small records are copied, bulk data spliced (global 'nosplice' turns splicing off)"},
    {"splice-response", "ignored", "sluice decides by itself: small records are copied, bulk data spliced (global 'nosplice' turns splicing off)"},
    {"transparent", "unsupported", "use 'source 0.0.0.0 usesrc clientip' when available"},
};

const std::vector<std::string_view> kSupportedOptions = {
    "tcplog", "httplog", "dontlognull", "dontlog-normal", "logasap", "log-separate-errors",
    "log-health-checks", "redispatch", "allbackups", "tcpka", "clitcpka", "srvtcpka",
    "nolinger", "abortonclose", "ssl-hello-chk", "tcp-check", "httpchk", "redis-check", "mysql-check",
    "pgsql-check", "ldap-check", "smtpchk", "spop-check", "external-check"};

// The check an "option" selects, or nullopt when it selects none.
std::optional<ProxyConfig::CheckKind> checkOption(std::string_view name) {
  using CK = ProxyConfig::CheckKind;
  static const std::pair<std::string_view, CK> kChecks[] = {
      {"ssl-hello-chk", CK::SslHello}, {"tcp-check", CK::TcpCheck}, {"httpchk", CK::HttpCheck},
      {"redis-check", CK::Redis},      {"mysql-check", CK::Mysql},  {"pgsql-check", CK::Pgsql},
      {"ldap-check", CK::Ldap},        {"smtpchk", CK::Smtp},       {"spop-check", CK::Spop},
      {"external-check", CK::External}};
  for (const auto& [n, k] : kChecks) {
    if (n == name) return k;
  }
  return std::nullopt;
}

const Known* findKnown(const std::vector<Known>& list, std::string_view name) {
  for (const Known& k : list) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Server and bind parameters

struct ParamSpec {
  std::string_view name;
  int args;                    // number of arguments the parameter takes
  std::string_view treatment;  // supported, ignored, unsupported
  std::string_view note;
};

const std::vector<ParamSpec> kServerParams = {
    {"weight", 1, "supported", ""}, {"maxconn", 1, "supported", ""},
    {"maxqueue", 1, "supported", ""}, {"minconn", 1, "supported", ""},
    {"backup", 0, "supported", ""}, {"disabled", 0, "supported", ""},
    {"enabled", 0, "supported", ""}, {"check", 0, "supported", ""},
    {"no-check", 0, "supported", ""}, {"inter", 1, "supported", ""},
    {"fastinter", 1, "supported", ""},
    {"downinter", 1, "supported", ""},
    {"rise", 1, "supported", ""},
    {"fall", 1, "supported", ""},
    {"port", 1, "supported", ""},
    {"addr", 1, "supported", ""},
    {"check-ssl", 0, "supported", ""},
    {"no-check-ssl", 0, "supported", ""},
    {"check-sni", 1, "supported", ""},
    {"check-alpn", 1, "supported", ""},
    {"check-send-proxy", 0, "supported", ""},
    {"no-check-send-proxy", 0, "supported", ""},
    {"send-proxy", 0, "supported", ""},
    {"send-proxy-v2", 0, "supported", ""},
    {"no-send-proxy", 0, "supported", ""}, {"no-send-proxy-v2", 0, "supported", ""},
    {"proxy-v2-options", 1, "supported", ""},
    {"slowstart", 1, "supported", ""},
    {"on-marked-down", 1, "supported", ""},
    {"on-marked-up", 1, "supported", ""},
    {"id", 1, "supported", ""}, {"source", 1, "supported", ""},
    {"verify", 1, "supported", ""},
    {"init-addr", 1, "parsed", "names are resolved once at start; failure is an error"},
    {"agent-check", 0, "supported", ""},
    {"no-agent-check", 0, "supported", ""},
    {"agent-port", 1, "supported", ""},
    {"agent-inter", 1, "supported", ""},
    {"agent-addr", 1, "supported", ""},
    {"agent-send", 1, "supported", ""},
    {"observe", 1, "supported", ""},
    {"on-error", 1, "supported", ""},
    {"error-limit", 1, "supported", ""},
    {"cookie", 1, "ignored", "HTTP-only"},
    {"redir", 1, "ignored", "HTTP-only"},
    {"track", 1, "supported", ""},
    {"resolvers", 1, "ignored", "names are resolved once at start through libc"},
    {"resolve-prefer", 1, "ignored", "names are resolved once at start through libc"},
    {"resolve-net", 1, "ignored", "names are resolved once at start through libc"},
    {"resolve-opts", 1, "ignored", "names are resolved once at start through libc"},
    {"ca-file", 1, "supported", ""},
    {"crl-file", 1, "ignored", "sluice never originates TLS to servers"},
    {"crt", 1, "ignored", "sluice never originates TLS to servers"},
    {"sni", 1, "ignored", "sluice forwards the client's own ClientHello"},
    {"alpn", 1, "ignored", "sluice forwards the client's own ClientHello"},
    {"npn", 1, "ignored", "sluice forwards the client's own ClientHello"},
    {"ciphers", 1, "ignored", "sluice never originates TLS to servers"},
    {"ciphersuites", 1, "ignored", "sluice never originates TLS to servers"},
    {"curves", 1, "ignored", "sluice never originates TLS to servers"},
    {"sigalgs", 1, "ignored", "sluice never originates TLS to servers"},
    {"ssl-min-ver", 1, "ignored", "sluice never originates TLS to servers"},
    {"ssl-max-ver", 1, "ignored", "sluice never originates TLS to servers"},
    {"ssl-reuse", 0, "ignored", "sluice never originates TLS to servers"},
    {"no-ssl-reuse", 0, "ignored", "sluice never originates TLS to servers"},
    {"no-sslv3", 0, "ignored", "sluice never originates TLS to servers"},
    {"no-tlsv10", 0, "ignored", "sluice never originates TLS to servers"},
    {"no-tlsv11", 0, "ignored", "sluice never originates TLS to servers"},
    {"no-tlsv12", 0, "ignored", "sluice never originates TLS to servers"},
    {"no-tlsv13", 0, "ignored", "sluice never originates TLS to servers"},
    {"no-tls-tickets", 0, "ignored", "sluice never originates TLS to servers"},
    {"tls-tickets", 0, "ignored", "sluice never originates TLS to servers"},
    {"verifyhost", 1, "ignored", "sluice never originates TLS to servers"},
    {"pool-max-conn", 1, "ignored", "HTTP connection pooling only"},
    {"pool-purge-delay", 1, "ignored", "HTTP connection pooling only"},
    {"pool-low-conn", 1, "ignored", "HTTP connection pooling only"},
    {"tfo", 0, "ignored", "TCP fast open to servers is not used"},
    {"tcp-ut", 1, "supported", ""},
    {"namespace", 1, "unsupported", "sluice does not switch network namespaces (feature NS is off); run it inside the namespace instead (ip netns exec)"},
    {"proto", 1, "ignored", "HTTP-only"},
    {"ws", 1, "ignored", "HTTP-only"},
    {"check-proto", 1, "ignored", "HTTP-only"},
    {"check-via-socks4", 0, "supported", ""},
    {"socks4", 1, "supported", ""},
    {"non-stick", 0, "supported", ""},
    {"stick", 0, "supported", ""},
    {"ssl", 0, "unsupported", "sluice forwards the client's TLS as is and never opens its own TLS session to a server"},
    {"send-proxy-v2-ssl", 0, "unsupported", "there is no TLS session of sluice's own to describe"},
    {"send-proxy-v2-ssl-cn", 0, "unsupported", "there is no TLS session of sluice's own to describe"},
};

const std::vector<ParamSpec> kBindParams = {
    {"accept-proxy", 0, "supported", ""},
    {"defer-accept", 0, "supported", ""},
    {"v4v6", 0, "supported", ""}, {"v6only", 0, "supported", ""},
    {"transparent", 0, "supported", ""}, {"name", 1, "supported", ""},
    {"interface", 1, "supported", ""}, {"backlog", 1, "supported", ""},
    {"maxconn", 1, "supported", ""}, {"tfo", 0, "supported", ""},
    {"tcp-ut", 1, "supported", ""}, {"mss", 1, "supported", ""},
    {"id", 1, "ignored", "listener ids are not reported yet"},
    {"nice", 1, "ignored", "no scheduling priorities"},
    {"process", 1, "ignored", "sluice runs one process"},
    {"thread", 1, "ignored", "every thread listens on every bind"},
    {"shards", 1, "ignored", "every thread has its own listening socket"},
    {"level", 1, "ignored", "runtime API sockets are configured with 'stats socket'"},
    {"severity-output", 1, "ignored", "runtime API sockets are configured with 'stats socket'"},
    {"expose-fd", 1, "ignored", "listening sockets are handed over in process on reload"},
    {"mode", 1, "ignored", "UNIX sockets are not served"},
    {"uid", 1, "ignored", "UNIX sockets are not served"},
    {"gid", 1, "ignored", "UNIX sockets are not served"},
    {"user", 1, "ignored", "UNIX sockets are not served"},
    {"group", 1, "ignored", "UNIX sockets are not served"},
    {"namespace", 1, "unsupported", "sluice does not switch network namespaces (feature NS is off); run it inside the namespace instead (ip netns exec)"},
    {"accept-netscaler-cip", 1, "unsupported", "the NetScaler client-IP protocol is not implemented"},
    {"quic-cc-algo", 1, "ignored", "sluice does not terminate QUIC: congestion control is the QUIC server's"},
    {"quic-force-retry", 0, "ignored", "sluice does not terminate QUIC: address validation (Retry) is the QUIC server's"},
};

// Bind parameters that only make sense when the proxy terminates TLS. Their
// presence means this listener is a TLS-terminating one.
const std::vector<ParamSpec> kBindTlsParams = {
    {"ssl", 0, "", ""}, {"crt", 1, "", ""}, {"crt-list", 1, "", ""}, {"ca-file", 1, "", ""},
    {"crl-file", 1, "", ""}, {"verify", 1, "", ""}, {"alpn", 1, "", ""}, {"npn", 1, "", ""},
    {"ciphers", 1, "", ""}, {"ciphersuites", 1, "", ""}, {"curves", 1, "", ""},
    {"ecdhe", 1, "", ""}, {"sigalgs", 1, "", ""}, {"client-sigalgs", 1, "", ""},
    {"ssl-min-ver", 1, "", ""}, {"ssl-max-ver", 1, "", ""}, {"strict-sni", 0, "", ""},
    {"no-sslv3", 0, "", ""}, {"no-tlsv10", 0, "", ""}, {"no-tlsv11", 0, "", ""},
    {"no-tlsv12", 0, "", ""}, {"no-tlsv13", 0, "", ""}, {"no-tls-tickets", 0, "", ""},
    {"prefer-client-ciphers", 0, "", ""}, {"allow-0rtt", 0, "", ""}, {"tls-ticket-keys", 1, "", ""},
    {"generate-certificates", 0, "", ""}, {"ca-sign-file", 1, "", ""}, {"ca-sign-pass", 1, "", ""},
    {"ca-ignore-err", 1, "", ""}, {"crt-ignore-err", 1, "", ""}, {"no-ca-names", 0, "", ""},
    {"ssl_fc", 0, "", ""}, {"ocsp-update", 1, "", ""},
};

const ParamSpec* findParam(const std::vector<ParamSpec>& list, std::string_view name) {
  for (const ParamSpec& p : list) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string_view> paramNames(const std::vector<ParamSpec>& list) {
  std::vector<std::string_view> out;
  for (const ParamSpec& p : list) out.push_back(p.name);
  return out;
}

// ---------------------------------------------------------------------------
// The parser

// "stick-table type ip size 100k expire 30s store conn_cur,conn_rate(10s)":
// the words after "stick-table". Returns what is wrong, or an empty string.
std::string parseTableSpec(const std::vector<std::string>& w, stick::TableSpec& out) {
  bool haveType = false, haveSize = false;
  for (size_t i = 0; i < w.size(); ++i) {
    const std::string& k = w[i];
    auto value = [&]() -> const std::string* { return i + 1 < w.size() ? &w[++i] : nullptr; };
    if (k == "type") {
      const std::string* t = value();
      if (!t) return "'type' needs ip, ipv6, integer, string or binary";
      if (*t == "ip") out.keyType = stick::KeyType::Ip;
      else if (*t == "ipv6") out.keyType = stick::KeyType::Ipv6;
      else if (*t == "integer") out.keyType = stick::KeyType::Integer;
      else if (*t == "string") out.keyType = stick::KeyType::String;
      else if (*t == "binary") out.keyType = stick::KeyType::Binary;
      else return "unknown table type '" + *t + "' (use ip, ipv6, integer, string or binary)";
      haveType = true;
      if ((*t == "string" || *t == "binary") && i + 1 < w.size() && w[i + 1] == "len") {
        ++i;
        const std::string* n = value();
        uint64_t len = 0;
        if (!n || !parseSize(*n, len) || len == 0 || len > 65535) {
          return "'len' needs a length between 1 and 65535";
        }
        out.keyLength = static_cast<uint32_t>(len);
      }
    } else if (k == "size") {
      const std::string* n = value();
      if (!n || !parseSize(*n, out.size) || out.size == 0) {
        return "'size' needs a number of entries, e.g. 100k";
      }
      haveSize = true;
    } else if (k == "expire") {
      const std::string* d = value();
      if (!d || !parseDuration(*d, out.expireMs)) return "'expire' needs a duration, e.g. 30s";
    } else if (k == "nopurge") {
      out.noPurge = true;
    } else if (k == "peers" || k == "srvkey" || k == "write-to") {
      // Replication to other processes and server keys by address: a
      // single sluice keeps its tables across reloads in memory.
      if (!value()) return "'" + k + "' needs an argument";
    } else if (k == "store") {
      const std::string* list = value();
      if (!list) return "'store' needs data types, e.g. conn_cur,conn_rate(10s)";
      std::vector<std::string> items;
      size_t depth = 0, start = 0;
      for (size_t j = 0; j <= list->size(); ++j) {
        char c = j < list->size() ? (*list)[j] : ',';
        if (c == '(') ++depth;
        if (c == ')' && depth) --depth;
        if (c == ',' && depth == 0) {
          items.push_back(list->substr(start, j - start));
          start = j + 1;
        }
      }
      for (const std::string& item : items) {
        std::string name = item.substr(0, item.find('('));
        auto t = stick::dataTypeByName(name);
        if (!t) {
          if (name == "gpc" || name == "gpc_rate" || name == "gpt") {
            return "data type '" + name + "' (arrays) is not supported; use gpc0, gpc1, gpc0_rate, "
                   "gpc1_rate or gpt0";
          }
          return "unknown data type '" + item + "'";
        }
        size_t ti = static_cast<size_t>(*t);
        out.stored[ti] = true;
        bool hasArg = item.find('(') != std::string::npos;
        if (stick::isRate(*t)) {
          if (!hasArg || item.back() != ')') return "'" + name + "' needs a period, e.g. " + name + "(10s)";
          std::string arg = item.substr(name.size() + 1, item.size() - name.size() - 2);
          if (!parseDuration(arg, out.period[ti]) || out.period[ti] == 0) {
            return "bad period '" + arg + "' for '" + name + "'";
          }
        } else if (hasArg) {
          return "'" + name + "' takes no argument";
        }
      }
    } else {
      return "unknown argument '" + k + "'";
    }
  }
  if (!haveType) return "'type' is missing";
  if (!haveSize) return "'size' is missing";
  return {};
}

class Parser {
 public:
  explicit Parser(Diagnostics& diag) : diag_(diag) {
    defaults_.kind = "defaults";
  }

  Config run(const std::vector<ConfigLine>& lines) {
    for (const ConfigLine& line : lines) {
      handleLine(line);
    }
    finishProxy();
    validate();
    return std::move(config_);
  }

 private:
  enum class Section { None, Global, Proxy, Program, Mailers, Skipped };

  // -- helpers ---------------------------------------------------------------

  // "Did you mean" for the first typos of a file only: beyond that, a file
  // is more garbage than typos, and each hint costs a scan of the keywords.
  std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
    if (++suggestions_ > kMaxSuggestions) return {};
    return core::closestMatch(word, candidates);
  }
  static constexpr int kMaxSuggestions = 10;
  int suggestions_ = 0;

  void error(const ConfigLine& l, std::string msg, std::string hint = {}) {
    diag_.error(l.where, std::move(msg), std::move(hint));
  }

  bool needArgs(const ConfigLine& l, size_t count, const std::string& usage) {
    if (l.words.size() < count + 1) {
      error(l, "'" + l.words[0] + "' expects " + usage, "syntax: " + l.words[0] + " " + usage);
      return false;
    }
    return true;
  }

  bool durationArg(const ConfigLine& l, size_t index, const std::string& what, uint32_t& out) {
    if (index >= l.words.size()) {
      error(l, what + " expects a time value", "e.g. '5s', '500ms', '1m' (milliseconds by default)");
      return false;
    }
    if (!parseDuration(l.words[index], out)) {
      error(l, "invalid time '" + l.words[index] + "' for " + what,
            "use a number with an optional unit: us, ms, s, m, h, d (e.g. '5s')");
      return false;
    }
    return true;
  }

  bool unsignedArg(const ConfigLine& l, size_t index, const std::string& what, uint32_t& out,
                   uint64_t max = UINT32_MAX) {
    if (index >= l.words.size()) {
      error(l, what + " expects a number");
      return false;
    }
    auto v = core::parseInt(l.words[index]);
    if (!v || *v < 0 || static_cast<uint64_t>(*v) > max) {
      error(l, "invalid number '" + l.words[index] + "' for " + what,
            "expected an integer between 0 and " + std::to_string(max));
      return false;
    }
    out = static_cast<uint32_t>(*v);
    return true;
  }

  void warnKnown(const ConfigLine& l, const std::string& keyword, const Known& k,
                 const std::string& context) {
    if (k.treatment == "unsupported") {
      error(l, "'" + keyword + "' is not supported by sluice" + context + ": " + std::string(k.note),
            "remove it, or see docs/configuration.md for what sluice offers instead");
      return;
    }
    if (k.treatment == "supported") {
      return;
    }
    diag_.warnOnce("kw:" + keyword, l.where,
                   "'" + keyword + "' is accepted but ignored: " + std::string(k.note));
  }

  // -- dispatch --------------------------------------------------------------

  void handleLine(const ConfigLine& l) {
    const std::string& kw = l.words[0];
    if (kw == "global" || kw == "defaults" || kw == "frontend" || kw == "backend" ||
        kw == "listen") {
      startSection(l);
      return;
    }
    if (kw == "mailers") {
      finishProxy();
      section_ = Section::Mailers;
      if (l.words.size() != 2) error(l, "'mailers' needs a name and nothing else", "syntax: mailers <name>");
      MailersConfig m;
      m.where = l.where;
      m.name = l.words.size() > 1 ? l.words[1] : "<unnamed>";
      for (const MailersConfig& other : config_.mailers) {
        if (other.name == m.name) error(l, "mailers section '" + m.name + "' is defined twice");
      }
      config_.mailers.push_back(m);
      return;
    }
    if (kw == "program") {
      finishProxy();
      section_ = Section::Program;
      if (l.words.size() != 2) {
        error(l, "'program' needs a name and nothing else", "syntax: program <name>");
      }
      ProgramConfig prog;
      prog.where = l.where;
      prog.name = l.words.size() > 1 ? l.words[1] : "<unnamed>";
      for (const ProgramConfig& other : config_.programs) {
        if (other.name == prog.name) error(l, "program '" + prog.name + "' is defined twice");
      }
      config_.programs.push_back(prog);
      return;
    }
    static const std::set<std::string> kOtherSections = {
        "userlist", "peers", "resolvers", "http-errors", "ring",
        "cache", "fcgi-app", "crt-store", "traces", "log-forward"};
    if (kOtherSections.count(kw)) {
      finishProxy();
      section_ = Section::Skipped;
      diag_.warnOnce("section:" + kw, l.where,
                     "'" + kw + "' sections are accepted but not used by sluice",
                     kw == "resolvers" ? "server names are resolved once at start through libc"
                                       : std::string());
      return;
    }
    switch (section_) {
      case Section::None:
        error(l, "'" + kw + "' appears before any section",
              "start with 'global', 'defaults', 'frontend', 'backend' or 'listen'");
        return;
      case Section::Skipped:
        return;
      case Section::Program:
        programLine(l);
        return;
      case Section::Mailers:
        mailersLine(l);
        return;
      case Section::Global:
        globalLine(l);
        return;
      case Section::Proxy:
        proxyLine(l);
        return;
    }
  }

  void startSection(const ConfigLine& l) {
    finishProxy();
    const std::string& kw = l.words[0];
    if (kw == "global") {
      section_ = Section::Global;
      config_.global.where = l.where;
      if (l.words.size() > 1) {
        error(l, "'global' takes no argument");
      }
      return;
    }
    section_ = Section::Proxy;
    ProxyConfig p;
    std::string name = l.words.size() > 1 ? l.words[1] : "";
    std::string from;
    size_t next = 2;
    if (kw == "defaults" && name == "from") {
      name.clear();
      next = 1;
    }
    if (next < l.words.size()) {
      if (l.words[next] == "from" && next + 1 < l.words.size()) {
        from = l.words[next + 1];
        if (next + 2 < l.words.size()) {
          error(l, "unexpected '" + l.words[next + 2] + "' after 'from " + from + "'");
        }
      } else {
        error(l, "unexpected '" + l.words[next] + "' after the " + kw + " name",
              "syntax: " + kw + " <name> [from <defaults>]");
      }
    }
    if (kw != "defaults" && name.empty()) {
      error(l, "'" + kw + "' needs a name", "syntax: " + kw + " <name>");
      name = "<unnamed>";
    }
    if (!from.empty()) {
      auto it = namedDefaults_.find(from);
      if (it == namedDefaults_.end()) {
        error(l, "'from " + from + "': no defaults section named '" + from + "' before this line");
        p = defaults_;
      } else {
        p = it->second;
      }
    } else if (kw == "defaults") {
      p = ProxyConfig{};  // a new defaults section starts from the built-in values
    } else {
      p = defaults_;
    }
    if (kw != "defaults" || !from.empty()) checkDefaultsUse(l, kw, p);
    p.defaultsRules = DefaultsRules{};
    // What a section never inherits.
    p.binds.clear();
    p.servers.clear();
    p.useBackends.clear();
    p.useServers.clear();
    p.id = 0;
    p.description.clear();
    p.disabled = false;
    p.kind = kw;
    p.name = name;
    p.where = l.where;
    p.isFrontend = kw == "frontend" || kw == "listen";
    p.isBackend = kw == "backend" || kw == "listen";
    if (kw != "defaults") {
      for (const char* bad : {"/", " "}) {
        if (name.find(bad) != std::string::npos) {
          error(l, "invalid character '" + std::string(bad) + "' in " + kw + " name '" + name + "'");
        }
      }
    }
    current_ = std::move(p);
    serverNames_.clear();
    inProxy_ = true;
  }

  void finishProxy() {
    if (!inProxy_) {
      return;
    }
    // "dispatch <address>": the backend's one destination when it has no
    // server line (HAProxy ignores it otherwise), kept as a server named
    // "dispatch" so that it is balanced, logged and counted like one.
    if (!current_.dispatch.empty() && current_.kind != "defaults") {
      if (current_.servers.empty()) {
        parseServer(ConfigLine{current_.dispatchWhere, {"server", "dispatch", current_.dispatch}}, false);
      } else {
        diag_.warning(current_.dispatchWhere, "'dispatch' is ignored: " + current_.kind + " '" + current_.name +
                                                  "' has server lines, as HAProxy ignores it then");
      }
    }
    inProxy_ = false;
    ProxyConfig p = std::move(current_);
    if (p.kind == "defaults") {
      if (p.name.empty() && p.defaultsRules.kinds) {
        diag_.error(p.defaultsRules.where, "an anonymous defaults section cannot hold tcp-request, tcp-response or "
                                           "http rules (HAProxy 2.5 and later refuse it too)",
                    "name it ('defaults NAME') and use it with 'from NAME' in frontends or in backends");
      }
      defaults_ = p;
      if (!p.name.empty()) {
        namedDefaults_[p.name] = p;
      }
      return;
    }
    // Settings whose meaning HAProxy narrows by capability.
    if (!p.isBackend) {
      p.servers.clear();
    }
    config_.proxies.push_back(std::move(p));
  }

  // -- mailers ---------------------------------------------------------------

  void mailersLine(const ConfigLine& l) {
    MailersConfig& m = config_.mailers.back();
    const std::string& kw = l.words[0];
    if (kw == "mailer") {
      if (!needArgs(l, 2, "<name> <ip>:<port>")) return;
      auto a = core::Address::parse(l.words[2]);
      if (!a || a->port() == 0) {
        error(l, "invalid mailer address '" + l.words[2] + "'", "write an IP address and a port: 'mailer smtp1 192.0.2.1:25'");
        return;
      }
      m.mailers.emplace_back(l.words[1], *a);
    } else if (kw == "timeout" && l.words.size() >= 2 && l.words[1] == "mail") {
      uint32_t v;
      if (durationArg(l, 2, "timeout mail", v)) m.timeoutMs = std::max<uint32_t>(v, 1);
    } else {
      error(l, "unknown keyword '" + kw + "' in mailers section '" + m.name + "'",
            "a mailers section takes 'mailer <name> <ip>:<port>' and 'timeout mail <time>'");
    }
  }

  // -- program ---------------------------------------------------------------

  void programLine(const ConfigLine& l) {
    ProgramConfig& prog = config_.programs.back();
    const std::string& kw = l.words[0];
    if (kw == "command") {
      if (!needArgs(l, 1, "<command> [<arguments>...]")) return;
      prog.command.assign(l.words.begin() + 1, l.words.end());
    } else if (kw == "user" || kw == "group") {
      if (!needArgs(l, 1, "<name>")) return;
      (kw == "user" ? prog.user : prog.group) = l.words[1];
    } else if ((kw == "option" || kw == "no") && l.words.size() >= 2 &&
               (l.words.back() == "start-on-reload") &&
               (kw == "option" ? l.words.size() == 2 : l.words.size() == 3 && l.words[1] == "option")) {
      prog.startOnReload = kw == "option";
    } else {
      error(l, "unknown keyword '" + kw + "' in program '" + prog.name + "'",
            "a program section takes command, user, group and [no] option start-on-reload");
    }
  }

  // -- global ----------------------------------------------------------------

  void globalLine(const ConfigLine& l) {
    GlobalConfig& g = config_.global;
    const std::string& kw = l.words[0];
    if (kw == "log") {
      parseLog(l, g.log, /*inGlobal=*/true);
    } else if (kw == "log-tag") {
      if (needArgs(l, 1, "<tag>")) g.logTag = l.words[1];
    } else if (kw == "log-send-hostname") {
      g.logSendHostname = l.words.size() > 1 ? l.words[1] : std::string();
    } else if (kw == "maxconn") {
      uint32_t v;
      if (unsignedArg(l, 1, "maxconn", v)) g.maxconn = v;
    } else if (kw == "nbthread") {
      uint32_t v;
      if (unsignedArg(l, 1, "nbthread", v, 256)) {
        if (v == 0) {
          error(l, "nbthread must be at least 1");
        } else {
          g.nbthread = v;
        }
      }
    } else if (kw == "cpu-map") {
      parseCpuMap(l);
    } else if (kw == "nbproc") {
      error(l, "'nbproc' was removed from HAProxy 2.5 and is not supported",
            "use 'nbthread' instead");
    } else if (kw == "daemon") {
      g.daemon = true;
      g.locationOfDaemon = l.where;
    } else if (kw == "master-worker") {
      g.masterWorker = true;
    } else if (kw == "pidfile") {
      if (needArgs(l, 1, "<file>")) g.pidfile = l.words[1];
    } else if (kw == "chroot") {
      if (needArgs(l, 1, "<directory>")) g.chroot = l.words[1];
    } else if (kw == "user") {
      if (needArgs(l, 1, "<user name>")) g.user = l.words[1];
    } else if (kw == "group") {
      if (needArgs(l, 1, "<group name>")) g.group = l.words[1];
    } else if (kw == "uid") {
      uint32_t v;
      if (unsignedArg(l, 1, "uid", v)) g.uid = v;
    } else if (kw == "gid") {
      uint32_t v;
      if (unsignedArg(l, 1, "gid", v)) g.gid = v;
    } else if (kw == "node") {
      if (needArgs(l, 1, "<name>")) g.node = l.words[1];
    } else if (kw == "description") {
      std::string text;
      for (size_t i = 1; i < l.words.size(); ++i) text += (i > 1 ? " " : "") + l.words[i];
      g.description = text;
    } else if (kw == "zero-warning") {
      g.zeroWarning = true;
    } else if (kw == "external-check") {
      g.externalCheck = true;  // "preserve-env" is not needed: sluice passes only HAProxy's variables and PATH
    } else if (kw == "server-state-base" || kw == "server-state-file") {
      if (needArgs(l, 1, kw == "server-state-base" ? "<directory>" : "<file>")) {
        (kw == "server-state-base" ? g.serverStateBase : g.serverStateFile) = l.words[1];
      }
    } else if (kw == "pp2-never-send-local") {
      g.pp2NeverSendLocal = true;
    } else if (kw == "nosplice") {
      g.noSplice = true;
    } else if (kw == "noreuseport") {
      g.noReusePort = true;
    } else if (kw == "ulimit-n") {
      uint32_t v;
      if (unsignedArg(l, 1, "ulimit-n", v)) g.ulimitN = v;
    } else if (kw == "hard-stop-after") {
      uint32_t v;
      if (durationArg(l, 1, "hard-stop-after", v)) g.hardStopAfter = v;
    } else if (kw == "quiet") {
      g.quiet = true;
    } else if (kw == "strict-limits") {
      g.strictLimits = true;
    } else if (kw == "set-dumpable") {
      g.setDumpable = true;
    } else if (kw == "default-path") {
      if (needArgs(l, 1, "current|config|parent|origin <path>")) {
        if (l.words[1] == "origin" && l.words.size() > 2) {
          g.defaultPath = l.words[2];
        } else if (l.words[1] == "config" || l.words[1] == "parent") {
          std::string file = l.where.file;
          size_t slash = file.rfind('/');
          g.defaultPath = slash == std::string::npos ? "." : file.substr(0, slash);
          if (l.words[1] == "parent") g.defaultPath += "/..";
        } else {
          g.defaultPath.clear();
        }
      }
    } else if (kw == "setenv" || kw == "presetenv" || kw == "unsetenv" || kw == "resetenv") {
      // Applied by the lexer as it reads, so later lines see the new values.
    } else if (kw == "stats") {
      parseGlobalStats(l);
    } else if (core::startsWith(kw, "tune.")) {
      if (kw == "tune.pipesize") {
        uint64_t v = 0;
        if (needArgs(l, 1, "<size>") && parseSize(l.words[1], v) && v <= (1u << 30)) {
          g.pipeSize = static_cast<uint32_t>(v);
        } else if (l.words.size() > 1) {
          error(l, "invalid size '" + l.words[1] + "' for tune.pipesize");
        }
      } else if (kw == "tune.maxaccept") {
        // HAProxy's meaning: -1 lifts the limit; 0 still accepts one
        // connection per wake-up (a listener that accepted none would spin).
        auto v = l.words.size() > 1 ? core::parseInt(l.words[1]) : std::nullopt;
        if (!v || *v < -1 || *v > INT32_MAX) {
          error(l, "invalid number '" + (l.words.size() > 1 ? l.words[1] : std::string()) + "' for tune.maxaccept",
                "expected -1 (no limit) or a number of connections accepted in a row");
        } else {
          g.maxAccept = *v == -1 ? UINT32_MAX : std::max<uint32_t>(1, static_cast<uint32_t>(*v));
        }
      } else if (kw == "tune.listener.cpu-steering") {
        // sluice's own: with every thread bound to one CPU by cpu-map, a
        // new connection goes to the thread of the CPU that received it
        // (off by default: it needs SYNs spread over CPUs, docs/performance.md).
        if (l.words.size() != 2 || (l.words[1] != "on" && l.words[1] != "off")) {
          error(l, "'tune.listener.cpu-steering' expects 'on' or 'off'");
        } else {
          g.cpuSteering = l.words[1] == "on";
        }
      } else if (kw == "tune.quic.disable-udp-gso" || kw == "tune.quic.disable-udp-gro") {
        // HAProxy 3.1's switch for GSO, and sluice's own for GRO: both for
        // a kernel or NIC whose UDP offloads misbehave.
        if (l.words.size() > 1) {
          error(l, "'" + kw + "' takes no argument");
        } else {
          (kw == "tune.quic.disable-udp-gso" ? g.quicNoGso : g.quicNoGro) = true;
        }
      } else if (kw == "tune.bufsize" || kw == "tune.maxrewrite" || kw == "tune.recv_enough") {
        diag_.warnOnce("kw:" + kw, l.where,
                       "'" + kw + "' is accepted but ignored: sluice sizes its own buffers "
                       "(ClientHello up to 16 KB, splice pipes)");
      } else {
        diag_.warnOnce("kw:" + kw, l.where,
                       "'" + kw + "' is accepted but ignored: tuning knob with no equivalent in sluice");
      }
    } else if (const Known* k = findKnown(kGlobalKnown, kw)) {
      warnKnown(l, kw, *k, " in the global section");
    } else if (core::startsWith(kw, "51degrees-") || core::startsWith(kw, "deviceatlas-") ||
               core::startsWith(kw, "wurfl-") || core::startsWith(kw, "ssl-")) {
      diag_.warnOnce("kw:" + kw, l.where, "'" + kw + "' is accepted but ignored: no meaning for "
                                          "a TLS passthrough balancer");
    } else {
      unknownKeyword(l, "global section", globalKeywords());
    }
  }

  static std::vector<std::string_view> globalKeywords() {
    std::vector<std::string_view> out = {
        "log", "log-tag", "log-send-hostname", "maxconn", "nbthread", "daemon", "master-worker",
        "pidfile", "chroot", "user", "group", "uid", "gid", "nosplice", "noreuseport",
        "ulimit-n", "hard-stop-after", "quiet", "strict-limits", "set-dumpable", "stats", "tune.pipesize",
        "tune.maxaccept", "tune.bufsize", "tune.quic.disable-udp-gso", "tune.quic.disable-udp-gro", "setenv", "presetenv", "unsetenv", "resetenv",
        "default-path", "cpu-map", "tune.listener.cpu-steering"};
    for (const Known& k : kGlobalKnown) out.push_back(k.name);
    return out;
  }

  // A set of ids as cpu-map writes them: "all", "odd", "even", or numbers
  // and ranges ("3", "1-4", "2-": up to `max`), several joined by commas.
  // Ids from `min` to `max`, added to `out`, which is left sorted without
  // duplicates; false (and `bad` set) on a malformed one.
  static bool parseIdSet(std::string_view text, uint32_t min, uint32_t max, bool words, std::vector<uint32_t>& out,
                         std::string& bad) {
    for (std::string_view part : core::split(text, ',')) {
      if (words && (part == "all" || part == "odd" || part == "even")) {
        for (uint32_t i = min; i <= max; ++i) {
          if (part == "all" || (part == "odd") == (i % 2 == 1)) out.push_back(i);
        }
        continue;
      }
      size_t dash = part.find('-');
      auto lo = core::parseInt(part.substr(0, dash));
      std::optional<int64_t> hi = lo;
      if (dash != std::string_view::npos) {
        hi = dash + 1 == part.size() ? std::optional<int64_t>(max) : core::parseInt(part.substr(dash + 1));
      }
      if (!lo || !hi || *lo < min || *hi > max || *lo > *hi) {
        bad = std::string(part);
        return false;
      }
      for (int64_t i = *lo; i <= *hi; ++i) out.push_back(static_cast<uint32_t>(i));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return !out.empty();
  }

  // cpu-map [auto:]<thread-group>[/<thread-set>] <cpu-set>...
  void parseCpuMap(const ConfigLine& l) {
    constexpr uint32_t kMaxThreads = 256, kMaxCpu = 1023;
    if (!needArgs(l, 2, "[auto:]<thread-group>[/<thread-set>] <cpu-set>...")) return;
    CpuMapLine m;
    m.where = l.where;
    std::string_view first = l.words[1];
    if (core::startsWith(first, "auto:")) {
      m.automatic = true;
      first.remove_prefix(5);
    }
    size_t slash = first.find('/');
    std::vector<uint32_t> groups;
    std::string bad;
    if (!parseIdSet(first.substr(0, slash), 1, kMaxThreads, true, groups, bad)) {
      error(l, "cpu-map: invalid thread group '" + bad + "'", "write 1, or 1/<threads> such as 1/1-4 or 1/all");
      return;
    }
    if (slash == std::string_view::npos) {
      // A lone number is the (only) process, i.e. all of its threads.
      for (uint32_t i = 1; i <= kMaxThreads; ++i) m.threads.push_back(i);
    } else if (!parseIdSet(first.substr(slash + 1), 1, kMaxThreads, true, m.threads, bad)) {
      error(l, "cpu-map: invalid thread set '" + bad + "'", "threads are numbered from 1 to " +
                                                                  std::to_string(kMaxThreads));
      return;
    }
    for (size_t i = 2; i < l.words.size(); ++i) {
      if (!parseIdSet(l.words[i], 0, kMaxCpu, false, m.cpus, bad)) {
        error(l, "cpu-map: invalid CPU set '" + bad + "'", "supports CPU numbers from 0 to 1023, as N or N-M");
        return;
      }
    }
    if (groups.front() != 1) {
      diag_.warning(l.where, "cpu-map for thread group " + std::to_string(groups.front()) +
                                 " ignored: sluice runs one group of threads",
                    "write 1/<threads>");
      return;
    }
    config_.global.cpuMap.push_back(std::move(m));
  }

  void parseGlobalStats(const ConfigLine& l) {
    GlobalConfig& g = config_.global;
    if (!needArgs(l, 1, "socket|timeout|maxconn <args>")) return;
    const std::string& sub = l.words[1];
    if (sub == "socket") {
      if (!needArgs(l, 2, "socket <path> [mode <m>] [level <l>] ...")) return;
      StatsSocketConfig s;
      s.where = l.where;
      s.address = l.words[2];
      for (size_t i = 3; i < l.words.size(); ++i) {
        const std::string& w = l.words[i];
        auto next = [&](std::string& out) {
          if (i + 1 >= l.words.size()) {
            error(l, "'" + w + "' in 'stats socket' expects a value");
            return false;
          }
          out = l.words[++i];
          return true;
        };
        std::string v;
        if (w == "mode") {
          if (next(v)) {
            auto m = core::parseUnsigned(v.size() > 1 && v[0] != '0' ? "0" + v : v);
            if (!m || *m > 07777) {
              error(l, "invalid mode '" + v + "' in 'stats socket'", "use an octal mode like 660");
            } else {
              s.mode = static_cast<uint32_t>(*m);
            }
          }
        } else if (w == "level") {
          if (next(v)) {
            if (v != "user" && v != "operator" && v != "admin") {
              error(l, "invalid level '" + v + "' in 'stats socket'", "use user, operator or admin");
            }
            s.level = v;
          }
        } else if (w == "expose-fd") {
          if (next(v)) s.exposeFdListeners = v == "listeners";
        } else if (w == "user" || w == "group" || w == "uid" || w == "gid") {
          if (next(v)) (w == "user" ? s.user : w == "group" ? s.group : w == "uid" ? s.uid : s.gid) = v;
        } else if (w == "process" || w == "thread" || w == "name" || w == "severity-output" || w == "maxconn" ||
                   w == "backlog" || w == "accept-netscaler-cip" || w == "id" || w == "nice") {
          next(v);
        } else if (w == "accept-proxy" || w == "v4v6" || w == "v6only" || w == "transparent") {
        } else {
          error(l, "unknown parameter '" + w + "' in 'stats socket'");
        }
      }
      g.statsSockets.push_back(s);
    } else if (sub == "timeout") {
      uint32_t v;
      if (durationArg(l, 2, "stats timeout", v)) g.statsTimeout = v;
    } else if (sub == "maxconn") {
      uint32_t v;
      if (unsignedArg(l, 2, "stats maxconn", v)) g.statsMaxconn = v;
    } else if (sub == "bind-process") {
      // Processes do not exist in sluice; accepted.
    } else {
      error(l, "unknown 'stats " + sub + "' in the global section",
            "the global section accepts 'stats socket', 'stats timeout' and 'stats maxconn'");
    }
  }

  // log <address> [len <n>] [format <f>] [sample <r>:<n>] <facility> [max [min]]
  void parseLog(const ConfigLine& l, LogSettings& log, bool inGlobal) {
    if (!needArgs(l, 1, "<address> <facility> [level]")) return;
    if (l.words[1] == "global") {
      if (inGlobal) {
        error(l, "'log global' is only meaningful in a proxy or defaults section");
        return;
      }
      log.global = true;
      log.disabled = false;
      return;
    }
    LogTarget t;
    t.where = l.where;
    t.spec = l.words[1];
    std::string addr = l.words[1];
    if (addr == "stdout" || addr == "fd@1") {
      t.kind = LogTarget::Kind::Fd;
      t.fd = 1;
    } else if (addr == "stderr" || addr == "fd@2") {
      t.kind = LogTarget::Kind::Fd;
      t.fd = 2;
    } else if (core::startsWith(addr, "fd@")) {
      auto fd = core::parseInt(addr.substr(3));
      if (!fd || *fd < 0) {
        error(l, "invalid log target '" + addr + "'", "use fd@<number>");
        return;
      }
      t.kind = LogTarget::Kind::Fd;
      t.fd = static_cast<int>(*fd);
    } else if (addr[0] == '/' || core::startsWith(addr, "unix@")) {
      t.kind = LogTarget::Kind::Unix;
      t.path = addr[0] == '/' ? addr : addr.substr(5);
    } else if (core::startsWith(addr, "ring@") || core::startsWith(addr, "tcp@") ||
               core::startsWith(addr, "tcp4@") || core::startsWith(addr, "tcp6@")) {
      error(l, "log target '" + addr + "' is not supported",
            "use stdout, stderr, fd@N, a UNIX datagram socket path, or a UDP address");
      return;
    } else {
      std::string a = addr;
      for (const char* prefix : {"udp@", "udp4@", "ipv4@"}) {
        if (core::startsWith(a, prefix)) a = a.substr(std::strlen(prefix));
      }
      bool v6 = false;
      for (const char* prefix : {"udp6@", "ipv6@"}) {
        if (core::startsWith(a, prefix)) {
          a = a.substr(std::strlen(prefix));
          v6 = true;
        }
      }
      // An empty host or port (":" from two unset variables) is the
      // wildcard and 514, as HAProxy reads it.
      if (!a.empty() && a.back() == ':') a += "514";
      if (!a.empty() && a[0] == ':') a = (v6 ? "[::]" : "0.0.0.0") + a;
      auto parsed = core::Address::parse(v6 ? "ipv6@" + a : a);
      if (!parsed) {
        error(l, "invalid log target '" + addr + "'",
              "use stdout, stderr, /dev/log, or IP[:PORT] (UDP, port 514 by default)");
        return;
      }
      if (parsed->port() == 0) parsed->setPort(514);
      if (parsed->isAny()) {
        // HAProxy accepts it: datagrams to the wildcard reach this host.
        diag_.warning(l.where, "log target '" + addr + "' is the wildcard address: lines go to " +
                                   parsed->toString() + " on this host, as with HAProxy",
                      "name the syslog server's address");
      }
      t.kind = LogTarget::Kind::Udp;
      t.address = *parsed;
    }
    size_t i = 2;
    while (i < l.words.size()) {
      const std::string& w = l.words[i];
      if (w == "len" && i + 1 < l.words.size()) {
        auto n = core::parseInt(l.words[i + 1]);
        if (!n || *n < 80 || *n > 65535) {
          error(l, "invalid log length '" + l.words[i + 1] + "'", "use a value from 80 to 65535");
        } else {
          t.maxLength = static_cast<size_t>(*n);
        }
        i += 2;
      } else if (w == "format" && i + 1 < l.words.size()) {
        const std::string& f = l.words[i + 1];
        static const std::map<std::string, LogFormat> kFormats = {
            {"local", LogFormat::Local}, {"rfc3164", LogFormat::Rfc3164},
            {"rfc5424", LogFormat::Rfc5424}, {"raw", LogFormat::Raw},
            {"short", LogFormat::Short}, {"priority", LogFormat::Priority},
            {"iso", LogFormat::Iso}, {"timed", LogFormat::Timed}};
        auto it = kFormats.find(f);
        if (it == kFormats.end()) {
          error(l, "unknown log format '" + f + "'",
                "use local, rfc3164, rfc5424, raw, short, priority, iso or timed");
        } else {
          t.format = it->second;
        }
        i += 2;
      } else if (w == "sample" && i + 1 < l.words.size()) {
        diag_.warnOnce("log-sample", l.where,
                       "'log ... sample' is accepted but ignored: every log line is sent");
        i += 2;
      } else {
        break;
      }
    }
    if (i >= l.words.size()) {
      error(l, "'log " + addr + "' needs a facility",
            "e.g. 'log " + addr + " local0' (facilities: kern user mail daemon auth syslog lpr "
            "news uucp cron auth2 ftp ntp audit alert cron2 local0..local7)");
      return;
    }
    int facility = indexOf(kFacilities, l.words[i]);
    if (facility < 0) {
      std::string guess = suggest(l.words[i], kFacilities);
      error(l, "unknown log facility '" + l.words[i] + "'",
            guess.empty() ? "use one of kern, user, daemon, local0..local7, ..."
                          : "did you mean '" + guess + "'?");
      return;
    }
    t.facility = facility;
    ++i;
    if (i < l.words.size()) {
      int lvl = indexOf(kLevels, l.words[i]);
      if (lvl < 0) {
        error(l, "unknown log level '" + l.words[i] + "'",
              "use emerg, alert, crit, err, warning, notice, info or debug");
        return;
      }
      t.maxLevel = lvl;
      ++i;
    }
    if (i < l.words.size()) {
      int lvl = indexOf(kLevels, l.words[i]);
      if (lvl < 0) {
        error(l, "unknown minimum log level '" + l.words[i] + "'");
        return;
      }
      t.minLevel = lvl;
      ++i;
    }
    if (i < l.words.size()) {
      error(l, "unexpected '" + l.words[i] + "' at the end of 'log'");
      return;
    }
    log.targets.push_back(t);
    log.disabled = false;
  }

  // Parses "<addr>[:port] [usesrc ...] [interface <if>]" from words[i...].
  // Returns false (after an error) on a bad shape; `next` is the first word after.
  bool parseSource(const ConfigLine& l, size_t i, SourceSpec& out, size_t& next) {
    auto addr = core::Address::parse(l.words[i]);
    if (!addr) {
      error(l, "invalid source address '" + l.words[i] + "'", "use an IP address, with an optional :port");
      return false;
    }
    out = SourceSpec{};
    out.set = true;
    out.address = *addr;
    ++i;
    while (i + 1 < l.words.size() && (l.words[i] == "usesrc" || l.words[i] == "interface")) {
      const std::string& k = l.words[i];
      const std::string& v = l.words[i + 1];
      if (k == "interface") {
        out.interface = v;
      } else if (v == "client") {
        out.usesrc = SourceSpec::Usesrc::Client;
      } else if (v == "clientip") {
        out.usesrc = SourceSpec::Usesrc::ClientIp;
      } else if (core::startsWith(v, "hdr_ip(")) {
        error(l, "'usesrc " + v + "' needs HTTP, which sluice does not parse",
              "use 'usesrc clientip' or 'usesrc client'");
        return false;
      } else if (auto a = core::Address::parse(v)) {
        out.usesrc = SourceSpec::Usesrc::Address;
        out.usesrcAddress = *a;
      } else {
        error(l, "invalid 'usesrc " + v + "'", "use client, clientip or an address");
        return false;
      }
      i += 2;
    }
    next = i;
    return true;
  }

  // -- proxies ---------------------------------------------------------------

  bool allowed(const ConfigLine& l, unsigned mask, const std::string& keyword) {
    unsigned bit = sectionBit(current_);
    if (mask & bit) {
      return true;
    }
    std::string where;
    if (mask & kDefaults) where += " defaults";
    if (mask & kFrontend) where += " frontend";
    if (mask & kListen) where += " listen";
    if (mask & kBackend) where += " backend";
    if (bit == kDefaults && keyword.rfind("tcp-request", 0) == 0) {
      error(l, "'" + keyword + "' is only allowed in named defaults sections, or" + where,
            "give the defaults section a name, or move the rule into the proxy");
      return false;
    }
    error(l, "'" + keyword + "' is not allowed in a " + current_.kind + " section (" +
                 proxyLabel(current_) + ")",
          "it is allowed in:" + where);
    return false;
  }

  // A defaults section that holds TCP or HTTP rules (HAProxy 2.5+): remembers
  // the first one and which kinds, for the checks of its users.
  void noteDefaultsRule(const ConfigLine& l) {
    ProxyConfig& p = current_;
    const std::string& kw = l.words[0];
    const std::string sub = l.words.size() > 1 ? l.words[1] : "";
    unsigned kind = 0;
    if (kw == "tcp-request" && sub == "connection") kind = DefaultsRules::kFrontendOnly;
    if (kw == "tcp-request" && sub == "session") kind = DefaultsRules::kFrontendOnly;
    if (kw == "tcp-request" && sub == "content") kind = DefaultsRules::kEither;
    if (kw == "tcp-response" && sub == "content") kind = DefaultsRules::kBackendOnly;
    if (kw == "http-request" || kw == "http-response" || kw == "http-after-response") kind = DefaultsRules::kEither;
    if (!kind) return;
    if (!p.defaultsRules.kinds) p.defaultsRules.where = l.where;
    p.defaultsRules.kinds |= kind;
    // A defaults section has neither a stick table nor servers of its own:
    // its rules must name them, as HAProxy requires.
    for (size_t i = 1; i < l.words.size(); ++i) {
      const std::string& w = l.words[i];
      if (w.starts_with("track-sc") && (i + 2 >= l.words.size() || l.words[i + 2] != "table")) {
        error(l, "'" + w + "' in a defaults section needs 'table <name>': the section has no stick table of its own",
              "write '" + w + " <key> table <name>'");
        return;
      }
      for (size_t at = w.find("srv_"); at != std::string::npos; at = w.find("srv_", at + 4)) {
        size_t open = w.find('(', at);
        size_t close = open == std::string::npos ? open : w.find(')', open);
        if (open == std::string::npos || close == std::string::npos) break;
        std::string_view name(w.data() + at, open - at);
        bool plainName = name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos;
        std::string_view arg(w.data() + open + 1, close - open - 1);
        if (plainName && !arg.empty() && arg.find('/') == std::string_view::npos) {
          error(l, "'" + std::string(name) + "(" + std::string(arg) + ")' in a defaults section must name the backend",
                "write '" + std::string(name) + "(<backend>/" + std::string(arg) + ")': the section has no servers");
          return;
        }
      }
    }
  }

  // HAProxy's limits on defaults sections with rules: such a section must be
  // named, and is used by frontends or by backends, never both, never by a
  // listen section or another defaults section; connection and session rules
  // need a frontend, tcp-response rules a backend.
  void checkDefaultsUse(const ConfigLine& l, const std::string& kw, const ProxyConfig& def) {
    const DefaultsRules& r = def.defaultsRules;
    if (!r.kinds || def.name.empty()) return;  // an unnamed one was refused where it was written
    const std::string from = "defaults '" + def.name + "' (with rules at " + r.where.file + ":" +
                             std::to_string(r.where.line) + ")";
    const std::string hint = "give this section a defaults section without tcp-request/tcp-response/http rules, "
                             "or move the rules into the section itself";
    if (kw == "defaults") {
      error(l, "a defaults section cannot inherit from " + from, hint);
      return;
    }
    if (kw == "listen") {
      error(l, "a listen section cannot inherit from " + from, hint);
      return;
    }
    const bool frontend = kw == "frontend";
    if (frontend && (r.kinds & DefaultsRules::kBackendOnly)) {
      error(l, "frontend cannot inherit the tcp-response rules of " + from, hint);
      return;
    }
    if (!frontend && (r.kinds & DefaultsRules::kFrontendOnly)) {
      error(l, "backend cannot inherit the tcp-request connection/session rules of " + from, hint);
      return;
    }
    unsigned& users = defaultsUsers_[def.name];
    users |= frontend ? 1u : 2u;
    if (users == 3u) {
      error(l, from + " is used by frontends and by backends; HAProxy allows one of them only", hint);
    }
  }

  void proxyLine(const ConfigLine& l) {
    ProxyConfig& p = current_;
    const std::string& kw = l.words[0];
    if (p.kind == "defaults") noteDefaultsRule(l);

    if (kw == "no" || kw == "default") {
      if (l.words.size() >= 2 && l.words[1] == "option") {
        parseOption(l, 2, kw == "no", kw == "default");
      } else if (kw == "no" && l.words.size() >= 2 && l.words[1] == "log") {
        if (allowed(l, kAll, "no log")) {
          p.log = LogSettings{};
          p.log.disabled = true;
        }
      } else {
        error(l, "'" + kw + "' must be followed by 'option <name>'" +
                     std::string(kw == "no" ? " or 'log'" : ""));
      }
      return;
    }
    if (kw == "option") {
      parseOption(l, 1, false, false);
      return;
    }
    if (kw == "timeout") {
      parseTimeout(l);
      return;
    }
    if (kw == "mode") {
      if (!allowed(l, kAll, kw) || !needArgs(l, 1, "tcp|http")) return;
      if (l.words[1] == "tcp") {
        p.mode = ProxyMode::Tcp;
      } else if (l.words[1] == "http") {
        p.mode = ProxyMode::Http;
      } else if (l.words[1] == "health") {
        error(l, "'mode health' was removed from HAProxy 2.4 and is not supported",
              "use 'mode tcp' with 'monitor-uri' in HAProxy, or a plain TCP check");
        return;
      } else {
        error(l, "unknown mode '" + l.words[1] + "'", "use 'mode tcp' (or 'mode http')");
        return;
      }
      p.modeWhere = l.where;
      return;
    }
    if (kw == "bind") {
      if (allowed(l, kFe, kw)) parseBind(l);
      return;
    }
    if (kw == "server") {
      if (allowed(l, kBe, kw)) parseServer(l, /*isDefault=*/false);
      return;
    }
    if (kw == "default-server") {
      if (allowed(l, kDfBe, kw)) parseServer(l, /*isDefault=*/true);
      return;
    }
    if (kw == "email-alert") {
      if (!needArgs(l, 2, "mailers|from|to|level|myhostname <value>")) return;
      const std::string& what = l.words[1];
      const std::string& v = l.words[2];
      if (what == "mailers") {
        p.emailMailers = v;
      } else if (what == "from") {
        p.emailFrom = v;
      } else if (what == "to") {
        p.emailTo = v;
      } else if (what == "myhostname") {
        p.emailHostname = v;
      } else if (what == "level") {
        const int level = syslogLevel(v);
        if (level < 0) {
          error(l, "unknown email-alert level '" + v + "'", "use emerg, alert, crit, err, warning, notice, info or debug");
          return;
        }
        p.emailLevel = level;
      } else {
        error(l, "unknown 'email-alert " + what + "'", "use mailers, from, to, level or myhostname");
        return;
      }
      p.emailWhere = l.where;
      return;
    }
    if (kw == "external-check") {
      if (!allowed(l, kDfBe, kw) || !needArgs(l, 2, "command|path <value>")) return;
      if (l.words[1] == "command") {
        p.externalCheckCommand = l.words[2];
      } else if (l.words[1] == "path") {
        p.externalCheckPath = l.words[2];
      } else {
        error(l, "unknown 'external-check " + l.words[1] + "'", "use 'external-check command' or 'external-check path'");
      }
      return;
    }
    if (kw == "persist") {
      if (!allowed(l, kDfBe, kw) || !needArgs(l, 1, "rdp-cookie[(<name>)]")) return;
      const std::string& a = l.words[1];
      if (a != "rdp-cookie" && !(a.starts_with("rdp-cookie(") && a.back() == ')')) {
        error(l, "'persist' only knows 'rdp-cookie[(<name>)]'");
        return;
      }
      p.persistRdpCookie = a.size() > 12 ? a.substr(11, a.size() - 12) : "msts";
      return;
    }
    if (kw == "load-server-state-from-file") {
      if (!allowed(l, kDfBe, kw) || !needArgs(l, 1, "global|local|none")) return;
      if (l.words[1] != "global" && l.words[1] != "local" && l.words[1] != "none") {
        error(l, "'" + kw + "' takes global, local or none");
        return;
      }
      p.loadServerState = l.words[1];
      return;
    }
    if (kw == "server-state-file-name") {
      if (!allowed(l, kDfBe, kw)) return;
      p.serverStateFileName = l.words.size() > 1 ? l.words[1] : "use-backend-name";
      return;
    }
    if (kw == "dispatch") {
      if (!allowed(l, kBe, kw) || !needArgs(l, 1, "<address>:<port>")) return;
      p.dispatch = l.words[1];
      p.dispatchWhere = l.where;
      return;
    }
    if (kw == "acl") {
      if (!allowed(l, kAll, kw)) return;
      if (!needArgs(l, 2, "<name> <criterion> [flags] [values]")) return;
      p.acls.push_back({l.where, l.words[1], {l.words.begin() + 2, l.words.end()}});
      return;
    }
    if (kw == "use_backend") {
      if (!allowed(l, kFe, kw) || !needArgs(l, 1, "<backend> [{if|unless} <condition>]")) return;
      UseBackendConfig u{l.where, l.words[1], {}};
      if (l.words.size() > 2) {
        if (l.words[2] != "if" && l.words[2] != "unless") {
          error(l, "expected 'if' or 'unless' after 'use_backend " + l.words[1] + "', found '" +
                       l.words[2] + "'");
          return;
        }
        u.condition.assign(l.words.begin() + 2, l.words.end());
        if (u.condition.size() < 2) {
          error(l, "missing condition after '" + l.words[2] + "'");
          return;
        }
      }
      p.useBackends.push_back(u);
      return;
    }
    if (kw == "default_backend") {
      if (!allowed(l, kDfFe, kw) || !needArgs(l, 1, "<backend>")) return;
      if (l.words.size() > 2) {
        error(l, "'default_backend' takes exactly one backend name");
        return;
      }
      p.defaultBackend = l.words[1];
      p.defaultBackendWhere = l.where;
      return;
    }
    if (kw == "use-server") {
      if (!allowed(l, kBe, kw) || !needArgs(l, 1, "<server> [{if|unless} <condition>]")) return;
      UseServerConfig u{l.where, l.words[1], {}};
      if (l.words.size() > 2) {
        if (l.words[2] != "if" && l.words[2] != "unless") {
          error(l, "expected 'if' or 'unless' after 'use-server " + l.words[1] + "'");
          return;
        }
        u.condition.assign(l.words.begin() + 2, l.words.end());
      }
      p.useServers.push_back(u);
      return;
    }
    if (kw == "balance") {
      if (!allowed(l, kDfBe, kw) || !needArgs(l, 1, "<algorithm> [arguments]")) return;
      parseBalance(l);
      return;
    }
    if (kw == "stick-table") {
      if (!allowed(l, kFe | kBackend, kw) || !needArgs(l, 2, "type <type> size <size> ...")) return;
      if (p.stickTable) {
        error(l, "only one 'stick-table' per section",
              "the first was declared at " + p.stickTableWhere.file + ":" +
                  std::to_string(p.stickTableWhere.line));
        return;
      }
      stick::TableSpec spec;
      spec.name = p.name;
      std::string why = parseTableSpec(std::vector<std::string>(l.words.begin() + 1, l.words.end()), spec);
      if (!why.empty()) {
        error(l, "in 'stick-table': " + why,
              "e.g. 'stick-table type ip size 100k expire 30s store conn_cur,conn_rate(10s)'");
        return;
      }
      p.stickTable = spec;
      p.stickTableWhere = l.where;
      return;
    }
    if (kw == "stick") {
      parseStick(l);
      return;
    }
    if (kw == "hash-type") {
      if (!allowed(l, kDfBe, kw) || !needArgs(l, 1, "map-based|consistent [function] [avalanche]"))
        return;
      if (l.words[1] != "map-based" && l.words[1] != "consistent") {
        error(l, "unknown hash-type '" + l.words[1] + "'", "use 'map-based' or 'consistent'");
        return;
      }
      p.hashType.method = l.words[1];
      for (size_t i = 2; i < l.words.size(); ++i) {
        const std::string& w = l.words[i];
        if (w == "avalanche") {
          p.hashType.avalanche = true;
        } else if (w == "sdbm" || w == "djb2" || w == "wt6" || w == "crc32" || w == "none") {
          p.hashType.function = w;
        } else {
          error(l, "unknown hash function '" + w + "'", "use sdbm, djb2, wt6, crc32 or none");
        }
      }
      return;
    }
    if (kw == "retries") {
      uint32_t v;
      if (allowed(l, kDfBe, kw) && unsignedArg(l, 1, "retries", v, 1000)) p.retries = v;
      return;
    }
    if (kw == "maxconn") {
      uint32_t v;
      if (allowed(l, kDfFe, kw) && unsignedArg(l, 1, "maxconn", v)) p.maxconn = v;
      return;
    }
    if (kw == "backlog") {
      uint32_t v;
      if (allowed(l, kDfFe, kw) && unsignedArg(l, 1, "backlog", v)) p.backlog = v;
      return;
    }
    if (kw == "fullconn") {
      uint32_t v;
      if (allowed(l, kDfBe, kw) && unsignedArg(l, 1, "fullconn", v)) p.fullconn = v;
      return;
    }
    if (kw == "log") {
      if (allowed(l, kAll, kw)) parseLog(l, p.log, /*inGlobal=*/false);
      return;
    }
    if (kw == "log-format") {
      if (!allowed(l, kDfFe, kw) || !needArgs(l, 1, "<format string>")) return;
      p.logFormat = joinWords(l.words, 1);
      p.logFormatWhere = l.where;
      return;
    }
    if (kw == "log-tag") {
      if (allowed(l, kAll, kw) && needArgs(l, 1, "<tag>")) p.logTag = l.words[1];
      return;
    }
    if (kw == "tcp-request") {
      parseTcpRequest(l);
      return;
    }
    if (kw == "tcp-response") {
      parseTcpResponse(l);
      return;
    }
    if (kw == "tcp-check") {
      if (allowed(l, kDfBe, kw) && needArgs(l, 1, "<action> [args]")) {
        p.tcpChecks.push_back({l.where, {l.words.begin() + 1, l.words.end()}});
      }
      return;
    }
    if (kw == "http-check") {
      if (allowed(l, kDfBe, kw) && needArgs(l, 1, "<action> [args]")) {
        p.httpChecks.push_back({l.where, {l.words.begin() + 1, l.words.end()}});
      }
      return;
    }
    if (kw == "source") {
      if (allowed(l, kDfBe, kw) && needArgs(l, 1, "<addr>[:port] [usesrc client|clientip|<addr>]")) {
        size_t next = 0;
        if (!parseSource(l, 1, p.source, next)) return;
        if (next < l.words.size()) {
          error(l, "unexpected '" + l.words[next] + "' in 'source'",
                "syntax: source <addr>[:port] [usesrc client|clientip|<addr>[:port]] [interface <if>]");
        }
      }
      return;
    }
    if (kw == "id") {
      uint32_t v;
      if (allowed(l, kFe | kBackend, kw) && unsignedArg(l, 1, "id", v)) p.id = v;
      return;
    }
    if (kw == "description") {
      if (allowed(l, kFe | kBackend, kw)) p.description = joinWords(l.words, 1);
      return;
    }
    if (kw == "disabled") {
      if (allowed(l, kAll, kw)) p.disabled = true;
      return;
    }
    if (kw == "enabled") {
      if (allowed(l, kAll, kw)) p.disabled = false;
      return;
    }
    if (kw == "stats") {
      if (!allowed(l, kAll, kw) || !needArgs(l, 1, "<sub-keyword>")) return;
      parseStats(l);
      return;
    }
    if (kw == "http-request") {
      if (!allowed(l, kAll, kw) || !needArgs(l, 1, "<action> [args] [if|unless <condition>]")) return;
      TcpRuleConfig r;
      splitRule(l, 1, r);
      if (!r.condition.empty() && r.condition.size() < 2) {
        error(l, "missing condition after '" + r.condition[0] + "'");
        return;
      }
      p.httpRequest.push_back(std::move(r));
      return;
    }
    if (kw == "transparent") {
      error(l, "'transparent' is not supported", "it was deprecated in HAProxy and has no meaning here");
      return;
    }
    if (kw == "filter") {
      // HTTP-only filters (compression, cache) change nothing in TCP mode,
      // and trace only prints; SPOE and bandwidth limits act on TCP streams:
      // ignoring them would silently drop what the file asks for.
      std::string name = l.words.size() > 1 ? l.words[1] : "";
      if (name == "spoe" || name == "bwlim-in" || name == "bwlim-out" || name == "fcgi-app" || name.empty()) {
        error(l, name.empty() ? std::string("'filter' needs a filter name")
                              : "'filter " + name + "' is not supported by sluice in " + proxyLabel(p),
              "remove it; sluice runs no stream filters (see docs/configuration.md)");
        return;
      }
      diag_.warnOnce("kw:filter " + name, l.where,
                     "'filter " + name + "' is accepted but ignored: it acts on HTTP only, or only traces");
      return;
    }
    if (kw.starts_with("clitcpka-") || kw.starts_with("srvtcpka-")) {
      const bool client = kw[0] == 'c';
      const std::string what = kw.substr(9);
      if (!allowed(l, client ? kDfFe : kDfBe, kw) || !needArgs(l, 1, what == "cnt" ? "<count>" : "<time>")) return;
      KeepAliveSpec& ka = client ? p.clitcpkaSpec : p.srvtcpkaSpec;
      uint32_t v = 0;
      if (what == "cnt") {
        if (unsignedArg(l, 1, kw, v, 127)) ka.count = v;
        return;
      }
      if (what != "idle" && what != "intvl") {
        error(l, "unknown keyword '" + kw + "'", "use " + kw.substr(0, 9) + "cnt, -idle or -intvl");
        return;
      }
      // A plain number is seconds here, as HAProxy reads these two.
      std::string text = l.words[1];
      if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.back()))) text += "s";
      if (!parseDuration(text, v) || v / 1000 > 32767) {
        error(l, "invalid time '" + l.words[1] + "' for '" + kw + "'", "e.g. '" + kw + " 30s'");
        return;
      }
      (what == "idle" ? ka.idleSeconds : ka.intervalSeconds) = std::max<uint32_t>(1, v / 1000);
      return;
    }
    if (const Known* k = findKnown(kProxyKnown, kw)) {
      warnKnown(l, kw, *k, " in " + proxyLabel(p));
      return;
    }
    // Keywords that HAProxy removed long ago: say so instead of "unknown".
    static const std::map<std::string, std::string> kRemoved = {
        {"clitimeout", "timeout client"}, {"srvtimeout", "timeout server"},
        {"contimeout", "timeout connect"}, {"redispatch", "option redispatch"},
        {"reqadd", "http-request add-header"}, {"reqrep", "http-request replace-header"},
        {"rspadd", "http-response add-header"}, {"block", "http-request deny"},
        {"reqdeny", "http-request deny"}};
    auto rem = kRemoved.find(kw);
    if (rem != kRemoved.end()) {
      error(l, "'" + kw + "' was removed from HAProxy and is not supported",
            "use '" + rem->second + "' instead");
      return;
    }
    unknownKeyword(l, proxyLabel(p), proxyKeywords());
  }

  static std::vector<std::string_view> proxyKeywords() {
    std::vector<std::string_view> out = {
        "option", "no", "default", "timeout", "mode", "bind", "server", "default-server", "acl",
        "use_backend", "default_backend", "use-server", "balance", "hash-type", "retries",
        "maxconn", "backlog", "fullconn", "log", "log-format", "log-tag", "tcp-request",
        "tcp-response", "tcp-check", "http-check", "source", "id", "description", "disabled",
        "enabled", "stats", "http-request", "stick-table", "stick"};
    for (const Known& k : kProxyKnown) out.push_back(k.name);
    return out;
  }

  void unknownKeyword(const ConfigLine& l, const std::string& where,
                      const std::vector<std::string_view>& candidates) {
    std::string guess = suggest(l.words[0], candidates);
    // Keywords that take a sub-keyword: suggest the whole thing.
    static const std::set<std::string> kTakesSub = {"option", "timeout", "tcp-request",
                                                     "tcp-response", "stats", "http-check",
                                                     "tcp-check", "no"};
    if (!guess.empty() && kTakesSub.count(guess) && l.words.size() > 1) {
      guess += " " + l.words[1];
    }
    error(l, "unknown keyword '" + l.words[0] + "' in " + where,
          guess.empty() ? "see docs/configuration.md for the keywords sluice accepts"
                        : "did you mean '" + guess + "'?");
  }

  // The arguments of "option mysql-check/pgsql-check/smtpchk/...", checked
  // as HAProxy checks them.
  bool checkOptionArgs(const ConfigLine& l, const std::string& name, ProxyConfig::CheckKind kind,
                       const std::vector<std::string>& args) {
    using CK = ProxyConfig::CheckKind;
    const std::string kw = "option " + name;
    switch (kind) {
      case CK::HttpCheck:
        if (args.size() > 3) {
          error(l, "'" + kw + "' takes at most a method, a URI and a version",
                "write further headers with 'http-check send hdr <name> <value>'");
          return false;
        }
        return true;
      case CK::Mysql:
        if (args.empty()) return true;
        if (args[0] != "user") {
          error(l, "'" + kw + "' only supports optional values: 'user'", "write 'option mysql-check user <name>'");
          return false;
        }
        if (args.size() < 2) {
          error(l, "'" + kw + " user' needs a user name");
          return false;
        }
        if (args.size() >= 3 && args[2] != "post-41" && args[2] != "pre-41") {
          error(l, "'" + kw + "' only supports 'post-41' or 'pre-41' after the user name");
          return false;
        }
        if (args.size() > 3) {
          error(l, "unexpected '" + args[3] + "' after '" + kw + "'");
          return false;
        }
        return true;
      case CK::Pgsql:
        if (args.size() != 2 || args[0] != "user") {
          error(l, "'" + kw + "' needs 'user <name>'", "write 'option pgsql-check user <name>'");
          return false;
        }
        return true;
      case CK::Smtp:
        if (args.empty()) return true;
        if (args.size() == 2 && (args[0] == "HELO" || args[0] == "EHLO")) return true;
        diag_.warning(l.where, "'" + kw + "' takes 'HELO <domain>' or 'EHLO <domain>'; the check says "
                               "'HELO localhost' as HAProxy does with these arguments");
        return true;
      default:
        if (!args.empty()) {
          error(l, "'" + kw + "' takes no argument", "remove '" + args[0] + "'");
          return false;
        }
        return true;
    }
  }

  void parseOption(const ConfigLine& l, size_t at, bool negate, bool reset) {
    ProxyConfig& p = current_;
    if (at >= l.words.size()) {
      error(l, "'option' needs a name", "e.g. 'option tcplog'");
      return;
    }
    const std::string& name = l.words[at];
    std::string kw = "option " + name;
    auto simple = [&](unsigned mask, bool& flag, bool defaultValue = false) {
      if (!allowed(l, mask, kw)) return;
      flag = reset ? defaultValue : !negate;
      if (l.words.size() > at + 1) {
        error(l, "'" + kw + "' takes no argument");
      }
    };
    if (name == "tcplog") {
      if (!allowed(l, kAll, kw)) return;
      p.tcplog = reset ? false : !negate;
      if (p.tcplog) p.httplog = false;
      if (l.words.size() > at + 1 && l.words[at + 1] != "clf") {
        error(l, "unexpected '" + l.words[at + 1] + "' after 'option tcplog'");
      }
    } else if (name == "httplog") {
      if (!allowed(l, kDfFe, kw)) return;
      p.httplog = reset ? false : !negate;
      if (p.httplog) {
        p.tcplog = false;
        p.httplogWhere = l.where;
      }
    } else if (name == "dontlognull") {
      simple(kDfFe, p.dontlognull);
    } else if (name == "dontlog-normal") {
      simple(kDfFe, p.dontlogNormal);
    } else if (name == "logasap") {
      simple(kDfFe, p.logasap);
    } else if (name == "log-separate-errors") {
      simple(kDfFe, p.logSeparateErrors);
    } else if (name == "log-health-checks") {
      simple(kDfBe, p.logHealthChecks);
    } else if (name == "redispatch") {
      if (!allowed(l, kDfBe, kw)) return;
      p.redispatch = reset ? false : !negate;
      p.redispatchInterval = -1;
      if (l.words.size() > at + 1) {
        auto v = core::parseInt(l.words[at + 1]);
        if (!v || *v == 0) {
          error(l, "invalid redispatch interval '" + l.words[at + 1] + "'",
                "use a non-zero integer: N redispatches every Nth retry, -N on the Nth before last");
          return;
        }
        p.redispatchInterval = static_cast<int>(*v);
      }
    } else if (name == "allbackups") {
      simple(kDfBe, p.allbackups);
    } else if (name == "tcpka") {
      if (!allowed(l, kAll, kw)) return;
      p.tcpka = !negate && !reset;
      p.clitcpka = p.tcpka;
      p.srvtcpka = p.tcpka;
    } else if (name == "clitcpka") {
      simple(kDfFe, p.clitcpka);
    } else if (name == "srvtcpka") {
      simple(kDfBe, p.srvtcpka);
    } else if (name == "nolinger") {
      simple(kAll, p.nolinger);
    } else if (name == "abortonclose") {
      simple(kDfBe, p.abortonclose);
    } else if (const auto kind = checkOption(name)) {
      if (!allowed(l, kDfBe, kw)) return;
      if (negate || reset) {
        p.checkKind = ProxyConfig::CheckKind::Tcp;
        return;
      }
      std::vector<std::string> args(l.words.begin() + static_cast<std::ptrdiff_t>(at + 1), l.words.end());
      if (!checkOptionArgs(l, name, *kind, args)) return;
      p.checkKind = *kind;
      p.checkKindWhere = l.where;
      p.checkArgs = std::move(args);
    } else if (const Known* k = findKnown(kHttpOptions, name)) {
      if (k->treatment == "unsupported") {
        error(l, "'" + kw + "' is not supported by sluice: " + std::string(k->note));
        return;
      }
      if (negate || reset) return;  // turning off something ignored is harmless
      diag_.warnOnce("opt:" + name, l.where,
                     "'" + kw + "' is accepted but ignored: " + std::string(k->note));
    } else {
      std::vector<std::string_view> all = kSupportedOptions;
      for (const Known& k : kHttpOptions) all.push_back(k.name);
      std::string guess = suggest(name, all);
      error(l, "unknown option '" + name + "' in " + proxyLabel(p),
            guess.empty() ? "see docs/configuration.md for the options sluice accepts"
                          : "did you mean 'option " + guess + "'?");
    }
  }

  void parseTimeout(const ConfigLine& l) {
    ProxyConfig& p = current_;
    if (!needArgs(l, 2, "<name> <time>")) return;
    const std::string& name = l.words[1];
    struct T {
      const char* name;
      unsigned mask;
      Millis ProxyConfig::*field;
    };
    static const T kTimeouts[] = {
        {"client", kDfFe, &ProxyConfig::timeoutClient},
        {"server", kDfBe, &ProxyConfig::timeoutServer},
        {"connect", kDfBe, &ProxyConfig::timeoutConnect},
        {"tunnel", kDfBe, &ProxyConfig::timeoutTunnel},
        {"client-fin", kDfFe, &ProxyConfig::timeoutClientFin},
        {"server-fin", kDfBe, &ProxyConfig::timeoutServerFin},
        {"queue", kDfBe, &ProxyConfig::timeoutQueue},
        {"check", kDfBe, &ProxyConfig::timeoutCheck},
    };
    for (const T& t : kTimeouts) {
      if (name == t.name) {
        if (!allowed(l, t.mask, "timeout " + name)) return;
        uint32_t v;
        if (durationArg(l, 2, "timeout " + name, v)) {
          p.*(t.field) = v;
          if (l.words.size() > 3) {
            error(l, "unexpected '" + l.words[3] + "' after 'timeout " + name + " " + l.words[2] + "'");
          }
        }
        return;
      }
    }
    if (name == "http-request" || name == "http-keep-alive" || name == "tarpit") {
      uint32_t v;
      if (durationArg(l, 2, "timeout " + name, v)) {
        diag_.warnOnce("timeout:" + name, l.where,
                       "'timeout " + name + "' is accepted but ignored: HTTP-only");
      }
      return;
    }
    std::vector<std::string_view> names = {"client", "server", "connect", "tunnel", "client-fin",
                                           "server-fin", "queue", "check", "http-request",
                                           "http-keep-alive", "tarpit"};
    std::string guess = suggest(name, names);
    error(l, "unknown timeout '" + name + "'",
          guess.empty() ? "known: client, server, connect, tunnel, client-fin, server-fin, queue, check"
                        : "did you mean 'timeout " + guess + "'?");
  }

  // Splits "<action words> [if|unless <cond>]".
  static void splitRule(const ConfigLine& l, size_t from, TcpRuleConfig& r) {
    size_t i = from;
    while (i < l.words.size() && l.words[i] != "if" && l.words[i] != "unless") {
      ++i;
    }
    r.where = l.where;
    r.action = from < l.words.size() ? l.words[from] : "";
    for (size_t k = from + 1; k < i; ++k) r.actionArgs.push_back(l.words[k]);
    for (size_t k = i; k < l.words.size(); ++k) r.condition.push_back(l.words[k]);
  }

  // "stats <sub> ..." in a proxy. Everything but "stats disable" turns the
  // page on, as in HAProxy.
  void parseStats(const ConfigLine& l) {
    StatsConfig& st = current_.stats;
    const std::string& sub = l.words[1];
    auto arg = [&](const char* usage) -> const std::string* {
      if (l.words.size() < 3) {
        error(l, "'stats " + sub + "' expects " + usage);
        return nullptr;
      }
      return &l.words[2];
    };
    st.where = l.where;
    if (sub == "enable") {
      st.enable = true;
    } else if (sub == "disable") {
      st.enable = false;
    } else if (sub == "uri") {
      const std::string* v = arg("<prefix>");
      if (!v) return;
      st.uri = *v;
      st.enable = true;
    } else if (sub == "realm") {
      if (!arg("<realm>")) return;
      st.realm = joinWords(l.words, 2);
      st.enable = true;
    } else if (sub == "auth") {
      const std::string* v = arg("<user>:<password>");
      if (!v) return;
      if (v->find(':') == std::string::npos) {
        error(l, "'stats auth' expects <user>:<password>", "e.g. 'stats auth admin:secret'");
        return;
      }
      st.auth.push_back(*v);
      st.enable = true;
    } else if (sub == "refresh") {
      uint32_t v;
      if (!durationArg(l, 2, "stats refresh", v)) return;
      st.refresh = v;
      st.enable = true;
    } else if (sub == "admin") {
      if (l.words.size() < 4 || (l.words[2] != "if" && l.words[2] != "unless")) {
        error(l, "'stats admin' expects 'if' or 'unless' followed by a condition",
              "e.g. 'stats admin if TRUE' or 'stats admin if LOCALHOST'");
        return;
      }
      st.adminSet = true;
      st.adminCondition.assign(l.words.begin() + 2, l.words.end());
      st.adminWhere = l.where;
      st.enable = true;
    } else if (sub == "hide-version") {
      st.hideVersion = true;
      st.enable = true;
    } else if (sub == "show-legends") {
      st.showLegends = true;
      st.enable = true;
    } else if (sub == "show-node") {
      st.showNode = true;
      if (l.words.size() > 2) st.nodeName = l.words[2];
      st.enable = true;
    } else if (sub == "show-desc") {
      st.showDesc = true;
      if (l.words.size() > 2) st.description = joinWords(l.words, 2);
      st.enable = true;
    } else if (sub == "scope") {
      const std::string* v = arg("<proxy name>");
      if (!v) return;
      if (*v != ".") st.scopes.push_back(*v);
      st.enable = true;
    } else if (sub == "show-modules" || sub == "http-request" || sub == "bind-process") {
      diag_.warnOnce("stats-" + sub, l.where, "'stats " + sub + "' is accepted but ignored");
      st.enable = true;
    } else if (sub == "socket" || sub == "timeout" || sub == "maxconn") {
      error(l, "'stats " + sub + "' belongs in the global section");
    } else {
      error(l, "unknown 'stats " + sub + "'",
            "use enable, uri, realm, auth, refresh, admin, hide-version, show-legends, show-node, "
            "show-desc or scope");
    }
  }

  // A "mode http" proxy that sluice serves itself (stats page, metrics):
  // only the HTTP rules that make sense for it are kept.
  void checkStatsProxy(ProxyConfig& p) {
    std::vector<TcpRuleConfig> kept;
    for (TcpRuleConfig& r : p.httpRequest) {
      if (r.action == "use-service") {
        if (r.actionArgs.empty() || r.actionArgs[0] != "prometheus-exporter") {
          diag_.error(r.where,
                      "unknown service '" + (r.actionArgs.empty() ? std::string() : r.actionArgs[0]) +
                          "' in 'http-request use-service'",
                      "sluice serves 'prometheus-exporter'");
          continue;
        }
      } else if (r.action != "allow" && r.action != "deny") {
        diag_.warnOnce("http-request-stats:" + r.action, r.where,
                       "'http-request " + r.action + "' is ignored in the stats proxy '" + p.name + "'",
                       "sluice serves 'use-service prometheus-exporter', 'allow' and 'deny' here");
        continue;
      }
      kept.push_back(std::move(r));
    }
    p.httpRequest = std::move(kept);
  }

  void parseTcpRequest(const ConfigLine& l) {
    ProxyConfig& p = current_;
    if (!needArgs(l, 1, "inspect-delay|connection|content|session ...")) return;
    const std::string& sub = l.words[1];
    bool namedDefaults = p.kind == "defaults" && !p.name.empty();
    unsigned mask = namedDefaults ? kAll : (kFe | kBackend);
    if (sub == "inspect-delay") {
      if (!allowed(l, mask, "tcp-request inspect-delay")) return;
      uint32_t v;
      if (durationArg(l, 2, "tcp-request inspect-delay", v)) {
        p.inspectDelay = v;
        p.inspectDelayWhere = l.where;
      }
      return;
    }
    TcpRuleConfig r;
    splitRule(l, 2, r);
    if (r.action.empty()) {
      error(l, "'tcp-request " + sub + "' needs an action", "e.g. 'tcp-request " + sub + " accept'");
      return;
    }
    if (!r.condition.empty() && r.condition.size() < 2) {
      error(l, "missing condition after '" + r.condition[0] + "'");
      return;
    }
    if (sub == "connection") {
      if (!allowed(l, namedDefaults ? kAll : kFe, "tcp-request connection")) return;
      if (!checkAction(l, r, {"accept", "reject", "expect-proxy", "silent-drop", "set-var",
                              "unset-var", "track-sc0", "track-sc1", "track-sc2", "sc-inc-gpc0",
                              "sc-inc-gpc1", "sc-set-gpt0", "set-mark", "set-tos", "set-src",
                              "set-dst", "set-src-port", "set-dst-port"})) {
        return;
      }
      p.tcpRequestConnection.push_back(r);
    } else if (sub == "session") {
      if (!allowed(l, namedDefaults ? kAll : kFe, "tcp-request session")) return;
      if (!checkAction(l, r, {"accept", "reject", "expect-proxy", "silent-drop", "set-var", "unset-var",
                              "track-sc0", "track-sc1", "track-sc2", "sc-inc-gpc0", "sc-inc-gpc1",
                              "sc-set-gpt0", "set-mark", "set-tos"})) {
        return;
      }
      p.tcpRequestSession.push_back(r);
    } else if (sub == "content") {
      if (!allowed(l, mask, "tcp-request content")) return;
      if (!checkAction(l, r, {"accept", "reject", "expect-proxy", "silent-drop", "set-var", "unset-var",
                              "track-sc0", "track-sc1", "track-sc2", "sc-inc-gpc0", "sc-inc-gpc1",
                              "sc-set-gpt0", "capture", "set-log-level", "set-mark", "set-tos", "set-nice",
                              "set-src", "set-dst", "set-src-port", "set-dst-port"})) {
        return;
      }
      p.tcpRequestContent.push_back(r);
    } else {
      error(l, "unknown 'tcp-request " + sub + "'",
            "use 'tcp-request inspect-delay', 'connection', 'session' or 'content'");
    }
  }

  bool checkAction(const ConfigLine& l, const TcpRuleConfig& r,
                   const std::vector<std::string_view>& supported) {
    std::string base = r.action.substr(0, r.action.find('('));
    for (std::string_view s : supported) {
      if (base == s) {
        if ((base == "set-var" || base == "unset-var") &&
            (r.action.find('(') == std::string::npos || r.action.back() != ')')) {
          error(l, "'" + r.action + "' needs a variable name, e.g. set-var(txn.sni)");
          return false;
        }
        if (base == "set-var" && r.actionArgs.empty()) {
          error(l, "'" + r.action + "' needs a sample expression, e.g. set-var(txn.sni) req.ssl_sni");
          return false;
        }
        if (core::startsWith(base, "track-sc")) {
          bool ok = r.actionArgs.size() == 1 ||
                    (r.actionArgs.size() == 3 && r.actionArgs[1] == "table");
          if (!ok || r.action != base) {
            error(l, "'" + r.action + "' expects '<key> [table <table>]'", "e.g. '" + base + " src'");
            return false;
          }
          return true;
        }
        if (core::startsWith(base, "sc-")) {
          // Without "(<n>)" the counter is sc0, as HAProxy reads it.
          size_t open = r.action.find('(');
          std::string id = open == std::string::npos ? "0" : r.action.substr(open + 1, r.action.size() - open - 2);
          if ((open != std::string::npos && r.action.back() != ')') || (id != "0" && id != "1" && id != "2")) {
            error(l, "'" + r.action + "' needs the tracked counter's number, e.g. " + base + "(0)");
            return false;
          }
          if (base == "sc-set-gpt0" && r.actionArgs.size() != 1) {
            error(l, "'" + r.action + "' needs a value, e.g. " + base + "(0) 1");
            return false;
          }
          if (base != "sc-set-gpt0" && !r.actionArgs.empty()) {
            error(l, "'" + r.action + "' takes no argument");
            return false;
          }
          return true;
        }
        if (base == "expect-proxy" && (r.actionArgs.size() != 1 || r.actionArgs[0] != "layer4")) {
          error(l, "'expect-proxy' must be followed by 'layer4'");
          return false;
        }
        return true;
      }
    }
    static const std::set<std::string> kKnownUnsupported = {
        "sc-inc-gpc", "sc-set-gpt", "sc-add-gpc", "do-resolve", "use-service", "switch-mode",
        "send-spoe-group", "set-priority-class", "set-priority-offset", "set-bandwidth-limit",
        "expect-netscaler-cip", "attach-srv", "set-fc-mark", "set-fc-tos",
        "set-retries", "close"};
    if (base == "track-sc0" || base == "track-sc1" || base == "track-sc2") {
      error(l, "rule action '" + base + "' is not allowed here", "supported here: " + joinViews(supported));
      return false;
    }
    if (core::startsWith(base, "track-sc")) {
      error(l, "'" + base + "': there are three tracked counters, track-sc0, track-sc1 and track-sc2");
      return false;
    }
    if (kKnownUnsupported.count(base) || core::startsWith(base, "lua.")) {
      error(l, "rule action '" + r.action + "' is not supported by sluice yet",
            "supported here: " + joinViews(supported));
      return false;
    }
    std::string guess = suggest(base, supported);
    error(l, "unknown rule action '" + r.action + "'",
          guess.empty() ? "supported here: " + joinViews(supported) : "did you mean '" + guess + "'?");
    return false;
  }

  void parseStick(const ConfigLine& l) {
    ProxyConfig& p = current_;
    if (!allowed(l, kBe, "stick")) return;
    if (!needArgs(l, 2, "on|match|store-request <pattern> [table <table>] [{if|unless} <cond>]")) return;
    const std::string& sub = l.words[1];
    if (sub == "store-response") {
      diag_.warnOnce("stick store-response", l.where,
                     "'stick store-response' is accepted but ignored: server responses are "
                     "forwarded without inspection, so only 'stick match' and 'stick "
                     "store-request' rules keep clients on a server");
      return;
    }
    StickRuleConfig r;
    r.where = l.where;
    if (sub == "on") {
      r.match = r.store = true;
    } else if (sub == "match") {
      r.match = true;
    } else if (sub == "store-request") {
      r.store = true;
    } else {
      error(l, "unknown 'stick " + sub + "'", "use 'stick on', 'stick match' or 'stick store-request'");
      return;
    }
    size_t i = 2;
    r.expr = l.words[i++];
    if (i + 1 < l.words.size() + 1 && i < l.words.size() && l.words[i] == "table") {
      if (i + 1 >= l.words.size()) {
        error(l, "'table' needs a table name");
        return;
      }
      r.table = l.words[i + 1];
      i += 2;
    }
    if (i < l.words.size()) {
      if (l.words[i] != "if" && l.words[i] != "unless") {
        error(l, "unexpected '" + l.words[i] + "' in 'stick " + sub + "'",
              "the form is 'stick " + sub + " <pattern> [table <table>] [{if|unless} <cond>]'");
        return;
      }
      if (i + 1 >= l.words.size()) {
        error(l, "missing condition after '" + l.words[i] + "'");
        return;
      }
      r.condition.assign(l.words.begin() + static_cast<std::ptrdiff_t>(i), l.words.end());
    }
    p.stickRules.push_back(std::move(r));
  }

  static std::string joinViews(const std::vector<std::string_view>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::string(v[i]);
    return out;
  }

  void parseTcpResponse(const ConfigLine& l) {
    ProxyConfig& p = current_;
    if (!needArgs(l, 1, "inspect-delay|content ...")) return;
    bool namedDefaults = p.kind == "defaults" && !p.name.empty();
    if (!allowed(l, namedDefaults ? kAll : kBe, "tcp-response")) return;
    if (l.words[1] == "inspect-delay") {
      uint32_t v;
      if (durationArg(l, 2, "tcp-response inspect-delay", v)) p.tcpResponseInspectDelay = v;
      return;
    }
    if (l.words[1] == "content") {
      TcpRuleConfig r;
      splitRule(l, 2, r);
      if (r.action.empty()) {
        error(l, "'tcp-response content' needs an action", "e.g. 'tcp-response content accept'");
        return;
      }
      if (!checkAction(l, r, {"accept", "reject", "silent-drop", "set-var", "unset-var", "sc-inc-gpc0",
                              "sc-inc-gpc1", "sc-set-gpt0", "set-log-level", "set-mark", "set-tos", "set-nice"})) {
        return;
      }
      p.tcpResponseContent.push_back(r);
      return;
    }
    error(l, "unknown 'tcp-response " + l.words[1] + "'",
          "use 'tcp-response inspect-delay' or 'tcp-response content'");
  }

  void parseBalance(const ConfigLine& l) {
    ProxyConfig& p = current_;
    std::string algo = l.words[1];
    std::vector<std::string> args(l.words.begin() + 2, l.words.end());
    std::string base = algo.substr(0, algo.find('('));
    static const std::set<std::string> kTcp = {"roundrobin", "static-rr", "leastconn", "first",
                                               "source", "random", "hash"};
    if (base == "rdp-cookie") {
      // The RDP cookie's hash picks the server; without one, roundrobin.
      std::string name = algo.size() > base.size() + 2 ? algo.substr(base.size() + 1, algo.size() - base.size() - 2)
                                                       : "mstshash";
      p.balance = {l.where, "hash", {"req.rdp_cookie(" + name + ")"}};
      p.balanceSet = true;
      return;
    }
    static const std::set<std::string> kHttpOnly = {"uri", "url_param", "hdr"};
    if (kHttpOnly.count(base) || core::startsWith(base, "hdr(")) {
      diag_.warnOnce("balance:" + base, l.where,
                     "'balance " + algo + "' needs HTTP data; sluice balances this "
                     "backend with roundrobin, as HAProxy does in TCP mode");
      p.balance = {l.where, "roundrobin", {}};
      p.balanceSet = true;
      return;
    }
    if (!kTcp.count(base)) {
      std::vector<std::string_view> names(kTcp.begin(), kTcp.end());
      std::string guess = suggest(base, names);
      error(l, "unknown balance algorithm '" + algo + "'",
            guess.empty() ? "use roundrobin, static-rr, leastconn, first, source, random or hash"
                          : "did you mean '" + guess + "'?");
      return;
    }
    if (base == "random" && algo != "random") {
      // random(<draws>)
      std::string inner = algo.substr(7, algo.size() > 8 ? algo.size() - 8 : 0);
      auto n = core::parseInt(inner);
      if (algo.back() != ')' || !n || *n < 1) {
        error(l, "invalid '" + algo + "'", "use 'random' or 'random(<draws>)' with draws >= 1");
        return;
      }
      args.insert(args.begin(), inner);
    } else if (base != algo) {
      error(l, "unexpected arguments in '" + algo + "'");
      return;
    }
    if (base == "hash" && args.empty()) {
      error(l, "'balance hash' needs a sample expression", "e.g. 'balance hash req.ssl_sni'");
      return;
    }
    if (base != "hash" && base != "random" && !args.empty()) {
      error(l, "'balance " + base + "' takes no argument");
      return;
    }
    p.balance = {l.where, base, args};
    p.balanceSet = true;
  }

  // bind <addr>[:<port_range>] [, ...] [param*]
  void parseBind(const ConfigLine& l) {
    if (!needArgs(l, 1, "<address>:<port> [params]")) return;
    BindConfig b;
    b.where = l.where;
    b.spec = l.words[1];
    bool terminatesTls = false;
    for (std::string_view spec : core::split(l.words[1], ',')) {
      std::string s(spec);
      if (s.empty()) continue;
      if (core::startsWith(s, "fd@")) {
        // A listening socket the parent made (VTest, systemd, a wrapper):
        // checked when the listeners open, where the descriptor is real.
        auto fd = core::parseInt(s.substr(3));
        if (!fd || *fd < 0 || *fd > INT32_MAX) {
          error(l, "invalid descriptor in bind address '" + s + "'",
                "fd@ takes the number of an inherited listening socket, e.g. 'bind fd@3'");
          return;
        }
        b.inheritedFds.push_back(static_cast<int>(*fd));
        continue;
      }
      if (core::startsWith(s, "sockpair@")) {
        // A connected UNIX socket over which another process passes the
        // descriptors of connections it accepted (SCM_RIGHTS).
        auto fd = core::parseInt(s.substr(9));
        if (!fd || *fd < 0 || *fd > INT32_MAX) {
          error(l, "invalid descriptor in bind address '" + s + "'",
                "sockpair@ takes the number of an inherited connected UNIX socket, e.g. 'bind sockpair@4'");
          return;
        }
        b.sockpairFds.push_back(static_cast<int>(*fd));
        continue;
      }
      if (core::startsWith(s, "unix@") || core::startsWith(s, "abns@") || s[0] == '/' ||
          core::startsWith(s, "udp@") || core::startsWith(s, "udp4@") || core::startsWith(s, "udp6@")) {
        error(l, "bind address '" + s + "' is not supported",
              "sluice listens on TCP over IPv4 and IPv6 (ADDR:PORT, [IPv6]:PORT, :PORT), and on UDP "
              "for QUIC (quic4@ADDR:PORT, quic6@ADDR:PORT)");
        return;
      }
      // "quic4@"/"quic6@": QUIC on UDP. In mode tcp and without "ssl" this
      // is passthrough: the flow is routed by the ClientHello inside the
      // client's Initial packets and never terminated.
      const bool quic = core::startsWith(s, "quic4@") || core::startsWith(s, "quic6@");
      if (quic) {
        if (!b.addresses.empty() && !b.quic) {
          error(l, "bind line mixes QUIC and TCP addresses ('" + l.words[1] + "')",
                "put the quic4@/quic6@ addresses on a bind line of their own");
          return;
        }
        b.quic = true;
        s = (s[4] == '6' ? "ipv6@" : "ipv4@") + s.substr(6);
      } else if (b.quic) {
        error(l, "bind line mixes QUIC and TCP addresses ('" + l.words[1] + "')",
              "put the quic4@/quic6@ addresses on a bind line of their own");
        return;
      }
      if (core::startsWith(s, "tcp@") || core::startsWith(s, "tcp4@")) s = s.substr(s.find('@') + 1);
      if (core::startsWith(s, "tcp6@")) s = "ipv6@" + s.substr(5);
      // Port range "a-b" after the last colon.
      size_t colon = s.rfind(':');
      if (colon == std::string::npos) {
        error(l, "missing port in bind address '" + s + "'", "e.g. 'bind :443' or 'bind 10.0.0.1:443'");
        return;
      }
      std::string portPart = s.substr(colon + 1);
      std::string hostPart = s.substr(0, colon);
      uint32_t first = 0;
      uint32_t last = 0;
      size_t dash = portPart.find('-');
      auto lo = core::parseInt(portPart.substr(0, dash));
      auto hi = dash == std::string::npos ? lo : core::parseInt(portPart.substr(dash + 1));
      if (!lo || !hi || *lo < 1 || *hi > 65535 || *lo > *hi) {
        error(l, "invalid port '" + portPart + "' in bind address '" + s + "'",
              "ports are 1-65535; a range is written 8000-8010");
        return;
      }
      first = static_cast<uint32_t>(*lo);
      last = static_cast<uint32_t>(*hi);
      auto addr = core::Address::parse(hostPart + ":" + std::to_string(first));
      if (addr && quic && core::startsWith(hostPart, "ipv4@") && addr->isV6()) addr.reset();
      if (!addr) {
        // A host name: resolve it once, as HAProxy does.
        addr = resolveHost(hostPart, static_cast<uint16_t>(first));
        if (!addr) {
          error(l, "cannot resolve bind address '" + hostPart + "'",
                "use a numeric address, '*' or nothing before the colon for all addresses");
          return;
        }
      }
      for (uint32_t port = first; port <= last; ++port) {
        core::Address a = *addr;
        a.setPort(static_cast<uint16_t>(port));
        b.addresses.push_back(a);
      }
    }
    if (b.addresses.empty() && b.inheritedFds.empty() && b.sockpairFds.empty()) {
      error(l, "no address in 'bind " + l.words[1] + "'");
      return;
    }
    // A TLS-terminating listener is not served at all, so its other
    // parameters need not be supported; only their names are checked.
    for (size_t i = 2; i < l.words.size(); ++i) {
      if (findParam(kBindTlsParams, l.words[i]) && !findParam(kBindParams, l.words[i])) {
        terminatesTls = true;
      }
    }
    for (size_t i = 2; i < l.words.size(); ++i) {
      const std::string& w = l.words[i];
      const ParamSpec* spec = findParam(kBindParams, w);
      const ParamSpec* tls = spec ? nullptr : findParam(kBindTlsParams, w);
      if (!spec && !tls) {
        std::vector<std::string_view> names = paramNames(kBindParams);
        for (const ParamSpec& t : kBindTlsParams) names.push_back(t.name);
        std::string guess = suggest(w, names);
        error(l, "unknown bind parameter '" + w + "'",
              guess.empty() ? "see docs/configuration.md for bind parameters"
                            : "did you mean '" + guess + "'?");
        return;
      }
      const ParamSpec& ps = spec ? *spec : *tls;
      if (ps.args > 0 && i + 1 >= l.words.size()) {
        error(l, "bind parameter '" + w + "' expects a value");
        return;
      }
      std::string value = ps.args > 0 ? l.words[i + 1] : "";
      if (tls || terminatesTls) {
        // checked by name only (see above)
      } else if (ps.treatment == "unsupported") {
        error(l, "bind parameter '" + w + "' is not supported: " + std::string(ps.note));
        return;
      } else if (ps.treatment == "ignored") {
        diag_.warnOnce("bind:" + w, l.where,
                       "bind parameter '" + w + "' is accepted but ignored: " + std::string(ps.note));
      } else if (w == "accept-proxy") {
        b.acceptProxy = true;
      } else if (w == "defer-accept") {
        b.deferAccept = true;
      } else if (w == "v4v6") {
        b.v4v6 = true;
      } else if (w == "v6only") {
        b.v6only = true;
      } else if (w == "transparent") {
        b.transparent = true;
      } else if (w == "tfo") {
        b.tfo = true;
      } else if (w == "name") {
        b.name = value;
      } else if (w == "interface") {
        b.interface = value;
      } else if (w == "backlog" || w == "maxconn" || w == "mss") {
        auto v = core::parseInt(value);
        if (!v || *v < 0 || *v > INT32_MAX) {
          error(l, "invalid value '" + value + "' for bind parameter '" + w + "'");
          return;
        }
        (w == "backlog" ? b.backlog : w == "maxconn" ? b.maxconn : b.mss) = static_cast<uint32_t>(*v);
      } else if (w == "tcp-ut") {
        uint32_t v;
        if (!parseDuration(value, v)) {
          error(l, "invalid time '" + value + "' for bind parameter 'tcp-ut'");
          return;
        }
        b.tcpUserTimeout = v;
      }
      i += static_cast<size_t>(ps.args);
    }
    if (b.quic && !terminatesTls) {
      if (b.acceptProxy) {
        error(l, "'accept-proxy' on QUIC bind '" + l.words[1] + "': the PROXY protocol has no form for QUIC",
              "remove accept-proxy from this line");
        return;
      }
      if (b.deferAccept || b.tfo || b.backlog || b.mss || b.tcpUserTimeout) {
        diag_.warning(l.where, "TCP parameters (defer-accept, tfo, backlog, mss, tcp-ut) have no effect on "
                               "QUIC bind '" + l.words[1] + "'");
      }
    }
    if (terminatesTls) {
      // This listener terminates TLS: sluice cannot serve it. Remember the
      // proxy so it is skipped as a whole, with one clear warning.
      tlsTerminatingProxies_.insert(current_.name);
      tlsWhere_[current_.name] = l.where;
      return;
    }
    current_.binds.push_back(b);
  }

  std::optional<core::Address> resolveHost(const std::string& host, uint16_t port) {
    if (!gNameResolution) return std::nullopt;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) {
      return std::nullopt;
    }
    core::Address a = core::Address::fromSockaddr(res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (!a.valid()) return std::nullopt;
    a.setPort(port);
    return a;
  }

  // server <name> <address>[:[port]] [param*]
  void parseServer(const ConfigLine& l, bool isDefault) {
    ProxyConfig& p = current_;
    ServerConfig s = p.defaultServer;
    s.where = l.where;
    size_t i = 1;
    if (!isDefault) {
      if (!needArgs(l, 2, "<name> <address>[:port] [params]")) return;
      s.name = l.words[1];
      s.addressSpec = l.words[2];
      if (!resolveServerAddress(l, s)) return;
      i = 3;
    }
    for (; i < l.words.size(); ++i) {
      const std::string& w = l.words[i];
      const ParamSpec* ps = findParam(kServerParams, w);
      if (!ps) {
        std::string guess = suggest(w, paramNames(kServerParams));
        error(l, "unknown server parameter '" + w + "'",
              guess.empty() ? "see docs/configuration.md for server parameters"
                            : "did you mean '" + guess + "'?");
        return;
      }
      if (ps->args > 0 && i + 1 >= l.words.size()) {
        error(l, "server parameter '" + w + "' expects a value");
        return;
      }
      std::string value = ps->args > 0 ? l.words[i + 1] : "";
      i += static_cast<size_t>(ps->args);
      if (ps->treatment == "unsupported") {
        error(l, "server parameter '" + w + "' is not supported: " + std::string(ps->note),
              w == "ssl" ? "remove 'ssl': the client's TLS reaches the server unchanged" : "");
        return;
      }
      if (ps->treatment == "ignored") {
        diag_.warnOnce("server:" + w, l.where,
                       "server parameter '" + w + "' is accepted but ignored: " + std::string(ps->note));
        continue;
      }
      auto number = [&](uint32_t& out, uint64_t max = UINT32_MAX) {
        auto v = core::parseInt(value);
        if (!v || *v < 0 || static_cast<uint64_t>(*v) > max) {
          error(l, "invalid value '" + value + "' for server parameter '" + w + "'",
                "expected an integer from 0 to " + std::to_string(max));
          return false;
        }
        out = static_cast<uint32_t>(*v);
        return true;
      };
      auto duration = [&](uint32_t& out) {
        if (!parseDuration(value, out)) {
          error(l, "invalid time '" + value + "' for server parameter '" + w + "'",
                "use a number with an optional unit: ms, s, m (e.g. '2s')");
          return false;
        }
        return true;
      };
      uint32_t v = 0;
      if (w == "weight") {
        if (number(v, 256)) s.weight = v;
      } else if (w == "maxconn") {
        if (number(v)) s.maxconn = v;
      } else if (w == "maxqueue") {
        if (number(v)) s.maxqueue = v;
      } else if (w == "minconn") {
        if (number(v)) s.minconn = v;
      } else if (w == "backup") {
        s.backup = true;
      } else if (w == "non-stick") {
        s.nonStick = true;
      } else if (w == "stick") {
        s.nonStick = false;
      } else if (w == "disabled") {
        s.disabled = true;
      } else if (w == "enabled") {
        s.disabled = false;
      } else if (w == "check") {
        s.check = true;
      } else if (w == "no-check") {
        s.check = false;
      } else if (w == "inter") {
        if (duration(v)) s.inter = std::max<uint32_t>(v, 1);
      } else if (w == "fastinter") {
        if (duration(v)) s.fastinter = v;
      } else if (w == "downinter") {
        if (duration(v)) s.downinter = v;
      } else if (w == "rise") {
        if (number(v, 1000) && v >= 1) s.rise = v;
      } else if (w == "fall") {
        if (number(v, 1000) && v >= 1) s.fall = v;
      } else if (w == "port") {
        if (number(v, 65535)) s.checkPort = static_cast<uint16_t>(v);
      } else if (w == "addr") {
        s.checkAddr = value;
      } else if (w == "check-ssl") {
        s.checkSsl = true;
      } else if (w == "no-check-ssl") {
        s.checkSsl = false;
      } else if (w == "check-sni") {
        s.checkSni = value;
      } else if (w == "check-alpn") {
        s.checkAlpn.clear();
        for (auto a : core::split(value, ',')) s.checkAlpn.emplace_back(a);
      } else if (w == "check-send-proxy") {
        s.checkSendProxy = true;
      } else if (w == "tcp-ut") {
        if (duration(v)) s.tcpUserTimeout = v;
      } else if (w == "track") {
        s.track = value;
      } else if (w == "observe") {
        if (value == "layer4") {
          s.observeLayer4 = true;
        } else if (value == "layer7") {
          diag_.warning(l.where, "'observe layer7' is ignored for server '" + s.name +
                                     "': it needs HTTP mode, as HAProxy says; 'observe layer4' counts connection errors");
        } else if (value == "none") {
          s.observeLayer4 = false;
        } else {
          error(l, "unknown 'observe " + value + "'", "use 'observe layer4'");
          return;
        }
      } else if (w == "on-error") {
        if (value != "fastinter" && value != "fail-check" && value != "sudden-death" && value != "mark-down") {
          error(l, "unknown 'on-error " + value + "'", "use fastinter, fail-check, sudden-death or mark-down");
          return;
        }
        s.onError = value;
      } else if (w == "error-limit") {
        if (number(v) && v > 0) s.errorLimit = v;
      } else if (w == "socks4") {
        auto a = core::Address::parse(value);
        if (!a || !a->isV4() || a->port() == 0) {
          error(l, "invalid SOCKS4 proxy address '" + value + "'", "write an IPv4 address and a port: 'socks4 192.0.2.1:1080'");
          return;
        }
        s.socks4 = value;
      } else if (w == "check-via-socks4") {
        s.checkViaSocks4 = true;
      } else if (w == "agent-check") {
        s.agentCheck = true;
      } else if (w == "no-agent-check") {
        s.agentCheck = false;
      } else if (w == "agent-port") {
        if (number(v, 65535) && v > 0) s.agentPort = static_cast<uint16_t>(v);
      } else if (w == "agent-addr") {
        s.agentAddr = value;
      } else if (w == "agent-inter") {
        if (duration(v)) s.agentInter = std::max<uint32_t>(v, 1);
      } else if (w == "agent-send") {
        s.agentSend = value;
      } else if (w == "no-check-send-proxy") {
        s.checkSendProxy = false;
      } else if (w == "send-proxy") {
        s.sendProxy = ProxyProtocolOut::V1;
      } else if (w == "send-proxy-v2") {
        s.sendProxy = ProxyProtocolOut::V2;
      } else if (w == "no-send-proxy" || w == "no-send-proxy-v2") {
        s.sendProxy = ProxyProtocolOut::None;
      } else if (w == "proxy-v2-options") {
        s.proxyV2Options.clear();
        for (auto o : core::split(value, ',')) {
          std::string opt(o);
          if (opt == "authority" || opt == "crc32c") {
            s.proxyV2Options.push_back(opt);
          } else if (opt == "ssl" || opt == "cert-cn" || opt == "ssl-cipher" || opt == "cert-sig" ||
                     opt == "cert-key" || opt == "unique-id") {
            diag_.warnOnce("pp2opt:" + opt, l.where,
                           "proxy-v2-options '" + opt + "' is accepted but ignored: " +
                               (opt == "unique-id" ? std::string("sluice generates no unique id")
                                                   : std::string("sluice terminates no TLS, so there is "
                                                                 "no TLS session of its own to describe")));
          } else {
            error(l, "unknown proxy-v2-options value '" + opt + "'",
                  "use authority, crc32c (and, ignored here, ssl, cert-cn, ssl-cipher, cert-sig, cert-key, unique-id)");
            return;
          }
        }
      } else if (w == "slowstart") {
        if (duration(v)) s.slowstart = v;
      } else if (w == "on-marked-down") {
        if (value != "shutdown-sessions") {
          error(l, "unknown on-marked-down action '" + value + "'", "use 'shutdown-sessions'");
          return;
        }
        s.onMarkedDown = value;
      } else if (w == "on-marked-up") {
        if (value != "shutdown-backup-sessions") {
          error(l, "unknown on-marked-up action '" + value + "'", "use 'shutdown-backup-sessions'");
          return;
        }
        s.onMarkedUp = value;
      } else if (w == "id") {
        if (number(v) && v > 0) s.id = v;
      } else if (w == "source") {
        size_t next = 0;
        if (!parseSource(l, i, s.source, next)) return;
        i = next - 1;  // the loop's ++i lands on the word after
      } else if (w == "verify") {
        if (value != "none" && value != "required") {
          error(l, "unknown verify mode '" + value + "'", "use 'none' or 'required'");
          return;
        }
        s.verify = value;
      } else if (w == "init-addr") {
        s.initAddr = value;
      } else if (w == "ca-file") {
        s.caFile = value;
      }
    }
    if (isDefault) {
      s.name.clear();
      s.addressSpec.clear();
      p.defaultServer = s;
      return;
    }
    auto [known, added] = serverNames_.try_emplace(s.name, p.servers.size());
    if (!added) {
      error(l, "server '" + s.name + "' is already defined in " + proxyLabel(p) + " at " +
                   p.servers[known->second].where.toString(),
            "server names must be unique within a backend");
      return;
    }
    if (s.weight == 0 && !s.backup) {
      // weight 0 is legal: the server takes no new load-balanced traffic.
    }
    p.servers.push_back(s);
  }

  bool resolveServerAddress(const ConfigLine& l, ServerConfig& s) {
    std::string spec = s.addressSpec;
    if (core::startsWith(spec, "unix@") || core::startsWith(spec, "abns@") || spec[0] == '/' ||
        core::startsWith(spec, "sockpair@") || core::startsWith(spec, "fd@")) {
      error(l, "server address '" + spec + "' is not supported",
            "sluice connects to servers over TCP: use ADDR:PORT");
      return false;
    }
    bool forceV6 = false;
    if (core::startsWith(spec, "quic4@") || core::startsWith(spec, "quic6@")) {
      // A QUIC server: QUIC flows of its backend go there (UDP), TCP never.
      s.quic = true;
      spec = (spec[4] == '6' ? "ipv6@" : "ipv4@") + spec.substr(6);
    }
    for (const char* prefix : {"ipv4@", "tcp@", "tcp4@"}) {
      if (core::startsWith(spec, prefix)) spec = spec.substr(std::strlen(prefix));
    }
    for (const char* prefix : {"ipv6@", "tcp6@"}) {
      if (core::startsWith(spec, prefix)) {
        spec = spec.substr(std::strlen(prefix));
        forceV6 = true;
      }
    }
    std::string host = spec;
    std::string port;
    if (!spec.empty() && spec[0] == '[') {
      size_t close = spec.find(']');
      if (close == std::string::npos) {
        error(l, "missing ']' in server address '" + s.addressSpec + "'");
        return false;
      }
      host = spec.substr(1, close - 1);
      if (close + 1 < spec.size()) {
        if (spec[close + 1] != ':') {
          error(l, "invalid server address '" + s.addressSpec + "'");
          return false;
        }
        port = spec.substr(close + 2);
      }
      forceV6 = true;
    } else if (std::count(spec.begin(), spec.end(), ':') == 1) {
      host = spec.substr(0, spec.find(':'));
      port = spec.substr(spec.find(':') + 1);
    } else if (std::count(spec.begin(), spec.end(), ':') > 1) {
      auto whole = core::Address::parse("ipv6@" + spec);
      if (!whole) {
        error(l, "invalid server address '" + s.addressSpec + "'",
              "write IPv6 addresses in brackets: [2001:db8::1]:443");
        return false;
      }
      host = whole->ipString();
      port = whole->port() ? std::to_string(whole->port()) : "";
      forceV6 = true;
    }
    uint16_t portNumber = 0;
    if (port.empty()) {
      s.portFromClient = true;  // same port as the client connected to
    } else if (port[0] == '+' || port[0] == '-') {
      auto off = core::parseInt(port);
      if (!off || *off < -65535 || *off > 65535) {
        error(l, "invalid port offset '" + port + "' in server address");
        return false;
      }
      s.portFromClient = true;
      s.portOffset = static_cast<int>(*off);
    } else {
      auto n = core::parseInt(port);
      if (!n || *n < 1 || *n > 65535) {
        error(l, "invalid port '" + port + "' in server address '" + s.addressSpec + "'",
              "ports are 1-65535");
        return false;
      }
      portNumber = static_cast<uint16_t>(*n);
    }
    std::optional<core::Address> addr =
        core::Address::parse((forceV6 ? "ipv6@" : "") +
                             (forceV6 && host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                             ":" + std::to_string(portNumber));
    if (!addr) {
      addr = resolveHost(host, portNumber);
    }
    if (!addr) {
      error(l, "could not resolve address '" + host + "' of server '" + s.name + "'",
            "check the name, or use a numeric address");
      return false;
    }
    if (addr->isAny()) {
      error(l, "server '" + s.name + "' has no address ('" + s.addressSpec + "')",
            "give the server's IP address or host name");
      return false;
    }
    s.address = *addr;
    return true;
  }

  // -- checks over the whole file --------------------------------------------

  void validate() {
    for (const ProxyConfig& p : config_.proxies) {
      const bool any = !p.emailMailers.empty() || !p.emailFrom.empty() || !p.emailTo.empty();
      if (!any) continue;
      if (p.emailMailers.empty() || p.emailFrom.empty() || p.emailTo.empty()) {
        diag_.warning(p.emailWhere, "email alerts of " + proxyLabel(p) +
                                        " need 'email-alert mailers', 'from' and 'to'; none will be sent");
        continue;
      }
      bool found = false;
      for (const MailersConfig& m : config_.mailers) found = found || m.name == p.emailMailers;
      if (!found) {
        diag_.error(p.emailWhere, "no mailers section named '" + p.emailMailers + "' for the email alerts of " +
                                      proxyLabel(p));
      }
    }
    for (const ProxyConfig& p : config_.proxies) {
      if (p.checkKind != ProxyConfig::CheckKind::External || !p.isBackend) continue;
      if (!config_.global.externalCheck) {
        diag_.error(p.checkKindWhere, "'option external-check' in " + proxyLabel(p) +
                                          " needs 'external-check' in the global section",
                    "add 'external-check' to the global section: external checks run programs");
      } else if (p.externalCheckCommand.empty()) {
        diag_.error(p.checkKindWhere, "'option external-check' in " + proxyLabel(p) + " has no command",
                    "add 'external-check command <program>'");
      }
    }
    for (const ProgramConfig& prog : config_.programs) {
      if (prog.command.empty()) {
        diag_.error(prog.where, "program '" + prog.name + "' has no 'command'", "add 'command <program> [<arguments>...]'");
      }
    }
    // Proxies that terminate TLS or speak HTTP are not served: say so once each.
    std::vector<ProxyConfig> kept;
    std::set<std::string> frontendNames;
    std::set<std::string> backendNames;
    for (ProxyConfig& p : config_.proxies) {
      if (p.isFrontend && tlsTerminatingProxies_.count(p.name)) {
        diag_.warning(tlsWhere_[p.name],
                      p.kind + " '" + p.name + "' terminates TLS ('ssl' on bind), which sluice "
                      "never does; it is not served",
                      "serve it with HAProxy, or forward its port to the TLS servers as passthrough");
        if (p.isBackend) {
          p.isFrontend = false;
          p.binds.clear();
        } else {
          continue;
        }
      }
      if (p.servesStats()) {
        checkStatsProxy(p);
      } else {
        for (const TcpRuleConfig& r : p.httpRequest) {
          diag_.warnOnce("http-request:" + p.name, r.where,
                         "'http-request' rules are HTTP-only; sluice ignores them in " + p.kind + " '" +
                             p.name + "'",
                         "they are served only in a 'mode http' stats or metrics proxy");
        }
      }
      if (!p.servesStats() && p.mode == ProxyMode::Http && p.isFrontend && !p.binds.empty()) {
        diag_.warning(p.modeWhere.line ? p.modeWhere : p.where,
                      p.kind + " '" + p.name + "' is in mode http, which sluice does not serve "
                      "(it forwards TCP and never reads HTTP); its listeners are not opened",
                      "set 'mode tcp' in this section to forward it as raw TCP");
        if (p.isBackend) {
          p.isFrontend = false;
          p.binds.clear();
        } else {
          continue;
        }
      }
      if (p.isFrontend) {
        if (!frontendNames.insert(p.name).second) {
          diag_.error(p.where, "a frontend or listen section named '" + p.name + "' already exists",
                      "proxy names must be unique among frontends");
        }
      }
      if (p.isBackend) {
        if (!backendNames.insert(p.name).second) {
          diag_.error(p.where, "a backend or listen section named '" + p.name + "' already exists",
                      "proxy names must be unique among backends");
        }
      }
      kept.push_back(std::move(p));
    }
    config_.proxies = std::move(kept);

    for (ProxyConfig& p : config_.proxies) {
      if (p.disabled) continue;
      if (p.isFrontend) {
        if (p.binds.empty()) {
          diag_.warning(p.where, p.kind + " '" + p.name + "' has no 'bind' line and accepts nothing",
                        "add 'bind :PORT', or declare it as a backend");
        }
        if (p.httplog && p.mode == ProxyMode::Tcp) {
          diag_.warnOnce("httplog-tcp:" + p.name,
                         p.httplogWhere.line ? p.httplogWhere : p.where,
                         "'option httplog' is not usable with " + p.kind + " '" + p.name +
                             "' in mode tcp; falling back to 'option tcplog'",
                         "set 'option tcplog' in the proxy (or in a defaults section for TCP)");
          p.httplog = false;
          p.tcplog = true;
        }
        bool hasLogTarget = !p.log.disabled && (!p.log.targets.empty() ||
                                                 (p.log.global && !config_.global.log.targets.empty()));
        if ((p.tcplog || !p.logFormat.empty()) && !hasLogTarget) {
          diag_.warning(p.where, "'" + std::string(p.logFormat.empty() ? "option tcplog" : "log-format") +
                                     "' has no effect in " + p.kind + " '" + p.name +
                                     "': it has no log target",
                        "add 'log global' (with a 'log' line in the global section) or a 'log' line here");
        }
        if (!p.timeoutClient) {
          diag_.warning(p.where, "missing 'timeout client' for " + p.kind + " '" + p.name +
                                     "': idle clients are never closed",
                        "add 'timeout client 50s' (or a value that suits the service)");
        }
        auto checkBackend = [&](const std::string& name, const SourceLocation& where) {
          const ProxyConfig* be = config_.findProxy(name, /*backend=*/true);
          if (!be) {
            std::vector<std::string_view> names(backendNames.begin(), backendNames.end());
            std::string guess = suggest(name, names);
            diag_.error(where, "unknown backend '" + name + "' in " + p.kind + " '" + p.name + "'",
                        guess.empty() ? "declare 'backend " + name + "'"
                                      : "did you mean '" + guess + "'?");
          }
        };
        if (!p.defaultBackend.empty()) {
          checkBackend(p.defaultBackend, p.defaultBackendWhere);
        }
        for (const UseBackendConfig& u : p.useBackends) {
          if (u.backend.find("%[") == std::string::npos) {
            checkBackend(u.backend, u.where);
          }
        }
      }
      if (p.isBackend) {
        if (!p.timeoutConnect || !p.timeoutServer) {
          if (!p.servers.empty()) {
            diag_.warning(p.where, "missing 'timeout connect' or 'timeout server' for " + p.kind +
                                       " '" + p.name + "'",
                          "add 'timeout connect 5s' and 'timeout server 50s'");
          }
        }
        std::set<uint32_t> ids;
        for (const ServerConfig& s : p.servers) {
          if (s.id && !ids.insert(s.id).second) {
            diag_.error(s.where, "server id " + std::to_string(s.id) + " is used twice in " +
                                     p.kind + " '" + p.name + "'");
          }
          if (s.agentCheck && !s.agentPort) {
            diag_.error(s.where, "server '" + s.name + "' has 'agent-check' but no 'agent-port'",
                        "add 'agent-port <port>': the agent listens on a port of its own");
          }
          if (!s.socks4.empty() && !s.address.isV4() && !s.portFromClient) {
            diag_.error(s.where, "server '" + s.name + "' is reached through a SOCKS4 proxy, which carries IPv4 addresses only");
          }
          if (s.checkViaSocks4 && s.socks4.empty()) {
            diag_.error(s.where, "server '" + s.name + "' has 'check-via-socks4' but no 'socks4 <address>'");
          }
          if (s.quic) checkQuicServer(s);
        }
      }
    }
    checkQuicRouting();
  }

  // What a QUIC server cannot do: QUIC has no PROXY protocol and SOCKS4
  // carries TCP only.
  void checkQuicServer(const ServerConfig& s) {
    if (s.sendProxy != ProxyProtocolOut::None) {
      diag_.error(s.where, "QUIC server '" + s.name + "' has 'send-proxy': the PROXY protocol has no form for QUIC",
                  "remove it; 'source 0.0.0.0 usesrc clientip' gives the server the client's address");
    }
    if (!s.socks4.empty()) {
      diag_.error(s.where, "QUIC server '" + s.name + "' has 'socks4': SOCKS4 carries TCP only");
    }
    if (s.checkSsl || s.checkSendProxy || s.agentCheck || s.checkViaSocks4) {
      diag_.warning(s.where, "QUIC server '" + s.name + "' is checked with a QUIC version probe; check-ssl, "
                             "check-send-proxy, check-via-socks4 and agent-check do not apply to it");
    }
  }

  // A frontend with quic4@/quic6@ binds needs QUIC servers behind the
  // backends it routes to, and QUIC servers need such a frontend.
  void checkQuicRouting() {
    auto hasQuicServer = [](const ProxyConfig& be) {
      return std::any_of(be.servers.begin(), be.servers.end(), [](const ServerConfig& s) { return s.quic; });
    };
    std::set<std::string> reachedByQuic;
    for (const ProxyConfig& p : config_.proxies) {
      if (p.disabled || !p.isFrontend) continue;
      const BindConfig* quicBind = nullptr;
      bool tcpBind = false;
      for (const BindConfig& b : p.binds) {
        if (b.quic) quicBind = &b;
        else tcpBind = true;
      }
      std::vector<std::pair<std::string, SourceLocation>> targets;
      if (!p.defaultBackend.empty()) targets.emplace_back(p.defaultBackend, p.defaultBackendWhere);
      else if (p.isBackend) targets.emplace_back(p.name, p.where);
      for (const UseBackendConfig& u : p.useBackends) {
        if (u.backend.find("%[") == std::string::npos) targets.emplace_back(u.backend, u.where);
      }
      if (tcpBind) {
        for (const auto& [name, where] : targets) {
          const ProxyConfig* be = config_.findProxy(name, /*backend=*/true);
          if (be && !be->servers.empty() &&
              std::all_of(be->servers.begin(), be->servers.end(), [](const ServerConfig& s) { return s.quic; })) {
            diag_.warning(where, "TCP connections of " + p.kind + " '" + p.name + "' routed to backend '" + name +
                                     "' find only QUIC servers there and are refused",
                          "add a TCP server to backend '" + name + "', or route only QUIC to it");
          }
        }
      }
      if (!quicBind) continue;
      bool dynamic = std::any_of(p.useBackends.begin(), p.useBackends.end(), [](const UseBackendConfig& u) {
        return u.backend.find("%[") != std::string::npos;
      });
      bool anyQuic = dynamic;
      for (const auto& [name, where] : targets) {
        const ProxyConfig* be = config_.findProxy(name, /*backend=*/true);
        if (!be) continue;
        reachedByQuic.insert(name);
        if (hasQuicServer(*be)) {
          anyQuic = true;
        } else {
          diag_.warning(where, "QUIC flows of " + p.kind + " '" + p.name + "' routed to backend '" + name +
                                   "' find no QUIC server there and are dropped",
                        "add a 'server NAME quic4@ADDR:PORT' line to backend '" + name + "'");
        }
      }
      if (dynamic) {
        for (const ProxyConfig& be : config_.proxies) {
          if (be.isBackend) reachedByQuic.insert(be.name);
        }
      }
      if (!anyQuic) {
        diag_.error(quicBind->where, p.kind + " '" + p.name + "' listens for QUIC ('" + quicBind->spec +
                                         "') but no backend it routes to has a QUIC server",
                    "give a backend it uses a 'server NAME quic4@ADDR:PORT' line, or remove this bind");
      }
    }
    for (const ProxyConfig& be : config_.proxies) {
      if (be.disabled || !be.isBackend || !hasQuicServer(be) || reachedByQuic.count(be.name)) continue;
      diag_.warning(be.where, "backend '" + be.name + "' has QUIC servers but no frontend with a "
                              "quic4@/quic6@ bind routes to it; they only receive health checks");
    }
  }

  Diagnostics& diag_;
  Config config_;
  Section section_ = Section::None;
  bool inProxy_ = false;
  ProxyConfig current_;
  // current_'s server names, each with its index: a backend of 10,000
  // servers is checked for duplicates without comparing every pair.
  std::unordered_map<std::string, size_t> serverNames_;
  ProxyConfig defaults_;
  std::map<std::string, ProxyConfig> namedDefaults_;
  std::map<std::string, unsigned> defaultsUsers_;  // named defaults with rules: 1 frontends, 2 backends
  std::set<std::string> tlsTerminatingProxies_;
  std::map<std::string, SourceLocation> tlsWhere_;
};

}  // namespace

bool parseDuration(std::string_view text, uint32_t& millis) {
  if (text.empty()) return false;
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return false;
  auto n = core::parseInt(text.substr(0, i));
  if (!n) return false;
  std::string_view unit = text.substr(i);
  uint64_t v = static_cast<uint64_t>(*n);
  uint64_t ms;
  if (unit.empty() || unit == "ms") {
    ms = v;
  } else if (unit == "us") {
    ms = (v + 999) / 1000;
  } else if (unit == "s") {
    ms = v * 1000;
  } else if (unit == "m") {
    ms = v * 60'000;
  } else if (unit == "h") {
    ms = v * 3'600'000;
  } else if (unit == "d") {
    ms = v * 86'400'000;
  } else {
    return false;
  }
  if (ms > INT32_MAX) return false;  // HAProxy caps timers at 2^31-1 ms (24.8 days)
  millis = static_cast<uint32_t>(ms);
  return true;
}

bool parseSize(std::string_view text, uint64_t& bytes) {
  if (text.empty()) return false;
  uint64_t mult = 1;
  char last = core::asciiLower(text.back());
  if (last == 'k' || last == 'm' || last == 'g') {
    mult = last == 'k' ? 1024 : last == 'm' ? 1024 * 1024 : 1024ull * 1024 * 1024;
    text.remove_suffix(1);
  }
  auto n = core::parseInt(text);
  if (!n || *n < 0) return false;
  bytes = static_cast<uint64_t>(*n) * mult;
  return true;
}

Config parseConfig(const std::vector<ConfigLine>& lines, core::Diagnostics& diag) {
  Parser parser(diag);
  return parser.run(lines);
}

Config loadConfig(const std::vector<std::string>& paths, core::Diagnostics& diag,
                  const EnvLookup& env) {
  std::vector<std::string> loaded;
  std::vector<ConfigLine> lines = readConfigFiles(paths, env, diag, &loaded);
  Config cfg = parseConfig(lines, diag);
  cfg.files = loaded;
  return cfg;
}

void setNameResolution(bool enabled) { gNameResolution = enabled; }

std::vector<KeywordInfo> knownKeywords() {
  std::vector<KeywordInfo> out;
  for (const Known& k : kGlobalKnown) {
    out.push_back({"global", std::string(k.name), std::string(k.treatment), std::string(k.note)});
  }
  for (const Known& k : kProxyKnown) {
    out.push_back({"proxy", std::string(k.name), std::string(k.treatment), std::string(k.note)});
  }
  for (std::string_view o : kSupportedOptions) {
    out.push_back({"option", std::string(o), "supported", ""});
  }
  for (const Known& k : kHttpOptions) {
    out.push_back({"option", std::string(k.name), std::string(k.treatment), std::string(k.note)});
  }
  for (const ParamSpec& p : kServerParams) {
    out.push_back({"server", std::string(p.name), std::string(p.treatment), std::string(p.note)});
  }
  for (const ParamSpec& p : kBindParams) {
    out.push_back({"bind", std::string(p.name), std::string(p.treatment), std::string(p.note)});
  }
  return out;
}

}  // namespace sluice::config
