// SPDX-License-Identifier: Apache-2.0
// server and default-server lines: the address (resolved once through libc)
// and the parameters (their table, with each one's reader, is here).
#include <netdb.h>

#include <cstring>

#include "config/parser_impl.h"
#include "core/strings.h"
#include "proto/proxy_protocol.h"

namespace sluice::config::detail {

// One line per simple parameter reads best:
// clang-format off
// Every server parameter: supported ones with their reader, which returns
// false to stop reading the line after an error.
const std::vector<ServerParam> kServerParams = {
    {"weight", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v, 256)) r.s.weight = v; return true; }},
    {"maxconn", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v)) r.s.maxconn = v; return true; }},
    {"maxqueue", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v)) r.s.maxqueue = v; return true; }},
    {"minconn", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v)) r.s.minconn = v; return true; }},
    {"backup", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.backup = true; return true; }},
    {"non-stick", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.nonStick = true; return true; }},
    {"stick", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.nonStick = false; return true; }},
    {"disabled", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.disabled = true; return true; }},
    {"enabled", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.disabled = false; return true; }},
    {"check", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.check = true; return true; }},
    {"no-check", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.check = false; return true; }},
    {"inter", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.duration(v)) r.s.inter = std::max<uint32_t>(v, 1); return true; }},
    {"fastinter", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.duration(v)) r.s.fastinter = v; return true; }},
    {"downinter", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.duration(v)) r.s.downinter = v; return true; }},
    {"rise", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v, 1000) && v >= 1) r.s.rise = v; return true; }},
    {"fall", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v, 1000) && v >= 1) r.s.fall = v; return true; }},
    {"port", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v, 65535)) r.s.checkPort = static_cast<uint16_t>(v); return true; }},
    {"addr", 1, "supported", "", [](ServerParamRead& r) -> bool { r.s.checkAddr = r.value; return true; }},
    {"check-ssl", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.checkSsl = true; return true; }},
    {"no-check-ssl", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.checkSsl = false; return true; }},
    {"check-sni", 1, "supported", "", [](ServerParamRead& r) -> bool { r.s.checkSni = r.value; return true; }},
    {"check-alpn", 1, "supported", "", [](ServerParamRead& r) -> bool {
       r.s.checkAlpn.clear();
       for (auto a : core::split(r.value, ',')) r.s.checkAlpn.emplace_back(a);
       return true;
     }},
    {"check-send-proxy", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.checkSendProxy = true; return true; }},
    {"no-check-send-proxy", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.checkSendProxy = false; return true; }},
    {"check-via-socks4", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.checkViaSocks4 = true; return true; }},
    {"tcp-ut", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.duration(v)) r.s.tcpUserTimeout = v; return true; }},
    {"track", 1, "supported", "", [](ServerParamRead& r) -> bool { r.s.track = r.value; return true; }},
    {"observe", 1, "supported", "", [](ServerParamRead& r) -> bool {
       if (r.value == "layer4") {
         r.s.observeLayer4 = true;
       } else if (r.value == "layer7") {
         r.warning("'observe layer7' is ignored for server '" + r.s.name +
                   "': it needs HTTP mode, as HAProxy says; 'observe layer4' counts connection errors");
       } else if (r.value == "none") {
         r.s.observeLayer4 = false;
       } else {
         return r.fail("unknown 'observe " + r.value + "'", "use 'observe layer4'");
       }
       return true;
     }},
    {"on-error", 1, "supported", "", [](ServerParamRead& r) -> bool {
       const std::string& v = r.value;
       if (v != "fastinter" && v != "fail-check" && v != "sudden-death" && v != "mark-down") {
         return r.fail("unknown 'on-error " + v + "'", "use fastinter, fail-check, sudden-death or mark-down");
       }
       r.s.onError = v;
       return true;
     }},
    {"error-limit", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v) && v > 0) r.s.errorLimit = v; return true; }},
    {"socks4", 1, "supported", "", [](ServerParamRead& r) -> bool {
       auto a = core::Address::parse(r.value);
       if (!a || !a->isV4() || a->port() == 0) {
         return r.fail("invalid SOCKS4 proxy address '" + r.value + "'",
                       "write an IPv4 address and a port: 'socks4 192.0.2.1:1080'");
       }
       r.s.socks4 = r.value;
       return true;
     }},
    {"agent-check", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.agentCheck = true; return true; }},
    {"no-agent-check", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.agentCheck = false; return true; }},
    {"agent-port", 1, "supported", "", [](ServerParamRead& r) -> bool {
       uint32_t v;
       if (r.number(v, 65535) && v > 0) r.s.agentPort = static_cast<uint16_t>(v);
       return true;
     }},
    {"agent-addr", 1, "supported", "", [](ServerParamRead& r) -> bool { r.s.agentAddr = r.value; return true; }},
    {"agent-inter", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.duration(v)) r.s.agentInter = std::max<uint32_t>(v, 1); return true; }},
    {"agent-send", 1, "supported", "", [](ServerParamRead& r) -> bool { r.s.agentSend = r.value; return true; }},
    {"send-proxy", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.sendProxy = ProxyProtocolOut::V1; return true; }},
    {"send-proxy-v2", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.sendProxy = ProxyProtocolOut::V2; return true; }},
    {"no-send-proxy", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.sendProxy = ProxyProtocolOut::None; return true; }},
    {"no-send-proxy-v2", 0, "supported", "", [](ServerParamRead& r) -> bool { r.s.sendProxy = ProxyProtocolOut::None; return true; }},
    {"proxy-v2-options", 1, "supported", "", [](ServerParamRead& r) -> bool {
       r.s.proxyV2Options.clear();
       for (auto o : core::split(r.value, ',')) {
         std::string opt(o);
         if (opt == "authority" || opt == "crc32c") {
           r.s.proxyV2Options.push_back(opt);
         } else if (opt == "ssl" || opt == "cert-cn" || opt == "ssl-cipher" || opt == "cert-sig" ||
                    opt == "cert-key" || opt == "unique-id") {
           r.warnOnce("pp2opt:" + opt, "proxy-v2-options '" + opt + "' is accepted but ignored: " +
                                           (opt == "unique-id" ? std::string("sluice generates no unique id")
                                                               : std::string("sluice terminates no TLS, so there is "
                                                                             "no TLS session of its own to describe")));
         } else {
           return r.fail("unknown proxy-v2-options value '" + opt + "'",
                         "use authority, crc32c (and, ignored here, ssl, cert-cn, ssl-cipher, cert-sig, cert-key, "
                         "unique-id)");
         }
       }
       return true;
     }},
    // "set-proxy-v2-tlv-fmt(<id>) <fmt>" (HAProxy 2.9): the parameter's own
    // word carries the TLV type, 0..255 in decimal or 0x hex.
    {"set-proxy-v2-tlv-fmt", 1, "supported", "", [](ServerParamRead& r) -> bool {
       size_t open = r.w.find('(');
       std::string_view id;
       if (open != std::string::npos && r.w.back() == ')') id = std::string_view(r.w).substr(open + 1, r.w.size() - open - 2);
       std::optional<uint8_t> type = proto::parseTlvType(id);
       if (!type) {
         return r.fail("'" + r.w + "' needs a TLV type from 0 to 255", "e.g. 'set-proxy-v2-tlv-fmt(0xE1) %[req.ssl_ja4]'");
       }
       r.s.proxyTlvFormats.emplace_back(*type, r.value);
       return true;
     }},
    {"slowstart", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.duration(v)) r.s.slowstart = v; return true; }},
    {"on-marked-down", 1, "supported", "", [](ServerParamRead& r) -> bool {
       if (r.value != "shutdown-sessions") {
         return r.fail("unknown on-marked-down action '" + r.value + "'", "use 'shutdown-sessions'");
       }
       r.s.onMarkedDown = r.value;
       return true;
     }},
    {"on-marked-up", 1, "supported", "", [](ServerParamRead& r) -> bool {
       if (r.value != "shutdown-backup-sessions") {
         return r.fail("unknown on-marked-up action '" + r.value + "'", "use 'shutdown-backup-sessions'");
       }
       r.s.onMarkedUp = r.value;
       return true;
     }},
    {"id", 1, "supported", "", [](ServerParamRead& r) -> bool { uint32_t v; if (r.number(v) && v > 0) r.s.id = v; return true; }},
    {"guid", 1, "supported", "", [](ServerParamRead& r) -> bool {
       std::string why = guidProblem(r.value);
       if (!why.empty()) return r.fail("invalid GUID '" + r.value + "': " + why, kGuidHint);
       r.s.guid = r.value;
       return true;
     }},
    {"init-state", 1, "supported", "", [](ServerParamRead& r) -> bool {
       if (r.value != "fully-up" && r.value != "up" && r.value != "down" && r.value != "fully-down" &&
           r.value != "none") {
         return r.fail("unknown init-state '" + r.value + "'", "use fully-up, up, down, fully-down or none");
       }
       r.s.initState = r.value == "none" ? "" : r.value;
       return true;
     }},
    // HAProxy 3.x: maxconn also bounds idle connections kept for reuse.
    // sluice keeps none, so its maxconn is already this strict.
    {"strict-maxconn", 0, "supported", "", [](ServerParamRead&) -> bool { return true; }},
    // "source <addr>[:port] [usesrc ...] [interface <if>]": takes as many words as it needs.
    {"source", 1, "supported", "", [](ServerParamRead& r) -> bool { return r.source(); }},
    {"verify", 1, "supported", "", [](ServerParamRead& r) -> bool {
       if (r.value != "none" && r.value != "required") {
         return r.fail("unknown verify mode '" + r.value + "'", "use 'none' or 'required'");
       }
       r.s.verify = r.value;
       return true;
     }},
    {"ca-file", 1, "supported", "", [](ServerParamRead& r) -> bool { r.s.caFile = r.value; return true; }},
    {"init-addr", 1, "supported", "", [](ServerParamRead& r) -> bool {
       for (auto m : core::split(r.value, ',')) {
         if (m != "last" && m != "libc" && m != "none" && !core::Address::parse(std::string(m) + ":0") &&
             !core::Address::parse("[" + std::string(m) + "]:0")) {
           return r.fail("unknown init-addr method '" + std::string(m) + "'", "use last, libc, none or an IP address, comma-separated");
         }
       }
       r.s.initAddr = r.value;
       return true;
     }},
    {"resolvers", 1, "supported", "", [](ServerParamRead& r) -> bool { r.s.resolvers = r.value; return true; }},
    {"resolve-prefer", 1, "supported", "", [](ServerParamRead& r) -> bool {
       if (r.value != "ipv4" && r.value != "ipv6") return r.fail("'resolve-prefer' expects 'ipv4' or 'ipv6'");
       r.s.resolvePrefer = r.value;
       return true;
     }},
    {"cookie", 1, "ignored", "HTTP-only"},
    {"redir", 1, "ignored", "HTTP-only"},
    {"resolve-net", 1, "ignored", "the family (resolve-prefer) decides; networks are not preferred"},
    {"resolve-opts", 1, "ignored", "duplicate addresses are allowed and SRV weights always apply"},
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
    {"namespace", 1, "unsupported",
     "sluice does not switch network namespaces (feature NS is off); run it inside the namespace instead (ip netns "
     "exec)"},
    {"proto", 1, "ignored", "HTTP-only"},
    {"ws", 1, "ignored", "HTTP-only"},
    {"check-proto", 1, "ignored", "HTTP-only"},
    {"ssl", 0, "unsupported", "sluice forwards the client's TLS as is and never opens its own TLS session to a server"},
    {"send-proxy-v2-ssl", 0, "unsupported", "there is no TLS session of sluice's own to describe"},
    {"send-proxy-v2-ssl-cn", 0, "unsupported", "there is no TLS session of sluice's own to describe"},
};
// clang-format on

