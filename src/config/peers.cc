// SPDX-License-Identifier: Apache-2.0
// "peers" sections: the instances that share stick tables (the runtime side
// is src/peers/), and the global "localpeer".
#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

namespace {

// HAProxy can run the peers protocol over TLS ("ssl" on bind, server and
// default-server lines); sluice speaks it in clear, which such peers refuse.
bool asksForTls(const ConfigLine& l) {
  for (size_t i = 1; i < l.words.size(); ++i) {
    if (l.words[i] == "ssl") return true;
  }
  return false;
}

std::optional<core::Address> peerAddress(const std::string& spec) {
  auto a = core::Address::parse(spec);
  if (!a || a->port() == 0 || a->isAny()) return std::nullopt;
  return a;
}

}  // namespace

// "peer <name> <ip>:<port>" (every peer, the local one included), or
// "server <name> [<ip>:<port>]" (HAProxy 2.x: the local peer without an
// address, its address on "bind").
void Parser::peersPeer(const ConfigLine& l) {
  PeersConfig& p = config_.peers.back();
  peersTlsWarning(l);
  const bool server = l.words[0] == "server";
  if (!needArgs(l, server ? 1 : 2, server ? "<name> [<ip>:<port>]" : "<name> <ip>:<port>")) return;
  PeersConfig::Peer peer;
  peer.where = l.where;
  peer.name = l.words[1];
  if (l.words.size() > 2) {
    peer.address = peerAddress(l.words[2]);
    if (!peer.address) {
      error(l, "invalid peer address '" + l.words[2] + "'", "write an IP address and a port: '10.0.0.2:10000'");
      return;
    }
  }
  for (const auto& other : p.peers) {
    if (other.name == peer.name) {
      error(l, "peer '" + peer.name + "' is defined twice in peers section '" + p.name + "'");
      return;
    }
  }
  p.peers.push_back(std::move(peer));
}

void Parser::peersTlsWarning(const ConfigLine& l) {
  if (!asksForTls(l)) return;
  diag_.warning(l.where, "'ssl' in peers section '" + config_.peers.back().name +
                             "': sluice speaks the peers protocol in clear, so peers that expect TLS refuse it; "
                             "remove 'ssl' on every peer of the section, or keep the peers on a private network");
}

void Parser::peersDefaultServer(const ConfigLine& l) {
  peersTlsWarning(l);
  diag_.warnOnce("kw:peers default-server", l.where,
                 "'default-server' is accepted but ignored in a peers section: peer connections take no server "
                 "parameters");
}

void Parser::peersBind(const ConfigLine& l) {
  peersTlsWarning(l);
  if (!needArgs(l, 1, "<ip>:<port>")) return;
  auto a = core::Address::parse(l.words[1]);
  if (!a || a->port() == 0) {
    error(l, "invalid bind address '" + l.words[1] + "' in a peers section", "write '<ip>:<port>' or ':<port>'");
    return;
  }
  config_.peers.back().bind = a;
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
