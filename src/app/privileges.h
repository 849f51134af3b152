// SPDX-License-Identifier: Apache-2.0
// Giving up root after the sockets are bound ("user"/"group"/"uid"/"gid"),
// while keeping exactly what the process will still need:
//   - CAP_NET_BIND_SERVICE and CAP_DAC_READ_SEARCH, permitted but not
//     effective, raised only while a reload reads the files (which root may
//     own, mode 600) and binds new listeners (a port below 1024);
//   - CAP_NET_ADMIN and CAP_NET_RAW, effective, only when a backend connects
//     from the client's address ("source ... usesrc"), which sets
//     IP_TRANSPARENT on every server connection.
// Capabilities are per thread in Linux: this runs on the main thread before
// the workers start, so they inherit the result.
#pragma once

#include <sys/types.h>

#include <cstdint>
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

// Raises, on this thread and for its lifetime, the capabilities kept for
// reloads (reading root's files, binding low ports), if they are permitted.
class ReloadPrivilege {
 public:
  ReloadPrivilege();
  ~ReloadPrivilege();
  ReloadPrivilege(const ReloadPrivilege&) = delete;
  ReloadPrivilege& operator=(const ReloadPrivilege&) = delete;

 private:
  uint32_t raised_ = 0;
};

// Whether any backend or server of `cfg` connects with "usesrc".
bool usesTransparentConnects(const config::Config& cfg);

}  // namespace sluice::app