bool ServerParamRead::number(uint32_t& out, uint64_t max) {
  auto v = core::parseInt(value);
  if (!v || *v < 0 || static_cast<uint64_t>(*v) > max) {
    parser.error(l, "invalid value '" + value + "' for server parameter '" + w + "'",
                 "expected an integer from 0 to " + std::to_string(max));
    return false;
  }
  out = static_cast<uint32_t>(*v);
  return true;
}

bool ServerParamRead::duration(uint32_t& out) {
  if (!parseDuration(value, out)) {
    parser.error(l, "invalid time '" + value + "' for server parameter '" + w + "'",
                 "use a number with an optional unit: ms, s, m (e.g. '2s')");
    return false;
  }
  return true;
}

bool ServerParamRead::fail(std::string message, std::string hint) {
  parser.error(l, std::move(message), std::move(hint));
  return false;
}

void ServerParamRead::warning(std::string message) { parser.diag_.warning(l.where, std::move(message)); }

void ServerParamRead::warnOnce(const std::string& key, std::string message) {
  parser.diag_.warnOnce(key, l.where, std::move(message));
}

bool ServerParamRead::source() {
  size_t next = 0;
  if (!parser.parseSource(l, i, s.source, next)) return false;
  i = next - 1;  // the reading loop's ++i lands on the word after
  return true;
}

