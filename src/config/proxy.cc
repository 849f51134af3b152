// SPDX-License-Identifier: Apache-2.0
// Keywords of defaults, frontend, listen and backend sections (the table,
// with the sections each is allowed in, is in keywords.cc): modes, routing,
// balancing, limits, options, timeouts, the stats page, e-mail alerts.
// Binds, servers, rules, logs and stick tables have files of their own.
#include <cctype>

#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

// "no option x", "default option x", "no log".
void Parser::proxyNegation(const ConfigLine& l) {
  const std::string& kw = l.words[0];
  if (l.words.size() >= 2 && l.words[1] == "option") {
    parseOption(l, 2, kw == "no", kw == "default");
  } else if (kw == "no" && l.words.size() >= 2 && l.words[1] == "log") {
    current_.log = LogSettings{};
    current_.log.disabled = true;
  } else {
    error(l, "'" + kw + "' must be followed by 'option <name>'" + std::string(kw == "no" ? " or 'log'" : ""));
  }
}

void Parser::proxyOption(const ConfigLine& l) { parseOption(l, 1, false, false); }

void Parser::proxyMode(const ConfigLine& l) {
  ProxyConfig& p = current_;
  if (!needArgs(l, 1, "tcp|http")) return;
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
}

void Parser::proxyServer(const ConfigLine& l) { parseServer(l, /*isDefault=*/false); }

void Parser::proxyDefaultServer(const ConfigLine& l) { parseServer(l, /*isDefault=*/true); }

void Parser::proxyEmailAlert(const ConfigLine& l) {
  ProxyConfig& p = current_;
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
}

void Parser::proxyExternalCheck(const ConfigLine& l) {
  if (!needArgs(l, 2, "command|path <value>")) return;
  if (l.words[1] == "command") {
    current_.externalCheckCommand = l.words[2];
  } else if (l.words[1] == "path") {
    current_.externalCheckPath = l.words[2];
  } else {
    error(l, "unknown 'external-check " + l.words[1] + "'", "use 'external-check command' or 'external-check path'");
  }
}

void Parser::proxyPersist(const ConfigLine& l) {
  if (!needArgs(l, 1, "rdp-cookie[(<name>)]")) return;
  const std::string& a = l.words[1];
  if (a != "rdp-cookie" && !(a.starts_with("rdp-cookie(") && a.back() == ')')) {
    error(l, "'persist' only knows 'rdp-cookie[(<name>)]'");
    return;
  }
  current_.persistRdpCookie = a.size() > 12 ? a.substr(11, a.size() - 12) : "msts";
}

void Parser::proxyLoadServerState(const ConfigLine& l) {
  if (!needArgs(l, 1, "global|local|none")) return;
  if (l.words[1] != "global" && l.words[1] != "local" && l.words[1] != "none") {
    error(l, "'" + l.words[0] + "' takes global, local or none");
    return;
  }
  current_.loadServerState = l.words[1];
}

void Parser::proxyServerStateFileName(const ConfigLine& l) {
  current_.serverStateFileName = l.words.size() > 1 ? l.words[1] : "use-backend-name";
}

void Parser::proxyDispatch(const ConfigLine& l) {
  if (!needArgs(l, 1, "<address>:<port>")) return;
  current_.dispatch = l.words[1];
  current_.dispatchWhere = l.where;
}

void Parser::proxyAcl(const ConfigLine& l) {
  if (!needArgs(l, 2, "<name> <criterion> [flags] [values]")) return;
  current_.acls.push_back({l.where, l.words[1], {l.words.begin() + 2, l.words.end()}});
}

