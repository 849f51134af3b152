// SPDX-License-Identifier: Apache-2.0
// The global section's keywords (the table is in keywords.cc), and the small
// mailers and program sections.
#include <algorithm>

#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config::detail {

// -- global ------------------------------------------------------------------

void Parser::globalLog(const ConfigLine& l) { parseLog(l, config_.global.log, /*inGlobal=*/true); }

void Parser::globalLogTag(const ConfigLine& l) {
  if (needArgs(l, 1, "<tag>")) config_.global.logTag = l.words[1];
}

void Parser::globalLogSendHostname(const ConfigLine& l) {
  config_.global.logSendHostname = l.words.size() > 1 ? l.words[1] : std::string();
}

void Parser::globalMaxconn(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "maxconn", v)) config_.global.maxconn = v;
}

void Parser::globalNbthread(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "nbthread", v, 256)) {
    if (v == 0) {
      error(l, "nbthread must be at least 1");
    } else {
      config_.global.nbthread = v;
    }
  }
}

void Parser::globalNbproc(const ConfigLine& l) {
  error(l, "'nbproc' was removed from HAProxy 2.5 and is not supported", "use 'nbthread' instead");
}

void Parser::globalDaemon(const ConfigLine& l) {
  config_.global.daemon = true;
  config_.global.locationOfDaemon = l.where;
}

void Parser::globalMasterWorker(const ConfigLine&) { config_.global.masterWorker = true; }

void Parser::globalPidfile(const ConfigLine& l) {
  if (needArgs(l, 1, "<file>")) config_.global.pidfile = l.words[1];
}

void Parser::globalChroot(const ConfigLine& l) {
  if (needArgs(l, 1, "<directory>")) config_.global.chroot = l.words[1];
}

void Parser::globalUserGroup(const ConfigLine& l) {
  const bool user = l.words[0] == "user";
  if (needArgs(l, 1, user ? "<user name>" : "<group name>")) {
    (user ? config_.global.user : config_.global.group) = l.words[1];
  }
}

void Parser::globalUidGid(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, l.words[0], v)) (l.words[0] == "uid" ? config_.global.uid : config_.global.gid) = v;
}

void Parser::globalNode(const ConfigLine& l) {
  if (needArgs(l, 1, "<name>")) config_.global.node = l.words[1];
}

void Parser::globalDescription(const ConfigLine& l) { config_.global.description = joinWords(l.words, 1); }

void Parser::globalZeroWarning(const ConfigLine&) { config_.global.zeroWarning = true; }

// "preserve-env" is not needed: sluice passes only HAProxy's variables and PATH.
void Parser::globalExternalCheck(const ConfigLine&) { config_.global.externalCheck = true; }

void Parser::globalServerState(const ConfigLine& l) {
  const bool base = l.words[0] == "server-state-base";
  if (needArgs(l, 1, base ? "<directory>" : "<file>")) {
    (base ? config_.global.serverStateBase : config_.global.serverStateFile) = l.words[1];
  }
}

void Parser::globalStatsFile(const ConfigLine& l) {
  if (!needArgs(l, 1, "<path>")) return;
  config_.global.statsFile = l.words[1];
  config_.global.statsFileWhere = l.where;
}

void Parser::globalPp2NeverSendLocal(const ConfigLine&) { config_.global.pp2NeverSendLocal = true; }
void Parser::globalNoSplice(const ConfigLine&) { config_.global.noSplice = true; }
void Parser::globalNoReusePort(const ConfigLine&) { config_.global.noReusePort = true; }
void Parser::globalQuiet(const ConfigLine&) { config_.global.quiet = true; }
void Parser::globalStrictLimits(const ConfigLine&) { config_.global.strictLimits = true; }
void Parser::globalSetDumpable(const ConfigLine&) { config_.global.setDumpable = true; }

void Parser::globalUlimitN(const ConfigLine& l) {
  uint32_t v;
  if (unsignedArg(l, 1, "ulimit-n", v)) config_.global.ulimitN = v;
}

void Parser::globalHardStopAfter(const ConfigLine& l) {
  uint32_t v;
  if (durationArg(l, 1, "hard-stop-after", v)) config_.global.hardStopAfter = v;
}

