// SPDX-License-Identifier: Apache-2.0
// Runtime API commands; see cli.h.
#include "admin/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>

#include "admin/stats.h"
#include "admin/stats_file.h"
#include "config/dialect.h"
#include "config/lexer.h"
#include "core/strings.h"
#include "route/expression.h"
#include "stick/table.h"

namespace sluice::admin {

namespace {

using Words = std::vector<std::string>;

struct Command {
  const char* usage;        // as "help" prints it
  const char* summary;
  Level level;              // the least level that may run it
  std::vector<std::string_view> prefix;  // words that select it
};

// The commands, in "help" order. Words beyond `prefix` are arguments.
const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"add acl <acl> <pattern>", "add an acl entry", Level::Operator, {"add", "acl"}},
      {"add map <map> <key> <val>", "add a map entry (payload supported instead of key/val)",
       Level::Operator, {"add", "map"}},
      {"add server <bk>/<srv>", "create a new server", Level::Admin, {"add", "server"}},
      {"clear acl <acl>", "clear the contents of this acl", Level::Operator, {"clear", "acl"}},
      {"clear map <map>", "clear the contents of this map", Level::Operator, {"clear", "map"}},
      {"clear table <table> [<filter>]*", "remove an entry from a table (filter: data/key)", Level::Admin,
       {"clear", "table"}},
      {"del acl <acl> [<key>|#<ref>]", "delete acl entries matching <key>", Level::Operator, {"del", "acl"}},
      {"del map <map> [<key>|#<ref>]", "delete map entries matching <key>", Level::Operator, {"del", "map"}},
      {"del server <bk>/<srv>", "remove a server (in maintenance, without connections)", Level::Admin,
       {"del", "server"}},
      {"disable health <bk>/<srv>", "disable health checks", Level::Admin, {"disable", "health"}},
      {"disable server <bk>/<srv>", "disable a server for maintenance (use 'set server' instead)",
       Level::Admin, {"disable", "server"}},
      {"enable health <bk>/<srv>", "enable health checks", Level::Admin, {"enable", "health"}},
      {"enable server <bk>/<srv>", "enable a disabled server (use 'set server' instead)", Level::Admin,
       {"enable", "server"}},
      {"get acl <acl> <value>", "report the patterns matching a sample for an ACL", Level::User,
       {"get", "acl"}},
      {"get map <map> <value>", "report the keys and values matching a sample for a map", Level::User,
       {"get", "map"}},
      {"get weight <bk>/<srv>", "report a server's current weight", Level::User, {"get", "weight"}},
      {"operator", "lower the level of the current CLI session to operator", Level::User, {"operator"}},
      {"reload", "reload the configuration files (hitless); reports file:line errors", Level::Admin,
       {"reload"}},
      {"set map <map> [<key>|#<ref>] <value>", "modify a map entry", Level::Operator, {"set", "map"}},
      {"set table <table> key <k> [data.* <v>]*", "update or create a table entry's data", Level::Admin,
       {"set", "table"}},
      {"set server <bk>/<srv> [opts]", "change a server's state, weight, address, FQDN or check port (state "
                                       "ready|drain|maint, weight <n>[%], health up|down, addr <ip> [port <p>], "
                                       "check-port <p>)",
       Level::Admin, {"set", "server"}},
      {"set weight <bk>/<srv> <n>", "change a server's weight (use 'set server' instead)", Level::Admin,
       {"set", "weight"}},
      {"dump stats-file", "dump the counters of proxies and servers with a GUID, for global 'stats-file'",
       Level::User, {"dump", "stats-file"}},
      {"show acl [<acl>]", "report available acls or dump an acl's contents", Level::User, {"show", "acl"}},
      {"show backend", "list backends in the current running config", Level::User, {"show", "backend"}},
      {"show cli level", "display the level of the current CLI session", Level::User,
       {"show", "cli", "level"}},
      {"show info", "report information about the running process", Level::User, {"show", "info"}},
      {"show map [<map>]", "report available maps or dump a map's contents", Level::User, {"show", "map"}},
      {"show peers", "dump peers sections: each peer's connection and counters", Level::User, {"show", "peers"}},
      {"show resolvers [<id>]", "dumps counters from all resolvers section and associated name servers",
       Level::User, {"show", "resolvers"}},
      {"show servers state [<backend>]", "dump volatile server information (all or for a single backend)",
       Level::User, {"show", "servers", "state"}},
      {"show sess [<id>]", "report the list of current sessions or dump this exact session",
       Level::Operator, {"show", "sess"}},
      {"show stat [<iid> <type> <sid>] [up|no-maint]", "report counters for each proxy and server",
       Level::User, {"show", "stat"}},
      {"show table <table> [<filter>]*", "report table usage stats or dump this table's contents "
                                         "(filter: data/key)",
       Level::Operator, {"show", "table"}},
      {"show version", "show version of the current process", Level::User, {"show", "version"}},
      {"shutdown session <id>", "kill a specific session", Level::Admin, {"shutdown", "session"}},
      {"shutdown sessions server <bk>/<srv>", "kill sessions on a server", Level::Admin,
       {"shutdown", "sessions", "server"}},
      {"user", "lower the level of the current CLI session to user", Level::User, {"user"}},
      {"help [<command>]", "list matching or all commands", Level::User, {"help"}},
      {"prompt", "toggle interactive mode with prompt", Level::User, {"prompt"}},
      {"quit", "disconnect", Level::User, {"quit"}},
  };
  return kCommands;
}

