// SPDX-License-Identifier: Apache-2.0
// What every algorithm shares: candidate selection (usable, not excluded,
// not full), the backup tier, and the per-backend lock. See balancer.h.
#include <algorithm>

#include "balance/balancer.h"

namespace sluice::balance {

Backend::Backend(const BalanceSpec& spec, std::vector<ServerState*> servers)
    : spec_(spec),
      servers_(std::move(servers)),
      active_(makeAlgorithm(spec)),
      backup_(makeAlgorithm(spec)) {
  refresh();
}

void Backend::refresh() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ServerState*> active;
  std::vector<ServerState*> backups;
  for (ServerState* s : servers_) {
    (s->backup ? backups : active).push_back(s);
  }
  active_->onChange(active);
  backup_->onChange(backups);
}

size_t Backend::usableCount() const {
  return static_cast<size_t>(std::count_if(servers_.begin(), servers_.end(),
                                           [](const ServerState* s) { return s->usable(); }));
}

ServerState* Backend::pick(const PickContext& ctx) {
  auto excluded = [&](const ServerState* s) {
    return std::find(ctx.exclude.begin(), ctx.exclude.end(), s) != ctx.exclude.end();
  };
  // The thread's scratch lists, reused: allocating room for every server on
  // each pick cost more than the pick itself in a backend of 10,000.
  thread_local std::vector<ServerState*> active;
  thread_local std::vector<ServerState*> backups;
  active.clear();
  backups.clear();
  bool anyActiveUsable = false;
  bool activeFull = false;
  bool backupFull = false;
  ctx.allFull = false;
  for (ServerState* s : servers_) {
    if (!s->usable()) continue;
    if (!s->backup) anyActiveUsable = true;
    if (excluded(s)) continue;
    if (s->full()) {
      (s->backup ? backupFull : activeFull) = true;
      continue;
    }
    (s->backup ? backups : active).push_back(s);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!active.empty()) {
    return active_->pick(active, ctx);
  }
  if (anyActiveUsable) {
    // Active servers exist but are all full or already tried: backups do not
    // take over for that (HAProxy queues instead).
    ctx.allFull = activeFull;
    return nullptr;
  }
  if (backups.empty()) {
    ctx.allFull = backupFull;
    return nullptr;
  }
  if (!spec_.allBackups) {
    // Only the first usable backup server, in declaration order.
    ServerState* first = nullptr;
    for (ServerState* s : servers_) {
      if (s->backup && s->usable()) {
        first = s;
        break;
      }
    }
    if (!first || excluded(first)) return nullptr;
    if (first->full()) {
      ctx.allFull = true;
      return nullptr;
    }
    return first;
  }
  return backup_->pick(backups, ctx);
}

}  // namespace sluice::balance
