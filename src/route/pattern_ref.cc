// SPDX-License-Identifier: Apache-2.0
// Pattern lists editable at run time; see pattern_ref.h.
#include "route/pattern_ref.h"

#include <cstdlib>

#include "core/strings.h"

namespace sluice::route {

namespace {

std::shared_ptr<PatternIndex> buildIndex(const LiveIndex& user, const std::vector<PatternRef::Entry>& entries,
                                         std::string& error) {
  auto index = std::make_shared<PatternIndex>(user.method(), user.ignoreCase(), user.dottedVersions());
  for (const PatternRef::Entry& e : entries) {
    if (!index->add(e.key, e.value, error)) {
      error = "'" + e.key + "': " + error;
      return nullptr;
    }
  }
  return index;
}

}  // namespace

void PatternRef::addUsage(const std::string& usedBy) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (description_.find(usedBy) == std::string::npos) {
    description_ += (usages_++ == 0 ? " " : ", ") + usedBy;
  }
}

void PatternRef::load(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
  for (const auto& [k, v] : entries) entries_.push_back({nextId_++, k, v});
}

std::shared_ptr<const LiveIndex> PatternRef::attach(MatchMethod method, bool ignoreCase,
                                                    bool dottedVersions, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& u : users_) {
    if (u->method() == method && u->ignoreCase() == ignoreCase && u->dottedVersions() == dottedVersions) {
      return u;
    }
  }
  auto user = std::make_shared<LiveIndex>(method, ignoreCase, dottedVersions);
  auto index = buildIndex(*user, entries_, error);
  if (!index) return nullptr;
  user->publish(std::move(index));
  users_.push_back(user);
  return user;
}

bool PatternRef::rebuild(const std::vector<Entry>& candidate, std::string& error) {
  std::vector<std::shared_ptr<const PatternIndex>> built;
  for (const auto& u : users_) {
    auto index = buildIndex(*u, candidate, error);
    if (!index) return false;
    built.push_back(std::move(index));
  }
  for (size_t i = 0; i < users_.size(); ++i) users_[i]->publish(std::move(built[i]));
  entries_ = candidate;
  return true;
}

bool PatternRef::add(const std::vector<std::pair<std::string, std::string>>& entries, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Entry> candidate = entries_;
  uint64_t next = nextId_;
  for (const auto& [k, v] : entries) candidate.push_back({next++, k, v});
  if (!rebuild(candidate, error)) return false;
  nextId_ = next;
  return true;
}

bool PatternRef::matchesId(const Entry& e, const std::string& keyOrId) {
  if (keyOrId.size() > 1 && keyOrId[0] == '#') {
    auto n = core::parseInt(keyOrId.substr(1));
    if (n) return static_cast<uint64_t>(*n) == e.id;
    if (keyOrId.size() > 3 && keyOrId[1] == '0' && (keyOrId[2] == 'x' || keyOrId[2] == 'X')) {
      return std::strtoull(keyOrId.c_str() + 3, nullptr, 16) == e.id;
    }
  }
  return e.key == keyOrId;
}

bool PatternRef::set(const std::string& keyOrId, const std::string& value, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Entry> candidate = entries_;
  bool found = false;
  for (Entry& e : candidate) {
    if (matchesId(e, keyOrId)) {
      e.value = value;
      found = true;
    }
  }
  if (!found) {
    error = "entry not found";
    return false;
  }
  return rebuild(candidate, error);
}

size_t PatternRef::remove(const std::string& keyOrId, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Entry> candidate;
  for (const Entry& e : entries_) {
    if (!matchesId(e, keyOrId)) candidate.push_back(e);
  }
  size_t removed = entries_.size() - candidate.size();
  if (removed == 0) return 0;
  if (!rebuild(candidate, error)) return 0;
  return removed;
}

void PatternRef::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string error;
  rebuild({}, error);
}

std::vector<PatternRef::Entry> PatternRef::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_;
}

PatternRef::Probe PatternRef::probe(const std::string& text) const {
  Probe out;
  std::shared_ptr<LiveIndex> user;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (users_.empty()) return out;
    user = users_.front();
  }
  out.method = std::string(toString(user->method()));
  out.ignoreCase = user->ignoreCase();
  Sample s = Sample::ofStr(text);
  if (!castSample(s, inputTypeOf(user->method()))) return out;
  std::shared_ptr<const PatternIndex> index = user->get();
  if (const PatternEntry* e = index->lookup(s)) {
    out.found = true;
    out.key = e->key;
    out.value = e->value;
  }
  return out;
}

size_t PatternRef::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

}  // namespace sluice::route