void Parser::proxyUseBackend(const ConfigLine& l) {
  if (!needArgs(l, 1, "<backend> [{if|unless} <condition>]")) return;
  UseBackendConfig u{l.where, l.words[1], {}};
  if (l.words.size() > 2) {
    if (l.words[2] != "if" && l.words[2] != "unless") {
      error(l, "expected 'if' or 'unless' after 'use_backend " + l.words[1] + "', found '" + l.words[2] + "'");
      return;
    }
    u.condition.assign(l.words.begin() + 2, l.words.end());
    if (u.condition.size() < 2) {
      error(l, "missing condition after '" + l.words[2] + "'");
      return;
    }
  }
  current_.useBackends.push_back(u);
  rulesSeen_.useBackend = true;
}

void Parser::proxyDefaultBackend(const ConfigLine& l) {
  if (!needArgs(l, 1, "<backend>")) return;
  if (l.words.size() > 2) {
    error(l, "'default_backend' takes exactly one backend name");
    return;
  }
  current_.defaultBackend = l.words[1];
  current_.defaultBackendWhere = l.where;
}

void Parser::proxyUseServer(const ConfigLine& l) {
  if (!needArgs(l, 1, "<server> [{if|unless} <condition>]")) return;
  UseServerConfig u{l.where, l.words[1], {}};
  if (l.words.size() > 2) {
    if (l.words[2] != "if" && l.words[2] != "unless") {
      error(l, "expected 'if' or 'unless' after 'use-server " + l.words[1] + "'");
      return;
    }
    u.condition.assign(l.words.begin() + 2, l.words.end());
  }
  current_.useServers.push_back(u);
  rulesSeen_.useServer = true;
}

void Parser::proxyBalance(const ConfigLine& l) {
  if (l.words.size() == 1) {
    // HAProxy takes a bare "balance" as roundrobin, without a word.
    current_.balance = {l.where, "roundrobin", {}};
    current_.balanceSet = true;
    return;
  }
  parseBalance(l);
}

void Parser::proxyHashType(const ConfigLine& l) {
  ProxyConfig& p = current_;
  if (!needArgs(l, 1, "map-based|consistent|maglev [function] [avalanche]")) return;
  // "maglev" is sluice's own: Google's Maglev table (docs/configuration.md).
  if (l.words[1] != "map-based" && l.words[1] != "consistent" && l.words[1] != "maglev") {
    error(l, "unknown hash-type '" + l.words[1] + "'", "use 'map-based', 'consistent' or 'maglev'");
    return;
  }
  p.hashType.method = l.words[1];
  for (size_t i = 2; i < l.words.size(); ++i) {
    const std::string& w = l.words[i];
    if (w == "avalanche") {
      p.hashType.avalanche = true;
    } else if (w == "sdbm" || w == "djb2" || w == "wt6" || w == "crc32" || w == "none") {
      p.hashType.function = w;
      p.hashType.functionGiven = true;
    } else {
      error(l, "unknown hash function '" + w + "'", "use sdbm, djb2, wt6, crc32 or none");
    }
  }
}

void Parser::proxyRetries(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "retries", v, 1000)) current_.retries = v;
}

void Parser::proxyMaxconn(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "maxconn", v)) current_.maxconn = v;
}

void Parser::proxyBacklog(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "backlog", v)) current_.backlog = v;
}

void Parser::proxyFullconn(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "fullconn", v)) current_.fullconn = v;
}

void Parser::proxyTcpCheck(const ConfigLine& l) {
  if (needArgs(l, 1, "<action> [args]")) current_.tcpChecks.push_back({l.where, {l.words.begin() + 1, l.words.end()}});
}

void Parser::proxyHttpCheck(const ConfigLine& l) {
  if (needArgs(l, 1, "<action> [args]")) current_.httpChecks.push_back({l.where, {l.words.begin() + 1, l.words.end()}});
}

void Parser::proxySource(const ConfigLine& l) {
  if (!needArgs(l, 1, "<addr>[:port] [usesrc client|clientip|<addr>]")) return;
  size_t next = 0;
  if (!parseSource(l, 1, current_.source, next)) return;
  if (next < l.words.size()) {
    error(l, "unexpected '" + l.words[next] + "' in 'source'",
          "syntax: source <addr>[:port] [usesrc client|clientip|<addr>[:port]] [interface <if>]");
  }
}

