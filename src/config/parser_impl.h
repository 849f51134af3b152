// SPDX-License-Identifier: Apache-2.0
// The configuration parser's inside, shared by the files that read each kind
// of section (global.cc, proxy.cc, bind.cc, server.cc, rules.cc, log.cc,
// stick_table.cc), the checks over the whole file (validate.cc) and the
// keyword tables (keywords.cc). Not part of the parser's interface: that is
// parser.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/keywords.h"
#include "config/parser.h"
#include "core/address.h"
#include "core/diagnostics.h"
#include "stick/spec.h"

namespace sluice::config::detail {

// Host names are resolved through libc unless setNameResolution(false).
bool nameResolutionEnabled();

unsigned sectionBit(const ProxyConfig& p);
// "frontend 'www'", "defaults section 'tcp'": how messages name a section.
std::string proxyLabel(const ProxyConfig& p);
std::string joinWords(const std::vector<std::string>& w, size_t from, size_t to = SIZE_MAX);
// What is wrong with a GUID ("guid", "guid-prefix"): HAProxy's rule, at most
// 127 letters, digits, '-', '_', '.' and ':'; empty when it is fine.
std::string guidProblem(std::string_view guid);
inline constexpr const char* kGuidHint = "use up to 127 letters, digits, '-', '_', '.' and ':'";

// "stick-table type ip size 100k expire 30s store conn_cur,conn_rate(10s)":
// the words after "stick-table". Returns what is wrong, or an empty string.
std::string parseTableSpec(const std::vector<std::string>& w, stick::TableSpec& out);

// What the reader of a server parameter gets: the line, the parameter, its
// value, and the server being built; helpers report errors at the line.
struct ServerParamRead {
  Parser& parser;
  const ConfigLine& l;
  const std::string& w;      // the parameter
  const std::string& value;  // its argument, or empty
  size_t& i;                 // the index of its last word: a reader that takes more moves it
  ServerConfig& s;

  bool number(uint32_t& out, uint64_t max = UINT32_MAX);
  bool duration(uint32_t& out);
  bool fail(std::string message, std::string hint = {});  // an error; returns false
  void warning(std::string message);
  void warnOnce(const std::string& key, std::string message);
  bool source();  // "source ..." with all its words
};

// The same for a bind parameter.
struct BindParamRead {
  Parser& parser;
  const ConfigLine& l;
  const std::string& w;
  const std::string& value;
  BindConfig& b;

  bool number(std::optional<uint32_t>& out);
  bool fail(std::string message, std::string hint = {});
};

// Reads a file's lines into a Config, line by line: each line goes to the
// reader of its section's keyword (keywords.h), then validate() checks what
// needs the whole file.
class Parser {
 public:
  explicit Parser(core::Diagnostics& diag);
  Config run(const std::vector<ConfigLine>& lines);
  // "add server": one server line read as the files would read it in
  // `backend`, its default-server applied; nullopt after errors (in diag).
  std::optional<ServerConfig> readServerLine(const ProxyConfig& backend, const ConfigLine& l);

  // -- the readers the keyword tables name -------------------------------------
  // global (global.cc)
  void globalLog(const ConfigLine& l);
  void globalLogTag(const ConfigLine& l);
  void globalLogSendHostname(const ConfigLine& l);
  void globalMaxconn(const ConfigLine& l);
  void globalNbthread(const ConfigLine& l);
  void globalNbproc(const ConfigLine& l);
  void globalDaemon(const ConfigLine& l);
  void globalMasterWorker(const ConfigLine& l);
  void globalPidfile(const ConfigLine& l);
  void globalChroot(const ConfigLine& l);
  void globalUserGroup(const ConfigLine& l);
  void globalUidGid(const ConfigLine& l);
  void globalNode(const ConfigLine& l);
  void globalDescription(const ConfigLine& l);
  void globalZeroWarning(const ConfigLine& l);
  void globalExternalCheck(const ConfigLine& l);
  void globalServerState(const ConfigLine& l);
  void globalStatsFile(const ConfigLine& l);
  void globalPp2NeverSendLocal(const ConfigLine& l);
  void globalNoSplice(const ConfigLine& l);
  void globalNoReusePort(const ConfigLine& l);
  void globalUlimitN(const ConfigLine& l);
  void globalHardStopAfter(const ConfigLine& l);
  void globalQuiet(const ConfigLine& l);
  void globalStrictLimits(const ConfigLine& l);
  void globalSetDumpable(const ConfigLine& l);
  void globalDefaultPath(const ConfigLine& l);
  void globalEnvironment(const ConfigLine& l);
  void tunePipeSize(const ConfigLine& l);
  void tuneMaxAccept(const ConfigLine& l);
  void tuneCpuSteering(const ConfigLine& l);
  void tuneQuicOffload(const ConfigLine& l);
  void tuneQuicUnconfirmed(const ConfigLine& l);
  // A set of ids as cpu-map writes them: "all", "odd", "even", or numbers
  // and ranges ("3", "1-4", "2-": up to `max`), several joined by commas.
  // Ids from `min` to `max`, added to `out`, which is left sorted without
  // duplicates; false (and `bad` set) on a malformed one.
  static bool parseIdSet(std::string_view text, uint32_t min, uint32_t max, bool words, std::vector<uint32_t>& out,
                         std::string& bad);

