// SPDX-License-Identifier: Apache-2.0
// -v / -vv; see version.h.
#include "app/version.h"

#include <openssl/crypto.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <thread>

#include "config/dialect.h"
#include "config/lexer.h"
#include "route/regex.h"

namespace sluice::app {

std::string versionText(bool buildDetails) {
  const std::string dialect = config::dialectName();
  // "HAProxy version 2.6-sluice-0.1.0": the dialect first, for the scripts
  // that compare it, then what this program really is.
  std::string out = "HAProxy version " + dialect + "-sluice-" + SLUICE_VERSION + " - sluice " + SLUICE_VERSION +
                    ", TLS passthrough load balancer reading HAProxy " + dialect + "'s configuration language\n";
  out += "Status: sluice, not HAProxy; version_atleast() answers as HAProxy " + dialect + "\n";
  utsname u{};
  if (uname(&u) == 0) {
    out += std::string("Running on: ") + u.sysname + " " + u.release + " " + u.version + " " + u.machine + "\n";
  }
  if (!buildDetails) return out;
  out += "Build options :\n  TARGET  = linux-glibc\n  CPU     = generic\n  CC      = ";
#if defined(__clang__)
  out += "clang " __clang_version__;
#elif defined(__GNUC__)
  out += "g++ " __VERSION__;
#endif
  out += "\n  CFLAGS  = -std=c++20\n  OPTIONS =";
  for (const config::Feature& f : config::features()) {
    if (f.present) out += std::string(" USE_") + f.name + "=1";
  }
  out += "\n  DEBUG   = \n\nFeature list :";
  for (const config::Feature& f : config::features()) out += std::string(" ") + (f.present ? "+" : "-") + f.name;
  out += "\n\nDefault settings :\n  bufsize = 16384, maxrewrite = 0, maxpollevents = 256\n\n";
  out += "Built with multi-threading support (MAX_THREADS=256, default=" +
         std::to_string(std::min(64u, std::max(1u, std::thread::hardware_concurrency()))) + ").\n";
  out += "Built with PCRE2 version : " + route::Regex::libraryVersion() + "\nPCRE2 library supports JIT : yes\n";
  out += std::string("Built with OpenSSL version : ") + OpenSSL_version(OPENSSL_VERSION) +
         " (health checks over TLS only: sluice terminates no TLS, so feature(OPENSSL) is false)\n";
#ifdef SLUICE_HAVE_SYSTEMD
  out += "Built with libsystemd support (sd_notify, socket activation)\n";
#endif
  out += "Built with transparent proxy support using: IP_TRANSPARENT IPV6_TRANSPARENT IP_FREEBIND\n";
  out += "\nAvailable polling systems :\n      epoll : pref=300,  test result OK\nTotal: 1 (1 usable), will use epoll.\n";
  out += "\nAvailable multiplexer protocols :\n(protocols marked as <default> cannot be specified using 'proto' keyword)\n"
         "         <default> : mode=TCP  side=FE|BE  mux=PASS  flags=\n";
  out += "\nAvailable services : prometheus-exporter\n\nAvailable filters : none\n";
  return out;
}

}  // namespace sluice::app