void Parser::proxyId(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "id", v)) current_.id = v;
}

void Parser::proxyDescription(const ConfigLine& l) { current_.description = joinWords(l.words, 1); }

std::string guidProblem(std::string_view guid) {
  if (guid.empty()) return "it is empty";
  if (guid.size() > 127) return "it is longer than 127 characters";
  for (char c : guid) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != ':') {
      return std::string("it contains '") + c + "'";
    }
  }
  return {};
}

void Parser::proxyGuid(const ConfigLine& l) {
  if (!needArgs(l, 1, "<string>")) return;
  std::string why = guidProblem(l.words[1]);
  if (!why.empty()) {
    error(l, "invalid GUID '" + l.words[1] + "': " + why, kGuidHint);
    return;
  }
  current_.guid = l.words[1];
}

void Parser::proxyDisabled(const ConfigLine&) { current_.disabled = true; }

void Parser::proxyEnabled(const ConfigLine&) { current_.disabled = false; }

void Parser::proxyStats(const ConfigLine& l) {
  if (needArgs(l, 1, "<sub-keyword>")) parseStats(l);
}

void Parser::proxyTransparent(const ConfigLine& l) {
  error(l, "'transparent' is not supported", "it was deprecated in HAProxy and has no meaning here");
}

// HTTP-only filters (compression, cache) change nothing in TCP mode, and
// trace only prints; SPOE and bandwidth limits act on TCP streams: ignoring
// them would silently drop what the file asks for.
void Parser::proxyFilter(const ConfigLine& l) {
  std::string name = l.words.size() > 1 ? l.words[1] : "";
  if (name == "spoe" || name == "bwlim-in" || name == "bwlim-out" || name == "fcgi-app" || name.empty()) {
    error(l,
          name.empty() ? std::string("'filter' needs a filter name")
                       : "'filter " + name + "' is not supported by sluice in " + proxyLabel(current_),
          "remove it; sluice runs no stream filters (see docs/configuration.md)");
    return;
  }
  diag_.warnOnce("kw:filter " + name, l.where,
                 "'filter " + name + "' is accepted but ignored: it acts on HTTP only, or only traces");
}

