// SPDX-License-Identifier: Apache-2.0
// "peers" sections: the instances that share stick tables (the runtime side
// is src/peers/), and the global "localpeer".
#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

namespace {

std::optional<core::Address> peerAddress(const std::string& spec) {
  auto a = core::Address::parse(spec);
  if (!a || a->port() == 0 || a->isAny()) return std::nullopt;
  return a;
}

}  // namespace

// The TLS parameters of a peers section's lines (HAProxy's bind and server
// parameters that make sense on a peers link). Others a peers line may
// carry in HAProxy's files are warned about and skipped.
bool Parser::peersTlsParams(const ConfigLine& l, size_t first, bool bindSide, PeerTls& tls) {
  auto base = [&](const std::string& file, const std::string& dir) {
    return file.empty() || file[0] == '/' || dir.empty() ? file : dir + "/" + file;
  };
  for (size_t i = first; i < l.words.size(); ++i) {
    const std::string& w = l.words[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= l.words.size()) {
        error(l, "'" + w + "' expects a value");
        return false;
      }
      into = l.words[++i];
      return true;
    };
    if (w == "ssl") {
      tls.enabled = true;
    } else if (w == "no-ssl") {
      tls.enabled = false;
    } else if (w == "crt") {
      if (!value(tls.crt)) return false;
      tls.crt = base(tls.crt, config_.global.crtBase);
    } else if (w == "ca-file") {
      if (!value(tls.caFile)) return false;
      tls.caFile = base(tls.caFile, config_.global.caBase);
    } else if (w == "crl-file") {
      if (!value(tls.crlFile)) return false;
      tls.crlFile = base(tls.crlFile, config_.global.caBase);
    } else if (w == "verify") {
      std::string v;
      if (!value(v)) return false;
      if (v == "none") tls.verify = PeerTls::Verify::None;
      else if (v == "required") tls.verify = PeerTls::Verify::Required;
      else if (v == "optional" && bindSide) tls.verify = PeerTls::Verify::Optional;
      else {
        error(l, "'verify' expects " + std::string(bindSide ? "'none', 'optional' or 'required'" : "'none' or 'required'") +
                     ", not '" + v + "'");
        return false;
      }
    } else if (w == "verifyhost" && !bindSide) {
      if (!value(tls.verifyHost)) return false;
    } else if (w == "sni" && !bindSide) {
      std::string expr;
      if (!value(expr)) return false;
      // HAProxy takes a sample expression; a peer's name is a constant.
      if (expr.size() > 5 && expr.starts_with("str(") && expr.back() == ')') {
        tls.sni = expr.substr(4, expr.size() - 5);
      } else {
        error(l, "'sni " + expr + "': a peers link takes a constant name", "write 'sni str(peer.example.com)'");
        return false;
      }
    } else if (w == "ciphers" || w == "ciphersuites" || w == "ssl-min-ver" || w == "ssl-max-ver") {
      std::string& into = w == "ciphers" ? tls.ciphers : w == "ciphersuites" ? tls.ciphersuites
                          : w == "ssl-min-ver" ? tls.minVersion : tls.maxVersion;
      if (!value(into)) return false;
      if ((w == "ssl-min-ver" || w == "ssl-max-ver") && into != "TLSv1.2" && into != "TLSv1.3") {
        error(l, "'" + w + " " + into + "': sluice speaks TLSv1.2 and TLSv1.3", "write 'TLSv1.2' or 'TLSv1.3'");
        return false;
      }
    } else {
      // A parameter HAProxy takes on such a line that means nothing to a
      // peers link here (a value, if it has one, is skipped too).
      static const char* kWithValue[] = {"alpn", "npn", "curves", "ecdhe", "sigalgs", "client-sigalgs", "weight",
                                         "maxconn", "inter", "id", "name", "level", "mode", "user", "group",
                                         "interface", "namespace", "source", "tcp-ut", "backlog", "mss", "proto"};
      bool hasValue = false;
      for (const char* k : kWithValue) hasValue = hasValue || w == k;
      diag_.warning(l.where, "'" + w + "' is ignored on a line of peers section '" + config_.peers.back().name +
                                 "': a peers link takes its address and TLS parameters only");
      if (hasValue) ++i;
    }
  }
  return true;
}

