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

#include "admin/endpoints.h"
#include "admin/host.h"
#include "config/server_edit.h"
#include "peers/peers.h"
#include "resolve/dns_resolver.h"
#include "app/listeners.h"
#include "app/options.h"
#include "app/programs.h"
#include "config/model.h"
#include "event/loop.h"
#include "health/checker.h"
#include "runtime/runtime.h"
#include "session/worker.h"

namespace sluice::app {

class Control final : public event::EventHandler, public event::Timer, public admin::Host {
 public:
  Control(const Options& o, session::ProcessState& process,
          std::vector<std::unique_ptr<session::Worker>>& workers, ListenerSet& listeners,
          bool logToStderr);
  ~Control() override;

  // Before privileges are dropped: the first configuration, its runtime API
  // sockets (which may need root to create) and its stats proxies' sockets.
  // False with `errors` when a runtime API socket cannot be opened.
  bool prepare(std::shared_ptr<const config::Config> cfg, std::shared_ptr<runtime::Runtime> rt,
               std::vector<session::ListenerSpec> statsListeners, std::string& errors);
  // Serves until stopped. `signals` are blocked in every thread.
  void run(const sigset_t& signals);

  // Reads the files again and applies them. Returns false (and the old
  // configuration keeps serving) when they are invalid; `report` holds the
  // file:line messages either way.
  bool reload(const std::string& why, std::string& report);
  void softStop();
  void stopNow();

  // admin::Host, for the runtime API and the stats endpoints.
  std::shared_ptr<runtime::Runtime> currentRuntime() const override { return rt_; }
  const session::ProcessState& processState() const override { return process_; }
  admin::ProcessFacts facts() const override;
  std::vector<session::SessionInfo> sessions() override;
  bool shutdownSession(uint64_t id) override;
  void killSessionsOn(balance::ServerState* server, char cause) override;
  void serverChanged(runtime::Backend& backend) override;
  bool reloadConfiguration(std::string& report) override { return reload("runtime API", report); }
  std::string editServer(config::ServerEdit edit) override;
  std::string showResolvers(const std::string& section, std::string& error) const override;
  std::vector<admin::ResolverRow> resolverCounters() const override;
  std::string showPeers() const override { return peers_ ? peers_->show() : std::string(); }
  const std::vector<config::ServerEdit>& serverEdits() const override { return edits_; }
  // At start-up: the runtime API's server changes a server state file kept
  // ("# sluice:" lines of "show servers state"), applied to `cfg` before the
  // runtime is built; what no longer applies is reported in `diag`.
  static std::vector<config::ServerEdit> restoreServerEdits(config::Config& cfg, core::Diagnostics& diag);
  void setServerEdits(std::vector<config::ServerEdit> edits) { edits_ = std::move(edits); }
  std::vector<admin::ProgramInfo> programs() const override;

  const std::shared_ptr<runtime::Runtime>& runtime() const { return rt_; }
  const std::shared_ptr<const config::Config>& config() const { return cfg_; }
  session::ProcessState& process() { return process_; }
  std::vector<std::unique_ptr<session::Worker>>& workers() { return workers_; }
  event::EventLoop& loop() { return loop_; }
  const Options& options() const { return o_; }
  uint64_t startedAt() const { return startedAt_; }   // wall-clock seconds
  uint32_t reloads() const { return reloads_; }
  bool stopping() const { return softStopping_; }
  // The signal that stopped the process (SIGINT, SIGTERM), 0 if none: with
  // -W, sluice exits with 128 + it, as HAProxy's master does.
  int stopSignal() const { return stopSignal_; }
  void log(int level, const std::string& message);

  void onEvents(uint32_t events) noexcept override;
  void onTimer() noexcept override;

 private:
  void startChecks();
  void retireChecker();
  // Builds a runtime from `cfg` and puts it in service in place of the
  // running one (a reload from the files when `fromFiles`, else a runtime
  // API change). False, with the running configuration unchanged, when it
  // cannot; `report` says why.
  bool install(std::shared_ptr<config::Config> cfg, core::Diagnostics& diag, bool fromFiles, std::string& report);
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
  std::unique_ptr<admin::Endpoints> endpoints_;
  std::string hostname_;
  int signalFd_ = -1;
  bool softStopping_ = false;
  uint64_t hardStopAt_ = 0;
  uint64_t startedAt_ = 0;
  uint32_t reloads_ = 0;
  uint64_t rebuilds_ = 0, inPlaceChanges_ = 0;
  // Server changes made through the runtime API, in order: applied again to
  // the files' configuration at each reload (config/server_edit.h).
  std::vector<config::ServerEdit> edits_;
  // DNS service discovery ("resolvers"): its answers change servers as a
  // runtime API change does; applied again after each reload.
  std::unique_ptr<resolve::DnsResolver> dns_;
  void dnsChanged();
  bool applyAddressInPlace(const config::Config& cfg, const config::ServerEdit& edit);
  // Stick tables shared with other instances ("peers" sections).
  std::unique_ptr<peers::PeersService> peers_;
  std::string localPeerName() const;
  int stopSignal_ = 0;
  Programs programs_{[this](int level, const std::string& message) { log(level, message); }};
  observe::MailAlerts mail_{loop_, [this](int level, const std::string& message) { log(level, message); }};
};

}  // namespace sluice::app
