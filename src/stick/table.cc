// SPDX-License-Identifier: Apache-2.0
// Stick tables: entries, their LRU order and expiry, and the counters kept
// per entry. See table.h.
#include "stick/table.h"

#include <arpa/inet.h>

#include <algorithm>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace sluice::stick {

namespace {

constexpr std::string_view kDataNames[kDataTypes] = {
    "server_id",   "gpt0",          "gpc0",          "gpc0_rate",     "conn_cnt",
    "conn_rate",   "conn_cur",      "sess_cnt",      "sess_rate",     "http_req_cnt",
    "http_req_rate", "http_err_cnt", "http_err_rate", "bytes_in_cnt", "bytes_in_rate",
    "bytes_out_cnt", "bytes_out_rate", "gpc1",       "gpc1_rate",     "http_fail_cnt",
    "http_fail_rate", "glitch_cnt",  "glitch_rate"};

size_t idx(DataType t) { return static_cast<size_t>(t); }

}  // namespace

std::string_view dataTypeName(DataType t) { return kDataNames[idx(t)]; }

std::optional<DataType> dataTypeByName(std::string_view name) {
  for (size_t i = 0; i < kDataTypes; ++i) {
    if (kDataNames[i] == name) return static_cast<DataType>(i);
  }
  return std::nullopt;
}

bool isRate(DataType t) {
  switch (t) {
    case DataType::Gpc0Rate:
    case DataType::Gpc1Rate:
    case DataType::ConnRate:
    case DataType::SessRate:
    case DataType::HttpReqRate:
    case DataType::HttpErrRate:
    case DataType::HttpFailRate:
    case DataType::GlitchRate:
    case DataType::BytesInRate:
    case DataType::BytesOutRate:
      return true;
    default:
      return false;
  }
}

std::string_view keyTypeName(KeyType t) {
  switch (t) {
    case KeyType::Ip: return "ip";
    case KeyType::Ipv6: return "ipv6";
    case KeyType::Integer: return "integer";
    case KeyType::String: return "string";
    case KeyType::Binary: return "binary";
  }
  return "?";
}

uint64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// ---------------------------------------------------------------------------
// Rates

RateCounter RateCounter::advanced(uint64_t nowMs, uint32_t period) const {
  RateCounter r = *this;
  if (nowMs >= r.start + period) {
    uint64_t elapsed = nowMs - r.start;
    r.previous = elapsed >= 2ull * period ? 0 : r.current;
    r.current = 0;
    r.start += (elapsed / period) * period;
  }
  return r;
}

void RateCounter::add(uint64_t nowMs, uint32_t period, uint32_t n) {
  if (period == 0) period = 1;
  if (start == 0 && current == 0 && previous == 0) start = nowMs;
  *this = advanced(nowMs, period);
  current = current > UINT32_MAX - n ? UINT32_MAX : current + n;
}

uint32_t RateCounter::rate(uint64_t nowMs, uint32_t period) const {
  if (period == 0) period = 1;
  RateCounter r = advanced(nowMs, period);
  // The previous period counts for the part of it still inside the window
  // [now - period, now].
  uint64_t into = nowMs > r.start ? nowMs - r.start : 0;
  uint64_t weighted = uint64_t{r.previous} * (period - into) / period;
  uint64_t total = r.current + weighted;
  return total > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(total);
}

// ---------------------------------------------------------------------------
// Table

Table::Table(TableSpec spec) : spec_(std::move(spec)), shared_(!spec_.peers.empty()) {
  for (size_t i = 0; i < kDataTypes; ++i) {
    slot_[i] = spec_.stored[i] ? static_cast<int8_t>(slots_++) : int8_t{-1};
  }
}

Table::~Table() = default;