  // cpu-map [auto:]<thread-group>[/<thread-set>] <cpu-set>...
  void parseCpuMap(const ConfigLine& l);

  void parseGlobalStats(const ConfigLine& l);

  // resolvers sections (resolvers.cc)
  void resolversNameserver(const ConfigLine& l);
  void resolversParseResolvConf(const ConfigLine& l);
  void resolversPayloadSize(const ConfigLine& l);
  void resolversHold(const ConfigLine& l);
  void resolversTimeout(const ConfigLine& l);
  void resolversRetries(const ConfigLine& l);
  void proxyServerTemplate(const ConfigLine& l);

  // peers sections (peers.cc)
  void peersPeer(const ConfigLine& l);
  void peersBind(const ConfigLine& l);
  void peersTable(const ConfigLine& l);
  void peersDefaultBind(const ConfigLine& l);
  // The TLS parameters of a peers line from word `first` on, into `tls`;
  // false after an error was reported.
  bool peersTlsParams(const ConfigLine& l, size_t first, bool bindSide, PeerTls& tls);
  void globalCertBase(const ConfigLine& l);
  void globalSslServerVerify(const ConfigLine& l);
  void peersDefaultServer(const ConfigLine& l);
  void peersDisabled(const ConfigLine& l);
  void peersEnabled(const ConfigLine& l);
  void globalLocalPeer(const ConfigLine& l);

  // proxies (proxy.cc, bind.cc, server.cc, rules.cc, stick_table.cc)
  void proxyNegation(const ConfigLine& l);
  void proxyOption(const ConfigLine& l);
  void proxyMode(const ConfigLine& l);
  void proxyServer(const ConfigLine& l);
  void proxyDefaultServer(const ConfigLine& l);
  void proxyEmailAlert(const ConfigLine& l);
  void proxyExternalCheck(const ConfigLine& l);
  void proxyPersist(const ConfigLine& l);
  void proxyLoadServerState(const ConfigLine& l);
  void proxyServerStateFileName(const ConfigLine& l);
  void proxyDispatch(const ConfigLine& l);
  void proxyAcl(const ConfigLine& l);
  void proxyUseBackend(const ConfigLine& l);
  void proxyDefaultBackend(const ConfigLine& l);
  void proxyUseServer(const ConfigLine& l);
  void proxyBalance(const ConfigLine& l);
  void proxyHashType(const ConfigLine& l);
  void proxyStickTable(const ConfigLine& l);
  void proxyRetries(const ConfigLine& l);
  void proxyMaxconn(const ConfigLine& l);
  void proxyBacklog(const ConfigLine& l);
  void proxyFullconn(const ConfigLine& l);
  void proxyLog(const ConfigLine& l);
  void proxyLogFormat(const ConfigLine& l);
  void proxyLogTag(const ConfigLine& l);
  void proxyTcpCheck(const ConfigLine& l);
  void proxyHttpCheck(const ConfigLine& l);
  void proxyHttpRequest(const ConfigLine& l);
  void proxySource(const ConfigLine& l);
  void proxyId(const ConfigLine& l);
  void proxyDescription(const ConfigLine& l);
  void proxyGuid(const ConfigLine& l);
  void proxyDisabled(const ConfigLine& l);
  void proxyEnabled(const ConfigLine& l);
  void proxyStats(const ConfigLine& l);
  void proxyKeepAlive(const ConfigLine& l);
  void proxyFilter(const ConfigLine& l);
  void proxyTransparent(const ConfigLine& l);
  // Parses "<addr>[:port] [usesrc ...] [interface <if>]" from words[i...].
  // Returns false (after an error) on a bad shape; `next` is the first word after.
  bool parseSource(const ConfigLine& l, size_t i, SourceSpec& out, size_t& next);

  // The arguments of "option mysql-check/pgsql-check/smtpchk/...", checked
  // as HAProxy checks them.
  bool checkOptionArgs(const ConfigLine& l, const std::string& name, ProxyConfig::CheckKind kind,
                       const std::vector<std::string>& args);

  void parseOption(const ConfigLine& l, size_t at, bool negate, bool reset);

  void parseTimeout(const ConfigLine& l);

  // "stats <sub> ..." in a proxy. Everything but "stats disable" turns the
  // page on, as in HAProxy.
  void parseStats(const ConfigLine& l);

  // A "mode http" proxy that sluice serves itself (stats page, metrics):
  // only the HTTP rules that make sense for it are kept.
  void checkStatsProxy(ProxyConfig& p);

  void parseBalance(const ConfigLine& l);

  // A defaults section that holds TCP or HTTP rules (HAProxy 2.5+): remembers
  // the first one and which kinds, for the checks of its users.
  void noteDefaultsRule(const ConfigLine& l);

