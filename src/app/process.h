// SPDX-License-Identifier: Apache-2.0
// The life of the sluice process: load and check the configuration, raise
// the descriptor limit, bind every listener (before dropping privileges),
// daemonize, write the pid file, chroot, drop to user/group, start one worker
// thread per nbthread, then wait for signals:
//   SIGTERM, SIGINT  stop now (sessions are closed and logged with "K")
//   SIGUSR1          soft stop: close listeners, let sessions end, at most
//                    hard-stop-after
//   SIGHUP, SIGUSR2  reload (not available yet: logged and ignored)
#pragma once

#include "app/options.h"

namespace sluice::app {

// Returns the process exit status.
int run(const Options& options);

}  // namespace sluice::app