std::string helpLine(const Command& c) {
  char buf[256];
  snprintf(buf, sizeof(buf), "  %-39s : %s\n", c.usage, c.summary);
  return buf;
}

std::string helpText(Level level, const std::string& filter) {
  std::string out = filter.empty() ? "The following commands are valid at this level:\n" : "";
  for (const Command& c : commands()) {
    if (c.level > level) continue;
    if (!filter.empty() && std::string(c.usage).rfind(filter, 0) != 0) continue;
    out += helpLine(c);
  }
  return out;
}

const Command* match(const Words& w) {
  const Command* best = nullptr;
  for (const Command& c : commands()) {
    if (c.prefix.size() > w.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < c.prefix.size(); ++i) {
      if (w[i] != c.prefix[i]) ok = false;
    }
    if (ok && (!best || c.prefix.size() > best->prefix.size())) best = &c;
  }
  return best;
}

// "Unknown command", followed by the commands that share the first word.
std::string unknownCommand(const Words& w, Level level) {
  std::string out = "Unknown command: '" + (w.empty() ? std::string() : w[0]) + "'";
  std::string similar;
  for (const Command& c : commands()) {
    if (c.level > level || w.empty() || c.prefix.empty() || c.prefix[0] != w[0]) continue;
    similar += helpLine(c);
  }
  if (!similar.empty()) return out + ", but maybe one of the following ones is a better match:\n" + similar;
  return out + ". Try 'help' for the list of commands.\n";
}

struct ServerRef {
  runtime::Backend* backend = nullptr;
  balance::ServerState* server = nullptr;
};

// Sets a server's administrative state and says so when maintenance starts or ends.
void setAdmin(const runtime::Runtime& rt, ServerRef& s, balance::AdminState st) {
  runtime::setServerAdmin(rt, *s.backend, *s.server, st);
}

// "<backend>/<server>" in the running configuration, or an answer to give.
bool findServer(const runtime::Runtime& rt, const std::string& spec, ServerRef& out, std::string& answer) {
  size_t slash = spec.find('/');
  if (slash == std::string::npos) {
    answer = "Require 'backend/server'.\n";
    return false;
  }
  out.backend = rt.findBackend(spec.substr(0, slash));
  if (!out.backend) {
    answer = "No such backend.\n";
    return false;
  }
  out.server = out.backend->findServer(spec.substr(slash + 1));
  if (!out.server) {
    answer = "No such server.\n";
    return false;
  }
  return true;
}

std::string hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string sessionLine(const session::SessionInfo& s, bool detailed) {
  std::ostringstream o;
  // HAProxy's names: tcpv4/tcpv6, and quic4/quic6 for QUIC.
  const bool v6 = s.source.find('[') == 0;
  o << hex(s.id) << ": proto=" << (s.quic ? (v6 ? "quic6" : "quic4") : (v6 ? "tcpv6" : "tcpv4")) << " src=" << s.source
    << " fe=" << s.frontend << " be=" << (s.backend.empty() ? "<NONE>" : s.backend)
    << " srv=" << (s.server.empty() ? "<none>" : s.server) << " age=" << s.ageMs / 1000 << "s"
    << " thread=" << s.thread << " state=" << s.state;
  if (!s.sni.empty()) o << " sni=" << s.sni;
  if (detailed) {
    o << "\n  dst=" << s.destination << " age_ms=" << s.ageMs << " bytes_in=" << s.bytesIn
      << " bytes_out=" << s.bytesOut << " forward=" << (s.quic ? "datagram" : s.spliced ? "splice" : "copy");
  }
  o << "\n";
  return o.str();
}