std::optional<core::Address> Parser::resolveHost(const std::string& host, uint16_t port) {
  if (!nameResolutionEnabled()) return std::nullopt;
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

std::optional<ServerConfig> Parser::readServerLine(const ProxyConfig& backend, const ConfigLine& l) {
  current_ = ProxyConfig{};
  current_.kind = backend.kind;
  current_.name = backend.name;
  current_.isBackend = true;
  current_.defaultServer = backend.defaultServer;
  serverNames_.clear();
  const size_t errorsBefore = diag_.errorCount();
  parseServer(l, /*isDefault=*/false);
  if (diag_.errorCount() != errorsBefore || current_.servers.empty()) return std::nullopt;
  return current_.servers.back();
}

// server <name> <address>[:[port]] [param*]
void Parser::parseServer(const ConfigLine& l, bool isDefault) {
  ProxyConfig& p = current_;
  ServerConfig s = p.defaultServer;
  s.where = l.where;
  size_t i = 1;
  if (!isDefault) {
    if (!needArgs(l, 2, "<name> <address>[:port] [params]")) return;
    s.name = l.words[1];
    s.addressSpec = l.words[2];
    if (!checkName(l, s.name, "server name")) return;
    i = 3;
  }
  for (; i < l.words.size(); ++i) {
    const std::string& w = l.words[i];
    // A parameter whose word carries an argument ("set-proxy-v2-tlv-fmt(0xE1)").
    const ServerParam* ps = findParam(kServerParams, std::string_view(w).substr(0, w.find('(')));
    if (!ps) {
      std::string guess = suggest(w, paramNames(kServerParams));
      error(l, "unknown server parameter '" + w + "'",
            guess.empty() ? "see docs/configuration.md for server parameters" : "did you mean '" + guess + "'?");
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
    ServerParamRead read{*this, l, w, value, i, s};
    if (ps->read && !ps->read(read)) return;
  }
  if (isDefault) {
    s.name.clear();
    s.addressSpec.clear();
    p.defaultServer = s;
    return;
  }
  // After the parameters: init-addr and resolvers decide what a name needs.
  if (!resolveServerAddress(l, s)) return;
  auto [known, added] = serverNames_.try_emplace(s.name, p.servers.size());
  if (!added) {
    error(l,
          "server '" + s.name + "' is already defined in " + proxyLabel(p) + " at " +
              p.servers[known->second].where.toString(),
          "server names must be unique within a backend");
    return;
  }
  if (s.weight == 0 && !s.backup) {
    // weight 0 is legal: the server takes no new load-balanced traffic.
  }
  p.servers.push_back(s);
}

bool Parser::resolveServerAddress(const ConfigLine& l, ServerConfig& s) {
  std::string spec = s.addressSpec;
  if (core::startsWith(spec, "unix@") || core::startsWith(spec, "abns@") || spec[0] == '/' ||
      core::startsWith(spec, "sockpair@") || core::startsWith(spec, "fd@")) {
    error(l, "server address '" + spec + "' is not supported", "sluice connects to servers over TCP: use ADDR:PORT");
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
      error(l, "invalid server address '" + s.addressSpec + "'", "write IPv6 addresses in brackets: [2001:db8::1]:443");
      return false;
    }
    host = whole->ipString();
    port = whole->port() ? std::to_string(whole->port()) : "";
    forceV6 = true;
  }
  if (host.empty() || host == "*") host = forceV6 ? "::" : "0.0.0.0";  // the client's destination
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
    if (!n || *n < 0 || *n > 65535) {
      error(l, "invalid port '" + port + "' in server address '" + s.addressSpec + "'",
            "ports are 1-65535, or 0 for the port the client connected to");
      return false;
    }
    portNumber = static_cast<uint16_t>(*n);
  }
  std::optional<core::Address> addr = core::Address::parse(
      (forceV6 ? "ipv6@" : "") + (forceV6 && host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
      std::to_string(portNumber));
  if (!addr) {
    // A name: "init-addr" says how to get the first address (HAProxy's
    // default "last,libc"); with "resolvers" it is resolved again and again.
    s.fqdn = host;
    if (!s.resolvers.empty()) {
      bool known = false;
      for (const ResolversConfig& r : config_.resolvers) known = known || r.name == s.resolvers;
      if (!known) {
        error(l, "server '" + s.name + "': no resolvers section named '" + s.resolvers + "' before this line",
              "declare 'resolvers " + s.resolvers + "' with its name servers first");
        return false;
      }
    }
    const bool srv = host[0] == '_';
    if (srv && s.resolvers.empty()) {
      error(l, "server '" + s.name + "': the SRV label '" + host + "' needs 'resolvers <name>'");
      return false;
    }
    bool waitsForState = false;
    const std::string methods = s.initAddr.empty() ? "last,libc" : s.initAddr;  // split() views into it
    for (auto m : core::split(methods, ',')) {
      if (m == "last") {
        waitsForState = true;  // the server state file's address, applied at start-up
      } else if (m == "libc") {
        if (!srv) addr = resolveHost(host, portNumber);
      } else if (m == "none") {
        s.hasAddress = false;
        addr = core::Address::parse(forceV6 ? "[::]:0" : "0.0.0.0:0");
        if (addr) addr->setPort(portNumber);
      } else {
        std::string ip(m);
        addr = core::Address::parse(ip.find(':') != std::string::npos ? "[" + ip + "]:0" : ip + ":0");
        if (addr) addr->setPort(portNumber);
      }
      if (addr) break;
    }
    if (!addr && (srv || (waitsForState && !s.resolvers.empty()))) {
      // Resolved later (SRV records, or the state file then the resolvers).
      s.hasAddress = false;
      addr = core::Address::parse("0.0.0.0:0");
      addr->setPort(portNumber);
    }
  }
  if (!addr) {
    error(l, "could not resolve address '" + host + "' of server '" + s.name + "'",
          "check the name, use a numeric address, or add 'init-addr last,libc,none' to start without one");
    return false;
  }
  if (!s.hasAddress) {
    s.address = *addr;
    return true;
  }
  // 0.0.0.0, :: or no host at all (HAProxy reads ":" from two unset
  // variables so): connections go to the address the client connected to,
  // for intercepted traffic (TPROXY, REDIRECT); port 0 is the client's too.
  if (addr->isAny()) s.addressFromClient = true;
  if (portNumber == 0) s.portFromClient = true;
  s.address = *addr;
  return true;
}

}  // namespace sluice::config::detail
