// SPDX-License-Identifier: Apache-2.0
// bind lines: addresses (TCP, QUIC, fd@, sockpair@), and their parameters
// (their table, with each one's reader, is here).
#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

// One line per simple parameter reads best:
// clang-format off
// Every bind parameter of a listener sluice serves: supported ones with their
// reader, which returns false to stop reading the line after an error.
const std::vector<BindParam> kBindParams = {
    {"accept-proxy", 0, "supported", "", [](BindParamRead& r) -> bool { r.b.acceptProxy = true; return true; }},
    {"defer-accept", 0, "supported", "", [](BindParamRead& r) -> bool { r.b.deferAccept = true; return true; }},
    {"v4v6", 0, "supported", "", [](BindParamRead& r) -> bool { r.b.v4v6 = true; return true; }},
    {"v6only", 0, "supported", "", [](BindParamRead& r) -> bool { r.b.v6only = true; return true; }},
    {"transparent", 0, "supported", "", [](BindParamRead& r) -> bool { r.b.transparent = true; return true; }},
    {"tfo", 0, "supported", "", [](BindParamRead& r) -> bool { r.b.tfo = true; return true; }},
    {"name", 1, "supported", "", [](BindParamRead& r) -> bool { r.b.name = r.value; return true; }},
    {"guid-prefix", 1, "supported", "", [](BindParamRead& r) -> bool {
       std::string why = guidProblem(r.value);
       if (!why.empty()) return r.fail("invalid GUID prefix '" + r.value + "': " + why, kGuidHint);
       r.b.guidPrefix = r.value;
       return true;
     }},
    {"interface", 1, "supported", "", [](BindParamRead& r) -> bool { r.b.interface = r.value; return true; }},
    {"backlog", 1, "supported", "", [](BindParamRead& r) -> bool { return r.number(r.b.backlog); }},
    {"maxconn", 1, "supported", "", [](BindParamRead& r) -> bool { return r.number(r.b.maxconn); }},
    {"mss", 1, "supported", "", [](BindParamRead& r) -> bool { return r.number(r.b.mss); }},
    {"tcp-ut", 1, "supported", "", [](BindParamRead& r) -> bool {
       uint32_t v;
       if (!parseDuration(r.value, v)) return r.fail("invalid time '" + r.value + "' for bind parameter 'tcp-ut'");
       r.b.tcpUserTimeout = v;
       return true;
     }},
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
    {"namespace", 1, "unsupported",
     "sluice does not switch network namespaces (feature NS is off); run it inside the namespace instead (ip netns "
     "exec)"},
    {"accept-netscaler-cip", 1, "unsupported", "the NetScaler client-IP protocol is not implemented"},
    {"quic-cc-algo", 1, "ignored", "sluice does not terminate QUIC: congestion control is the QUIC server's"},
    {"quic-force-retry", 0, "ignored",
     "sluice does not terminate QUIC: address validation (Retry) is the QUIC server's"},
};
// clang-format on

bool BindParamRead::number(std::optional<uint32_t>& out) {
  auto v = core::parseInt(value);
  if (!v || *v < 0 || *v > INT32_MAX) return fail("invalid value '" + value + "' for bind parameter '" + w + "'");
  out = static_cast<uint32_t>(*v);
  return true;
}

bool BindParamRead::fail(std::string message, std::string hint) {
  parser.error(l, std::move(message), std::move(hint));
  return false;
}

// bind <addr>[:<port_range>] [, ...] [param*]
void Parser::parseBind(const ConfigLine& l) {
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
    if (core::startsWith(s, "unix@") || core::startsWith(s, "abns@") || s[0] == '/' || core::startsWith(s, "udp@") ||
        core::startsWith(s, "udp4@") || core::startsWith(s, "udp6@")) {
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
    const BindParam* spec = findParam(kBindParams, w);
    const ParamSpec* tls = spec ? nullptr : findParam(kBindTlsParams, w);
    if (!spec && !tls) {
      std::vector<std::string_view> names = paramNames(kBindParams);
      for (const ParamSpec& t : kBindTlsParams) names.push_back(t.name);
      std::string guess = suggest(w, names);
      error(l, "unknown bind parameter '" + w + "'",
            guess.empty() ? "see docs/configuration.md for bind parameters" : "did you mean '" + guess + "'?");
      return;
    }
    const int args = spec ? spec->args : tls->args;
    const std::string_view treatment = spec ? spec->treatment : tls->treatment;
    const std::string_view note = spec ? spec->note : tls->note;
    if (args > 0 && i + 1 >= l.words.size()) {
      error(l, "bind parameter '" + w + "' expects a value");
      return;
    }
    std::string value = args > 0 ? l.words[i + 1] : "";
    if (tls || terminatesTls) {
      // checked by name only (see above)
    } else if (treatment == "unsupported") {
      error(l, "bind parameter '" + w + "' is not supported: " + std::string(note));
      return;
    } else if (treatment == "ignored") {
      diag_.warnOnce("bind:" + w, l.where, "bind parameter '" + w + "' is accepted but ignored: " + std::string(note));
    } else if (spec->read) {
      BindParamRead read{*this, l, w, value, b};
      if (!spec->read(read)) return;
    }
    i += static_cast<size_t>(args);
  }
  if (b.quic && !terminatesTls) {
    if (b.acceptProxy) {
      error(l, "'accept-proxy' on QUIC bind '" + l.words[1] + "': the PROXY protocol has no form for QUIC",
            "remove accept-proxy from this line");
      return;
    }
    if (b.deferAccept || b.tfo || b.backlog || b.mss || b.tcpUserTimeout) {
      diag_.warning(l.where,
                    "TCP parameters (defer-accept, tfo, backlog, mss, tcp-ut) have no effect on "
                    "QUIC bind '" +
                        l.words[1] + "'");
    }
  }
  if (terminatesTls) {
    // This listener terminates TLS: sluice cannot serve it. Remember the
    // proxy: it is skipped as a whole when it has no other listener, else
    // this line alone is (validate.cc), with a warning either way.
    tlsWhere_[current_.name].push_back(l.where);
    return;
  }
  current_.binds.push_back(b);
}

}  // namespace sluice::config::detail