std::optional<std::string> Table::keyFromAddress(const core::Address& a) const {
  core::Address u = a.unmapped();
  std::string_view raw = u.rawBytes();
  switch (spec_.keyType) {
    case KeyType::Ip:
      if (raw.size() != 4) return std::nullopt;
      return std::string(raw);
    case KeyType::Ipv6:
      if (raw.size() == 16) return std::string(raw);
      if (raw.size() == 4) {
        std::string k(10, '\0');
        k += "\xff\xff";
        k += raw;
        return k;
      }
      return std::nullopt;
    case KeyType::Integer:
      return std::nullopt;
    case KeyType::String:
    case KeyType::Binary:
      return keyFromBytes(u.ipString());
  }
  return std::nullopt;
}

std::optional<std::string> Table::keyFromInt(int64_t v) const {
  switch (spec_.keyType) {
    case KeyType::Integer: {
      uint32_t n = static_cast<uint32_t>(v);
      return std::string(reinterpret_cast<const char*>(&n), sizeof n);
    }
    case KeyType::String:
    case KeyType::Binary:
      return keyFromBytes(std::to_string(v));
    default:
      return std::nullopt;
  }
}

std::optional<std::string> Table::keyFromBytes(std::string_view v) const {
  switch (spec_.keyType) {
    case KeyType::String:
      return std::string(v.substr(0, spec_.keyLength));
    case KeyType::Binary: {
      std::string k(v.substr(0, spec_.keyLength));
      k.resize(spec_.keyLength, '\0');
      return k;
    }
    case KeyType::Integer: {
      char* end = nullptr;
      std::string s(v);
      long long n = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end != '\0') return std::nullopt;
      return keyFromInt(n);
    }
    case KeyType::Ip:
    case KeyType::Ipv6: {
      std::string s(v);
      auto a = core::Address::parse(s.find(':') != std::string::npos ? "[" + s + "]:0" : s + ":0");
      if (!a) return std::nullopt;
      return keyFromAddress(*a);
    }
  }
  return std::nullopt;
}

std::optional<std::string> Table::keyFromText(std::string_view text) const {
  if (spec_.keyType == KeyType::Binary) {
    // Hexadecimal, as "show table" prints binary keys.
    if (text.size() % 2) return std::nullopt;
    std::string raw;
    for (size_t i = 0; i < text.size(); i += 2) {
      unsigned v = 0;
      if (std::sscanf(std::string(text.substr(i, 2)).c_str(), "%2x", &v) != 1) return std::nullopt;
      raw.push_back(static_cast<char>(v));
    }
    return keyFromBytes(raw);
  }
  return keyFromBytes(text);
}

std::string Table::keyToText(std::string_view key) const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (spec_.keyType) {
    case KeyType::Ip:
      if (key.size() == 4) inet_ntop(AF_INET, key.data(), buf, sizeof buf);
      return buf;
    case KeyType::Ipv6:
      if (key.size() == 16) inet_ntop(AF_INET6, key.data(), buf, sizeof buf);
      return buf;
    case KeyType::Integer: {
      uint32_t n = 0;
      if (key.size() == sizeof n) std::memcpy(&n, key.data(), sizeof n);
      return std::to_string(n);
    }
    case KeyType::String: {
      std::string out;
      for (char c : key) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char esc[5];
          std::snprintf(esc, sizeof esc, "\\x%02x", static_cast<unsigned char>(c));
          out += esc;
        } else {
          out.push_back(c);
        }
      }
      return out;
    }
    case KeyType::Binary: {
      std::string out;
      char hex[3];
      for (char c : key) {
        std::snprintf(hex, sizeof hex, "%02X", static_cast<unsigned char>(c));
        out += hex;
      }
      return out;
    }
  }
  return {};
}

void Table::unlinkLocked(Entry* e) {
  if (e->prev) e->prev->next = e->next; else head_ = e->next;
  if (e->next) e->next->prev = e->prev; else tail_ = e->prev;
  e->prev = e->next = nullptr;
}

void Table::pushFrontLocked(Entry* e) {
  e->prev = nullptr;
  e->next = head_;
  if (head_) head_->prev = e;
  head_ = e;
  if (!tail_) tail_ = e;
}

