// SPDX-License-Identifier: Apache-2.0
// Stick tables: per-key counters shared by every worker thread, as HAProxy's
// "stick-table" declares them. They hold what "track-sc*" rules count
// (connections, sessions, rates, bytes, general purpose counters) and what
// "stick on" remembers (the server a key was sent to).
//
// An entry lives until it expires ("expire", counted from its last use), or
// is pushed out by a new key when the table is full (least recently used
// first). An entry that a session tracks is in use: it neither expires nor
// is pushed out until the last tracker lets go.
//
// One mutex per table: the work under it is a hash lookup and a few
// additions, far less than the system calls of the connection that caused it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/address.h"
#include "stick/spec.h"

namespace sluice::stick {

// A sliding-window event counter: the events of the current period plus
// the previous period's, weighted by how much of it is still in the window.
struct RateCounter {
  uint64_t start = 0;  // ms at which the current period began
  uint32_t current = 0;
  uint32_t previous = 0;
  void add(uint64_t nowMs, uint32_t period, uint32_t n);
  uint32_t rate(uint64_t nowMs, uint32_t period) const;

 private:
  // The counter as it stands at `nowMs`: whole periods elapsed since
  // `start` move the current count to `previous` (or drop it after two).
  RateCounter advanced(uint64_t nowMs, uint32_t period) const;
};

struct Entry;

class Table {
 public:
  explicit Table(TableSpec spec);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  const TableSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }

  // The key a sample gives for this table's type: addresses as 4 or 16
  // bytes (IPv4 in an ipv6 table as ::ffff:a.b.c.d), integers as 4 bytes,
  // strings truncated, binary truncated or padded with zeros. Empty when
  // the value has no form in this type.
  std::optional<std::string> keyFromAddress(const core::Address& a) const;
  std::optional<std::string> keyFromInt(int64_t v) const;
  std::optional<std::string> keyFromBytes(std::string_view v) const;
  // From the text form used by "show table ... key K" and "set table".
  std::optional<std::string> keyFromText(std::string_view text) const;
  std::string keyToText(std::string_view key) const;

  // Finds or creates the entry and takes a reference to it (a tracker).
  // nullptr when the table is full of entries in use (or "nopurge").
  Entry* acquire(std::string_view key, uint64_t nowMs);
  // Lets go of a reference; the entry's expiry starts again from now.
  void release(Entry* e, uint64_t nowMs);

  // Reads and updates under the table's lock. An absent data type reads as
  // nothing (the ACL does not match, as in HAProxy).
  std::optional<int64_t> read(Entry* e, DataType t, uint64_t nowMs);
  void set(Entry* e, DataType t, int64_t v, uint64_t nowMs);
  // The events of a new connection, of an accepted session, of bytes moved.
  void countConnection(Entry* e, uint64_t nowMs);
  void countSession(Entry* e, uint64_t nowMs);
  void countBytes(Entry* e, uint64_t in, uint64_t out, uint64_t nowMs);
  void connectionEnded(Entry* e);
  uint32_t trackers(Entry* e);

  // Reads one value of the entry for `key` without keeping or refreshing
  // it (src_* fetches); nullopt when absent. "create" makes the entry
  // (src_inc_gpc0 and friends create one, as HAProxy does).
  std::optional<int64_t> lookup(std::string_view key, DataType t, uint64_t nowMs);
  bool contains(std::string_view key, uint64_t nowMs);
  // Runs `fn` on the entry for `key` (created when `create`), under the lock.
  bool update(std::string_view key, uint64_t nowMs, bool create,
              const std::function<void(Entry&)>& fn);
  // Runs `fn` on an entry this caller holds a reference to, under the lock.
  void withEntry(Entry* e, const std::function<void(Entry&)>& fn) {
    std::lock_guard lock(mu_);
    fn(*e);
  }
  // Helpers for update() and withEntry() callbacks.
  std::optional<int64_t> readLocked(Entry& e, DataType t, uint64_t nowMs) const;
  void addLocked(Entry& e, DataType t, int64_t n, uint64_t nowMs);
  void setLocked(Entry& e, DataType t, int64_t v, uint64_t nowMs);
  void touchLocked(Entry& e, uint64_t nowMs);
  // gpc0 or gpc1 (and its rate) up by one: sc-inc-gpc0, sc0_inc_gpc0 and the
  // like. Returns the new count; 0 when only the rate is stored; nothing
  // when neither is.
  std::optional<int64_t> incrementGpcLocked(Entry& e, DataType counter, uint64_t nowMs);

  // The server a key is stuck to ("stick match"); refreshes the entry.
  std::optional<int64_t> stuckServer(std::string_view key, uint64_t nowMs);
  // Remembers the server for a key ("stick store-request").
  void stick(std::string_view key, int64_t serverId, uint64_t nowMs);

  // Entries in the table, once expired ones are dropped. Expiry is lazy
  // (each new connection drops a few expired entries, "show table" and
  // table_cnt drop more), bounded by "size" either way.
  size_t used(uint64_t nowMs);
  uint64_t size() const { return spec_.size; }

