// SPDX-License-Identifier: Apache-2.0
// Pattern lists that can change while sluice runs: a map file, an ACL
// pattern file, or the inline patterns of one ACL line. The runtime API
// ("add map", "del acl", ...) edits the list; every rule and converter that
// uses it sees the change on its next lookup, without a reload.
//
// Readers (worker threads) never lock: each user holds a LiveIndex, whose
// current PatternIndex is replaced as a whole (copy on write) after an edit.
// An edit therefore costs one index rebuild per user; bulk edits with a
// payload ("add map m.map <<" and lines) rebuild once.
//
//   auto ref = std::make_shared<PatternRef>(0, "/etc/haproxy/sni.map", true, "map file");
//   ref->load(entries);
//   auto live = ref->attach(MatchMethod::Str, false, false, error);
//   live->get()->lookup(sample);          // on any thread
//   ref->add({{"a.example", "bk_a"}}, error);  // control thread
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "route/pattern.h"

namespace sluice::route {

// One user's view of a PatternRef: the index for its match method.
class LiveIndex {
 public:
  LiveIndex(MatchMethod method, bool ignoreCase, bool dottedVersions)
      : method_(method), ignoreCase_(ignoreCase), dotted_(dottedVersions) {}

  // The current index; keep the pointer while using an entry it returned.
  // A plain mutex rather than std::atomic<std::shared_ptr>: the lock is
  // uncontended (edits are rare) and costs what the atomic's internal lock
  // bit costs, and ThreadSanitizer understands it (GCC 12's atomic
  // shared_ptr carries no annotations, so TSan reports false races).
  std::shared_ptr<const PatternIndex> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(std::shared_ptr<const PatternIndex> index) {
    std::lock_guard lock(mutex_);
    current_.swap(index);
    // The old index (now in `index`) is released after the lock.
  }
  MatchMethod method() const { return method_; }
  bool ignoreCase() const { return ignoreCase_; }
  bool dottedVersions() const { return dotted_; }

 private:
  MatchMethod method_;
  bool ignoreCase_;
  bool dotted_;
  mutable std::mutex mutex_;
  std::shared_ptr<const PatternIndex> current_;
};

class PatternRef {
 public:
  struct Entry {
    uint64_t id = 0;       // stable handle for "del map <map> #<id>"
    std::string key;
    std::string value;
  };

  // `name`: the file path, or empty for inline patterns; `isMap`: read as
  // "key value" lines; `description`: where it comes from, for "show acl".
  PatternRef(uint32_t refId, std::string name, bool isMap, std::string description)
      : refId_(refId), name_(std::move(name)), isMap_(isMap), description_(std::move(description)) {}

  uint32_t refId() const { return refId_; }
  const std::string& name() const { return name_; }
  bool isMap() const { return isMap_; }
  const std::string& description() const { return description_; }
  void addUsage(const std::string& usedBy);

  // Sets the initial entries (file contents or inline patterns).
  void load(const std::vector<std::pair<std::string, std::string>>& entries);

  // A new user; its index is built now. nullptr and `error` if an entry is
  // not a valid pattern for `method`.
  std::shared_ptr<const LiveIndex> attach(MatchMethod method, bool ignoreCase, bool dottedVersions,
                                          std::string& error);

  // Edits (control thread). Each checks every entry against every user
  // first, so an edit either applies everywhere or nowhere.
  bool add(const std::vector<std::pair<std::string, std::string>>& entries, std::string& error);
  // Sets the value of every entry with `key` (or with id `#N`); false when none.
  bool set(const std::string& keyOrId, const std::string& value, std::string& error);
  // Removes every entry with `key` (or the one with id `#N`); count removed.
  size_t remove(const std::string& keyOrId, std::string& error);
  void clear();

  std::vector<Entry> entries() const;
  size_t size() const;

  // What a rule using this list would match for `text` ("get map"): the
  // winning key and value under the first user's match method.
  struct Probe {
    bool found = false;
    std::string method;
    bool ignoreCase = false;
    std::string key, value;
  };
  Probe probe(const std::string& text) const;

 private:
  bool rebuild(const std::vector<Entry>& candidate, std::string& error);
  static bool matchesId(const Entry& e, const std::string& keyOrId);

  uint32_t refId_;
  std::string name_;
  bool isMap_;
  std::string description_;
  int usages_ = 0;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  uint64_t nextId_ = 1;
  std::vector<std::shared_ptr<LiveIndex>> users_;
};

}  // namespace sluice::route