// The lines of a payload ("key value" per line, blank lines skipped).
std::vector<std::pair<std::string, std::string>> payloadEntries(const std::string& payload, bool isMap) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(payload);
  for (std::string line; std::getline(in, line);) {
    std::string_view t = core::trim(line);
    if (t.empty()) continue;
    if (!isMap) {
      out.emplace_back(std::string(t), std::string());
      continue;
    }
    size_t sp = t.find_first_of(" \t");
    std::string key(t.substr(0, sp));
    std::string value = sp == std::string_view::npos ? std::string() : std::string(core::trim(t.substr(sp)));
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

}  // namespace

bool parseLevel(std::string_view text, Level& out) {
  if (text == "user") out = Level::User;
  else if (text == "operator") out = Level::Operator;
  else if (text == "admin") out = Level::Admin;
  else return false;
  return true;
}

std::string tableHeader(stick::Table& t, uint64_t nowMs) {
  return "# table: " + t.name() + ", type: " + std::string(stick::keyTypeName(t.spec().keyType)) +
         ", size:" + std::to_string(t.size()) + ", used:" + std::to_string(t.used(nowMs)) + "\n";
}

// "show table", "clear table" and "set table" (management guide, 9.3).
std::string tableCommand(runtime::Runtime& rt, const Words& w, const std::string& verb) {
  uint64_t nowMs = stick::monotonicMs();
  if (w.size() < 3) {
    if (verb != "show") return "Missing table name.\n";
    std::string out;
    for (const auto& t : rt.tables.all()) out += tableHeader(*t, nowMs);
    return out + "\n";
  }
  stick::Table* t = rt.tables.find(w[2]);
  if (!t) return "No such table.\n";
  std::optional<std::string> key;
  std::vector<stick::Table::Filter> filters;
  std::vector<std::pair<stick::DataType, int64_t>> sets;
  for (size_t i = 3; i < w.size(); ++i) {
    if (w[i] == "key") {
      if (i + 1 >= w.size()) return "Missing key.\n";
      key = t->keyFromText(w[++i]);
      if (!key) return "Invalid key for a table of type " + std::string(stick::keyTypeName(t->spec().keyType)) + ".\n";
      continue;
    }
    if (!core::startsWith(w[i], "data.")) return "Unknown argument '" + w[i] + "'. Use data.<type> or key <key>.\n";
    auto type = stick::dataTypeByName(w[i].substr(5));
    if (!type) return "Unknown data type '" + w[i].substr(5) + "'.\n";
    if (!t->spec().stores(*type)) return "Data type not stored in this table.\n";
    if (verb == "set") {
      if (i + 1 >= w.size()) return "Missing value for '" + w[i] + "'.\n";
      auto v = core::parseInt(w[++i]);
      if (!v) return "Require a valid integer value to store.\n";
      sets.emplace_back(*type, *v);
      continue;
    }
    if (i + 2 >= w.size()) return "Require an operator and a value after '" + w[i] + "'.\n";
    const std::string& op = w[i + 1];
    stick::Table::Filter f{*type, stick::Table::Filter::Op::Eq, 0};
    if (op == "eq") f.op = stick::Table::Filter::Op::Eq;
    else if (op == "ne") f.op = stick::Table::Filter::Op::Ne;
    else if (op == "lt") f.op = stick::Table::Filter::Op::Lt;
    else if (op == "le") f.op = stick::Table::Filter::Op::Le;
    else if (op == "gt") f.op = stick::Table::Filter::Op::Gt;
    else if (op == "ge") f.op = stick::Table::Filter::Op::Ge;
    else return "Require a valid operator (eq, ne, lt, le, gt, ge).\n";
    auto v = core::parseInt(w[i + 2]);
    if (!v) return "Require a valid integer value to compare against.\n";
    f.value = *v;
    filters.push_back(f);
    i += 2;
  }
  if (verb == "set") {
    if (!key) return "Missing key.\n";
    bool ok = t->update(*key, nowMs, /*create=*/true, [&](stick::Entry& e) {
      for (const auto& [type, v] : sets) t->setLocked(e, type, v, nowMs);
      t->touchLocked(e, nowMs);
    });
    return ok ? "\n" : "Unable to allocate a new entry: the table is full of entries in use.\n";
  }
  if (verb == "clear") {
    if (key && !filters.empty()) return "Use either a key or data filters, not both.\n";
    t->clear(nowMs, key, filters);
    return "\n";
  }
  std::string out = tableHeader(*t, nowMs);
  // Bounded: a table of millions of entries is dumped by filters or keys.
  for (const std::string& line : t->dump(nowMs, key, filters, 100000)) out += line + "\n";
  return out + "\n";
}

