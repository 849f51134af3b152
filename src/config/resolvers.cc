// SPDX-License-Identifier: Apache-2.0
// "resolvers" sections (name servers for DNS service discovery) and
// "server-template" lines. The servers' own DNS parameters (resolvers,
// resolve-prefer, init-addr) are in server.cc's table.
#include <fstream>

#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

namespace {

// "1.2.3.4", "1.2.3.4:5353", "[::1]:53", with HAProxy's udp@/tcp@ prefixes.
std::optional<core::Address> nameserverAddress(std::string spec, bool& tcp) {
  tcp = false;
  for (const char* prefix : {"udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"}) {
    if (spec.rfind(prefix, 0) == 0) spec = spec.substr(std::string_view(prefix).size());
  }
  for (const char* prefix : {"tcp@", "tcp4@", "tcp6@"}) {
    if (spec.rfind(prefix, 0) == 0) {
      spec = spec.substr(std::string_view(prefix).size());
      tcp = true;
    }
  }
  auto a = core::Address::parse(spec);
  if (!a && spec.find(':') == std::string::npos) a = core::Address::parse(spec + ":53");
  if (!a && spec.find(':') != spec.rfind(':') && spec[0] != '[') a = core::Address::parse("[" + spec + "]:53");
  if (a && a->port() == 0) a->setPort(53);
  if (a && a->isAny()) return std::nullopt;
  return a;
}

}  // namespace

void Parser::resolversNameserver(const ConfigLine& l) {
  ResolversConfig& r = config_.resolvers.back();
  if (!needArgs(l, 2, "<name> <ip>[:<port>]")) return;
  bool tcp = false;
  auto a = nameserverAddress(l.words[2], tcp);
  if (!a) {
    error(l, "invalid name server address '" + l.words[2] + "'", "write an IP address and a port: '10.0.0.1:53'");
    return;
  }
  for (const auto& ns : r.nameservers) {
    if (ns.name == l.words[1]) error(l, "name server '" + l.words[1] + "' is defined twice in resolvers '" + r.name + "'");
  }
  r.nameservers.push_back({l.words[1], *a, tcp});
}

// The name servers of /etc/resolv.conf, each as if written here.
void Parser::resolversParseResolvConf(const ConfigLine& l) {
  ResolversConfig& r = config_.resolvers.back();
  std::ifstream in("/etc/resolv.conf");
  if (!in) {
    diag_.warning(l.where, "'parse-resolv-conf': cannot read /etc/resolv.conf; no name server added");
    return;
  }
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string_view> w;
    for (auto x : core::split(line, ' ')) {
      if (!x.empty()) w.push_back(x);
    }
    if (w.size() < 2 || w[0] != "nameserver") continue;
    bool tcp = false;
    auto a = nameserverAddress(std::string(w[1]), tcp);
    if (a) r.nameservers.push_back({"resolv.conf." + std::to_string(++n), *a, false});
  }
}

void Parser::resolversPayloadSize(const ConfigLine& l) {
  uint32_t v;
  if (!unsignedArg(l, 1, "accepted_payload_size", v, 65535)) return;
  if (v < 512) {
    error(l, "'accepted_payload_size' must be between 512 and 65535", "512 is RFC 6891's minimum");
    return;
  }
  config_.resolvers.back().acceptedPayloadSize = v;
}

void Parser::resolversHold(const ConfigLine& l) {
  ResolversConfig& r = config_.resolvers.back();
  if (!needArgs(l, 2, "nx|other|refused|timeout|valid|obsolete <period>")) return;
  uint32_t v;
  if (!durationArg(l, 2, "hold " + l.words[1], v)) return;
  const std::string& what = l.words[1];
  if (what == "nx") r.holdNxMs = v;
  else if (what == "refused") r.holdRefusedMs = v;
  else if (what == "timeout") r.holdTimeoutMs = v;
  else if (what == "other") r.holdOtherMs = v;
  else if (what == "valid") r.holdValidMs = v;
  else if (what == "obsolete") r.holdObsoleteMs = v;
  else error(l, "unknown 'hold " + what + "'", "use nx, other, refused, timeout, valid or obsolete");
}

void Parser::resolversTimeout(const ConfigLine& l) {
  ResolversConfig& r = config_.resolvers.back();
  if (!needArgs(l, 2, "resolve|retry <time>")) return;
  uint32_t v;
  if (!durationArg(l, 2, "timeout " + l.words[1], v)) return;
  if (l.words[1] == "resolve") {
    r.timeoutResolveMs = std::max<uint32_t>(v, 1);
  } else if (l.words[1] == "retry") {
    r.timeoutRetryMs = std::max<uint32_t>(v, 1);
  } else {
    error(l, "unknown 'timeout " + l.words[1] + "' in a resolvers section", "use 'timeout resolve' or 'timeout retry'");
  }
}

void Parser::resolversRetries(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "resolve_retries", v, 100) && v >= 1) config_.resolvers.back().resolveRetries = v;
}

// server-template <prefix> <num>|<low>-<high> <fqdn>[:<port>] [params]*: the
// servers <prefix><low> .. <prefix><high>, each a "server" line of its own.
void Parser::proxyServerTemplate(const ConfigLine& l) {
  if (!needArgs(l, 3, "<prefix> <num>|<low>-<high> <fqdn>[:<port>] [params]*")) return;
  const std::string& range = l.words[2];
  size_t dash = range.find('-');
  auto lo = core::parseInt(dash == std::string::npos ? "1" : range.substr(0, dash));
  auto hi = core::parseInt(dash == std::string::npos ? range : range.substr(dash + 1));
  if (!lo || !hi || *lo < 0 || *hi < *lo || *hi - *lo >= 100000) {
    error(l, "invalid number or range '" + range + "' in 'server-template'", "write a count (3) or a range (1-3)");
    return;
  }
  for (int64_t i = *lo; i <= *hi; ++i) {
    ConfigLine one = l;
    one.words = {"server", l.words[1] + std::to_string(i)};
    one.words.insert(one.words.end(), l.words.begin() + 3, l.words.end());
    const size_t before = current_.servers.size();
    parseServer(one, /*isDefault=*/false);
    if (current_.servers.size() == before) return;  // its error is said once
    current_.servers.back().templatePrefix = l.words[1];
  }
}

}  // namespace sluice::config::detail