// clitcpka-cnt|idle|intvl, srvtcpka-cnt|idle|intvl.
void Parser::proxyKeepAlive(const ConfigLine& l) {
  const std::string& kw = l.words[0];
  const bool client = kw[0] == 'c';
  const std::string what = kw.substr(9);
  if (!needArgs(l, 1, what == "cnt" ? "<count>" : "<time>")) return;
  KeepAliveSpec& ka = client ? current_.clitcpkaSpec : current_.srvtcpkaSpec;
  uint32_t v = 0;
  if (what == "cnt") {
    if (unsignedArg(l, 1, kw, v, 127)) ka.count = v;
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
}

// Parses "<addr>[:port] [usesrc ...] [interface <if>]" from words[i...].
// Returns false (after an error) on a bad shape; `next` is the first word after.
bool Parser::parseSource(const ConfigLine& l, size_t i, SourceSpec& out, size_t& next) {
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

// The arguments of "option mysql-check/pgsql-check/smtpchk/...", checked
// as HAProxy checks them.
bool Parser::checkOptionArgs(const ConfigLine& l, const std::string& name, ProxyConfig::CheckKind kind,
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
      diag_.warning(l.where, "'" + kw +
                                 "' takes 'HELO <domain>' or 'EHLO <domain>'; the check says "
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

void Parser::parseOption(const ConfigLine& l, size_t at, bool negate, bool reset) {
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
    if (p.kind == "backend") {
      diag_.warning(l.where, "'option tcplog' is ignored in backends (backend '" + p.name + "')",
                    "a log line's format is the frontend's: move it to the frontend or the defaults section");
      return;
    }
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
    diag_.warnOnce("opt:" + name, l.where, "'" + kw + "' is accepted but ignored: " + std::string(k->note));
  } else {
    std::vector<std::string_view> all = kSupportedOptions;
    for (const Known& k : kHttpOptions) all.push_back(k.name);
    std::string guess = suggest(name, all);
    error(l, "unknown option '" + name + "' in " + proxyLabel(p),
          guess.empty() ? "see docs/configuration.md for the options sluice accepts"
                        : "did you mean 'option " + guess + "'?");
  }
}

void Parser::parseTimeout(const ConfigLine& l) {
  ProxyConfig& p = current_;
  if (!needArgs(l, 2, "<name> <time>")) return;
  const std::string& name = l.words[1];
  struct T {
    const char* name;
    unsigned mask;
    Millis ProxyConfig::*field;
  };
  static const T kTimeouts[] = {
      {"client", kDfFe, &ProxyConfig::timeoutClient},        {"server", kDfBe, &ProxyConfig::timeoutServer},
      {"connect", kDfBe, &ProxyConfig::timeoutConnect},      {"tunnel", kDfBe, &ProxyConfig::timeoutTunnel},
      {"client-fin", kDfFe, &ProxyConfig::timeoutClientFin}, {"server-fin", kDfBe, &ProxyConfig::timeoutServerFin},
      {"queue", kDfBe, &ProxyConfig::timeoutQueue},          {"check", kDfBe, &ProxyConfig::timeoutCheck},
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
      diag_.warnOnce("timeout:" + name, l.where, "'timeout " + name + "' is accepted but ignored: HTTP-only");
    }
    return;
  }
  std::vector<std::string_view> names = {"client",       "server",          "connect", "tunnel",
                                         "client-fin",   "server-fin",      "queue",   "check",
                                         "http-request", "http-keep-alive", "tarpit"};
  std::string guess = suggest(name, names);
  error(l, "unknown timeout '" + name + "'",
        guess.empty() ? "known: client, server, connect, tunnel, client-fin, server-fin, queue, check"
                      : "did you mean 'timeout " + guess + "'?");
}

// "stats <sub> ..." in a proxy. Everything but "stats disable" turns the
// page on, as in HAProxy.
void Parser::parseStats(const ConfigLine& l) {
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
  } else if (sub == "http-request") {
    // Logins and access rules of the page: not served yet, so the proxy is
    // left out as a whole (validate.cc) rather than served without them.
    if (!st.httpRequestWhere.line) st.httpRequestWhere = l.where;
    st.enable = true;
  } else if (sub == "show-modules" || sub == "bind-process") {
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
void Parser::checkStatsProxy(ProxyConfig& p) {
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

void Parser::parseBalance(const ConfigLine& l) {
  ProxyConfig& p = current_;
  std::string algo = l.words[1];
  std::vector<std::string> args(l.words.begin() + 2, l.words.end());
  std::string base = algo.substr(0, algo.find('('));
  static const std::set<std::string> kTcp = {"roundrobin", "static-rr", "leastconn", "first",
                                             "source",     "random",    "hash"};
  if (base == "rdp-cookie") {
    // The RDP cookie's hash picks the server; without one, roundrobin.
    std::string name =
        algo.size() > base.size() + 2 ? algo.substr(base.size() + 1, algo.size() - base.size() - 2) : "mstshash";
    p.balance = {l.where, "hash", {"req.rdp_cookie(" + name + ")"}};
    p.balanceSet = true;
    return;
  }
  static const std::set<std::string> kHttpOnly = {"uri", "url_param", "hdr"};
  if (kHttpOnly.count(base) || core::startsWith(base, "hdr(")) {
    diag_.warnOnce("balance:" + base, l.where,
                   "'balance " + algo +
                       "' needs HTTP data; sluice balances this "
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

}  // namespace sluice::config::detail