std::string_view levelName(Level l) {
  switch (l) {
    case Level::User: return "user";
    case Level::Operator: return "operator";
    default: return "admin";
  }
}

std::vector<std::string> Cli::splitCommands(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\' && i + 1 < line.size()) {
      cur += c;
      cur += line[++i];
    } else if (c == ';') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<std::string> Cli::splitWords(std::string_view command) {
  std::vector<std::string> out;
  std::string cur;
  bool in = false;
  for (size_t i = 0; i < command.size(); ++i) {
    char c = command[i];
    if (c == '\\' && i + 1 < command.size()) {
      cur += command[++i];
      in = true;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      if (in) out.push_back(cur);
      cur.clear();
      in = false;
    } else {
      cur += c;
      in = true;
    }
  }
  if (in) out.push_back(cur);
  return out;
}

std::string Cli::execute(std::string_view line, const std::string& payload, CliSession& session) {
  return session.master ? executeMaster(line, payload, session) : executeHere(line, payload, session);
}

std::string Cli::promptText(const CliSession& session) {
  if (!session.master) return "> ";
  return session.toWorker ? std::to_string(getpid()) + "> " : "master> ";
}

namespace {

std::string duration(uint64_t seconds) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%llud%02lluh%02llum%02llus", static_cast<unsigned long long>(seconds / 86400),
           static_cast<unsigned long long>(seconds / 3600 % 24), static_cast<unsigned long long>(seconds / 60 % 60),
           static_cast<unsigned long long>(seconds % 60));
  return buf;
}

std::string procLine(uint64_t pid, const std::string& type, const std::string& reloads, uint64_t uptime,
                     const std::string& version) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%-15llu %-15s %-15s %-15s %-15s\n", static_cast<unsigned long long>(pid),
           type.c_str(), reloads.c_str(), duration(uptime).c_str(), version.c_str());
  return buf;
}

const char* const kMasterHelp =
    "The following commands are valid at this level:\n"
    "  @!<pid>                                 : send a command to the <pid> process\n"
    "  @<relative pid>                         : send a command to the <relative pid> process\n"
    "  @master                                 : send a command to the master process\n"
    "  operator                                : lower the level of the current CLI session to operator\n"
    "  reload                                  : reload haproxy\n"
    "  show cli level                          : display the level of the current CLI session\n"
    "  show proc                               : show processes status\n"
    "  show version                            : show version of the current process\n"
    "  user                                    : lower the level of the current CLI session to user\n"
    "  help [<command>]                        : list matching or all commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n";

}  // namespace