void Table::touchLocked(Entry& e, uint64_t nowMs) {
  e.expireAt = spec_.expireMs ? nowMs + spec_.expireMs : 0;
  if (head_ != &e) {
    unlinkLocked(&e);
    pushFrontLocked(&e);
  }
}

void Table::eraseLocked(Entry* e) {
  unlinkLocked(e);
  unlogLocked(*e);
  std::string key = *e->key;
  entries_.erase(key);
}

void Table::expireLocked(uint64_t nowMs, size_t budget) {
  if (!spec_.expireMs) return;
  // The LRU order is the expiry order (every touch sets now + expire), so
  // expired entries gather at the tail. Entries in use are skipped past.
  // An entry in use is not expired but given a new lease (it moves to the
  // front), which keeps the list in expiry order.
  while (tail_ && budget-- && tail_->expireAt <= nowMs) {
    if (tail_->refs == 0) {
      eraseLocked(tail_);
    } else {
      touchLocked(*tail_, nowMs);
    }
  }
}

bool Table::evictOneLocked(uint64_t nowMs) {
  (void)nowMs;
  if (spec_.noPurge) return false;
  size_t budget = 256;
  for (Entry* e = tail_; e && budget--; e = e->prev) {
    if (e->refs == 0) {
      eraseLocked(e);
      return true;
    }
  }
  return false;
}

Entry* Table::findLocked(std::string_view key, uint64_t nowMs) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) return nullptr;
  Entry* e = it->second.get();
  if (e->refs == 0 && e->expireAt && e->expireAt <= nowMs) {
    eraseLocked(e);
    return nullptr;
  }
  return e;
}

Entry* Table::createLocked(std::string_view key, uint64_t nowMs) {
  expireLocked(nowMs);
  if (entries_.size() >= spec_.size && !evictOneLocked(nowMs)) return nullptr;
  auto entry = std::make_unique<Entry>();
  if (slots_) entry->values = std::make_unique<Value[]>(slots_);
  auto [it, inserted] = entries_.emplace(std::string(key), std::move(entry));
  Entry* e = it->second.get();
  e->key = &it->first;
  pushFrontLocked(e);
  e->expireAt = spec_.expireMs ? nowMs + spec_.expireMs : 0;
  return e;
}

Entry* Table::acquire(std::string_view key, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  expireLocked(nowMs);
  Entry* e = findLocked(key, nowMs);
  if (!e) {
    // A new key is news for the peers even before a counter moves.
    e = createLocked(key, nowMs);
    if (e) changedLocked(*e);
  }
  if (!e) return nullptr;
  ++e->refs;
  touchLocked(*e, nowMs);
  return e;
}

void Table::release(Entry* e, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  if (e->refs) --e->refs;
  touchLocked(*e, nowMs);
}

std::optional<int64_t> Table::readLocked(Entry& e, DataType t, uint64_t nowMs) const {
  int8_t s = slot_[idx(t)];
  if (s < 0) return std::nullopt;
  const Value& v = e.values[static_cast<size_t>(s)];
  if (isRate(t)) return v.rate.rate(nowMs, spec_.period[idx(t)]);
  return static_cast<int64_t>(v.counter);
}

void Table::unlogLocked(Entry& e) {
  if (!e.update) return;
  if (e.olderUpdate) e.olderUpdate->newerUpdate = e.newerUpdate; else oldestUpdate_ = e.newerUpdate;
  if (e.newerUpdate) e.newerUpdate->olderUpdate = e.olderUpdate; else newestUpdate_ = e.olderUpdate;
  e.olderUpdate = e.newerUpdate = nullptr;
  e.update = 0;
}

// O(1) on the data path: the entry moves to the end of the log.
void Table::changedLocked(Entry& e) {
  if (!shared_) return;
  unlogLocked(e);
  e.update = ++lastUpdate_;
  e.olderUpdate = newestUpdate_;
  if (newestUpdate_) newestUpdate_->newerUpdate = &e; else oldestUpdate_ = &e;
  newestUpdate_ = &e;
}

