// SPDX-License-Identifier: Apache-2.0
// Checks that need the whole file: names that must exist (backends, servers,
// tables, mailers), modes that must agree, QUIC routes that must make sense.
#include <algorithm>
#include <map>

#include "config/parser_impl.h"
#include "core/files.h"
#include "core/strings.h"

namespace sluice::config::detail {

namespace {

// A file a peers section's TLS needs: readable, and holding what it must
// (checked again, with OpenSSL, when the section starts).
std::string tlsFileProblem(const std::string& path, bool needsKey) {
  std::string text, error;
  if (!core::readFile(path, text, error)) return error;
  if (text.find("-----BEGIN ") == std::string::npos) return "'" + path + "' holds no PEM data";
  if (needsKey && text.find("PRIVATE KEY-----") == std::string::npos) {
    return "'" + path + "' holds no private key (a 'crt' file has the certificate and its key)";
  }
  return {};
}

}  // namespace

// TLS on peers links: what HAProxy refuses is refused, with the same
// reasons; the files must be there.
void Parser::validatePeersTls() {
  for (const PeersConfig& pc : config_.peers) {
    const PeerTls& b = pc.bindTls;
    const SourceLocation& bw = pc.bindWhere.line ? pc.bindWhere : pc.where;
    if (b.enabled && b.crt.empty()) {
      diag_.error(bw, "'ssl' on the bind of peers section '" + pc.name + "' needs 'crt <file>'",
                  "name a PEM file with this peer's certificate and key");
    }
    if (b.enabled && b.verify != PeerTls::Verify::None && b.verify != PeerTls::Verify::Default && b.caFile.empty()) {
      diag_.error(bw, "'verify' on the bind of peers section '" + pc.name + "' needs 'ca-file <file>'",
                  "name the CA bundle the peers' client certificates are signed by");
    }
    if (b.enabled) {
      for (const auto& [file, key] : {std::pair{b.crt, true}, std::pair{b.caFile, false}, std::pair{b.crlFile, false}}) {
        if (file.empty()) continue;
        std::string why = tlsFileProblem(file, key);
        if (!why.empty()) diag_.error(bw, "peers section '" + pc.name + "': " + why);
      }
    }
    for (const PeersConfig::Peer& peer : pc.peers) {
      const PeerTls& t = peer.tls;
      if (!t.enabled || !peer.address) continue;
      const bool verify = t.verify == PeerTls::Verify::Required ||
                          (t.verify == PeerTls::Verify::Default && !config_.global.sslServerVerifyNone);
      if (verify && t.caFile.empty()) {
        diag_.error(peer.where,
                    "peer '" + peer.name + "' of peers section '" + pc.name +
                        "': verify is enabled by default but no CA file is given",
                    "add 'ca-file <file>' (on the line or 'default-server'), or 'verify none' if the link is "
                    "trusted, or 'ssl-server-verify none' in the global section");
      }
      for (const auto& [file, key] : {std::pair{t.crt, true}, std::pair{t.caFile, false}, std::pair{t.crlFile, false}}) {
        if (file.empty()) continue;
        std::string why = tlsFileProblem(file, key);
        if (!why.empty()) diag_.error(peer.where, "peer '" + peer.name + "': " + why);
      }
    }
  }
}

void Parser::validate() {
  validatePeersTls();
  // GUIDs name one object each in the whole process (proxies, servers,
  // listeners: "<guid-prefix>-<n>" for the n-th address of a bind line).
  std::map<std::string, std::string> guids;  // guid -> what holds it
  auto claim = [&](const std::string& guid, const SourceLocation& where, const std::string& what) {
    if (guid.empty()) return;
    auto [it, fresh] = guids.emplace(guid, what);
    if (!fresh) {
      diag_.error(where, "GUID '" + guid + "' of " + what + " is already used by " + it->second,
                  "give each proxy, server and bind line a GUID of its own");
    }
  };
  for (const ProxyConfig& p : config_.proxies) {
    claim(p.guid, p.where, proxyLabel(p));
    for (const BindConfig& b : p.binds) {
      if (b.guidPrefix.empty()) continue;
      size_t n = std::max<size_t>(1, b.addresses.size() + b.inheritedFds.size() + b.sockpairFds.size());
      for (size_t i = 0; i < n; ++i) claim(b.guidPrefix + "-" + std::to_string(i), b.where, "a listener of " + proxyLabel(p));
    }
    for (const ServerConfig& s : p.servers) {
      claim(s.guid, s.where, "server '" + p.name + "/" + s.name + "'");
      if (!s.initState.empty() && !s.track.empty()) {
        diag_.error(s.where, "server '" + s.name + "': 'init-state' cannot be used with 'track'",
                    "a tracking server takes the state of the one it tracks");
      }
    }
  }
  // "stick-table ... peers <section>" names a section that exists.
  for (const ProxyConfig& p : config_.proxies) {
    if (!p.stickTable || p.stickTable->peers.empty()) continue;
    bool found = false;
    for (const PeersConfig& section : config_.peers) found = found || section.name == p.stickTable->peers;
    if (!found) {
      diag_.error(p.stickTableWhere, "stick-table of " + proxyLabel(p) + ": no peers section named '" +
                                         p.stickTable->peers + "'",
                  "declare 'peers " + p.stickTable->peers + "' with its peers, or remove 'peers'");
    }
  }
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
      diag_.error(p.emailWhere,
                  "no mailers section named '" + p.emailMailers + "' for the email alerts of " + proxyLabel(p));
    }
  }
  for (const ProxyConfig& p : config_.proxies) {
    if (p.checkKind != ProxyConfig::CheckKind::External || !p.isBackend) continue;
    if (!config_.global.externalCheck) {
      diag_.error(p.checkKindWhere,
                  "'option external-check' in " + proxyLabel(p) + " needs 'external-check' in the global section",
                  "add 'external-check' to the global section: external checks run programs");
    } else if (p.externalCheckCommand.empty()) {
      diag_.error(p.checkKindWhere, "'option external-check' in " + proxyLabel(p) + " has no command",
                  "add 'external-check command <program>'");
    }
  }
  for (const ProgramConfig& prog : config_.programs) {
    if (prog.command.empty()) {
      diag_.error(prog.where, "program '" + prog.name + "' has no 'command'",
                  "add 'command <program> [<arguments>...]'");
    }
  }
  // Proxies that terminate TLS or speak HTTP are not served: say so once each.
  std::vector<ProxyConfig> kept;
  std::set<std::string> frontendNames;
  std::set<std::string> backendNames;
  for (ProxyConfig& p : config_.proxies) {
    auto tls = tlsWhere_.find(p.name);
    if (p.isFrontend && tls != tlsWhere_.end() && !p.binds.empty()) {
      // Plain listeners beside TLS ones (a :80 and a :443 ssl): the plain
      // ones are served, as HAProxy would serve them, the others named.
      for (const SourceLocation& where : tls->second) {
        diag_.warning(where,
                      "this bind line of " + p.kind + " '" + p.name +
                          "' terminates TLS ('ssl'), which sluice never does: it is not opened; the " +
                          std::to_string(p.binds.size()) + " other bind line(s) of '" + p.name + "' are served",
                      "serve TLS termination with HAProxy, or forward this port to TLS servers as passthrough");
      }
    } else if (p.isFrontend && tls != tlsWhere_.end()) {
      diag_.warning(tls->second.front(),
                    p.kind + " '" + p.name +
                        "' terminates TLS ('ssl' on bind), which sluice "
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
      // A page behind a login of a userlist (http_auth, "stats http-request
      // auth"): sluice does not check those logins yet, and a page served
      // without its login would be open to all. The proxy is left out, the
      // rest of the file runs.
      std::optional<SourceLocation> login;
      if (p.stats.httpRequestWhere.line) login = p.stats.httpRequestWhere;
      for (const AclConfig& a : p.acls) {
        if (!login && !a.words.empty() && a.words[0].starts_with("http_auth")) login = a.where;
      }
      for (const TcpRuleConfig& r : p.httpRequest) {
        if (!login && r.action == "auth") login = r.where;
        for (const std::string& w : r.condition) {
          if (!login && w.find("http_auth") != std::string::npos) login = r.where;
        }
      }
      if (login) {
        diag_.warning(*login,
                      p.kind + " '" + p.name + "' serves its stats page behind logins of a userlist ('http_auth', "
                      "'stats http-request'), which sluice does not check yet: it is not served, so that the page "
                      "is never open without them; the rest of the file runs",
                      "use 'stats auth <user>:<password>' lines (checked by sluice), or serve this page with HAProxy");
        if (!p.isBackend || p.servers.empty()) continue;
        p.isFrontend = false;
        p.binds.clear();
      }
    }
    if (p.servesStats()) {
      checkStatsProxy(p);
    } else {
      for (const TcpRuleConfig& r : p.httpRequest) {
        diag_.warnOnce("http-request:" + p.name, r.where,
                       "'http-request' rules are HTTP-only; sluice ignores them in " + p.kind + " '" + p.name + "'",
                       "they are served only in a 'mode http' stats or metrics proxy");
      }
    }
    if (!p.servesStats() && p.mode == ProxyMode::Http && p.isFrontend && !p.binds.empty()) {
      diag_.warning(p.modeWhere.line ? p.modeWhere : p.where,
                    p.kind + " '" + p.name +
                        "' is in mode http, which sluice does not serve "
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
        diag_.warnOnce("httplog-tcp:" + p.name, p.httplogWhere.line ? p.httplogWhere : p.where,
                       "'option httplog' is not usable with " + p.kind + " '" + p.name +
                           "' in mode tcp; falling back to 'option tcplog'",
                       "set 'option tcplog' in the proxy (or in a defaults section for TCP)");
        p.httplog = false;
        p.tcplog = true;
      }
      bool hasLogTarget =
          !p.log.disabled && (!p.log.targets.empty() || (p.log.global && !config_.global.log.targets.empty()));
      if ((p.tcplog || !p.logFormat.empty()) && !hasLogTarget) {
        diag_.warning(p.where,
                      "'" + std::string(p.logFormat.empty() ? "option tcplog" : "log-format") + "' has no effect in " +
                          p.kind + " '" + p.name + "': it has no log target",
                      "add 'log global' (with a 'log' line in the global section) or a 'log' line here");
      }
      if (!p.timeoutClient) {
        diag_.warning(p.where,
                      "missing 'timeout client' for " + p.kind + " '" + p.name + "': idle clients are never closed",
                      "add 'timeout client 50s' (or a value that suits the service)");
      }
      auto checkBackend = [&](const std::string& name, const SourceLocation& where) {
        const ProxyConfig* be = config_.findProxy(name, /*backend=*/true);
        if (!be) {
          std::vector<std::string_view> names(backendNames.begin(), backendNames.end());
          std::string guess = suggest(name, names);
          diag_.error(where, "unknown backend '" + name + "' in " + p.kind + " '" + p.name + "'",
                      guess.empty() ? "declare 'backend " + name + "'" : "did you mean '" + guess + "'?");
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
          diag_.warning(p.where, "missing 'timeout connect' or 'timeout server' for " + p.kind + " '" + p.name + "'",
                        "add 'timeout connect 5s' and 'timeout server 50s'");
        }
      }
      std::set<uint32_t> ids;
      for (const ServerConfig& s : p.servers) {
        if (s.id && !ids.insert(s.id).second) {
          diag_.error(s.where,
                      "server id " + std::to_string(s.id) + " is used twice in " + p.kind + " '" + p.name + "'");
        }
        if (s.agentCheck && !s.agentPort) {
          diag_.error(s.where, "server '" + s.name + "' has 'agent-check' but no 'agent-port'",
                      "add 'agent-port <port>': the agent listens on a port of its own");
        }
        if (!s.socks4.empty() && !s.address.isV4() && !s.portFromClient) {
          diag_.error(s.where,
                      "server '" + s.name + "' is reached through a SOCKS4 proxy, which carries IPv4 addresses only");
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
void Parser::checkQuicServer(const ServerConfig& s) {
  if (s.sendProxy != ProxyProtocolOut::None) {
    diag_.error(s.where, "QUIC server '" + s.name + "' has 'send-proxy': the PROXY protocol has no form for QUIC",
                "remove it; 'source 0.0.0.0 usesrc clientip' gives the server the client's address");
  }
  if (!s.socks4.empty()) {
    diag_.error(s.where, "QUIC server '" + s.name + "' has 'socks4': SOCKS4 carries TCP only");
  }
  if (s.checkSsl || s.checkSendProxy || s.agentCheck || s.checkViaSocks4) {
    diag_.warning(s.where, "QUIC server '" + s.name +
                               "' is checked with a QUIC version probe; check-ssl, "
                               "check-send-proxy, check-via-socks4 and agent-check do not apply to it");
  }
}

// A frontend with quic4@/quic6@ binds needs QUIC servers behind the
// backends it routes to, and QUIC servers need such a frontend.
void Parser::checkQuicRouting() {
  auto hasQuicServer = [](const ProxyConfig& be) {
    return std::any_of(be.servers.begin(), be.servers.end(), [](const ServerConfig& s) { return s.quic; });
  };
  std::set<std::string> reachedByQuic;
  for (const ProxyConfig& p : config_.proxies) {
    if (p.disabled || !p.isFrontend) continue;
    const BindConfig* quicBind = nullptr;
    bool tcpBind = false;
    for (const BindConfig& b : p.binds) {
      if (b.quic)
        quicBind = &b;
      else
        tcpBind = true;
    }
    std::vector<std::pair<std::string, SourceLocation>> targets;
    if (!p.defaultBackend.empty())
      targets.emplace_back(p.defaultBackend, p.defaultBackendWhere);
    else if (p.isBackend)
      targets.emplace_back(p.name, p.where);
    for (const UseBackendConfig& u : p.useBackends) {
      if (u.backend.find("%[") == std::string::npos) targets.emplace_back(u.backend, u.where);
    }
    if (tcpBind) {
      for (const auto& [name, where] : targets) {
        const ProxyConfig* be = config_.findProxy(name, /*backend=*/true);
        if (be && !be->servers.empty() &&
            std::all_of(be->servers.begin(), be->servers.end(), [](const ServerConfig& s) { return s.quic; })) {
          diag_.warning(where,
                        "TCP connections of " + p.kind + " '" + p.name + "' routed to backend '" + name +
                            "' find only QUIC servers there and are refused",
                        "add a TCP server to backend '" + name + "', or route only QUIC to it");
        }
      }
    }
    if (!quicBind) continue;
    bool dynamic = std::any_of(p.useBackends.begin(), p.useBackends.end(),
                               [](const UseBackendConfig& u) { return u.backend.find("%[") != std::string::npos; });
    bool anyQuic = dynamic;
    for (const auto& [name, where] : targets) {
      const ProxyConfig* be = config_.findProxy(name, /*backend=*/true);
      if (!be) continue;
      reachedByQuic.insert(name);
      if (hasQuicServer(*be)) {
        anyQuic = true;
      } else {
        diag_.warning(where,
                      "QUIC flows of " + p.kind + " '" + p.name + "' routed to backend '" + name +
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
      diag_.error(quicBind->where,
                  p.kind + " '" + p.name + "' listens for QUIC ('" + quicBind->spec +
                      "') but no backend it routes to has a QUIC server",
                  "give a backend it uses a 'server NAME quic4@ADDR:PORT' line, or remove this bind");
    }
  }
  for (const ProxyConfig& be : config_.proxies) {
    if (be.disabled || !be.isBackend || !hasQuicServer(be) || reachedByQuic.count(be.name)) continue;
    diag_.warning(be.where, "backend '" + be.name +
                                "' has QUIC servers but no frontend with a "
                                "quic4@/quic6@ bind routes to it; they only receive health checks");
  }
}

}  // namespace sluice::config::detail