std::string Cli::executeMaster(std::string_view line, const std::string& payload, CliSession& session) {
  std::string_view text = core::trim(line);
  bool toWorker = session.toWorker;
  if (!text.empty() && text[0] == '@') {
    size_t end = text.find_first_of(" \t");
    std::string prefix(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : core::trim(text.substr(end));
    const std::string self = std::to_string(getpid());
    if (prefix == "@" || prefix == "@master") {
      toWorker = false;
    } else if (prefix == "@1" || prefix == "@!" + self) {
      toWorker = true;
    } else {
      return "Can't find the target PID matching the prefix '" + prefix + "'\n";
    }
    if (text.empty()) {  // a prefix alone: for the commands that follow
      session.toWorker = toWorker;
      return "";
    }
  }
  if (toWorker) return executeHere(text, payload, session);
  Words w = splitWords(text);
  if (w.empty()) return "\n";
  const std::string version = config::dialectName() + "-sluice-" + SLUICE_VERSION;
  if (w[0] == "help") return kMasterHelp;
  if (w.size() >= 2 && w[0] == "show" && w[1] == "proc") {
    ProcessFacts f = host_.facts();
    uint64_t now = static_cast<uint64_t>(time(nullptr));
    uint64_t uptime = now > f.startedAt ? now - f.startedAt : 0;
    char header[128];
    snprintf(header, sizeof(header), "%-15s %-15s %-15s %-15s %-15s\n", "#<PID>", "<type>", "<reloads>", "<uptime>",
             "<version>");
    std::string out = header;
    // One process is both: it reloads in place, so it never has old workers.
    out += procLine(f.pid, "master", std::to_string(f.reloads) + " [failed: 0]", uptime, version);
    out += "# workers\n";
    out += procLine(f.pid, "worker", std::to_string(f.reloads), uptime, version);
    std::vector<ProgramInfo> programs = host_.programs();
    if (!programs.empty()) {
      out += "# programs\n";
      for (const ProgramInfo& p : programs) {
        out += procLine(p.pid, p.name, std::to_string(p.reloads), now > p.startedAt ? now - p.startedAt : 0, "-");
      }
    }
    return out + "\n";
  }
  if (w[0] == "expert-mode" || w[0] == "experimental-mode" || w[0] == "mcli-debug-mode") return "\n";
  // prompt, quit, reload, show version/cli, operator, user: as on any
  // socket; other commands reach the worker (HAProxy's master would refuse
  // them without a prefix; sluice's master and worker are one process).
  if (w.size() >= 2 && w[0] == "show" && w[1] == "version") return version + "\n\n";
  return executeHere(text, payload, session);
}

std::string Cli::executeHere(std::string_view line, const std::string& payload, CliSession& session) {
  Words w = splitWords(line);
  if (w.empty()) return "\n";
  if (!w.empty() && w.back() == "<<") w.pop_back();  // the payload was collected by the caller
  const Command* cmd = match(w);
  if (!cmd) return unknownCommand(w, session.level);
  if (cmd->level > session.level) return "Permission denied\n";
  std::shared_ptr<runtime::Runtime> rt = host_.currentRuntime();
  auto arg = [&](size_t i) -> std::string { return i < w.size() ? w[i] : std::string(); };
  const std::string verb = w[0];

  if (verb == "help") return helpText(session.level, w.size() > 1 ? w[1] : "");
  if (verb == "prompt") {
    session.prompt = !session.prompt;
    return "\n";
  }
  if (verb == "quit") {
    session.quit = true;
    return "";
  }
  if (verb == "operator" || verb == "user") {
    Level wanted = verb == "operator" ? Level::Operator : Level::User;
    if (wanted < session.level) session.level = wanted;
    return "\n";
  }
  if (verb == "reload") {
    std::string report;
    bool ok = host_.reloadConfiguration(report);
    return (ok ? "Success=1\n" : "Success=0\n") + std::string("--\n") + report + "\n";
  }

  if (verb == "show") {
    const std::string what = arg(1);
    if (what == "info") return renderInfo(collect(*rt, host_.processState(), host_.facts())) + "\n";
    if (what == "version") return std::string(SLUICE_VERSION) + "\n\n";
    if (what == "cli") return std::string(levelName(session.level)) + "\n\n";
    if (what == "backend") {
      std::string out = "# name\n";
      for (const auto& b : rt->backends) out += b->name + "\n";
      return out + "\n";
    }
    if (what == "servers") {
      std::string error;
      std::string out = renderServersState(*rt, arg(3), error, host_.serverEdits());
      return error.empty() ? out + "\n" : error;
    }
    if (what == "stat") {
      StatFilter f;
      size_t i = 2;
      if (w.size() >= 5 && w[i] != "up" && w[i] != "no-maint") {
        auto iid = core::parseInt(w[i]);
        if (iid) {
          f.proxyId = static_cast<int>(*iid);
        } else if (w[i] != "-1") {
          Snapshot probe = collect(*rt, host_.processState(), host_.facts());
          auto it = std::find_if(probe.rows.begin(), probe.rows.end(),
                                 [&](const StatRow& r) { return r.proxy == w[i]; });
          if (it == probe.rows.end()) return "No such proxy.\n";
          f.proxyId = static_cast<int>(it->proxyId);
        }
        f.typeMask = static_cast<int>(core::parseInt(w[i + 1]).value_or(-1));
        f.serverId = static_cast<int>(core::parseInt(w[i + 2]).value_or(-1));
        i += 3;
      }
      bool typed = false;
      for (; i < w.size(); ++i) {
        if (w[i] == "up") f.upOnly = true;
        else if (w[i] == "no-maint") f.noMaint = true;
        else if (w[i] == "typed") typed = true;
        else if (w[i] == "json" || w[i] == "desc")
          return "'show stat " + w[i] + "' is not available in sluice; use the CSV or typed form.\n";
      }
      Snapshot snap = collect(*rt, host_.processState(), host_.facts());
      return (typed ? renderStatTyped(snap, f) : renderStatCsv(snap, f)) + "\n";
    }
    if (what == "sess") {
      std::vector<session::SessionInfo> all = host_.sessions();
      std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
      std::string which = arg(2);
      std::string out;
      if (which.empty() || which == "all") {
        for (const auto& s : all) out += sessionLine(s, which == "all");
        return out + "\n";
      }
      uint64_t id = std::strtoull(which.c_str(), nullptr, 0);
      for (const auto& s : all) {
        if (s.id == id) return sessionLine(s, true) + "\n";
      }
      return "Session not found.\n";
    }
    if (what == "table") return tableCommand(*rt, w, "show");
    if (what == "map" || what == "acl") {
      bool isMap = what == "map";
      const route::MapRegistry& maps = *rt->maps;
      if (w.size() < 3) {
        std::string out = "# id (file) description\n";
        for (const auto& ref : maps.refs()) {
          if (ref->isMap() != isMap) continue;
          out += std::to_string(ref->refId()) + " (" + ref->name() + ") " + ref->description() +
                 ". curr_ver=0 next_ver=0 entry_cnt=" + std::to_string(ref->size()) + "\n";
        }
        return out + "\n";
      }
      auto ref = maps.findRef(w[2], isMap);
      if (!ref) return std::string("Unknown ") + (isMap ? "map" : "ACL") + " identifier. Please use #<id> or <file>.\n";
      std::string out;
      for (const auto& e : ref->entries()) {
        out += hex(e.id) + " " + e.key + (isMap ? " " + e.value : std::string()) + "\n";
      }
      return out + "\n";
    }
  }

  if (verb == "get" && arg(1) == "weight") {
    ServerRef s;
    std::string answer;
    if (!findServer(*rt, arg(2), s, answer)) return answer;
    return std::to_string(s.server->weight.load()) + " (initial " + std::to_string(s.server->configWeight) +
           ")\n\n";
  }
  if (verb == "get" && (arg(1) == "map" || arg(1) == "acl")) {
    bool isMap = arg(1) == "map";
    auto ref = rt->maps->findRef(arg(2), isMap);
    if (!ref) return std::string("Unknown ") + (isMap ? "map" : "ACL") + " identifier. Please use #<id> or <file>.\n";
    if (w.size() < 4) return "Missing the sample to look up.\n";
    route::PatternRef::Probe p = ref->probe(w[3]);
    std::string head = "type=" + p.method + ", case=" + (p.ignoreCase ? "insensitive" : "sensitive") +
                       ", found=" + (p.found ? "yes" : "no");
    if (!p.found) return head + "\n\n";
    return head + ", key=\"" + p.key + "\"" + (isMap ? ", value=\"" + p.value + "\"" : std::string()) + "\n\n";
  }

  if ((verb == "clear" || verb == "set") && arg(1) == "table") return tableCommand(*rt, w, verb);
  if (verb == "add" || verb == "set" || verb == "del" || verb == "clear") {
    if (arg(1) == "map" || arg(1) == "acl") {
      bool isMap = arg(1) == "map";
      auto ref = rt->maps->findRef(arg(2), isMap);
      if (!ref) return std::string("Unknown ") + (isMap ? "map" : "ACL") + " identifier. Please use #<id> or <file>.\n";
      std::string error;
      if (verb == "clear") {
        ref->clear();
        return "\n";
      }
      if (verb == "add") {
        std::vector<std::pair<std::string, std::string>> entries;
        if (!payload.empty()) {
          entries = payloadEntries(payload, isMap);
        } else if (isMap && w.size() >= 5) {
          std::string value = w[4];
          for (size_t i = 5; i < w.size(); ++i) value += " " + w[i];
          entries.emplace_back(w[3], value);
        } else if (!isMap && w.size() >= 4) {
          entries.emplace_back(w[3], std::string());
        } else {
          return isMap ? "'add map' expects three parameters: map identifier, key and value.\n"
                       : "'add acl' expects two parameters: ACL identifier and pattern.\n";
        }
        if (!ref->add(entries, error)) return "Invalid pattern: " + error + ".\n";
        return "\n";
      }
      if (verb == "del") {
        if (w.size() < 4) return "This command expects two parameters: identifier and key.\n";
        size_t removed = ref->remove(w[3], error);
        if (!error.empty()) return error + ".\n";
        return removed ? "\n" : "Key not found.\n";
      }
      // set map <map> <key|#ref> <value>
      if (!isMap || w.size() < 5) return "'set map' expects three parameters: map identifier, key and value.\n";
      std::string value = w[4];
      for (size_t i = 5; i < w.size(); ++i) value += " " + w[i];
      if (!ref->set(w[3], value, error)) return error == "entry not found" ? "Key not found.\n" : error + ".\n";
      return "\n";
    }
  }

  if (verb == "show" && arg(1) == "peers") return host_.showPeers();

  if (verb == "show" && arg(1) == "resolvers") {
    std::string error;
    std::string out = host_.showResolvers(arg(2), error);
    return error.empty() ? out : error;
  }

  if (verb == "dump" && arg(1) == "stats-file") return dumpStatsFile(*rt) + "\n";

  if (verb == "add" && arg(1) == "server") {
    // add server <backend>/<server> <address> [params]*: the server keywords
    // a file accepts, the backend's default-server applied (HAProxy does not
    // apply it: haproxy/haproxy#1994); in maintenance until enabled.
    const std::string spec = arg(2);
    size_t slash = spec.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == spec.size()) return "Require 'backend/server'.\n";
    config::ServerEdit e;
    e.kind = config::ServerEdit::Kind::Add;
    e.backend = spec.substr(0, slash);
    e.server = spec.substr(slash + 1);
    e.words.assign(w.begin() + std::min<size_t>(3, w.size()), w.end());
    // HAProxy's address parser expands ${VAR} here too (unset: empty).
    if (!e.words.empty()) e.words[0] = config::expandUnquotedVariables(e.words[0], config::processEnvironment());
    std::string answer = host_.editServer(std::move(e));
    return answer.empty() ? "New server registered.\n" : answer;
  }

  if (verb == "del" && arg(1) == "server") {
    ServerRef s;
    std::string answer;
    if (!findServer(*rt, arg(2), s, answer)) return answer;
    // As HAProxy: only a server in maintenance, followed by no other, named
    // by no rule, with no connection and no queue left.
    if (s.server->admin.load() != balance::AdminState::Maint) return "Only servers in maintenance mode can be deleted.\n";
    if (!s.server->trackers.empty()) return "Server still tracked by other servers, cannot remove it.\n";
    for (const auto& u : s.backend->config->useServers) {
      if (u.server == s.server->name) return "This server is referenced by a use-server rule, cannot remove it.\n";
    }
    if (s.server->live->currentConnections.load() > 0) {
      return "Server still has connections attached to it, cannot remove it.\n";
    }
    config::ServerEdit e;
    e.kind = config::ServerEdit::Kind::Delete;
    e.backend = s.backend->name;
    e.server = s.server->name;
    answer = host_.editServer(std::move(e));
    return answer.empty() ? "Server deleted.\n" : answer;
  }

  if ((verb == "disable" || verb == "enable") && arg(1) == "health") {
    ServerRef s;
    std::string answer;
    if (!findServer(*rt, arg(2), s, answer)) return answer;
    if (!s.server->checked) return "Health checks are not configured on this server, cannot enable.\n";
    const bool disable = verb == "disable";
    s.server->live->healthDisabled.store(disable);
    if (disable && !s.server->up.load()) {
      // Unchecked, the server counts as up, as in HAProxy.
      s.server->up.store(true);
      s.server->lastChange.store(static_cast<uint64_t>(time(nullptr)));
    }
    host_.serverChanged(*s.backend);
    return "\n";
  }

  if ((verb == "disable" || verb == "enable") && arg(1) == "server") {
    ServerRef s;
    std::string answer;
    if (!findServer(*rt, arg(2), s, answer)) return answer;
    setAdmin(*rt, s, verb == "disable" ? balance::AdminState::Maint : balance::AdminState::Ready);
    host_.serverChanged(*s.backend);
    return "\n";
  }

  if (verb == "set" && (arg(1) == "server" || arg(1) == "weight")) {
    ServerRef s;
    std::string answer;
    if (!findServer(*rt, arg(2), s, answer)) return answer;
    std::string what = arg(1) == "weight" ? "weight" : arg(3);
    std::string value = arg(1) == "weight" ? arg(3) : arg(4);
    if (what == "state") {
      balance::AdminState st;
      if (value == "ready") st = balance::AdminState::Ready;
      else if (value == "drain") st = balance::AdminState::Drain;
      else if (value == "maint") st = balance::AdminState::Maint;
      else return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
      setAdmin(*rt, s, st);
      host_.serverChanged(*s.backend);
      return "\n";
    }
    if (what == "weight") {
      bool percent = !value.empty() && value.back() == '%';
      auto v = core::parseInt(percent ? value.substr(0, value.size() - 1) : value);
      if (!v || *v < 0) return "Empty weight string empty or preceded by garbage\n";
      int64_t weight = percent ? *v * s.server->configWeight / 100 : *v;
      if (weight > 256) return "Absolute weight can only be between 0 and 256 inclusive.\n";
      s.server->weight.store(static_cast<uint32_t>(weight));
      s.server->live->weightSetLive.store(true);
      host_.serverChanged(*s.backend);
      return "\n";
    }
    if (what == "health") {
      if (value != "up" && value != "down" && value != "stopping") {
        return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n";
      }
      s.server->up.store(value == "up");
      s.server->lastChange.store(static_cast<uint64_t>(time(nullptr)));
      host_.serverChanged(*s.backend);
      return "\n";
    }
    // addr, check-port, fqdn: a change of the server's configuration, kept
    // across reloads (config/server_edit.h).
    auto edit = [&](config::ServerEdit::Kind kind, std::vector<std::string> words) {
      return host_.editServer({kind, s.backend->name, s.server->name, std::move(words), {}});
    };
    const std::vector<std::string> rest(w.begin() + std::min<size_t>(4, w.size()), w.end());
    if (what == "addr") {
      // set server <b>/<s> addr <ip> [port <port>]: new connections go there;
      // established ones stay where they are.
      const core::Address was = s.server->currentAddress();
      const std::string oldIp = was.ipString();
      const uint16_t oldPort = was.port();
      const bool oldFromClient = s.server->portFromClient;
      std::string answer = edit(config::ServerEdit::Kind::Address, rest);
      if (!answer.empty()) return answer;
      const std::string newIp = w.size() > 4 ? w[4] : std::string();
      std::string out = "IP changed from '" + oldIp + "' to '" + newIp + "'";
      if (w.size() > 6 && w[5] == "port") {
        out += ", port changed from '" + (oldFromClient ? std::string() : std::to_string(oldPort)) + "' to '" + w[6] + "'";
      }
      return out + " by 'stats socket command'\n";
    }
    if (what == "check-port") {
      std::string answer = edit(config::ServerEdit::Kind::CheckPort, {value});
      return answer.empty() ? "\n" : answer;
    }
    if (what == "fqdn") {
      std::string answer = edit(config::ServerEdit::Kind::Fqdn, rest);
      if (!answer.empty()) return answer;
      return s.backend->name + "/" + s.server->name + " changed its FQDN to '" + w[4] +
             "' by 'stats socket command'\n";
    }
    if (what == "port" || what == "ssl" || what == "agent" || what == "agent-addr" ||
        what == "agent-port" || what == "agent-send" || what == "check-addr") {
      return "'set server <srv> " + what + "' is not available in sluice; change the file and reload.\n";
    }
    return "usage: set server <backend>/<server> health | state | weight | addr | check-port | fqdn\n";
  }

  if (verb == "shutdown") {
    if (arg(1) == "sessions") {
      ServerRef s;
      std::string answer;
      if (!findServer(*rt, arg(3), s, answer)) return answer;
      host_.killSessionsOn(s.server, 'K');
      return "\n";
    }
    uint64_t id = std::strtoull(arg(2).c_str(), nullptr, 0);
    if (!id) return "Session pointer expected (use 'show sess').\n";
    return host_.shutdownSession(id) ? "\n" : "No such session (use 'show sess').\n";
  }

  return unknownCommand(w, session.level);
}

}  // namespace sluice::admin
