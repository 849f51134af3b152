// SPDX-License-Identifier: Apache-2.0
// What the runtime API and the stats endpoints need from the process, as an
// interface: app/Control implements it, tests may fake it. Everything here
// is called on the control thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/server_edit.h"
#include "runtime/runtime.h"
#include "session/session.h"
#include "session/worker.h"

namespace sluice::admin {

// A name server of a "resolvers" section and its counters (sluice_resolver_* metrics).
struct ResolverRow {
  std::string section;
  std::string nameserver;
  uint64_t sent = 0, valid = 0, update = 0, nx = 0, timeout = 0, refused = 0, other = 0, invalid = 0, outdated = 0;
};

struct ProcessFacts {
  uint64_t pid = 0;
  uint64_t startedAt = 0;       // wall-clock seconds
  uint32_t reloads = 0;
  uint64_t rebuilds = 0;        // runtimes built for a runtime API change (not from the files)
  uint64_t inPlaceChanges = 0;  // server addresses changed without one (DNS, "set server addr")
  uint32_t threads = 0;
  uint64_t fdLimit = 0;
  bool stopping = false;
  size_t listeningSockets = 0;
  std::string node;             // "node", else the host name
  std::string description;      // "description"
};

// A "program" section's running command, for the master CLI's "show proc".
struct ProgramInfo {
  uint64_t pid = 0;
  std::string name;
  uint64_t startedAt = 0;       // wall-clock seconds
  uint32_t reloads = 0;
};

class Host {
 public:
  virtual ~Host() = default;
  virtual std::shared_ptr<runtime::Runtime> currentRuntime() const = 0;
  virtual const session::ProcessState& processState() const = 0;
  virtual ProcessFacts facts() const = 0;
  // Every live session, gathered from the workers (bounded wait).
  virtual std::vector<session::SessionInfo> sessions() = 0;
  // Ends session `id`; false when no worker runs it.
  virtual bool shutdownSession(uint64_t id) = 0;
  virtual void killSessionsOn(balance::ServerState* server, char cause) = 0;
  // A server's state or weight changed: rebalance, wake queued connections.
  virtual void serverChanged(runtime::Backend& backend) = 0;
  // Reloads the configuration files; `report` holds the messages.
  virtual bool reloadConfiguration(std::string& report) = 0;
  // "add server", "del server", "set server ... addr|check-port": applies
  // the change and puts a runtime built from it in service. Returns "" or
  // the message for the operator.
  virtual std::string editServer(config::ServerEdit edit) = 0;
  // The runtime API's server changes still in force, in order.
  virtual const std::vector<config::ServerEdit>& serverEdits() const = 0;
  // "show resolvers [<section>]": each name server's counters.
  virtual std::string showResolvers(const std::string& section, std::string& error) const = 0;
  virtual std::vector<ResolverRow> resolverCounters() const { return {}; }
  // "show peers": the peers sections, each peer's connection and counters.
  virtual std::string showPeers() const { return {}; }
  virtual std::vector<ProgramInfo> programs() const { return {}; }
};

}  // namespace sluice::admin
