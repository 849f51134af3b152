// SPDX-License-Identifier: Apache-2.0
// Log settings: "log" lines of the global and proxy sections (targets,
// formats, facilities, levels), log-format and log-tag.
#include <cstring>

#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config {
namespace {

const std::vector<std::string_view> kFacilities = {
    "kern", "user",  "mail",  "daemon", "auth",   "syslog", "lpr",    "news",   "uucp",   "cron",   "auth2",  "ftp",
    "ntp",  "audit", "alert", "cron2",  "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
const std::vector<std::string_view> kLevels = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};

int indexOf(const std::vector<std::string_view>& list, std::string_view word) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] == word) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

int syslogLevel(std::string_view name) { return indexOf(kLevels, name); }

namespace detail {

void Parser::proxyLog(const ConfigLine& l) { parseLog(l, current_.log, /*inGlobal=*/false); }

void Parser::proxyLogFormat(const ConfigLine& l) {
  if (!needArgs(l, 1, "<format string>")) return;
  current_.logFormat = joinWords(l.words, 1);
  current_.logFormatWhere = l.where;
}

void Parser::proxyLogTag(const ConfigLine& l) {
  if (needArgs(l, 1, "<tag>")) current_.logTag = l.words[1];
}

// log <address> [len <n>] [format <f>] [sample <r>:<n>] <facility> [max [min]]
void Parser::parseLog(const ConfigLine& l, LogSettings& log, bool inGlobal) {
  if (!needArgs(l, 1, "<address> <facility> [level]")) return;
  if (l.words[1] == "global") {
    if (inGlobal) {
      error(l, "'log global' is only meaningful in a proxy or defaults section");
      return;
    }
    log.global = true;
    log.disabled = false;
    return;
  }
  LogTarget t;
  t.where = l.where;
  t.spec = l.words[1];
  std::string addr = l.words[1];
  if (addr == "stdout" || addr == "fd@1") {
    t.kind = LogTarget::Kind::Fd;
    t.fd = 1;
  } else if (addr == "stderr" || addr == "fd@2") {
    t.kind = LogTarget::Kind::Fd;
    t.fd = 2;
  } else if (core::startsWith(addr, "fd@")) {
    auto fd = core::parseInt(addr.substr(3));
    if (!fd || *fd < 0) {
      error(l, "invalid log target '" + addr + "'", "use fd@<number>");
      return;
    }
    t.kind = LogTarget::Kind::Fd;
    t.fd = static_cast<int>(*fd);
  } else if (addr[0] == '/' || core::startsWith(addr, "unix@")) {
    t.kind = LogTarget::Kind::Unix;
    t.path = addr[0] == '/' ? addr : addr.substr(5);
  } else if (core::startsWith(addr, "ring@") || core::startsWith(addr, "tcp@") || core::startsWith(addr, "tcp4@") ||
             core::startsWith(addr, "tcp6@")) {
    error(l, "log target '" + addr + "' is not supported",
          "use stdout, stderr, fd@N, a UNIX datagram socket path, or a UDP address");
    return;
  } else {
    std::string a = addr;
    for (const char* prefix : {"udp@", "udp4@", "ipv4@"}) {
      if (core::startsWith(a, prefix)) a = a.substr(std::strlen(prefix));
    }
    bool v6 = false;
    for (const char* prefix : {"udp6@", "ipv6@"}) {
      if (core::startsWith(a, prefix)) {
        a = a.substr(std::strlen(prefix));
        v6 = true;
      }
    }
    // An empty host or port (":" from two unset variables) is the
    // wildcard and 514, as HAProxy reads it.
    if (!a.empty() && a.back() == ':') a += "514";
    if (!a.empty() && a[0] == ':') a = (v6 ? "[::]" : "0.0.0.0") + a;
    auto parsed = core::Address::parse(v6 ? "ipv6@" + a : a);
    if (!parsed) {
      error(l, "invalid log target '" + addr + "'",
            "use stdout, stderr, /dev/log, or IP[:PORT] (UDP, port 514 by default)");
      return;
    }
    if (parsed->port() == 0) parsed->setPort(514);
    if (parsed->isAny()) {
      // HAProxy accepts it: datagrams to the wildcard reach this host.
      diag_.warning(l.where,
                    "log target '" + addr + "' is the wildcard address: lines go to " + parsed->toString() +
                        " on this host, as with HAProxy",
                    "name the syslog server's address");
    }
    t.kind = LogTarget::Kind::Udp;
    t.address = *parsed;
  }
  size_t i = 2;
  while (i < l.words.size()) {
    const std::string& w = l.words[i];
    if (w == "len" && i + 1 < l.words.size()) {
      auto n = core::parseInt(l.words[i + 1]);
      if (!n || *n < 80 || *n > 65535) {
        error(l, "invalid log length '" + l.words[i + 1] + "'", "use a value from 80 to 65535");
      } else {
        t.maxLength = static_cast<size_t>(*n);
      }
      i += 2;
    } else if (w == "format" && i + 1 < l.words.size()) {
      const std::string& f = l.words[i + 1];
      static const std::map<std::string, LogFormat> kFormats = {
          {"local", LogFormat::Local}, {"rfc3164", LogFormat::Rfc3164}, {"rfc5424", LogFormat::Rfc5424},
          {"raw", LogFormat::Raw},     {"short", LogFormat::Short},     {"priority", LogFormat::Priority},
          {"iso", LogFormat::Iso},     {"timed", LogFormat::Timed}};
      auto it = kFormats.find(f);
      if (it == kFormats.end()) {
        error(l, "unknown log format '" + f + "'", "use local, rfc3164, rfc5424, raw, short, priority, iso or timed");
      } else {
        t.format = it->second;
      }
      i += 2;
    } else if (w == "sample" && i + 1 < l.words.size()) {
      diag_.warnOnce("log-sample", l.where, "'log ... sample' is accepted but ignored: every log line is sent");
      i += 2;
    } else {
      break;
    }
  }
  if (i >= l.words.size()) {
    error(l, "'log " + addr + "' needs a facility",
          "e.g. 'log " + addr +
              " local0' (facilities: kern user mail daemon auth syslog lpr "
              "news uucp cron auth2 ftp ntp audit alert cron2 local0..local7)");
    return;
  }
  int facility = indexOf(kFacilities, l.words[i]);
  if (facility < 0) {
    std::string guess = suggest(l.words[i], kFacilities);
    error(l, "unknown log facility '" + l.words[i] + "'",
          guess.empty() ? "use one of kern, user, daemon, local0..local7, ..." : "did you mean '" + guess + "'?");
    return;
  }
  t.facility = facility;
  ++i;
  if (i < l.words.size()) {
    int lvl = indexOf(kLevels, l.words[i]);
    if (lvl < 0) {
      error(l, "unknown log level '" + l.words[i] + "'", "use emerg, alert, crit, err, warning, notice, info or debug");
      return;
    }
    t.maxLevel = lvl;
    ++i;
  }
  if (i < l.words.size()) {
    int lvl = indexOf(kLevels, l.words[i]);
    if (lvl < 0) {
      error(l, "unknown minimum log level '" + l.words[i] + "'");
      return;
    }
    t.minLevel = lvl;
    ++i;
  }
  if (i < l.words.size()) {
    error(l, "unexpected '" + l.words[i] + "' at the end of 'log'");
    return;
  }
  log.targets.push_back(t);
  log.disabled = false;
}

}  // namespace detail
}  // namespace sluice::config
