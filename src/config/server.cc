// SPDX-License-Identifier: Apache-2.0
// server and default-server lines: the address (resolved once through libc)
// and the parameters (their table is in keywords.cc).
#include <netdb.h>

#include <cstring>

#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

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
    if (!resolveServerAddress(l, s)) return;
    i = 3;
  }
  for (; i < l.words.size(); ++i) {
    const std::string& w = l.words[i];
    const ParamSpec* ps = findParam(kServerParams, w);
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
        error(l, "invalid SOCKS4 proxy address '" + value + "'",
              "write an IPv4 address and a port: 'socks4 192.0.2.1:1080'");
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
        } else if (opt == "ssl" || opt == "cert-cn" || opt == "ssl-cipher" || opt == "cert-sig" || opt == "cert-key" ||
                   opt == "unique-id") {
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
      error(l, "invalid port '" + port + "' in server address '" + s.addressSpec + "'", "ports are 1-65535");
      return false;
    }
    portNumber = static_cast<uint16_t>(*n);
  }
  std::optional<core::Address> addr = core::Address::parse(
      (forceV6 ? "ipv6@" : "") + (forceV6 && host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
      std::to_string(portNumber));
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

}  // namespace sluice::config::detail
