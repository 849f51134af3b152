// SPDX-License-Identifier: Apache-2.0
// The commands of "program" sections, run beside sluice as HAProxy's master
// runs them: started with the process, stopped (SIGTERM, then SIGKILL after
// a second) when it stops, restarted on reload unless "no option
// start-on-reload", reaped when they exit (the exit is logged). Their list
// is what the master CLI's "show proc" prints under "# programs".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/model.h"

namespace sluice::app {

struct ProgramStatus {
  pid_t pid = 0;
  std::string name;
  uint64_t startedAt = 0;   // wall-clock seconds
  uint32_t reloads = 0;     // reloads survived
};

class Programs {
 public:
  using Log = std::function<void(int level, const std::string& message)>;
  explicit Programs(Log log) : log_(std::move(log)) {}
  ~Programs() { stopAll(); }

  // Starts what `programs` lists; on a reload, keeps the running instances
  // of "no option start-on-reload" programs and replaces the others.
  void apply(const std::vector<config::ProgramConfig>& programs);
  // Collects exited programs (after SIGCHLD).
  void reap();
  void stopAll();
  std::vector<ProgramStatus> list() const;

 private:
  struct Running {
    config::ProgramConfig config;
    ProgramStatus status;
  };
  bool start(const config::ProgramConfig& program, Running& out);
  static void stop(std::vector<pid_t> pids);

  Log log_;
  std::vector<Running> running_;
};

}  // namespace sluice::app
