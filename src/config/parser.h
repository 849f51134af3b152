// SPDX-License-Identifier: Apache-2.0
// Reads HAProxy-dialect lines into a Config: sections, keywords, defaults
// inheritance, and checks that need only the file itself (names that exist,
// modes that agree). Unknown keywords are errors with a "did you mean" hint;
// HAProxy keywords that mean nothing to a passthrough balancer are accepted
// with one warning each.
//
//   core::Diagnostics diag;
//   config::Config cfg = config::loadConfig({"haproxy.cfg"}, diag);
//   if (diag.hasErrors()) { print diag.render(); exit(1); }
#pragma once

#include <string>
#include <vector>

#include "config/lexer.h"
#include "config/model.h"
#include "core/diagnostics.h"

namespace sluice::config {

// Parses "5s", "1500" (ms), "250us" (rounded up to 1 ms), "2m", "1h", "1d".
bool parseDuration(std::string_view text, uint32_t& millis);
// Parses "16384", "16k", "1m", "1g".
bool parseSize(std::string_view text, uint64_t& bytes);

// The number of a syslog level name ("emerg" 0 ... "debug" 7), or -1.
int syslogLevel(std::string_view name);

Config parseConfig(const std::vector<ConfigLine>& lines, core::Diagnostics& diag);

// Reads the files (or directories) and parses them. Errors go to `diag`.
Config loadConfig(const std::vector<std::string>& paths, core::Diagnostics& diag,
                  const EnvLookup& env = processEnvironment());

// Every keyword the parser knows, by section, with its treatment; used by the
// documentation test that keeps docs/configuration.md true.
struct KeywordInfo {
  std::string section;     // "global", "proxy", "option", "server", "bind", "timeout"
  std::string name;
  std::string treatment;   // "supported", "ignored", "unsupported"
  std::string note;
};
std::vector<KeywordInfo> knownKeywords();

// Host names in bind and server lines are resolved through libc. Fuzzers
// turn this off so that no input makes them wait on DNS.
void setNameResolution(bool enabled);

}  // namespace sluice::config