void Table::addLocked(Entry& e, DataType t, int64_t n, uint64_t nowMs) {
  int8_t s = slot_[idx(t)];
  if (s < 0) return;
  changedLocked(e);
  Value& v = e.values[static_cast<size_t>(s)];
  if (isRate(t)) {
    if (n > 0) v.rate.add(nowMs, spec_.period[idx(t)], static_cast<uint32_t>(std::min<int64_t>(n, UINT32_MAX)));
  } else if (n >= 0) {
    v.counter += static_cast<uint64_t>(n);
  } else {
    uint64_t d = static_cast<uint64_t>(-n);
    v.counter = v.counter > d ? v.counter - d : 0;
  }
}

void Table::setLocked(Entry& e, DataType t, int64_t value, uint64_t nowMs) {
  int8_t s = slot_[idx(t)];
  if (s < 0) return;
  changedLocked(e);
  Value& v = e.values[static_cast<size_t>(s)];
  if (isRate(t)) {
    v.rate = RateCounter{};
    if (value > 0) v.rate.add(nowMs, spec_.period[idx(t)], static_cast<uint32_t>(value));
  } else {
    v.counter = value > 0 ? static_cast<uint64_t>(value) : 0;
  }
}

std::optional<int64_t> Table::incrementGpcLocked(Entry& e, DataType counter, uint64_t nowMs) {
  DataType rate = counter == DataType::Gpc0 ? DataType::Gpc0Rate : DataType::Gpc1Rate;
  addLocked(e, rate, 1, nowMs);
  addLocked(e, counter, 1, nowMs);
  if (auto v = readLocked(e, counter, nowMs)) return v;
  if (spec_.stores(rate)) return 0;
  return std::nullopt;
}

std::optional<int64_t> Table::read(Entry* e, DataType t, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  return readLocked(*e, t, nowMs);
}

void Table::set(Entry* e, DataType t, int64_t v, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  setLocked(*e, t, v, nowMs);
}

void Table::countConnection(Entry* e, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  addLocked(*e, DataType::ConnCnt, 1, nowMs);
  addLocked(*e, DataType::ConnRate, 1, nowMs);
  addLocked(*e, DataType::ConnCur, 1, nowMs);
}

void Table::countSession(Entry* e, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  addLocked(*e, DataType::SessCnt, 1, nowMs);
  addLocked(*e, DataType::SessRate, 1, nowMs);
}

void Table::countBytes(Entry* e, uint64_t in, uint64_t out, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  if (in) {
    addLocked(*e, DataType::BytesInCnt, static_cast<int64_t>(in), nowMs);
    addLocked(*e, DataType::BytesInRate, static_cast<int64_t>(in), nowMs);
  }
  if (out) {
    addLocked(*e, DataType::BytesOutCnt, static_cast<int64_t>(out), nowMs);
    addLocked(*e, DataType::BytesOutRate, static_cast<int64_t>(out), nowMs);
  }
}

void Table::connectionEnded(Entry* e) {
  std::lock_guard lock(mu_);
  addLocked(*e, DataType::ConnCur, -1, 0);
}

uint32_t Table::trackers(Entry* e) {
  std::lock_guard lock(mu_);
  return e->refs;
}

std::optional<int64_t> Table::lookup(std::string_view key, DataType t, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  Entry* e = findLocked(key, nowMs);
  if (!e) return std::nullopt;
  return readLocked(*e, t, nowMs);
}

bool Table::contains(std::string_view key, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  return findLocked(key, nowMs) != nullptr;
}

bool Table::update(std::string_view key, uint64_t nowMs, bool create,
                   const std::function<void(Entry&)>& fn) {
  std::lock_guard lock(mu_);
  Entry* e = findLocked(key, nowMs);
  if (!e && create) e = createLocked(key, nowMs);
  if (!e) return false;
  fn(*e);
  return true;
}

