// SPDX-License-Identifier: Apache-2.0
// The control thread: everything that is not forwarding. It owns the current
// configuration, the listening sockets, the health checker and (through
// admin/) the runtime API and stats endpoints, and it reacts to signals:
//   SIGTERM, SIGINT  stop now (sessions are closed and logged with "K")
//   SIGUSR1          soft stop: close listeners, let sessions end, at most
//                    hard-stop-after
//   SIGHUP, SIGUSR2  reload the configuration files, hitless
// It runs on its own event loop so that nothing here ever runs on a worker.
#pragma once

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "app/listeners.h"
#include "app/options.h"
#include "config/model.h"
#include "event/loop.h"
#include "health/checker.h"
#include "runtime/runtime.h"
#include "session/worker.h"

namespace sluice::app {

class Control final : public event::EventHandler, public event::Timer {
 public:
  Control(const Options& o, session::ProcessState& process,
          std::vector<std::unique_ptr<session::Worker>>& workers, ListenerSet& listeners,
          bool logToStderr);
  ~Control() override;

  // Takes the first configuration (already bound by the caller) and serves
  // until stopped. `signals` are blocked in every thread.
  void run(std::shared_ptr<const config::Config> cfg, std::shared_ptr<runtime::Runtime> rt,
           const sigset_t& signals);

  // Reads the files again and applies them. Returns false (and the old
  // configuration keeps serving) when they are invalid; `report` holds the
  // file:line messages either way.
  bool reload(const std::string& why, std::string& report);
  void softStop();
  void stopNow();

  // For the runtime API and the stats endpoints (control thread only).
  const std::shared_ptr<runtime::Runtime>& runtime() const { return rt_; }
  const std::shared_ptr<const config::Config>& config() const { return cfg_; }
  session::ProcessState& process() { return process_; }
  std::vector<std::unique_ptr<session::Worker>>& workers() { return workers_; }
  event::EventLoop& loop() { return loop_; }
  const Options& options() const { return o_; }
  uint64_t startedAt() const { return startedAt_; }   // wall-clock seconds
  uint32_t reloads() const { return reloads_; }
  bool stopping() const { return softStopping_; }
  void killSessionsOn(balance::ServerState* server, char cause);
  void log(int level, const std::string& message);

  void onEvents(uint32_t events) noexcept override;
  void onTimer() noexcept override;

 private:
  void startChecks();
  void notify(const std::string& state);

  const Options& o_;
  session::ProcessState& process_;
  std::vector<std::unique_ptr<session::Worker>>& workers_;
  ListenerSet& listeners_;
  bool logToStderr_;
  event::EventLoop loop_;
  std::shared_ptr<const config::Config> cfg_;
  std::shared_ptr<runtime::Runtime> rt_;
  std::unique_ptr<health::HealthChecker> checker_;
  int signalFd_ = -1;
  bool softStopping_ = false;
  uint64_t hardStopAt_ = 0;
  uint64_t startedAt_ = 0;
  uint32_t reloads_ = 0;
};

}  // namespace sluice::app
