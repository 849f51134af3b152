// SPDX-License-Identifier: Apache-2.0
// What every algorithm shares: the lists of usable servers (rebuilt when a
// state or weight changed), the backup tier, eligibility (not already tried,
// not full) and the per-backend lock. See balancer.h.
#include "balance/balancer.h"

namespace sluice::balance {

Backend::Backend(const BalanceSpec& spec, std::vector<ServerState*> servers)
    : spec_(spec),
      servers_(std::move(servers)),
      activeAlgorithm_(makeAlgorithm(spec)),
      backupAlgorithm_(makeAlgorithm(spec)) {
  for (ServerState* s : servers_) {
    (s->backup ? backupTier_ : activeTier_).push_back(s);
    if (activeAlgorithm_->watchesLoad()) s->loadWatcher = this;
  }
}

Backend::~Backend() {
  for (ServerState* s : servers_) {
    if (s->loadWatcher == this) s->loadWatcher = nullptr;
  }
}

// Called with the lock held. The version is read before the servers, so a
// change made while this runs moves it again and the next pick rebuilds.
void Backend::rebuildIfChanged() {
  uint64_t version = stateVersion().load(std::memory_order_acquire);
  if (version == seen_) return;
  seen_ = version;
  ++rebuilds_;
  active_.clear();
  backups_.clear();
  for (ServerState* s : servers_) {
    if (s->usable()) (s->backup ? backups_ : active_).push_back(s);
  }
  if (!active_.empty()) activeAlgorithm_->rebuild(activeTier_, active_);
  if (!backups_.empty()) backupAlgorithm_->rebuild(backupTier_, backups_);
}

size_t Backend::usableCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  rebuildIfChanged();
  return active_.size() + backups_.size();
}

void Backend::loadChanged(ServerState& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  (s.backup ? backupAlgorithm_ : activeAlgorithm_)->loadChanged(s);
}

ServerState* Backend::pick(const PickContext& ctx) {
  ctx.allFull = false;
  ctx.examined = 0;
  std::lock_guard<std::mutex> lock(mutex_);
  rebuildIfChanged();
  Eligible ok(ctx);
  if (!active_.empty()) {
    // Active servers exist: if all are full or already tried, backups do not
    // take over for that (HAProxy queues instead).
    ServerState* s = activeAlgorithm_->pick(ctx, ok);
    if (!s) ctx.allFull = ok.sawFull();
    return s;
  }
  if (backups_.empty()) return nullptr;
  if (!spec_.allBackups) {
    // Only the first usable backup server, in declaration order.
    ServerState* first = backups_.front();
    if (ok(first)) return first;
    ctx.allFull = ok.sawFull();
    return nullptr;
  }
  ServerState* s = backupAlgorithm_->pick(ctx, ok);
  if (!s) ctx.allFull = ok.sawFull();
  return s;
}

}  // namespace sluice::balance