std::optional<int64_t> Table::stuckServer(std::string_view key, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  Entry* e = findLocked(key, nowMs);
  if (!e) return std::nullopt;
  auto id = readLocked(*e, DataType::ServerId, nowMs);
  if (!id || *id == 0) return std::nullopt;
  touchLocked(*e, nowMs);
  return id;
}

Table::Snapshot Table::snapshotLocked(const Entry& e, uint64_t nowMs) const {
  Snapshot snap;
  snap.key = *e.key;
  snap.expireInMs = e.expireAt > nowMs ? static_cast<uint32_t>(std::min<uint64_t>(e.expireAt - nowMs, UINT32_MAX)) : 0;
  snap.update = e.update;
  for (size_t t = 0; t < kDataTypes; ++t) {
    if (slot_[t] >= 0) snap.values.emplace_back(static_cast<DataType>(t), e.values[static_cast<size_t>(slot_[t])]);
  }
  return snap;
}

std::vector<Table::Snapshot> Table::changesAfter(uint64_t update, uint64_t nowMs, size_t max) {
  std::vector<Snapshot> out;
  std::lock_guard lock(mu_);
  if (!newestUpdate_ || update >= lastUpdate_) return out;
  // The first entry after `update`: from whichever end of the log is
  // nearer by number (a link that keeps up walks back a few entries; one
  // that was away for long starts at the oldest).
  Entry* e;
  if (update < oldestUpdate_->update || update - oldestUpdate_->update < lastUpdate_ - update) {
    e = oldestUpdate_;
    while (e && e->update <= update) e = e->newerUpdate;
  } else {
    e = newestUpdate_;
    while (e->olderUpdate && e->olderUpdate->update > update) e = e->olderUpdate;
  }
  for (; e && out.size() < max; e = e->newerUpdate) out.push_back(snapshotLocked(*e, nowMs));
  return out;
}

uint64_t Table::lastUpdate() {
  std::lock_guard lock(mu_);
  return lastUpdate_;
}

std::vector<Table::Snapshot> Table::snapshotAll(uint64_t nowMs, uint64_t* upTo) {
  std::vector<Snapshot> out;
  std::lock_guard lock(mu_);
  expireLocked(nowMs, entries_.size());
  out.reserve(entries_.size());
  for (const auto& [key, e] : entries_) out.push_back(snapshotLocked(*e, nowMs));
  if (upTo) *upTo = lastUpdate_;
  return out;
}

std::vector<Table::Snapshot> Table::resyncChunk(ResyncCursor& c, uint64_t nowMs, size_t max) {
  std::vector<Snapshot> out;
  std::lock_guard lock(mu_);
  if (!c.started || c.buckets != entries_.bucket_count()) {
    // First call, or the table rehashed: walk every bucket (again).
    c.started = true;
    c.bucket = 0;
    c.buckets = entries_.bucket_count();
    c.upTo = lastUpdate_;
  }
  while (c.bucket < c.buckets && out.size() < max) {
    for (auto it = entries_.begin(c.bucket); it != entries_.end(c.bucket); ++it) {
      const Entry& e = *it->second;
      if (e.refs == 0 && e.expireAt && e.expireAt <= nowMs) continue;
      out.push_back(snapshotLocked(e, nowMs));
    }
    ++c.bucket;
  }
  c.done = c.bucket >= c.buckets;
  return out;
}

void Table::learn(std::string_view key, std::optional<uint32_t> expireInMs,
                  const std::vector<std::pair<DataType, Value>>& values, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  Entry* e = findLocked(key, nowMs);
  if (!e) e = createLocked(key, nowMs);
  if (!e) return;
  for (const auto& [t, v] : values) {
    int8_t s = slot_[idx(t)];
    if (s < 0 || t == DataType::ConnCur) continue;
    e->values[static_cast<size_t>(s)] = v;
  }
  if (head_ != e) {
    unlinkLocked(e);
    pushFrontLocked(e);
  }
  if (expireInMs && *expireInMs) {
    e->expireAt = nowMs + *expireInMs;
  } else {
    e->expireAt = spec_.expireMs ? nowMs + spec_.expireMs : 0;
  }
}

