// SPDX-License-Identifier: Apache-2.0
// Server changes made through the runtime API ("add server", "del server",
// "set server ... addr|check-port|fqdn"), applied to a configuration model: the
// running one, from which the runtime is rebuilt without a reload of the
// files, and after a reload the one read from the files, so that a reload
// keeps what was changed at runtime. A change stands until the files change
// the same server: a file that now defines an added server, no longer has a
// deleted one, or gives a server another address wins, and the change is
// dropped (the reload's report says so).
//
//   config::ServerEdit e{config::ServerEdit::Kind::Add, "be", "web3", {"10.0.0.3:443", "check"}};
//   std::string error = config::applyServerEdit(cfg, e);   // "" or what went wrong
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostics.h"

#include "config/model.h"

namespace sluice::config {

struct ServerEdit {
  enum class Kind { Add, Delete, Address, CheckPort, Fqdn };
  Kind kind = Kind::Add;
  std::string backend;
  std::string server;
  // Add: the server line's words after the name (address, then parameters).
  // Address: the new address and, if given, "port" and the new port.
  // CheckPort: the new port.
  // Fqdn: the new name, resolved by the server's resolvers.
  std::vector<std::string> words;
  // Address, Fqdn: the server's address as the files wrote it when the change was
  // made; a reload whose files say otherwise drops the change.
  std::string addressBefore;
};

// Applies `e` to `cfg`; returns an empty string, or why it cannot apply
// (in HAProxy's runtime API wording where HAProxy has one).
std::string applyServerEdit(Config& cfg, ServerEdit& e);

// Whether a change recorded against earlier files still applies to `cfg`
// (see the top of this file); `why` says why not.
bool serverEditStillApplies(const Config& cfg, const ServerEdit& e, std::string& why);

// A restart keeps the changes through the server state file: "show servers
// state" ends each backend with one comment line per change, which HAProxy
// skips as a comment and sluice reads back at start-up:
//   # sluice: add be/web3 - 10.0.0.3:443 check weight 5
//   # sluice: addr be/web1 10.0.0.1:443 10.0.0.9 port 8443
// (kind, backend/server, the address the files gave it or "-", the words).
std::string serverEditLine(const ServerEdit& e);
std::optional<ServerEdit> parseServerEditLine(std::string_view line);

// At start-up: the changes in the server state files that `cfg`'s backends
// load (load-server-state-from-file), applied to `cfg` in order. Those that
// no longer apply are warned about in `diag` and left out of the result.
std::vector<ServerEdit> restoreServerEdits(Config& cfg, core::Diagnostics& diag);

}  // namespace sluice::config
