// SPDX-License-Identifier: Apache-2.0
// The life of the sluice process: load and check the configuration, raise
// the descriptor limit, bind every listener (before dropping privileges),
// daemonize, write the pid file, chroot, drop to user/group, start one worker
// thread per nbthread, then hand over to the control thread (control.h),
// which serves signals, reloads, health checks and the runtime API.
#pragma once

#include "app/options.h"

namespace sluice::app {

// Returns the process exit status.
int run(const Options& options);

}  // namespace sluice::app
