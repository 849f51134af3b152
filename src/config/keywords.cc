// SPDX-License-Identifier: Apache-2.0
// Every keyword the configuration parser knows, by kind of section, with its
// treatment and the Parser member that reads it (keywords.h). The notes of
// ignored and unsupported keywords are what the warnings and errors say.
#include "config/keywords.h"

#include <set>
#include <string_view>

#include "config/parser_impl.h"

namespace sluice::config::detail {

KeywordTable::KeywordTable(std::vector<Keyword> entries) : entries_(std::move(entries)) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Keyword& k = entries_[i];
    if (k.prefix) {
      prefixes_.push_back(i);
      continue;
    }
    byName_.emplace(k.name, i);
    if (!k.removed) suggestions_.push_back(k.name);
  }
}

const Keyword* KeywordTable::find(std::string_view word) const {
  auto it = byName_.find(word);
  if (it != byName_.end()) return &entries_[it->second];
  const Keyword* best = nullptr;
  for (size_t i : prefixes_) {
    const Keyword& k = entries_[i];
    if (word.starts_with(k.name) && (!best || k.name.size() > best->name.size())) best = &k;
  }
  return best;
}

// ---------------------------------------------------------------------------
// global

namespace {

// HAProxy's tuning and TLS keywords of the global section, 2.6 through 3.5
// (from their manuals): those sluice has no entry of its own for are
// accepted and ignored; any other "tune." or "ssl-" word is a typo, an
// error with a suggestion as HAProxy gives (issue 23: "tune.buffsize").
constexpr std::string_view kHaproxyTuning[] = {
    "ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites", "ssl-default-bind-client-sigalgs",
    "ssl-default-bind-curves", "ssl-default-bind-options", "ssl-default-bind-sigalgs",
    "ssl-default-server-ciphers", "ssl-default-server-ciphersuites", "ssl-default-server-client-sigalgs",
    "ssl-default-server-curves", "ssl-default-server-options", "ssl-default-server-sigalgs",
    "ssl-dh-param-file", "ssl-engine", "ssl-load-extra-del-ext", "ssl-load-extra-files", "ssl-mode-async",
    "ssl-passphrase-cmd", "ssl-propquery", "ssl-provider", "ssl-provider-path", "ssl-security-level",
    "ssl-server-verify", "ssl-skip-self-issued-ca", "tune.applet.zero-copy-forwarding", "tune.buffers.limit",
    "tune.buffers.reserve", "tune.bufsize", "tune.bufsize.large", "tune.bufsize.small",
    "tune.cli.max-payload-size", "tune.comp.maxlevel", "tune.defaults.purge", "tune.disable-fast-forward",
    "tune.disable-zero-copy-forwarding", "tune.epoll.mask-events", "tune.events.max-events-at-once",
    "tune.fail-alloc", "tune.fd.edge-triggered", "tune.fd.tables", "tune.glitches.kill.cpu-usage",
    "tune.h1.be.glitches-threshold", "tune.h1.fe.glitches-threshold", "tune.h1.zero-copy-fwd-recv",
    "tune.h1.zero-copy-fwd-send", "tune.h2.be.glitches-threshold", "tune.h2.be.initial-window-size",
    "tune.h2.be.max-concurrent-streams", "tune.h2.be.max-frames-at-once", "tune.h2.be.rxbuf",
    "tune.h2.fe.glitches-threshold", "tune.h2.fe.initial-window-size", "tune.h2.fe.max-concurrent-streams",
    "tune.h2.fe.max-frames-at-once", "tune.h2.fe.max-rst-at-once", "tune.h2.fe.max-total-streams",
    "tune.h2.fe.rxbuf", "tune.h2.header-table-size", "tune.h2.initial-window-size", "tune.h2.log-errors",
    "tune.h2.max-concurrent-streams", "tune.h2.max-frame-size", "tune.h2.zero-copy-fwd-send",
    "tune.http.cookielen", "tune.http.logurilen", "tune.http.maxhdr", "tune.idle-pool.shared",
    "tune.idletimer", "tune.listener.default-shards", "tune.listener.multi-queue",
    "tune.lua.bool-sample-conversion", "tune.lua.burst-timeout", "tune.lua.forced-yield",
    "tune.lua.log.loggers", "tune.lua.log.stderr", "tune.lua.maxmem", "tune.lua.openlibs",
    "tune.lua.service-timeout", "tune.lua.session-timeout", "tune.lua.task-timeout",
    "tune.max-checks-per-thread", "tune.max-rules-at-once", "tune.maxaccept", "tune.maxpollevents",
    "tune.maxrewrite", "tune.memory.hot-size", "tune.notsent-lowat.client", "tune.notsent-lowat.server",
    "tune.pattern.cache-size", "tune.peers.max-updates-at-once", "tune.pipesize", "tune.pool-high-fd-ratio",
    "tune.pool-low-fd-ratio", "tune.pt.zero-copy-forwarding", "tune.quic.be.cc.cubic-min-losses",
    "tune.quic.be.cc.hystart", "tune.quic.be.cc.max-frame-loss", "tune.quic.be.cc.max-win-size",
    "tune.quic.be.cc.reorder-ratio", "tune.quic.be.max-idle-timeout", "tune.quic.be.sec.glitches-threshold",
    "tune.quic.be.stream.data-ratio", "tune.quic.be.stream.max-concurrent", "tune.quic.be.stream.rxbuf",
    "tune.quic.be.tx.pacing", "tune.quic.be.tx.udp-gso", "tune.quic.fe.cc.cubic-min-losses",
    "tune.quic.fe.cc.hystart", "tune.quic.fe.cc.max-frame-loss", "tune.quic.fe.cc.max-win-size",
    "tune.quic.fe.cc.reorder-ratio", "tune.quic.fe.max-idle-timeout", "tune.quic.fe.sec.glitches-threshold",
    "tune.quic.fe.sec.retry-threshold", "tune.quic.fe.sock-per-conn", "tune.quic.fe.stream.data-ratio",
    "tune.quic.fe.stream.max-concurrent", "tune.quic.fe.stream.max-total", "tune.quic.fe.stream.rxbuf",
    "tune.quic.fe.tx.pacing", "tune.quic.fe.tx.udp-gso", "tune.quic.frontend.conn-tx-buffers.limit",
    "tune.quic.frontend.max-idle-timeout", "tune.quic.frontend.max-streams-bidi", "tune.quic.listen",
    "tune.quic.mem.tx-max", "tune.quic.retry-threshold", "tune.quic.zero-copy-fwd-send",
    "tune.rcvbuf.backend", "tune.rcvbuf.client", "tune.rcvbuf.frontend", "tune.rcvbuf.server",
    "tune.recv_enough", "tune.renice.runtime", "tune.renice.startup", "tune.ring.queues",
    "tune.runqueue-depth", "tune.sched.low-latency", "tune.sndbuf.backend", "tune.sndbuf.client",
    "tune.sndbuf.frontend", "tune.sndbuf.server", "tune.ssl.cachesize", "tune.ssl.capture-buffer-size",
    "tune.ssl.capture-cipherlist-size", "tune.ssl.certificate-compression", "tune.ssl.default-dh-param",
    "tune.ssl.force-private-cache", "tune.ssl.hard-maxrecord", "tune.ssl.keylog",
    "tune.ssl.keyupdate-rate-limit", "tune.ssl.lifetime", "tune.ssl.maxrecord",
    "tune.ssl.ocsp-update.maxdelay", "tune.ssl.ocsp-update.mindelay", "tune.ssl.ssl-ctx-cache-size",
    "tune.stick-counters", "tune.streams-elasticity", "tune.takeover-other-tg-connections",
    "tune.vars.global-max-size", "tune.vars.proc-max-size", "tune.vars.reqres-max-size",
    "tune.vars.sess-max-size", "tune.vars.txn-max-size", "tune.zlib.memlevel", "tune.zlib.windowsize",
};

std::vector<Keyword> withHaproxyTuning(std::vector<Keyword> entries) {
  std::set<std::string_view> own;
  for (const Keyword& k : entries) own.insert(k.name);
  for (std::string_view name : kHaproxyTuning) {
    if (own.count(name)) continue;
    entries.push_back({name, kAll, "ignored",
                       name.starts_with("tune.") ? "tuning knob with no equivalent in sluice"
                                                 : "no meaning for a TLS passthrough balancer"});
  }
  return entries;
}

}  // namespace

