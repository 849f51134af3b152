// SPDX-License-Identifier: Apache-2.0
// Privilege drop with the few capabilities still needed; see privileges.h.
#include "app/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::app {

namespace {

constexpr uint32_t bit(int cap) { return 1u << cap; }
constexpr uint32_t kReloadCaps = (1u << CAP_NET_BIND_SERVICE) | (1u << CAP_DAC_READ_SEARCH);

bool readCaps(__user_cap_data_struct (&d)[2]) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capget, &h, d) == 0;
}

bool writeCaps(__user_cap_data_struct (&d)[2]) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capset, &h, d) == 0;
}

}  // namespace

bool resolveIdentity(const config::GlobalConfig& g, Identity& id, std::string& error) {
  if (!g.user.empty()) {
    passwd* pw = getpwnam(g.user.c_str());
    if (!pw) {
      error = "cannot find user id for '" + g.user + "'";
      return false;
    }
    id.uid = pw->pw_uid;
    if (g.group.empty() && !g.gid) id.gid = pw->pw_gid;
  }
  if (g.uid) id.uid = *g.uid;
  if (!g.group.empty()) {
    group* gr = getgrnam(g.group.c_str());
    if (!gr) {
      error = "cannot find group id for '" + g.group + "'";
      return false;
    }
    id.gid = gr->gr_gid;
  }
  if (g.gid) id.gid = *g.gid;
  return true;
}

bool dropPrivileges(const Identity& id, bool transparentConnects, std::string& error,
                    std::string& warning) {
  if (!id.any()) return true;
  if (geteuid() != 0) {
    warning = "not running as root, so 'user'/'group' cannot be applied; staying as uid " +
              std::to_string(geteuid());
    return true;
  }
  if (id.gid != static_cast<gid_t>(-1)) {
    if (setgroups(1, &id.gid) != 0 || setgid(id.gid) != 0) {
      error = "cannot set gid " + std::to_string(id.gid) + ": " + std::strerror(errno);
      return false;
    }
  }
  if (id.uid != static_cast<uid_t>(-1) && id.uid != 0) {
    prctl(PR_SET_KEEPCAPS, 1);
    if (setuid(id.uid) != 0) {
      error = "cannot set uid " + std::to_string(id.uid) + ": " + std::strerror(errno);
      return false;
    }
    prctl(PR_SET_KEEPCAPS, 0);
    uint32_t keep = kReloadCaps;
    uint32_t effective = 0;
    if (transparentConnects) {
      keep |= bit(CAP_NET_ADMIN) | bit(CAP_NET_RAW);
      effective |= bit(CAP_NET_ADMIN) | bit(CAP_NET_RAW);
    }
    __user_cap_data_struct d[2]{};
    d[0].permitted = keep;
    d[0].effective = effective;
    if (!writeCaps(d)) {
      error = std::string("cannot restrict capabilities: ") + std::strerror(errno);
      return false;
    }
    // sluice never executes anything; should anything be executed through
    // it, no set-uid bit or file capability may raise its privileges.
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  }
  return true;
}

ReloadPrivilege::ReloadPrivilege() {
  __user_cap_data_struct d[2]{};
  if (!readCaps(d)) return;
  uint32_t wanted = d[0].permitted & kReloadCaps & ~d[0].effective;
  if (!wanted) return;
  d[0].effective |= wanted;
  if (writeCaps(d)) raised_ = wanted;
}

ReloadPrivilege::~ReloadPrivilege() {
  if (!raised_) return;
  __user_cap_data_struct d[2]{};
  if (!readCaps(d)) return;
  d[0].effective &= ~raised_;
  writeCaps(d);
}

bool usesTransparentConnects(const config::Config& cfg) {
  auto transparent = [](const config::SourceSpec& s) {
    return s.set && s.usesrc != config::SourceSpec::Usesrc::None;
  };
  for (const config::ProxyConfig& p : cfg.proxies) {
    if (transparent(p.source)) return true;
    for (const config::ServerConfig& s : p.servers) {
      if (transparent(s.source)) return true;
    }
  }
  return false;
}

}  // namespace sluice::app