  // HAProxy's limits on defaults sections with rules: such a section must be
  // named, and is used by frontends or by backends, never both, never by a
  // listen section or another defaults section; connection and session rules
  // need a frontend, tcp-response rules a backend.
  void checkDefaultsUse(const ConfigLine& l, const std::string& kw, const ProxyConfig& def);

  // Splits "<action words> [if|unless <cond>]".
  static void splitRule(const ConfigLine& l, size_t from, TcpRuleConfig& r);

  void parseTcpRequest(const ConfigLine& l);

  bool checkAction(const ConfigLine& l, const TcpRuleConfig& r, const std::vector<std::string_view>& supported);

  void parseStick(const ConfigLine& l);

  static std::string joinViews(const std::vector<std::string_view>& v);

  void parseTcpResponse(const ConfigLine& l);

  void parseBind(const ConfigLine& l);

 private:
  friend struct ServerParamRead;
  friend struct BindParamRead;

  enum class Section { None, Global, Proxy, Program, Mailers, Resolvers, Peers, Skipped };

  // -- helpers (parser.cc) -----------------------------------------------------
  // "Did you mean" for the first typos of a file only: beyond that, a file
  // is more garbage than typos, and each hint costs a scan of the keywords.
  std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates);
  // False (and an error) when `name` has a character HAProxy refuses in
  // names of proxies and servers; `what` says whose name it is.
  bool checkName(const ConfigLine& l, const std::string& name, const std::string& what);

  void error(const ConfigLine& l, std::string msg, std::string hint = {});

  bool needArgs(const ConfigLine& l, size_t count, const std::string& usage);

  bool durationArg(const ConfigLine& l, size_t index, const std::string& what, uint32_t& out);

  bool unsignedArg(const ConfigLine& l, size_t index, const std::string& what, uint32_t& out,
                   uint64_t max = UINT32_MAX);

  void warnKnown(const ConfigLine& l, const std::string& keyword, const Keyword& k, const std::string& context);

  void unknownKeyword(const ConfigLine& l, const std::string& where, const std::vector<std::string_view>& candidates);

  bool allowed(const ConfigLine& l, unsigned mask, const std::string& keyword);

  // Hands a line to the reader its table names, after checking the section
  // allows it; ignored and unsupported keywords are reported from the table.
  // `where` names the section in an "unknown keyword" error, `context` ends
  // the warnings and errors of ignored and unsupported keywords.
  void dispatch(const KeywordTable& table, const ConfigLine& l, const std::string& where, const std::string& context);

  // -- sections (parser.cc, global.cc) -------------------------------------------
  void handleLine(const ConfigLine& l);

  void startSection(const ConfigLine& l);

  void finishProxy();

  void mailersLine(const ConfigLine& l);

  void programLine(const ConfigLine& l);

  // -- log (log.cc) -------------------------------------------------------------
  // log <address> [len <n>] [format <f>] [sample <r>:<n>] <facility> [max [min]]
  void parseLog(const ConfigLine& l, LogSettings& log, bool inGlobal);

  // -- servers (server.cc) -----------------------------------------------------
  std::optional<core::Address> resolveHost(const std::string& host, uint16_t port);

  // server <name> <address>[:[port]] [param*]
  void parseServer(const ConfigLine& l, bool isDefault);

  bool resolveServerAddress(const ConfigLine& l, ServerConfig& s);

  // -- checks over the whole file (validate.cc) --------------------------------
  void validate();
  void validatePeersTls();

  // What a QUIC server cannot do: QUIC has no PROXY protocol and SOCKS4
  // carries TCP only.
  void checkQuicServer(const ServerConfig& s);

  // A frontend with quic4@/quic6@ binds needs QUIC servers behind the
  // backends it routes to, and QUIC servers need such a frontend.
  void checkQuicRouting();

  static constexpr int kMaxSuggestions = 10;
  int suggestions_ = 0;

  core::Diagnostics& diag_;
  Config config_;
  Section section_ = Section::None;
  bool inProxy_ = false;
  ProxyConfig current_;
  // current_'s server names, each with its index: a backend of 10,000
  // servers is checked for duplicates without comparing every pair.
  std::unordered_map<std::string, size_t> serverNames_;
  // Rules of the current proxy already read, for HAProxy's warning about a
  // rule written after one that runs later ("will still be processed
  // before"): the kinds, in the order HAProxy evaluates them.
  struct RulesSeen {
    bool tcpSession = false, tcpContent = false, useBackend = false, useServer = false;
  } rulesSeen_;
  // Warns when a rule of `kind` (0 connection, 1 session, 2 content) comes
  // after rules that run after it.
  void warnMisplacedRule(const ConfigLine& l, int kind);
  ProxyConfig defaults_;
  std::map<std::string, ProxyConfig> namedDefaults_;
  std::map<std::string, unsigned> defaultsUsers_;  // named defaults with rules: 1 frontends, 2 backends
  std::map<std::string, std::vector<SourceLocation>> tlsWhere_;  // each bind line that terminates TLS
};

}  // namespace sluice::config::detail
