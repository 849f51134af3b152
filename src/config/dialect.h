// SPDX-License-Identifier: Apache-2.0
// Which HAProxy release sluice answers as: what version_atleast() and -v say,
// and, where HAProxy changed a message between releases (a health check's
// "ECONNREFUSED returned by OS" since 3.1, say), which wording sluice writes.
// The default is HAProxy's current long-term release; `--dialect 2.6` or
// SLUICE_DIALECT=2.6 asks for 2.6's. Set once at start, before any thread.
// docs/configuration.md ("Dialect") lists every difference.
#pragma once

#include <string>
#include <string_view>

namespace sluice::config {

struct Dialect {
  int major = 3;
  int minor = 2;
};

// The oldest and newest releases sluice can answer as.
constexpr Dialect kOldestDialect{2, 6};
constexpr Dialect kDefaultDialect{3, 2};

Dialect dialect();
void setDialect(Dialect d);
// True when sluice answers as HAProxy `major.minor` or newer.
bool dialectAtLeast(int major, int minor);
// "2.6", "3.2": what -v prints and version_atleast() compares with.
std::string dialectName();

// Reads "X.Y" between kOldestDialect and kDefaultDialect; false and `error`
// otherwise.
bool parseDialect(std::string_view text, Dialect& out, std::string& error);

// SLUICE_DIALECT from the environment, when set. False and `error` when it is
// set to something parseDialect refuses.
bool dialectFromEnvironment(std::string& error);

}  // namespace sluice::config