  // For the runtime API. A filter on one stored value: "data.conn_cur gt 10".
  struct Filter {
    DataType type;
    enum class Op { Eq, Ne, Lt, Le, Gt, Ge } op;
    int64_t value;
  };
  // One text line per entry in HAProxy's "show table" form, at most `limit`.
  std::vector<std::string> dump(uint64_t nowMs, const std::optional<std::string>& key,
                                const std::vector<Filter>& filters, size_t limit);
  // Removes entries not in use that match; returns how many.
  size_t clear(uint64_t nowMs, const std::optional<std::string>& key,
               const std::vector<Filter>& filters);

  // Peers (src/peers/): an entry as sent to other instances.
  struct Snapshot {
    std::string key;
    uint32_t expireInMs = 0;  // the rest of its life (0: no expiry)
    uint64_t update = 0;      // its place in the update log (0: not written here)
    std::vector<std::pair<DataType, struct Value>> values;
  };
  // A table shared with "peers" keeps its entries written here in an update
  // log, oldest first: each write gives the entry the next update number
  // and moves it to the end, so every entry is in the log once, at its
  // latest write. Each peer link remembers the last number the peer
  // acknowledged and asks for what came after (at most `max`, in order),
  // so a peer that was away gets what it missed. A table that is not
  // shared keeps no log.
  std::vector<Snapshot> changesAfter(uint64_t update, uint64_t nowMs, size_t max);
  // The number of the latest write (0: none yet).
  uint64_t lastUpdate();
  // Every entry (a peer asked for a full resync), and through `upTo` the
  // update number they are current to.
  std::vector<Snapshot> snapshotAll(uint64_t nowMs, uint64_t* upTo = nullptr);
  // The same a chunk at a time, so that a resync of a large table over a
  // slow link holds neither the lock nor a copy of the table for long: the
  // entries of the next hash buckets from `cursor` (about `max` of them,
  // in no particular order). Entries that exist throughout come once;
  // should the table grow and rehash meanwhile, the walk starts again (some
  // come twice, none is missed). `cursor.upTo` is the update number when
  // the walk began: later writes are in the update log after it.
  struct ResyncCursor {
    size_t bucket = 0;
    size_t buckets = 0;
    bool started = false;
    bool done = false;
    uint64_t upTo = 0;
  };
  std::vector<Snapshot> resyncChunk(ResyncCursor& cursor, uint64_t nowMs, size_t max);
  // An entry another instance wrote: its values replace these (conn_cur,
  // which only the instance holding the connections knows, stays), without
  // being sent on again.
  void learn(std::string_view key, std::optional<uint32_t> expireInMs,
             const std::vector<std::pair<DataType, struct Value>>& values, uint64_t nowMs);

 private:
  bool evictOneLocked(uint64_t nowMs);
  // Drops at most `budget` expired entries (bounded work per connection).
  void expireLocked(uint64_t nowMs, size_t budget = 64);
  Entry* findLocked(std::string_view key, uint64_t nowMs);
  Entry* createLocked(std::string_view key, uint64_t nowMs);
  void unlinkLocked(Entry* e);
  void pushFrontLocked(Entry* e);
  void eraseLocked(Entry* e);
  bool matchesLocked(Entry& e, const std::vector<Filter>& filters, uint64_t nowMs) const;
  std::string lineLocked(const Entry& e, uint64_t nowMs) const;

  TableSpec spec_;
  std::array<int8_t, kDataTypes> slot_{};  // index into Entry::values, -1: not stored
  size_t slots_ = 0;
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  bool shared_ = false;  // "peers": writes go into the update log
  uint64_t lastUpdate_ = 0;
  Entry* oldestUpdate_ = nullptr;  // the update log, oldest write first
  Entry* newestUpdate_ = nullptr;
  void changedLocked(Entry& e);
  void unlogLocked(Entry& e);
  Snapshot snapshotLocked(const Entry& e, uint64_t nowMs) const;
  Entry* head_ = nullptr;  // most recently used
  Entry* tail_ = nullptr;  // least recently used: expires first
};

// The value cell of one stored data type.
struct Value {
  uint64_t counter = 0;
  RateCounter rate;
};

struct Entry {
  const std::string* key = nullptr;  // the map's own key
  uint32_t refs = 0;
  uint64_t update = 0;               // its number in the update log (0: not in it)
  Entry* olderUpdate = nullptr;      // neighbours in the update log
  Entry* newerUpdate = nullptr;
  uint64_t expireAt = 0;             // ms; 0: never
  Entry* prev = nullptr;
  Entry* next = nullptr;
  std::unique_ptr<Value[]> values;
};

// The tables of one configuration, by the name of the proxy declaring them.
class TableSet {
 public:
  Table* find(std::string_view name) const {
    for (const auto& t : tables_) {
      if (t->name() == name) return t.get();
    }
    return nullptr;
  }
  void add(std::shared_ptr<Table> t) { tables_.push_back(std::move(t)); }
  const std::vector<std::shared_ptr<Table>>& all() const { return tables_; }
  std::shared_ptr<Table> share(std::string_view name) const {
    for (const auto& t : tables_) {
      if (t->name() == name) return t;
    }
    return nullptr;
  }

 private:
  std::vector<std::shared_ptr<Table>> tables_;
};

// The counters one session tracks: sc0, sc1, sc2.
inline constexpr size_t kTrackers = 3;
struct Tracked {
  Table* table = nullptr;
  Entry* entry = nullptr;
  bool connectionLevel = false;  // tracked by "tcp-request connection"
};
struct Tracking {
  std::array<Tracked, kTrackers> sc{};
};

uint64_t monotonicMs();

}  // namespace sluice::stick