void Table::stick(std::string_view key, int64_t serverId, uint64_t nowMs) {
  std::lock_guard lock(mu_);
  Entry* e = findLocked(key, nowMs);
  if (!e) e = createLocked(key, nowMs);
  if (!e) return;
  setLocked(*e, DataType::ServerId, serverId, nowMs);
  touchLocked(*e, nowMs);
}

size_t Table::used(uint64_t nowMs) {
  std::lock_guard lock(mu_);
  expireLocked(nowMs, entries_.size());
  return entries_.size();
}

bool Table::matchesLocked(Entry& e, const std::vector<Filter>& filters, uint64_t nowMs) const {
  for (const Filter& f : filters) {
    auto v = readLocked(e, f.type, nowMs);
    if (!v) return false;
    bool ok = false;
    switch (f.op) {
      case Filter::Op::Eq: ok = *v == f.value; break;
      case Filter::Op::Ne: ok = *v != f.value; break;
      case Filter::Op::Lt: ok = *v < f.value; break;
      case Filter::Op::Le: ok = *v <= f.value; break;
      case Filter::Op::Gt: ok = *v > f.value; break;
      case Filter::Op::Ge: ok = *v >= f.value; break;
    }
    if (!ok) return false;
  }
  return true;
}

std::string Table::lineLocked(const Entry& e, uint64_t nowMs) const {
  char head[96];
  long long exp = e.expireAt ? static_cast<long long>(e.expireAt > nowMs ? e.expireAt - nowMs : 0) : 0;
  std::snprintf(head, sizeof head, "%p: key=", static_cast<const void*>(&e));
  std::string out = head;
  out += keyToText(*e.key);
  out += " use=" + std::to_string(e.refs) + " exp=" + std::to_string(exp);
  for (size_t i = 0; i < kDataTypes; ++i) {
    if (slot_[i] < 0) continue;
    auto t = static_cast<DataType>(i);
    out += ' ';
    out += dataTypeName(t);
    if (isRate(t)) out += "(" + std::to_string(spec_.period[i]) + ")";
    auto v = readLocked(const_cast<Entry&>(e), t, nowMs);
    out += "=" + std::to_string(v.value_or(0));
  }
  return out;
}

std::vector<std::string> Table::dump(uint64_t nowMs, const std::optional<std::string>& key,
                                     const std::vector<Filter>& filters, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  if (key) {
    Entry* e = findLocked(*key, nowMs);
    if (e && matchesLocked(*e, filters, nowMs)) out.push_back(lineLocked(*e, nowMs));
    return out;
  }
  for (Entry* e = head_; e && out.size() < limit; e = e->next) {
    if (e->refs == 0 && e->expireAt && e->expireAt <= nowMs) continue;
    if (matchesLocked(*e, filters, nowMs)) out.push_back(lineLocked(*e, nowMs));
  }
  return out;
}

size_t Table::clear(uint64_t nowMs, const std::optional<std::string>& key,
                    const std::vector<Filter>& filters) {
  std::lock_guard lock(mu_);
  size_t n = 0;
  if (key) {
    Entry* e = findLocked(*key, nowMs);
    if (e && e->refs == 0 && matchesLocked(*e, filters, nowMs)) {
      eraseLocked(e);
      ++n;
    }
    return n;
  }
  for (Entry* e = head_; e;) {
    Entry* next = e->next;
    if (e->refs == 0 && matchesLocked(*e, filters, nowMs)) {
      eraseLocked(e);
      ++n;
    }
    e = next;
  }
  return n;
}

}  // namespace sluice::stick
