// SPDX-License-Identifier: Apache-2.0
// Server selection. One small interface, one file per algorithm, one factory
// (makeBalancer). The Backend wrapper below applies what every algorithm
// shares: only usable servers are candidates, servers already tried by this
// connection are skipped, and backup servers take over only when no active
// server is usable (all of them with "option allbackups", else the first).
//
//   auto lb = makeBalancer(spec, servers);
//   ServerState* s = lb->pick(ctx);   // nullptr: no server available
#pragma once

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
};

// An algorithm over a candidate list prepared by Backend::pick. Implementations
// are called with the backend's lock held, so they may keep plain state.
class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual ServerState* pick(std::span<ServerState* const> candidates, const PickContext& ctx) = 0;
  // Candidates and weights may have changed (health, "set weight").
  virtual void onChange(std::span<ServerState* const> all) {}
};

struct BalanceSpec {
  std::string algorithm = "roundrobin";  // roundrobin static-rr leastconn first source random hash
  uint32_t randomDraws = 2;              // random(N)
  bool consistent = false;               // hash-type consistent
  std::string hashFunction = "sdbm";
  bool avalanche = false;
  bool allBackups = false;
};

class Backend {
 public:
  Backend(const BalanceSpec& spec, std::vector<ServerState*> servers);

  // Chooses a server for a new connection, or nullptr when none is usable.
  ServerState* pick(const PickContext& ctx);
  // Tells the algorithm that states or weights changed.
  void refresh();

  size_t usableCount() const;
  const std::vector<ServerState*>& servers() const { return servers_; }
  const BalanceSpec& spec() const { return spec_; }

 private:
  BalanceSpec spec_;
  std::vector<ServerState*> servers_;
  std::unique_ptr<Algorithm> active_;
  std::unique_ptr<Algorithm> backup_;
  std::mutex mutex_;
};

std::unique_ptr<Algorithm> makeAlgorithm(const BalanceSpec& spec);

// The hash functions of "hash-type": sdbm, djb2, wt6, crc32, none.
uint32_t hashBytes(std::string_view function, std::string_view bytes, bool avalanche);

}  // namespace sluice::balance
