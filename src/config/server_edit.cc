// SPDX-License-Identifier: Apache-2.0
// Runtime API server changes applied to a configuration model; see
// server_edit.h.
#include "config/server_edit.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>

#include "config/lexer.h"
#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config {
namespace {

ProxyConfig* findBackend(Config& cfg, const std::string& name) {
  for (ProxyConfig& p : cfg.proxies) {
    if (p.isBackend && p.name == name) return &p;
  }
  return nullptr;
}

const ProxyConfig* findBackend(const Config& cfg, const std::string& name) {
  return findBackend(const_cast<Config&>(cfg), name);
}

ServerConfig* findServer(ProxyConfig& be, const std::string& name) {
  for (ServerConfig& s : be.servers) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// Servers without an "id" are numbered by position when the runtime is
// built: before one is added or deleted, each keeps the number it has, so
// that "show stat"'s sid and the state file's srv_id do not shift.
void pinServerIds(ProxyConfig& be) {
  uint32_t next = 1;
  for (ServerConfig& s : be.servers) {
    if (!s.id) s.id = next;
    next = std::max(next, s.id) + 1;
  }
}

std::string addServer(Config& cfg, ProxyConfig& be, const ServerEdit& e) {
  if (findServer(be, e.server)) return "Already exists a server with the same name in backend.\n";
  if (e.words.empty()) return "'add server' expects an address: add server <backend>/<server> <addr>[:<port>] [args]*\n";
  ConfigLine line;
  line.where = {"runtime API", 0};
  line.words = {"server", e.server};
  line.words.insert(line.words.end(), e.words.begin(), e.words.end());
  core::Diagnostics diag;
  detail::Parser parser(diag);
  std::optional<ServerConfig> s = parser.readServerLine(be, line);
  if (!s) {
    // The parser's messages, without the "runtime API:0: " it puts first.
    std::string out;
    for (const auto& d : diag.items()) {
      if (d.severity == core::Severity::Error) out += d.message + (d.hint.empty() ? "" : " (" + d.hint + ")") + "\n";
    }
    return out.empty() ? "Invalid server line.\n" : out;
  }
  if (s->id) {
    for (const ServerConfig& other : be.servers) {
      if (other.id == s->id) return "Server id " + std::to_string(s->id) + " already used in backend.\n";
    }
  }
  if (!s->track.empty()) {
    // As HAProxy: a dynamic server may follow a server of the files only.
    size_t slash = s->track.find('/');
    const ProxyConfig* tb = slash == std::string::npos ? &be : findBackend(cfg, s->track.substr(0, slash));
    std::string tname = slash == std::string::npos ? s->track : s->track.substr(slash + 1);
    const ServerConfig* t = nullptr;
    if (tb) {
      for (const ServerConfig& other : tb->servers) {
        if (other.name == tname) t = &other;
      }
    }
    if (!t) return "unable to find the tracked server '" + s->track + "'.\n";
    const std::string full = tb->name + "/" + tname;
    if (t->dynamic) return "unable to use " + full + " for tracking as it is a dynamic server.\n";
    if (!t->check && !t->agentCheck && t->track.empty()) {
      return "unable to use " + full + " for tracking as it does not have any check nor agent enabled.\n";
    }
  }
  pinServerIds(be);
  if (!s->id) {
    uint32_t top = 0;
    for (const ServerConfig& other : be.servers) top = std::max(top, other.id);
    s->id = top + 1;
  }
  s->dynamic = true;
  // HAProxy creates a dynamic server in maintenance: "enable server" (or
  // "set server ... state ready") puts it in service.
  s->disabled = true;
  be.servers.push_back(std::move(*s));
  return {};
}

std::string setAddress(ServerConfig& s, const ServerEdit& e) {
  if (e.words.empty()) return "set server <b>/<s> addr requires an address and optionally a port.\n";
  auto ip = core::Address::parse(e.words[0].find(':') != std::string::npos && e.words[0][0] != '['
                                     ? "[" + e.words[0] + "]"
                                     : e.words[0]);
  if (!ip || ip->port() != 0) return "Invalid addr: '" + e.words[0] + "'\n";
  uint16_t port = s.address.port();
  bool fromClient = s.portFromClient;
  if (e.words.size() >= 3 && e.words[1] == "port") {
    auto p = core::parseInt(e.words[2]);
    if (!p || *p < 1 || *p > 65535) return "Invalid port: '" + e.words[2] + "'\n";
    port = static_cast<uint16_t>(*p);
    fromClient = false;
  } else if (e.words.size() != 1) {
    return "set server <b>/<s> addr requires an address and optionally a port.\n";
  }
  ip->setPort(port);
  s.address = *ip;
  s.portFromClient = fromClient;
  // Without a new port, a server that takes the client's port (+N/-N) keeps doing so.
  std::string host = ip->isV6() ? "[" + ip->ipString() + "]" : ip->ipString();
  s.addressSpec = fromClient ? host : host + ":" + std::to_string(port);
  return {};
}

// "set server <b>/<s> fqdn <name>": the server's resolvers look the new
// name up; until they answer, it keeps the address it has (as HAProxy).
std::string setFqdn(ServerConfig& s, const ServerEdit& e) {
  if (e.words.size() != 1) return "set server <b>/<s> fqdn requires a FQDN.\n";
  if (s.resolvers.empty()) {
    return "set server <b>/<s> fqdn failed because no resolution is configured (no 'resolvers' on the "
           "server's line).\n";
  }
  const std::string& name = e.words[0];
  bool valid = !name.empty() && name.size() <= 253 && name[0] != '.' && name[0] != '-' && name[0] != '_';
  for (char c : name) {
    valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_');
  }
  if (!valid) return "set server <b>/<s> fqdn: invalid FQDN '" + name + "'.\n";
  s.fqdn = name;
  s.addressSpec = s.portFromClient ? name : name + ":" + std::to_string(s.address.port());
  return {};
}

}  // namespace

std::string applyServerEdit(Config& cfg, ServerEdit& e) {
  ProxyConfig* be = findBackend(cfg, e.backend);
  if (!be) return "No such backend.\n";
  if (e.kind == ServerEdit::Kind::Add) return addServer(cfg, *be, e);
  ServerConfig* s = findServer(*be, e.server);
  if (!s) return "No such server.\n";
  switch (e.kind) {
    case ServerEdit::Kind::Delete: {
      e.addressBefore = s->addressSpec;
      const size_t at = static_cast<size_t>(s - be->servers.data());
      pinServerIds(*be);
      be->servers.erase(be->servers.begin() + static_cast<std::ptrdiff_t>(at));
      return {};
    }
    case ServerEdit::Kind::Address: {
      const std::string before = s->addressSpec;
      std::string error = setAddress(*s, e);
      if (error.empty() && e.addressBefore.empty()) e.addressBefore = before;
      return error;
    }
    case ServerEdit::Kind::Fqdn: {
      const std::string before = s->addressSpec;
      std::string error = setFqdn(*s, e);
      if (error.empty() && e.addressBefore.empty()) e.addressBefore = before;
      return error;
    }
    case ServerEdit::Kind::CheckPort: {
      auto p = e.words.empty() ? std::nullopt : core::parseInt(e.words[0]);
      if (!p || *p < 1 || *p > 65535) return "provide a valid port number, in the range 1-65535\n";
      s->checkPort = static_cast<uint16_t>(*p);
      return {};
    }
    case ServerEdit::Kind::Add:
      break;
  }
  return {};
}

bool serverEditStillApplies(const Config& cfg, const ServerEdit& e, std::string& why) {
  const ProxyConfig* be = findBackend(cfg, e.backend);
  const std::string name = e.backend + "/" + e.server;
  if (!be) {
    why = "backend '" + e.backend + "' is no longer in the configuration";
    return false;
  }
  const ServerConfig* s = nullptr;
  for (const ServerConfig& other : be->servers) {
    if (other.name == e.server) s = &other;
  }
  switch (e.kind) {
    case ServerEdit::Kind::Add:
      if (s) why = "the configuration now defines server " + name + " itself";
      return !s;
    case ServerEdit::Kind::Delete:
    case ServerEdit::Kind::Address:
    case ServerEdit::Kind::Fqdn:
      if (!s) {
        why = "server " + name + " is no longer in the configuration";
        return false;
      }
      if (s->addressSpec != e.addressBefore) {
        why = "the configuration now gives server " + name + " the address " + s->addressSpec;
        return false;
      }
      return true;
    case ServerEdit::Kind::CheckPort:
      if (!s) why = "server " + name + " is no longer in the configuration";
      return s != nullptr;
  }
  return false;
}

namespace {

constexpr std::string_view kLinePrefix = "# sluice: ";

const char* kindWord(ServerEdit::Kind k) {
  switch (k) {
    case ServerEdit::Kind::Add: return "add";
    case ServerEdit::Kind::Delete: return "del";
    case ServerEdit::Kind::Address: return "addr";
    case ServerEdit::Kind::CheckPort: return "check-port";
    case ServerEdit::Kind::Fqdn: return "fqdn";
  }
  return "?";
}

// A word as the configuration lexer reads it back: plain when it can be,
// else in double quotes with \, " and $ escaped.
std::string quoted(const std::string& w) {
  bool plain = !w.empty();
  for (char c : w) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_.:/@%[],=+-()").find(c) != std::string_view::npos)) {
      plain = false;
    }
  }
  if (plain) return w;
  std::string out = "\"";
  for (char c : w) {
    if (c == '\\' || c == '"' || c == '$') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string serverEditLine(const ServerEdit& e) {
  std::string out(kLinePrefix);
  out += kindWord(e.kind);
  out += " " + quoted(e.backend + "/" + e.server) + " " + (e.addressBefore.empty() ? "-" : quoted(e.addressBefore));
  for (const std::string& w : e.words) out += " " + quoted(w);
  return out;
}

std::optional<ServerEdit> parseServerEditLine(std::string_view line) {
  if (!line.starts_with(kLinePrefix)) return std::nullopt;
  std::vector<std::string> w;
  std::string error;
  EnvLookup none = [](std::string_view) { return std::optional<std::string>(); };
  if (!tokenizeLine(line.substr(kLinePrefix.size()), none, w, error) || w.size() < 3) return std::nullopt;
  ServerEdit e;
  if (w[0] == "add") e.kind = ServerEdit::Kind::Add;
  else if (w[0] == "del") e.kind = ServerEdit::Kind::Delete;
  else if (w[0] == "addr") e.kind = ServerEdit::Kind::Address;
  else if (w[0] == "check-port") e.kind = ServerEdit::Kind::CheckPort;
  else if (w[0] == "fqdn") e.kind = ServerEdit::Kind::Fqdn;
  else return std::nullopt;
  size_t slash = w[1].find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == w[1].size()) return std::nullopt;
  e.backend = w[1].substr(0, slash);
  e.server = w[1].substr(slash + 1);
  if (w[2] != "-") e.addressBefore = w[2];
  e.words.assign(w.begin() + 3, w.end());
  return e;
}

std::vector<ServerEdit> restoreServerEdits(Config& cfg, core::Diagnostics& diag) {
  const GlobalConfig& g = cfg.global;
  auto pathOf = [&](const std::string& file) {
    if (file.empty() || file[0] == '/' || g.serverStateBase.empty()) return file;
    return g.serverStateBase + (g.serverStateBase.back() == '/' ? "" : "/") + file;
  };
  std::set<std::string> read;
  std::vector<ServerEdit> kept;
  std::vector<std::pair<std::string, SourceLocation>> files;
  for (const ProxyConfig& p : cfg.proxies) {
    if (!p.isBackend) continue;
    std::string path;
    if (p.loadServerState == "global") {
      path = pathOf(g.serverStateFile);
    } else if (p.loadServerState == "local") {
      path = pathOf(p.serverStateFileName.empty() || p.serverStateFileName == "use-backend-name" ? p.name
                                                                                               : p.serverStateFileName);
    }
    if (!path.empty() && read.insert(path).second) files.emplace_back(path, p.where);
  }
  for (const auto& [path, where] : files) {
    std::ifstream in(path);
    std::string line;
    while (in && std::getline(in, line)) {
      std::optional<ServerEdit> e = parseServerEditLine(line);
      if (!e) continue;
      // Only for backends that load this file.
      bool loads = false;
      for (const ProxyConfig& p : cfg.proxies) {
        if (p.isBackend && p.name == e->backend && !p.loadServerState.empty() && p.loadServerState != "none") loads = true;
      }
      if (!loads) continue;
      std::string why;
      std::string error;
      if (!serverEditStillApplies(cfg, *e, why)) {
        diag.warning(where, "server state file '" + path + "': runtime API change to " + e->backend + "/" +
                                e->server + " not restored: " + why);
        continue;
      }
      error = applyServerEdit(cfg, *e);
      if (!error.empty()) {
        diag.warning(where, "server state file '" + path + "': runtime API change to " + e->backend + "/" +
                                e->server + " not restored: " + std::string(core::trim(error)));
        continue;
      }
      kept.push_back(std::move(*e));
    }
  }
  return kept;
}

}  // namespace sluice::config