void Parser::globalDefaultPath(const ConfigLine& l) {
  GlobalConfig& g = config_.global;
  if (!needArgs(l, 1, "current|config|parent|origin <path>")) return;
  if (l.words[1] == "origin" && l.words.size() > 2) {
    g.defaultPath = l.words[2];
  } else if (l.words[1] == "config" || l.words[1] == "parent") {
    std::string file = l.where.file;
    size_t slash = file.rfind('/');
    g.defaultPath = slash == std::string::npos ? "." : file.substr(0, slash);
    if (l.words[1] == "parent") g.defaultPath += "/..";
  } else {
    g.defaultPath.clear();
  }
}

// setenv, presetenv, unsetenv, resetenv: applied by the lexer as it reads,
// so that later lines see the new values.
void Parser::globalEnvironment(const ConfigLine&) {}

void Parser::tunePipeSize(const ConfigLine& l) {
  uint64_t v = 0;
  if (needArgs(l, 1, "<size>") && parseSize(l.words[1], v) && v <= (1u << 30)) {
    config_.global.pipeSize = static_cast<uint32_t>(v);
  } else if (l.words.size() > 1) {
    error(l, "invalid size '" + l.words[1] + "' for tune.pipesize");
  }
}

// HAProxy's meaning: -1 lifts the limit; 0 still accepts one connection per
// wake-up (a listener that accepted none would spin).
void Parser::tuneMaxAccept(const ConfigLine& l) {
  auto v = l.words.size() > 1 ? core::parseInt(l.words[1]) : std::nullopt;
  if (!v || *v < -1 || *v > INT32_MAX) {
    error(l, "invalid number '" + (l.words.size() > 1 ? l.words[1] : std::string()) + "' for tune.maxaccept",
          "expected -1 (no limit) or a number of connections accepted in a row");
  } else {
    config_.global.maxAccept = *v == -1 ? UINT32_MAX : std::max<uint32_t>(1, static_cast<uint32_t>(*v));
  }
}

// sluice's own: with every thread bound to one CPU by cpu-map, a new
// connection goes to the thread of the CPU that received it (off by default:
// it needs SYNs spread over CPUs, docs/performance.md).
void Parser::tuneCpuSteering(const ConfigLine& l) {
  if (l.words.size() != 2 || (l.words[1] != "on" && l.words[1] != "off")) {
    error(l, "'tune.listener.cpu-steering' expects 'on' or 'off'");
  } else {
    config_.global.cpuSteering = l.words[1] == "on";
  }
}

// HAProxy 3.1's switch for GSO, and sluice's own for GRO: both for a kernel
// or NIC whose UDP offloads misbehave.
void Parser::tuneQuicOffload(const ConfigLine& l) {
  const std::string& kw = l.words[0];
  if (l.words.size() > 1) {
    error(l, "'" + kw + "' takes no argument");
  } else {
    (kw == "tune.quic.disable-udp-gso" ? config_.global.quicNoGso : config_.global.quicNoGro) = true;
  }
}

// sluice's own: the budget of QUIC flows a client has not confirmed yet
// (no datagram carrying the server's connection ID since the server
// answered), per frontend, and how long such a flow may wait for it.
void Parser::tuneQuicUnconfirmed(const ConfigLine& l) {
  const std::string& kw = l.words[0];
  if (kw == "tune.quic.max-unconfirmed") {
    auto v = l.words.size() == 2 ? core::parseInt(l.words[1]) : std::nullopt;
    if (!v || *v < 1 || *v > 1000000) {
      error(l, "'tune.quic.max-unconfirmed' expects a number of flows from 1 to 1000000");
    } else {
      config_.global.quicMaxUnconfirmed = static_cast<uint32_t>(*v);
    }
    return;
  }
  uint32_t ms = 0;
  if (l.words.size() != 2 || !parseDuration(l.words[1], ms) || ms == 0) {
    error(l, "'tune.quic.unconfirmed-timeout' expects a time above zero (e.g. 5s, 800ms)");
  } else {
    config_.global.quicUnconfirmedMs = ms;
  }
}

