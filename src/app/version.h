// SPDX-License-Identifier: Apache-2.0
// What -v and -vv print: HAProxy's layout (a "HAProxy version X" first line,
// "Build options", "Feature list", "Built with" lines), so that scripts
// written for HAProxy's output (its run-regtests.sh, monitoring probes)
// read it, with sluice's own name and version on the first line.
#pragma once

#include <string>

namespace sluice::app {

std::string versionText(bool buildDetails);

}  // namespace sluice::app
