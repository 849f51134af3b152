// SPDX-License-Identifier: Apache-2.0
// The HAProxy release sluice answers as; see dialect.h.
#include "config/dialect.h"

#include <cstdlib>

#include "core/strings.h"

namespace sluice::config {

namespace {
// Written once by main() before threads start, read afterwards.
Dialect current = kDefaultDialect;

int order(Dialect d) { return d.major * 1000 + d.minor; }
}  // namespace

Dialect dialect() { return current; }
void setDialect(Dialect d) { current = d; }

bool dialectAtLeast(int major, int minor) { return order(current) >= order({major, minor}); }

std::string dialectName() { return std::to_string(current.major) + "." + std::to_string(current.minor); }

bool parseDialect(std::string_view text, Dialect& out, std::string& error) {
  size_t dot = text.find('.');
  std::optional<long long> major;
  std::optional<long long> minor;
  if (dot != std::string_view::npos) {
    major = core::parseInt(text.substr(0, dot));
    minor = core::parseInt(text.substr(dot + 1));
  }
  if (!major || !minor || *major < 0 || *minor < 0 || *major > 99 || *minor > 99) {
    error = "dialect '" + std::string(text) + "' is not a HAProxy release such as 2.6 or 3.2";
    return false;
  }
  Dialect d{static_cast<int>(*major), static_cast<int>(*minor)};
  if (order(d) < order(kOldestDialect) || order(d) > order(kDefaultDialect)) {
    error = "dialect '" + std::string(text) + "' is outside the releases sluice can answer as (2.6 to 3.2)";
    return false;
  }
  out = d;
  return true;
}

bool dialectFromEnvironment(std::string& error) {
  const char* v = std::getenv("SLUICE_DIALECT");
  if (v == nullptr || *v == '\0') return true;
  Dialect d;
  if (!parseDialect(v, d, error)) {
    error = "SLUICE_DIALECT: " + error;
    return false;
  }
  setDialect(d);
  return true;
}

}  // namespace sluice::config
