// SPDX-License-Identifier: Apache-2.0
// HAProxy 3.0's stats-file: "dump stats-file" writes the totals of every
// proxy and server that has a GUID, and global "stats-file <path>" preloads
// them at start, so that counters go on across restarts. The format is
// HAProxy's: a header "#fe guid,<column>,..." (frontends) or "#be ..."
// (backends and servers), then "<guid>,<value>,..." lines; lines, columns,
// GUIDs and values that do not fit are skipped, as HAProxy skips them, so
// that files pass between HAProxy and sluice.
#pragma once

#include <string>
#include <string_view>

#include "core/diagnostics.h"

namespace sluice::runtime {
struct Runtime;
}

namespace sluice::admin {

std::string dumpStatsFile(runtime::Runtime& rt);

// Applies a stats-file's text to the runtime's counters; returns how many
// values it set.
size_t applyStatsFile(runtime::Runtime& rt, std::string_view text);

// global "stats-file": read at start; a file that cannot be read is a
// warning (the counters start from zero, as without one).
void loadStatsFile(runtime::Runtime& rt, core::Diagnostics& diag);

}  // namespace sluice::admin
