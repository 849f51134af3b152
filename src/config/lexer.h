// SPDX-License-Identifier: Apache-2.0
// Turns HAProxy-dialect configuration text into lines of words: comments,
// backslash escapes, weak ("...") and strong ('...') quoting, environment
// variables, and the .if/.elif/.else/.endif conditional blocks of HAProxy's
// manual §2.2-2.4. Knows nothing about what the words mean.
//
//   core::Diagnostics diag;
//   std::vector<ConfigLine> lines = readConfigFiles({"/etc/haproxy/haproxy.cfg"}, diag);
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostics.h"

namespace sluice::config {

struct ConfigLine {
  core::SourceLocation where;
  std::vector<std::string> words;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// The process environment.
EnvLookup processEnvironment();

// What `feature(NAME)` and `-vv`'s "Feature list" say, in HAProxy's names.
struct Feature {
  const char* name;
  bool present;
};
const std::vector<Feature>& features();

// Splits one line into words. Returns false and sets `error` on an unclosed
// quote or a malformed escape or variable.
bool tokenizeLine(std::string_view line, const EnvLookup& env, std::vector<std::string>& words,
                  std::string& error);

// Evaluates a condition written as on an .if line (manual 2.4): quotes and
// variables, then the expression; as `-cc` does.
// False with `error` when it does not parse.
bool evaluateCondition(std::string_view text, const EnvLookup& env, bool& result, std::string& error);

// HAProxy expands environment variables in addresses even outside double
// quotes (its address parser does it): `bind ${ADDR}:${PORT}`,
// `server s ${S1_addr}:${S1_port}`, `log ${LOG}:514 local0`. Applied by
// readConfigText to the address words of bind, server, peer, nameserver,
// log, source, dispatch, stats socket, and the word after usesrc and addr.
// A `$` that reaches it escaped (\$) is expanded there too.
std::string expandUnquotedVariables(std::string_view word, const EnvLookup& env);
void expandAddressVariables(std::vector<std::string>& words, const EnvLookup& env);

// Reads configuration text (one file's content) into lines, resolving
// conditional blocks. Problems go to `diag` with file:line.
std::vector<ConfigLine> readConfigText(std::string_view text, const std::string& fileName,
                                       const EnvLookup& env, core::Diagnostics& diag);

// Reads every file named; a directory contributes its *.cfg files in lexical
// order, as HAProxy's -f does. `loaded` receives the files actually read.
std::vector<ConfigLine> readConfigFiles(const std::vector<std::string>& paths, const EnvLookup& env,
                                        core::Diagnostics& diag,
                                        std::vector<std::string>* loaded = nullptr);

}  // namespace sluice::config
