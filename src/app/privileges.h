// SPDX-License-Identifier: Apache-2.0
// Giving up root after the sockets are bound ("user"/"group"/"uid"/"gid"),
// while keeping exactly what the process will still need:
//   - CAP_NET_BIND_SERVICE, permitted but not effective, raised only while a
//     reload binds new listeners (a port below 1024 added to the file);
//   - CAP_NET_ADMIN and CAP_NET_RAW, effective, only when a backend connects
//     from the client's address ("source ... usesrc"), which sets
//     IP_TRANSPARENT on every server connection.
// Capabilities are per thread in Linux: this runs on the main thread before
// the workers start, so they inherit the result.
#pragma once

#include <sys/types.h>

#include <string>

#include "config/model.h"

namespace sluice::app {

struct Identity {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  bool any() const { return uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1); }
};

// Names are resolved before chroot: /etc/passwd is not inside the jail.
bool resolveIdentity(const config::GlobalConfig& g, Identity& id, std::string& error);

// Switches to `id`. `transparentConnects`: keep CAP_NET_ADMIN/CAP_NET_RAW.
// `warning` is set when not root (nothing can be dropped).
bool dropPrivileges(const Identity& id, bool transparentConnects, std::string& error,
                    std::string& warning);

// Raises CAP_NET_BIND_SERVICE on this thread for its lifetime, if permitted.
class BindPrivilege {
 public:
  BindPrivilege();
  ~BindPrivilege();
  BindPrivilege(const BindPrivilege&) = delete;
  BindPrivilege& operator=(const BindPrivilege&) = delete;

 private:
  bool raised_ = false;
};

// Whether any backend or server of `cfg` connects with "usesrc".
bool usesTransparentConnects(const config::Config& cfg);

}  // namespace sluice::app
