// SPDX-License-Identifier: Apache-2.0
// The listening sockets of the process, kept across reloads. Each bind
// address has one socket per worker (SO_REUSEPORT) and each socket is
// identified by what cannot change on a live socket: address, family
// options, interface, transparency. A reload reuses every socket whose
// identity is unchanged (no gap: the kernel keeps queueing while workers
// switch), retunes what can be retuned (backlog, defer-accept, fastopen,
// mss), opens the new ones, and closes the removed ones only once the new
// configuration is in place. Stats proxies get one socket, served by the
// control thread (admin/), never by the workers.
//
//   ListenerSet set;
//   ListenerSet::Plan plan;
//   if (!set.prepare(*rt, nbthread, noReusePort, plan, error)) ...   // nothing changed
//   for (t...) worker[t]->replaceRuntime(rt, std::move(plan.perWorker[t]));
//   set.commit(std::move(plan));                                        // closes the removed ones
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "net/socket.h"
#include "net/udp.h"
#include "runtime/runtime.h"
#include "session/worker.h"

namespace sluice::app {

class ListenerSet {
 public:
  struct Plan {
    std::vector<std::vector<session::ListenerSpec>> perWorker;  // descriptors are duplicates
    std::vector<session::ListenerSpec> admin;                   // stats proxies (control thread)
    std::map<std::string, std::vector<int>> sockets;             // the set after commit
    std::vector<int> opened;                                     // new in this plan
  };

  ListenerSet() = default;
  ~ListenerSet() { closeAll(); }
  ListenerSet(const ListenerSet&) = delete;
  ListenerSet& operator=(const ListenerSet&) = delete;

  // Opens what `rt` needs and is not open yet. On failure closes what it
  // opened and leaves the set unchanged; `error` names the bind line.
  bool prepare(const runtime::Runtime& rt, uint32_t workers, bool reusePort, Plan& plan,
               std::string& error);
  // Makes `plan` the current set: sockets it does not use are closed.
  void commit(Plan plan);
  // Discards a prepared plan (the reload failed after prepare).
  static void abandon(Plan& plan);
  void closeAll();

  size_t socketCount() const;
  // Threads bound one per CPU (cpu-map): the CPU of each thread, and each
  // TCP group of sockets opened from now on steers a new connection to the
  // thread of the CPU that received it (see cpu_map.h). Empty: the kernel's
  // hash spreads them.
  void steerByCpu(std::vector<uint32_t> cpuOfThread) { steering_ = std::move(cpuOfThread); }
  // Groups that got the steering program (for the log and tests).
  size_t steeredGroups() const { return steeredGroups_; }

  // systemd socket activation (LISTEN_PID/LISTEN_FDS, sd_listen_fds): the
  // listening sockets systemd passed, matched later to the bind lines by
  // their address, so that the file does not change. Called once at start.
  void takeActivatedSockets();

 private:
  std::vector<uint32_t> steering_;
  size_t steeredGroups_ = 0;
  bool prepareQuic(runtime::Frontend& fe, const config::BindConfig& b, uint32_t workers, bool reusePort,
                   Plan& plan, std::map<std::string, size_t>& seen, std::string& error);
  // An activated socket bound to `a` (and not taken yet), or -1.
  int takeActivated(const core::Address& a);

  std::map<std::string, std::vector<int>> sockets_;
  std::vector<std::pair<core::Address, int>> activated_;
  std::set<std::string> activatedIds_;  // sockets_ entries that systemd opened
};

}  // namespace sluice::app
