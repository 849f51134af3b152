// SPDX-License-Identifier: Apache-2.0
// Skipping a test that cannot run here: on a developer's machine it is
// skipped and says why; under CI (CI=true, set by .ci/run) it fails and says
// what is missing, so that CI always runs every test.
#pragma once

#include <cstdlib>
#include <string>

namespace sluice::testing {

inline bool underCi() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

}  // namespace sluice::testing

#define SLUICE_SKIP_OR_FAIL(why)                                              \
  do {                                                                        \
    if (::sluice::testing::underCi()) {                                       \
      GTEST_FAIL() << "cannot run, and CI=true forbids skipping: " << (why);  \
    } else {                                                                  \
      GTEST_SKIP() << (why);                                                  \
    }                                                                         \
  } while (0)