const KeywordTable& globalKeywordTable() {
  using P = Parser;
  static const KeywordTable table(withHaproxyTuning({
      {"log", kAll, "supported", "", &P::globalLog},
      {"localpeer", kAll, "supported", "", &P::globalLocalPeer},
      {"log-tag", kAll, "supported", "", &P::globalLogTag},
      {"log-send-hostname", kAll, "supported", "", &P::globalLogSendHostname},
      {"maxconn", kAll, "supported", "", &P::globalMaxconn},
      {"nbthread", kAll, "supported", "", &P::globalNbthread},
      {"cpu-map", kAll, "supported", "", &P::parseCpuMap},
      {"nbproc", kAll, "unsupported", "removed from HAProxy 2.5; use 'nbthread'", &P::globalNbproc},
      {"daemon", kAll, "supported", "", &P::globalDaemon},
      {"master-worker", kAll, "supported", "", &P::globalMasterWorker},
      {"pidfile", kAll, "supported", "", &P::globalPidfile},
      {"chroot", kAll, "supported", "", &P::globalChroot},
      {"user", kAll, "supported", "", &P::globalUserGroup},
      {"group", kAll, "supported", "", &P::globalUserGroup},
      {"uid", kAll, "supported", "", &P::globalUidGid},
      {"gid", kAll, "supported", "", &P::globalUidGid},
      {"node", kAll, "supported", "", &P::globalNode},
      {"description", kAll, "supported", "", &P::globalDescription},
      {"zero-warning", kAll, "supported", "", &P::globalZeroWarning},
      {"external-check", kAll, "supported", "", &P::globalExternalCheck},
      {"server-state-base", kAll, "supported", "", &P::globalServerState},
      {"server-state-file", kAll, "supported", "", &P::globalServerState},
      {"pp2-never-send-local", kAll, "supported", "", &P::globalPp2NeverSendLocal},
      {"nosplice", kAll, "supported", "", &P::globalNoSplice},
      {"noreuseport", kAll, "supported", "", &P::globalNoReusePort},
      {"ulimit-n", kAll, "supported", "", &P::globalUlimitN},
      {"hard-stop-after", kAll, "supported", "", &P::globalHardStopAfter},
      {"quiet", kAll, "supported", "", &P::globalQuiet},
      {"strict-limits", kAll, "supported", "", &P::globalStrictLimits},
      {"set-dumpable", kAll, "supported", "", &P::globalSetDumpable},
      {"default-path", kAll, "supported", "", &P::globalDefaultPath},
      {"setenv", kAll, "supported", "", &P::globalEnvironment},
      {"presetenv", kAll, "supported", "", &P::globalEnvironment},
      {"unsetenv", kAll, "supported", "", &P::globalEnvironment},
      {"resetenv", kAll, "supported", "", &P::globalEnvironment},
      {"stats", kAll, "supported", "", &P::parseGlobalStats},
      {"tune.pipesize", kAll, "supported", "", &P::tunePipeSize},
      {"tune.maxaccept", kAll, "supported", "", &P::tuneMaxAccept},
      {"tune.listener.cpu-steering", kAll, "sluice's own", "", &P::tuneCpuSteering},
      {"tune.quic.disable-udp-gso", kAll, "supported", "", &P::tuneQuicOffload},
      {"tune.quic.disable-udp-gro", kAll, "sluice's own", "", &P::tuneQuicOffload},
      {"tune.quic.max-unconfirmed", kAll, "sluice's own", "", &P::tuneQuicUnconfirmed},
      {"tune.quic.unconfirmed-timeout", kAll, "sluice's own", "", &P::tuneQuicUnconfirmed},
      {"tune.bufsize", kAll, "ignored", "sluice sizes its own buffers (ClientHello up to 16 KB, splice pipes)"},
      {"tune.maxrewrite", kAll, "ignored", "sluice sizes its own buffers (ClientHello up to 16 KB, splice pipes)"},
      {"tune.recv_enough", kAll, "ignored", "sluice sizes its own buffers (ClientHello up to 16 KB, splice pipes)"},
      {"ca-base", kAll, "supported", "where a relative `ca-file`/`crl-file` of a peers section's TLS is read (sluice terminates no client TLS)", &P::globalCertBase},
      {"crt-base", kAll, "supported", "where a relative `crt` of a peers section's TLS is read (sluice terminates no client TLS)", &P::globalCertBase},
      {"ssl-default-bind-ciphers", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-default-bind-ciphersuites", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-default-bind-curves", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-default-bind-options", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-default-bind-sigalgs", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-default-bind-client-sigalgs", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-default-server-ciphers", kAll, "ignored", "sluice never originates TLS to servers"},
      {"ssl-default-server-ciphersuites", kAll, "ignored", "sluice never originates TLS to servers"},
      {"ssl-default-server-options", kAll, "ignored", "sluice never originates TLS to servers"},
      {"ssl-default-server-curves", kAll, "ignored", "sluice never originates TLS to servers"},
      {"ssl-dh-param-file", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-server-verify", kAll, "supported", "`none` or `required`: the default `verify` of a peers section's TLS connections (sluice originates no TLS to proxied servers)", &P::globalSslServerVerify},
      {"ssl-engine", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-mode-async", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-propquery", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-provider", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-provider-path", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-skip-self-issued-ca", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-load-extra-files", kAll, "ignored", "sluice never terminates TLS"},
      {"ssl-load-extra-del-ext", kAll, "ignored", "sluice never terminates TLS"},
      {"issuers-chain-path", kAll, "ignored", "sluice never terminates TLS"},
      {"maxsslconn", kAll, "ignored", "sluice never terminates TLS"},
      {"maxsslrate", kAll, "ignored", "sluice never terminates TLS"},
      {"numa-cpu-mapping", kAll, "ignored", "threads are not pinned"},
      {"thread-groups", kAll, "ignored", "sluice runs one group of nbthread threads"},
      {"thread-group", kAll, "ignored", "sluice runs one group of nbthread threads"},
      {"busy-polling", kAll, "ignored", "sluice always sleeps in epoll_wait"},
      {"spread-checks", kAll, "ignored", "first checks are spread over a quarter of 'inter'"},
      {"max-spread-checks", kAll, "ignored", "first checks are spread over a quarter of 'inter'"},
      {"maxpipes", kAll, "ignored", "pipes come from a per-thread pool sized by sluice"},
      {"maxcomprate", kAll, "ignored", "HTTP compression has no meaning in passthrough"},
      {"maxcompcpuusage", kAll, "ignored", "HTTP compression has no meaning in passthrough"},
      {"maxzlibmem", kAll, "ignored", "HTTP compression has no meaning in passthrough"},
      {"noepoll", kAll, "ignored", "sluice always uses epoll"},
      {"nopoll", kAll, "ignored", "sluice always uses epoll"},
      {"nokqueue", kAll, "ignored", "sluice always uses epoll"},
      {"noevports", kAll, "ignored", "sluice always uses epoll"},
      {"nogetaddrinfo", kAll, "ignored", "names are resolved once at start through libc"},
      {"no-memory-trimming", kAll, "ignored", "no equivalent"},
      {"grace", kAll, "ignored", "no equivalent"},
      {"insecure-fork-wanted", kAll, "ignored", "sluice does not forbid process creation as HAProxy does without it: `external-check` commands and `program` sections run either way"},
      {"insecure-setuid-wanted", kAll, "ignored", "sluice never runs setuid helpers"},
      {"unix-bind", kAll, "ignored", "sluice binds TCP sockets only"},
      {"h1-case-adjust", kAll, "ignored", "HTTP-only"},
      {"h1-case-adjust-file", kAll, "ignored", "HTTP-only"},
      {"h1-accept-payload-with-any-method", kAll, "ignored", "HTTP-only"},
      {"h2-workaround-bogus-websocket-clients", kAll, "ignored", "HTTP-only"},
      {"httpclient.resolvers.id", kAll, "ignored", "sluice has no HTTP client"},
      {"httpclient.resolvers.prefer", kAll, "ignored", "sluice has no HTTP client"},
      {"httpclient.ssl.ca-file", kAll, "ignored", "sluice has no HTTP client"},
      {"httpclient.ssl.verify", kAll, "ignored", "sluice has no HTTP client"},
      {"httpclient.resolvers.disabled", kAll, "ignored", "sluice has no HTTP client"},
      {"httpclient.retries", kAll, "ignored", "sluice has no HTTP client"},
      {"httpclient.timeout.connect", kAll, "ignored", "sluice has no HTTP client"},
      // HAProxy 3.x's global keywords (2.6 knows none of them).
      {"anonkey", kAll, "ignored", "sluice's dumps are not anonymized"},
      {"cpu-affinity", kAll, "ignored", "threads are pinned by 'cpu-map' only"},
      {"cpu-policy", kAll, "ignored", "threads are pinned by 'cpu-map' only"},
      {"cpu-set", kAll, "ignored", "threads are pinned by 'cpu-map' only"},
      {"max-threads-per-group", kAll, "ignored", "sluice runs one group of nbthread threads"},
      {"prealloc-fd", kAll, "ignored", "descriptors are taken as connections come"},
      {"debug.counters", kAll, "ignored", "a developer's option of HAProxy"},
      {"force-cfg-parser-pause", kAll, "ignored", "a developer's option of HAProxy"},
      {"expose-deprecated-directives", kAll, "ignored", "sluice reads the directives it reads"},
      {"h1-do-not-close-on-insecure-transfer-encoding", kAll, "ignored", "HTTP-only"},
      {"harden.reject-privileged-ports.tcp", kAll, "ignored", "sluice does not look at source ports"},
      {"harden.reject-privileged-ports.quic", kAll, "ignored", "sluice does not look at source ports"},
      {"jwt.decrypt_alg_list", kAll, "ignored", "HTTP-only"},
      {"jwt.decrypt_enc_list", kAll, "ignored", "HTTP-only"},
      {"key-base", kAll, "ignored", "sluice never terminates TLS"},
      {"limited-quic", kAll, "ignored", "sluice's QUIC passthrough needs no TLS library support"},
      {"noktls", kAll, "ignored", "sluice never terminates TLS"},
      {"ocsp-update.disable", kAll, "ignored", "sluice never terminates TLS"},
      {"ocsp-update.httpproxy", kAll, "ignored", "sluice never terminates TLS"},
      {"ocsp-update.maxdelay", kAll, "ignored", "sluice never terminates TLS"},
      {"ocsp-update.mindelay", kAll, "ignored", "sluice never terminates TLS"},
      {"ocsp-update.mode", kAll, "ignored", "sluice never terminates TLS"},
      {"stats-file", kAll, "supported", "", &P::globalStatsFile},
      {"warn-blocked-traffic-after", kAll, "ignored", "sluice has no watchdog"},
      {"dns-accept-family", kAll, "ignored", "names resolve to what the resolvers section or the system gives"},
      {"cluster-secret", kAll, "ignored", "no QUIC in sluice"},
      {"expose-experimental-directives", kAll, "ignored", "no experimental directives"},
      {"mworker-max-reloads", kAll, "ignored", "no equivalent"},
      {"fd-hard-limit", kAll, "ignored", "descriptors are sized from maxconn"},
      {"close-spread-time", kAll, "ignored", "no equivalent yet"},
      {"profiling.tasks", kAll, "ignored", "no equivalent"},
      {"profiling.memory", kAll, "ignored", "no equivalent"},
      {"maxconnrate", kAll, "unsupported", "connection rate limits are not implemented yet"},
      {"maxsessrate", kAll, "unsupported", "session rate limits are not implemented yet"},
      {"lua-load", kAll, "unsupported", "sluice has no Lua engine"},
      {"lua-load-per-thread", kAll, "unsupported", "sluice has no Lua engine"},
      {"lua-prepend-path", kAll, "unsupported", "sluice has no Lua engine"},
      {"set-var", kAll, "unsupported", "process-wide variables are not implemented"},
      {"wurfl-data-file", kAll, "ignored", "device detection is HTTP-only"},
      {"51degrees-data-file", kAll, "ignored", "device detection is HTTP-only"},
      {"deviceatlas-json-file", kAll, "ignored", "device detection is HTTP-only"},
      {"51degrees-", kAll, "ignored", "no meaning for a TLS passthrough balancer", nullptr, true},
      {"deviceatlas-", kAll, "ignored", "no meaning for a TLS passthrough balancer", nullptr, true},
      {"wurfl-", kAll, "ignored", "no meaning for a TLS passthrough balancer", nullptr, true},
  }));
  return table;
}

// ---------------------------------------------------------------------------
// resolvers

const KeywordTable& resolversKeywordTable() {
  using P = Parser;
  static const KeywordTable table({
      {"nameserver", kAll, "supported", "", &P::resolversNameserver},
      {"parse-resolv-conf", kAll, "supported", "", &P::resolversParseResolvConf},
      {"accepted_payload_size", kAll, "supported", "", &P::resolversPayloadSize},
      {"hold", kAll, "supported", "", &P::resolversHold},
      {"timeout", kAll, "supported", "", &P::resolversTimeout},
      {"resolve_retries", kAll, "supported", "", &P::resolversRetries},
  });
  return table;
}

// ---------------------------------------------------------------------------
// peers

const KeywordTable& peersKeywordTable() {
  using P = Parser;
  static const KeywordTable table({
      {"peer", kAll, "supported", "", &P::peersPeer},
      {"server", kAll, "supported", "", &P::peersPeer},
      {"bind", kAll, "supported", "", &P::peersBind},
      {"disabled", kAll, "supported", "", &P::peersDisabled},
      {"enabled", kAll, "supported", "", &P::peersEnabled},
      {"default-bind", kAll, "supported", "its TLS parameters (`ssl`, `crt`, `ca-file`, `verify`...) apply to the `bind` line", &P::peersDefaultBind},
      {"default-server", kAll, "supported", "its TLS parameters (`ssl`, `crt`, `ca-file`, `verify`, `verifyhost`, `sni`...) apply to the peer lines after it", &P::peersDefaultServer},
      {"log", kAll, "ignored", "peer events go to the global log"},
      {"shards", kAll, "ignored", "every peer holds every entry"},
      {"table", kAll, "supported", "named '<section>/<name>' in rules and on the runtime API", &P::peersTable},
  });
  return table;
}

// ---------------------------------------------------------------------------
// defaults, frontend, listen, backend

const KeywordTable& proxyKeywordTable() {
  using P = Parser;
  static const KeywordTable table({
      {"no", kAll, "supported", "", &P::proxyNegation},
      {"default", kAll, "supported", "", &P::proxyNegation},
      {"option", kAll, "supported", "", &P::proxyOption},
      {"timeout", kAll, "supported", "", &P::parseTimeout},
      {"mode", kAll, "supported", "", &P::proxyMode},
      {"bind", kFe, "supported", "", &P::parseBind},
      {"server", kBe, "supported", "", &P::proxyServer},
      {"server-template", kBe, "supported", "", &P::proxyServerTemplate},
      {"default-server", kDfBe, "supported", "", &P::proxyDefaultServer},
      {"email-alert", kAll, "supported", "", &P::proxyEmailAlert},
      {"external-check", kDfBe, "supported", "", &P::proxyExternalCheck},
      {"persist", kDfBe, "supported", "", &P::proxyPersist},
      {"load-server-state-from-file", kDfBe, "supported", "", &P::proxyLoadServerState},
      {"server-state-file-name", kDfBe, "supported", "", &P::proxyServerStateFileName},
      {"dispatch", kBe, "supported", "", &P::proxyDispatch},
      {"acl", kAll, "supported", "", &P::proxyAcl},
      {"use_backend", kFe, "supported", "", &P::proxyUseBackend},
      {"default_backend", kDfFe, "supported", "", &P::proxyDefaultBackend},
      {"use-server", kBe, "supported", "", &P::proxyUseServer},
      {"balance", kDfBe, "supported", "", &P::proxyBalance},
      {"hash-type", kDfBe, "supported", "", &P::proxyHashType},
      {"stick-table", kFe | kBackend, "supported", "", &P::proxyStickTable},
      {"stick", kAll, "supported", "", &P::parseStick},
      {"retries", kDfBe, "supported", "", &P::proxyRetries},
      {"maxconn", kDfFe, "supported", "", &P::proxyMaxconn},
      {"backlog", kDfFe, "supported", "", &P::proxyBacklog},
      {"fullconn", kDfBe, "supported", "", &P::proxyFullconn},
      {"log", kAll, "supported", "", &P::proxyLog},
      {"log-format", kDfFe, "supported", "", &P::proxyLogFormat},
      {"log-tag", kAll, "supported", "", &P::proxyLogTag},
      {"tcp-request", kAll, "supported", "", &P::parseTcpRequest},
      {"tcp-response", kAll, "supported", "", &P::parseTcpResponse},
      {"tcp-check", kDfBe, "supported", "", &P::proxyTcpCheck},
      {"http-check", kDfBe, "supported", "", &P::proxyHttpCheck},
      {"http-request", kAll, "supported", "", &P::proxyHttpRequest},
      {"source", kDfBe, "supported", "", &P::proxySource},
      {"id", kFe | kBackend, "supported", "", &P::proxyId},
      {"description", kFe | kBackend, "supported", "", &P::proxyDescription},
      {"guid", kFe | kBackend, "supported", "", &P::proxyGuid},
      {"disabled", kAll, "supported", "", &P::proxyDisabled},
      {"enabled", kAll, "supported", "", &P::proxyEnabled},
      {"stats", kAll, "supported", "", &P::proxyStats},
      {"clitcpka-cnt", kDfFe, "supported", "", &P::proxyKeepAlive},
      {"clitcpka-idle", kDfFe, "supported", "", &P::proxyKeepAlive},
      {"clitcpka-intvl", kDfFe, "supported", "", &P::proxyKeepAlive},
      {"srvtcpka-cnt", kDfBe, "supported", "", &P::proxyKeepAlive},
      {"srvtcpka-idle", kDfBe, "supported", "", &P::proxyKeepAlive},
      {"srvtcpka-intvl", kDfBe, "supported", "", &P::proxyKeepAlive},
      {"filter", kAll, "ignored", "HTTP-only", &P::proxyFilter},
      {"transparent", kAll, "unsupported", "deprecated in HAProxy, no meaning here", &P::proxyTransparent},
      {"capture", kAll, "ignored", "HTTP-only"},
      {"compression", kAll, "ignored", "HTTP-only"},
      {"cookie", kAll, "ignored", "HTTP-only persistence"},
      {"declare", kAll, "ignored", "captures are not logged yet"},
      {"errorfile", kAll, "ignored", "HTTP error pages are never sent by a passthrough balancer"},
      {"errorfiles", kAll, "ignored", "HTTP error pages are never sent by a passthrough balancer"},
      {"errorloc", kAll, "ignored", "HTTP-only"},
      {"errorloc302", kAll, "ignored", "HTTP-only"},
      {"errorloc303", kAll, "ignored", "HTTP-only"},
      {"error-log-format", kAll, "ignored", "sluice logs every connection in the TCP format"},
      {"http-after-response", kAll, "ignored", "HTTP-only"},
      {"http-error", kAll, "ignored", "HTTP-only"},
      {"http-response", kAll, "ignored", "HTTP-only"},
      {"http-reuse", kAll, "ignored", "HTTP-only"},
      {"http-send-name-header", kAll, "ignored", "HTTP-only"},
      {"monitor", kAll, "ignored", "HTTP-only"},
      {"monitor-uri", kAll, "ignored", "HTTP-only"},
      {"monitor-net", kAll, "ignored", "removed from HAProxy"},
      {"redirect", kAll, "ignored", "HTTP-only"},
      {"unique-id-format", kAll, "ignored", "HTTP-only"},
      {"unique-id-header", kAll, "ignored", "HTTP-only"},
      {"use-fcgi-app", kAll, "ignored", "HTTP-only"},
      {"max-keep-alive-queue", kAll, "ignored", "HTTP-only"},
      {"force-persist", kAll, "ignored", "HTTP-only"},
      {"ignore-persist", kAll, "ignored", "HTTP-only"},
      {"log-format-sd", kAll, "ignored", "RFC 5424 structured data is not emitted"},
      {"bind-process", kAll, "ignored", "sluice runs one process"},
      {"retry-on", kAll, "ignored", "in TCP mode sluice retries connection failures, as HAProxy does"},
      {"rate-limit", kAll, "unsupported", "session rate limits are not implemented yet"},
        {"userlist", kAll, "ignored", "used by HTTP authentication only"},
      // Removed from HAProxy long ago: the error names what replaced them.
      {"clitimeout", kAll, "unsupported", "timeout client", nullptr, false, true},
      {"srvtimeout", kAll, "unsupported", "timeout server", nullptr, false, true},
      {"contimeout", kAll, "unsupported", "timeout connect", nullptr, false, true},
      {"redispatch", kAll, "unsupported", "option redispatch", nullptr, false, true},
      {"reqadd", kAll, "unsupported", "http-request add-header", nullptr, false, true},
      {"reqrep", kAll, "unsupported", "http-request replace-header", nullptr, false, true},
      {"rspadd", kAll, "unsupported", "http-response add-header", nullptr, false, true},
      {"block", kAll, "unsupported", "http-request deny", nullptr, false, true},
      {"reqdeny", kAll, "unsupported", "http-request deny", nullptr, false, true},
  });
  return table;
}

// ---------------------------------------------------------------------------
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
    {"splice-auto", "ignored",
     "sluice decides by itself: small records are copied, bulk data spliced (global 'nosplice' turns splicing off)"},
    {"splice-request", "ignored",
     "sluice decides by itself: small records are copied, bulk data spliced (global 'nosplice' turns splicing off)"},
    {"splice-response", "ignored",
     "sluice decides by itself: small records are copied, bulk data spliced (global 'nosplice' turns splicing off)"},
    {"transparent", "unsupported", "use 'source 0.0.0.0 usesrc clientip' when available"},
};