// A set of ids as cpu-map writes them: "all", "odd", "even", or numbers
// and ranges ("3", "1-4", "2-": up to `max`), several joined by commas.
// Ids from `min` to `max`, added to `out`, which is left sorted without
// duplicates; false (and `bad` set) on a malformed one.
bool Parser::parseIdSet(std::string_view text, uint32_t min, uint32_t max, bool words, std::vector<uint32_t>& out,
                        std::string& bad) {
  for (std::string_view part : core::split(text, ',')) {
    if (words && (part == "all" || part == "odd" || part == "even")) {
      for (uint32_t i = min; i <= max; ++i) {
        if (part == "all" || (part == "odd") == (i % 2 == 1)) out.push_back(i);
      }
      continue;
    }
    size_t dash = part.find('-');
    auto lo = core::parseInt(part.substr(0, dash));
    std::optional<int64_t> hi = lo;
    if (dash != std::string_view::npos) {
      hi = dash + 1 == part.size() ? std::optional<int64_t>(max) : core::parseInt(part.substr(dash + 1));
    }
    if (!lo || !hi || *lo < min || *hi > max || *lo > *hi) {
      bad = std::string(part);
      return false;
    }
    for (int64_t i = *lo; i <= *hi; ++i) out.push_back(static_cast<uint32_t>(i));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return !out.empty();
}

// cpu-map [auto:]<thread-group>[/<thread-set>] <cpu-set>...
void Parser::parseCpuMap(const ConfigLine& l) {
  constexpr uint32_t kMaxThreads = 256, kMaxCpu = 1023;
  if (!needArgs(l, 2, "[auto:]<thread-group>[/<thread-set>] <cpu-set>...")) return;
  CpuMapLine m;
  m.where = l.where;
  std::string_view first = l.words[1];
  if (core::startsWith(first, "auto:")) {
    m.automatic = true;
    first.remove_prefix(5);
  }
  size_t slash = first.find('/');
  std::vector<uint32_t> groups;
  std::string bad;
  if (!parseIdSet(first.substr(0, slash), 1, kMaxThreads, true, groups, bad)) {
    error(l, "cpu-map: invalid thread group '" + bad + "'", "write 1, or 1/<threads> such as 1/1-4 or 1/all");
    return;
  }
  if (slash == std::string_view::npos) {
    // A lone number is the (only) process, i.e. all of its threads.
    for (uint32_t i = 1; i <= kMaxThreads; ++i) m.threads.push_back(i);
  } else if (!parseIdSet(first.substr(slash + 1), 1, kMaxThreads, true, m.threads, bad)) {
    error(l, "cpu-map: invalid thread set '" + bad + "'",
          "threads are numbered from 1 to " + std::to_string(kMaxThreads));
    return;
  }
  for (size_t i = 2; i < l.words.size(); ++i) {
    if (!parseIdSet(l.words[i], 0, kMaxCpu, false, m.cpus, bad)) {
      error(l, "cpu-map: invalid CPU set '" + bad + "'", "supports CPU numbers from 0 to 1023, as N or N-M");
      return;
    }
  }
  if (groups.front() != 1) {
    diag_.warning(
        l.where,
        "cpu-map for thread group " + std::to_string(groups.front()) + " ignored: sluice runs one group of threads",
        "write 1/<threads>");
    return;
  }
  config_.global.cpuMap.push_back(std::move(m));
}

void Parser::parseGlobalStats(const ConfigLine& l) {
  GlobalConfig& g = config_.global;
  if (!needArgs(l, 1, "socket|timeout|maxconn <args>")) return;
  const std::string& sub = l.words[1];
  if (sub == "socket") {
    if (!needArgs(l, 2, "socket <path> [mode <m>] [level <l>] ...")) return;
    StatsSocketConfig s;
    s.where = l.where;
    s.address = l.words[2];
    for (size_t i = 3; i < l.words.size(); ++i) {
      const std::string& w = l.words[i];
      auto next = [&](std::string& out) {
        if (i + 1 >= l.words.size()) {
          error(l, "'" + w + "' in 'stats socket' expects a value");
          return false;
        }
        out = l.words[++i];
        return true;
      };
      std::string v;
      if (w == "mode") {
        if (next(v)) {
          auto m = core::parseUnsigned(v.size() > 1 && v[0] != '0' ? "0" + v : v);
          if (!m || *m > 07777) {
            error(l, "invalid mode '" + v + "' in 'stats socket'", "use an octal mode like 660");
          } else {
            s.mode = static_cast<uint32_t>(*m);
          }
        }
      } else if (w == "level") {
        if (next(v)) {
          if (v != "user" && v != "operator" && v != "admin") {
            error(l, "invalid level '" + v + "' in 'stats socket'", "use user, operator or admin");
          }
          s.level = v;
        }
      } else if (w == "expose-fd") {
        if (next(v)) s.exposeFdListeners = v == "listeners";
      } else if (w == "user" || w == "group" || w == "uid" || w == "gid") {
        if (next(v)) (w == "user" ? s.user : w == "group" ? s.group : w == "uid" ? s.uid : s.gid) = v;
      } else if (w == "process" || w == "thread" || w == "name" || w == "severity-output" || w == "maxconn" ||
                 w == "backlog" || w == "accept-netscaler-cip" || w == "id" || w == "nice") {
        next(v);
      } else if (w == "accept-proxy" || w == "v4v6" || w == "v6only" || w == "transparent") {
      } else {
        error(l, "unknown parameter '" + w + "' in 'stats socket'");
      }
    }
    g.statsSockets.push_back(s);
  } else if (sub == "timeout") {
    uint32_t v;
    if (durationArg(l, 2, "stats timeout", v)) g.statsTimeout = v;
  } else if (sub == "maxconn") {
    uint32_t v;
    if (unsignedArg(l, 2, "stats maxconn", v)) g.statsMaxconn = v;
  } else if (sub == "bind-process") {
    // Processes do not exist in sluice; accepted.
  } else {
    error(l, "unknown 'stats " + sub + "' in the global section",
          "the global section accepts 'stats socket', 'stats timeout' and 'stats maxconn'");
  }
}

// -- mailers and program ---------------------------------------------------

void Parser::mailersLine(const ConfigLine& l) {
  MailersConfig& m = config_.mailers.back();
  const std::string& kw = l.words[0];
  if (kw == "mailer") {
    if (!needArgs(l, 2, "<name> <ip>:<port>")) return;
    auto a = core::Address::parse(l.words[2]);
    if (!a || a->port() == 0) {
      error(l, "invalid mailer address '" + l.words[2] + "'",
            "write an IP address and a port: 'mailer smtp1 192.0.2.1:25'");
      return;
    }
    m.mailers.emplace_back(l.words[1], *a);
  } else if (kw == "timeout" && l.words.size() >= 2 && l.words[1] == "mail") {
    uint32_t v;
    if (durationArg(l, 2, "timeout mail", v)) m.timeoutMs = std::max<uint32_t>(v, 1);
  } else {
    error(l, "unknown keyword '" + kw + "' in mailers section '" + m.name + "'",
          "a mailers section takes 'mailer <name> <ip>:<port>' and 'timeout mail <time>'");
  }
}

void Parser::programLine(const ConfigLine& l) {
  ProgramConfig& prog = config_.programs.back();
  const std::string& kw = l.words[0];
  if (kw == "command") {
    if (!needArgs(l, 1, "<command> [<arguments>...]")) return;
    prog.command.assign(l.words.begin() + 1, l.words.end());
  } else if (kw == "user" || kw == "group") {
    if (!needArgs(l, 1, "<name>")) return;
    (kw == "user" ? prog.user : prog.group) = l.words[1];
  } else if ((kw == "option" || kw == "no") && l.words.size() >= 2 && (l.words.back() == "start-on-reload") &&
             (kw == "option" ? l.words.size() == 2 : l.words.size() == 3 && l.words[1] == "option")) {
    prog.startOnReload = kw == "option";
  } else {
    error(l, "unknown keyword '" + kw + "' in program '" + prog.name + "'",
          "a program section takes command, user, group and [no] option start-on-reload");
  }
}

}  // namespace sluice::config::detail
