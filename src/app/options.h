// SPDX-License-Identifier: Apache-2.0
// The command line, in HAProxy's words where they apply, so that Debian's
// haproxy.service lines work with the binary name changed:
//   sluice [-f <cfgfile|cfgdir>]* [-c] [-q] [-V] [-d] [-db] [-D] [-W] [-Ws]
//          [-p <pidfile>] [-N <maxconn>] [-C <dir>] [-sf|-st <pid>*] [-v|-vv]
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace sluice::app {

struct Options {
  std::vector<std::string> configFiles;
  bool check = false;          // -c
  bool zeroWarning = false;    // -dW: warnings refuse the files, as 'zero-warning'
  std::optional<std::string> condition;  // -cc <condition>: exit 0 if true, 1 if false, 2 on error
  bool quiet = false;          // -q
  bool verbose = false;        // -V
  bool debug = false;          // -d: foreground, verbose
  bool noDaemon = false;       // -db
  bool daemon = false;         // -D
  bool masterWorker = false;   // -W / -Ws
  bool systemd = false;        // -Ws
  bool version = false;        // -v
  bool buildInfo = false;      // -vv
  std::string pidfile;         // -p
  std::string chdirTo;         // -C
  long maxconn = 0;            // -N
  std::vector<int> softStopPids;   // -sf
  std::vector<int> hardStopPids;   // -st
  std::string localPeer;           // -L <name>: this instance's name in peers sections
  std::string masterSocket;        // -S <path>[,mode,<m>,level,<l>...]: an admin runtime API socket
};

// Parses argv. Returns false with `error` (and usage printed by the caller).
bool parseOptions(int argc, char** argv, Options& out, std::string& error);
std::string usage();

}  // namespace sluice::app