// "peer <name> <ip>:<port> [param*]" (every peer, the local one included),
// or "server <name> [<ip>:<port>] [param*]" (HAProxy 2.x: the local peer
// without an address, its address on "bind").
void Parser::peersPeer(const ConfigLine& l) {
  PeersConfig& p = config_.peers.back();
  const bool server = l.words[0] == "server";
  if (!needArgs(l, server ? 1 : 2, server ? "<name> [<ip>:<port>] [param*]" : "<name> <ip>:<port> [param*]")) return;
  PeersConfig::Peer peer;
  peer.where = l.where;
  peer.name = l.words[1];
  size_t params = 2;
  if (l.words.size() > 2 && (l.words[0] == "peer" || l.words[2].find(':') != std::string::npos)) {
    peer.address = peerAddress(l.words[2]);
    if (!peer.address) {
      error(l, "invalid peer address '" + l.words[2] + "'", "write an IP address and a port: '10.0.0.2:10000'");
      return;
    }
    params = 3;
  }
  peer.tls = p.defaultServerTls;
  if (!peersTlsParams(l, params, /*bindSide=*/false, peer.tls)) return;
  for (const auto& other : p.peers) {
    if (other.name == peer.name) {
      error(l, "peer '" + peer.name + "' is defined twice in peers section '" + p.name + "'");
      return;
    }
  }
  p.peers.push_back(std::move(peer));
}

void Parser::peersDefaultServer(const ConfigLine& l) {
  PeersConfig& p = config_.peers.back();
  PeerTls tls = p.defaultServerTls;
  if (peersTlsParams(l, 1, /*bindSide=*/false, tls)) p.defaultServerTls = tls;
}

void Parser::peersDefaultBind(const ConfigLine& l) {
  PeersConfig& p = config_.peers.back();
  PeerTls tls = p.bindTls;
  if (peersTlsParams(l, 1, /*bindSide=*/true, tls)) p.bindTls = tls;
}

void Parser::peersBind(const ConfigLine& l) {
  PeersConfig& p = config_.peers.back();
  if (!needArgs(l, 1, "<ip>:<port> [param*]")) return;
  auto a = core::Address::parse(l.words[1]);
  if (!a || a->port() == 0) {
    error(l, "invalid bind address '" + l.words[1] + "' in a peers section", "write '<ip>:<port>' or ':<port>'");
    return;
  }
  PeerTls tls = p.bindTls;
  if (!peersTlsParams(l, 2, /*bindSide=*/true, tls)) return;
  p.bind = a;
  p.bindTls = tls;
  p.bindWhere = l.where;
}

void Parser::globalCertBase(const ConfigLine& l) {
  if (!needArgs(l, 1, "<dir>")) return;
  (l.words[0] == "ca-base" ? config_.global.caBase : config_.global.crtBase) = l.words[1];
}

void Parser::globalSslServerVerify(const ConfigLine& l) {
  if (l.words.size() != 2 || (l.words[1] != "none" && l.words[1] != "required")) {
    error(l, "'ssl-server-verify' expects 'none' or 'required'");
    return;
  }
  config_.global.sslServerVerifyNone = l.words[1] == "none";
}

// "table <name> type <type> size <size> [expire <d>] [nopurge] [store <types>]...":
// the stick-table line of a proxy, shared through this section.
void Parser::peersTable(const ConfigLine& l) {
  PeersConfig& p = config_.peers.back();
  if (!needArgs(l, 3, "<name> type <type> size <size> ...")) return;
  const std::string& name = l.words[1];
  for (const auto& other : p.tables) {
    if (other.spec.name == p.name + "/" + name) {
      error(l, "table '" + name + "' is declared twice in peers section '" + p.name + "'",
            "the first was declared at " + other.where.file + ":" + std::to_string(other.where.line));
      return;
    }
  }
  PeersConfig::Table t;
  t.where = l.where;
  t.spec.name = p.name + "/" + name;
  std::string why = parseTableSpec(std::vector<std::string>(l.words.begin() + 2, l.words.end()), t.spec);
  if (why.empty() && !t.spec.peers.empty()) why = "'peers' is implied by the section the table is declared in";
  if (!why.empty()) {
    error(l, "in 'table': " + why, "e.g. 'table src type ip size 100k expire 30s store conn_rate(10s)'");
    return;
  }
  t.spec.peers = p.name;
  p.tables.push_back(std::move(t));
}

void Parser::peersDisabled(const ConfigLine&) { config_.peers.back().disabled = true; }
void Parser::peersEnabled(const ConfigLine&) { config_.peers.back().disabled = false; }

void Parser::globalLocalPeer(const ConfigLine& l) {
  if (needArgs(l, 1, "<name>")) config_.global.localPeer = l.words[1];
}

}  // namespace sluice::config::detail
