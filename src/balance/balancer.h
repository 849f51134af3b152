// SPDX-License-Identifier: Apache-2.0
// Server selection. One small interface, one file per algorithm, one factory
// (makeAlgorithm). The Backend wrapper below applies what every algorithm
// shares: only usable servers are candidates, servers already tried by this
// connection are skipped, and backup servers take over only when no active
// server is usable (all of them with "option allbackups", else the first).
//
//   Backend lb(spec, servers);
//   ServerState* s = lb.pick(ctx);   // nullptr: no server available
//
// A pick does not look at every server: the Backend keeps the usable ones in
// lists rebuilt only when stateVersion() moved (a server went up or down,
// changed weight or state), and each algorithm keeps an ordered structure
// over them, so that choosing among 10,000 servers costs about what choosing
// among 10 does. PickContext::examined counts the servers a pick looked at;
// tests hold it to a bound.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "balance/server_state.h"

namespace sluice::balance {

struct PickContext {
  uint64_t hash = 0;            // source / hash algorithms: the key's hash
  bool hasHash = false;         // false: the key was missing (HAProxy then round-robins)
  std::span<ServerState* const> exclude;  // servers this connection already failed on
  mutable bool allFull = false;           // out: nothing picked because servers are at maxconn
  mutable size_t examined = 0;            // out: servers looked at (the cost of the pick)
};

// May a server take this connection now? Usable servers only ever reach an
// algorithm; this adds what changes with every connection: not already tried
// by it, and not at its maxconn. Counts what it looks at in ctx.examined.
class Eligible {
 public:
  explicit Eligible(const PickContext& ctx) : ctx_(ctx) {}
  bool operator()(const ServerState* s) const {
    ++ctx_.examined;
    for (const ServerState* t : ctx_.exclude) {
      if (t == s) return false;
    }
    if (s->full()) {
      sawFull_ = true;
      return false;
    }
    return true;
  }
  bool sawFull() const { return sawFull_; }
  const PickContext& context() const { return ctx_; }

 private:
  const PickContext& ctx_;
  mutable bool sawFull_ = false;
};

// An algorithm over one tier (active or backup servers) of a backend. Called
// with the backend's lock held, so it may keep plain state.
class Algorithm {
 public:
  virtual ~Algorithm() = default;
  // The tier's servers changed state or weight: `tier` is all of them in
  // declaration order, `usable` those usable now (never empty when pick is
  // called).
  virtual void rebuild(std::span<ServerState* const> tier, std::span<ServerState* const> usable) = 0;
  // A usable server for which ok() holds, or nullptr when none does (then
  // every usable server was offered to ok()).
  virtual ServerState* pick(const PickContext& ctx, const Eligible& ok) = 0;
  // Asks to be told of each connection opened and closed (leastconn).
  virtual bool watchesLoad() const { return false; }
  virtual void loadChanged(ServerState&) {}
};

// Servers with the running sum of their weights: a weighted draw or a hash
// mapped over weights is a binary search (random, map-based hash).
class WeightedList {
 public:
  // Keeps the servers for which keep(s) holds, each weighing weight(s).
  template <class Weight, class Keep>
  void assign(std::span<ServerState* const> from, Weight weight, Keep keep) {
    servers_.clear();
    running_.clear();
    uint64_t sum = 0;
    for (ServerState* s : from) {
      if (!keep(s)) continue;
      servers_.push_back(s);
      sum += weight(s);
      running_.push_back(sum);
    }
  }
  bool empty() const { return servers_.empty(); }
  size_t size() const { return servers_.size(); }
  uint64_t total() const { return running_.empty() ? 0 : running_.back(); }
  std::span<ServerState* const> servers() const { return servers_; }
  // The server whose share of the total holds r (r < total()).
  ServerState* at(uint64_t r) const {
    auto it = std::upper_bound(running_.begin(), running_.end(), r);
    return servers_[static_cast<size_t>(it - running_.begin())];
  }

 private:
  std::vector<ServerState*> servers_;
  std::vector<uint64_t> running_;
};

struct BalanceSpec {
  std::string algorithm = "roundrobin";  // roundrobin static-rr leastconn first source random hash
  uint32_t randomDraws = 2;              // random(N)
  bool consistent = false;               // hash-type consistent
  bool maglev = false;                   // hash-type maglev (sluice's own)
  std::string hashFunction = "sdbm";
  bool avalanche = false;
  bool allBackups = false;
};

// A server belongs to one Backend (leastconn tells it of its load).
class Backend final : public LoadWatcher {
 public:
  Backend(const BalanceSpec& spec, std::vector<ServerState*> servers);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Chooses a server for a new connection, or nullptr when none is usable.
  ServerState* pick(const PickContext& ctx);
  size_t usableCount();
  const std::vector<ServerState*>& servers() const { return servers_; }
  const BalanceSpec& spec() const { return spec_; }
  // Times the usable lists were rebuilt (each costs one pass over the servers).
  uint64_t rebuilds() const { return rebuilds_; }

  void loadChanged(ServerState& s) override;

 private:
  void rebuildIfChanged();

  BalanceSpec spec_;
  std::vector<ServerState*> servers_;
  std::vector<ServerState*> activeTier_;
  std::vector<ServerState*> backupTier_;
  std::vector<ServerState*> active_;    // usable at the last rebuild
  std::vector<ServerState*> backups_;
  std::unique_ptr<Algorithm> activeAlgorithm_;
  std::unique_ptr<Algorithm> backupAlgorithm_;
  uint64_t seen_ = ~uint64_t{0};  // stateVersion() at the last rebuild; none yet
  uint64_t rebuilds_ = 0;
  std::mutex mutex_;
};

std::unique_ptr<Algorithm> makeAlgorithm(const BalanceSpec& spec);

// The hash functions of "hash-type": sdbm, djb2, wt6, crc32, none.
uint32_t hashBytes(std::string_view function, std::string_view bytes, bool avalanche);
// hash-type maglev: the table of slot -> index into `names` (hash.cc).
std::vector<uint32_t> maglevTable(const std::vector<std::string>& names, const std::vector<uint32_t>& weights);

}  // namespace sluice::balance