const std::vector<std::string_view> kSupportedOptions = {"tcplog",
                                                         "httplog",
                                                         "dontlognull",
                                                         "dontlog-normal",
                                                         "logasap",
                                                         "log-separate-errors",
                                                         "log-health-checks",
                                                         "redispatch",
                                                         "allbackups",
                                                         "tcpka",
                                                         "clitcpka",
                                                         "srvtcpka",
                                                         "nolinger",
                                                         "abortonclose",
                                                         "ssl-hello-chk",
                                                         "tcp-check",
                                                         "httpchk",
                                                         "redis-check",
                                                         "mysql-check",
                                                         "pgsql-check",
                                                         "ldap-check",
                                                         "smtpchk",
                                                         "spop-check",
                                                         "external-check"};

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

const std::vector<ParamSpec> kBindTlsParams = {
    {"ssl", 0, "", ""},
    {"crt", 1, "", ""},
    {"crt-list", 1, "", ""},
    {"ca-file", 1, "", ""},
    {"crl-file", 1, "", ""},
    {"verify", 1, "", ""},
    {"alpn", 1, "", ""},
    {"npn", 1, "", ""},
    {"ciphers", 1, "", ""},
    {"ciphersuites", 1, "", ""},
    {"curves", 1, "", ""},
    {"ecdhe", 1, "", ""},
    {"sigalgs", 1, "", ""},
    {"client-sigalgs", 1, "", ""},
    {"ssl-min-ver", 1, "", ""},
    {"ssl-max-ver", 1, "", ""},
    {"strict-sni", 0, "", ""},
    {"no-sslv3", 0, "", ""},
    {"no-tlsv10", 0, "", ""},
    {"no-tlsv11", 0, "", ""},
    {"no-tlsv12", 0, "", ""},
    {"no-tlsv13", 0, "", ""},
    {"no-tls-tickets", 0, "", ""},
    {"prefer-client-ciphers", 0, "", ""},
    {"allow-0rtt", 0, "", ""},
    {"tls-ticket-keys", 1, "", ""},
    {"generate-certificates", 0, "", ""},
    {"ca-sign-file", 1, "", ""},
    {"ca-sign-pass", 1, "", ""},
    {"ca-ignore-err", 1, "", ""},
    {"crt-ignore-err", 1, "", ""},
    {"no-ca-names", 0, "", ""},
    {"ssl_fc", 0, "", ""},
    {"ocsp-update", 1, "", ""},
};

}  // namespace sluice::config::detail
