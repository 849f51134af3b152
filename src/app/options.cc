// SPDX-License-Identifier: Apache-2.0
// Command-line parsing; see options.h.
#include "app/options.h"

#include "config/dialect.h"
#include "core/strings.h"

namespace sluice::app {

std::string usage() {
  return "Usage: sluice [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -c ] [ -q ] [ -p <pidfile> ]\n"
         "              [ -N <maxconn> ] [ -C <dir> ] [ -W | -Ws ] [ -sf|-st <pid>* ]\n"
         "  -f  configuration file or directory (repeatable, read in order)\n"
         "  -c  check the configuration and exit (0 when valid)\n"
         "  -q  quiet: no warnings at start\n"
         "  -V  verbose\n"
         "  -d  debug: stay in the foreground\n"
         "  -db stay in the foreground even if the file says 'daemon'\n"
         "  -D  run in the background (daemon)\n"
         "  -W  master-worker mode (accepted; sluice is one process)\n"
         "  -Ws like -W, and tell systemd when ready (Type=notify)\n"
         "  -p  write the process id to this file\n"
         "  -N  default maxconn\n"
         "  -C  change to this directory before loading files\n"
         "  -S  an admin runtime API socket (HAProxy's master CLI): <path>[,mode,<m>]\n"
         "  -sf after start, ask these pids to finish their sessions and exit\n"
         "  -st after start, ask these pids to exit now\n"
         "  -v  version, -vv build details\n"
         "  --dialect X.Y  answer as HAProxy X.Y (2.6 to 3.2; default 3.2, also SLUICE_DIALECT)\n";
}

bool parseOptions(int argc, char** argv, Options& o, std::string& error) {
  auto pidList = [&](int& i, std::vector<int>& out) {
    while (i + 1 < argc) {
      auto v = core::parseInt(argv[i + 1]);
      if (!v || *v <= 0) break;
      out.push_back(static_cast<int>(*v));
      ++i;
    }
  };
  // The environment first, so that --dialect wins over it.
  if (!config::dialectFromEnvironment(error)) return false;
  bool filesOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (filesOnly || a.empty() || a[0] != '-') {
      o.configFiles.push_back(a);
      continue;
    }
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        error = "option '" + a + "' needs a value";
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--") {
      filesOnly = true;
    } else if (a == "-f") {
      if (!value(v)) return false;
      o.configFiles.push_back(v);
    } else if (a == "-c") {
      o.check = true;
    } else if (a == "-cc") {
      if (!value(v)) return false;
      o.condition = v;
    } else if (a == "-q") {
      o.quiet = true;
    } else if (a == "-V") {
      o.verbose = true;
    } else if (a == "-d" || a == "-dV") {
      o.debug = true;
      o.noDaemon = true;
      o.verbose = true;
    } else if (a == "-db") {
      o.noDaemon = true;
    } else if (a == "-D") {
      o.daemon = true;
    } else if (a == "-W") {
      o.masterWorker = true;
    } else if (a == "-Ws") {
      o.masterWorker = true;
      o.systemd = true;
      o.noDaemon = true;
    } else if (a == "-v") {
      o.version = true;
    } else if (a == "-vv") {
      o.version = true;
      o.buildInfo = true;
    } else if (a == "-p") {
      if (!value(o.pidfile)) return false;
    } else if (a == "-C") {
      if (!value(o.chdirTo)) return false;
    } else if (a == "-N") {
      if (!value(v)) return false;
      auto n = core::parseInt(v);
      if (!n || *n <= 0) {
        error = "invalid value '" + v + "' for -N";
        return false;
      }
      o.maxconn = static_cast<long>(*n);
    } else if (a == "-sf") {
      pidList(i, o.softStopPids);
    } else if (a == "-st") {
      pidList(i, o.hardStopPids);
    } else if (a == "-S") {
      if (!value(o.masterSocket)) return false;
    } else if (a == "-L") {
      if (!value(o.localPeer)) return false;
    } else if (a == "-x" || a == "-m" || a == "-n") {
      // Socket to get listeners from, memory limit, process limit:
      // accepted for compatibility, not used.
      if (!value(v)) return false;
    } else if (a == "--dialect" || a.starts_with("--dialect=")) {
      if (a == "--dialect") {
        if (!value(v)) return false;
      } else {
        v = a.substr(10);
      }
      config::Dialect d;
      if (!config::parseDialect(v, d, error)) return false;
      config::setDialect(d);
    } else if (a == "-dW") {
      o.zeroWarning = true;
    } else if (a == "-dr" || a == "-dM" || a == "-de" || a == "-dp" ||
               a == "-dk" || a == "-dR" || a == "-dS" || a == "-dG" || a == "-dt") {
      // HAProxy debugging switches: no equivalent, harmless.
    } else {
      error = "unknown option '" + a + "'";
      return false;
    }
  }
  return true;
}

}  // namespace sluice::app
