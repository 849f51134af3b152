// SPDX-License-Identifier: Apache-2.0
// HAProxy's peers protocol, the wire format; see peers.h.
#include "proto/peers.h"

#include <charconv>

namespace sluice::proto::peers {
namespace {

struct TypeInfo {
  std::string_view name;
  Storage storage;
  bool array;
  bool localOnly;
};

constexpr TypeInfo kTypes[kDataTypes] = {
    {"server_id", Storage::Int, false, false},     {"gpt0", Storage::Int, false, false},
    {"gpc0", Storage::Int, false, false},          {"gpc0_rate", Storage::Rate, false, false},
    {"conn_cnt", Storage::Int, false, false},      {"conn_rate", Storage::Rate, false, false},
    {"conn_cur", Storage::Int, false, true},       {"sess_cnt", Storage::Int, false, false},
    {"sess_rate", Storage::Rate, false, false},    {"http_req_cnt", Storage::Int, false, false},
    {"http_req_rate", Storage::Rate, false, false}, {"http_err_cnt", Storage::Int, false, false},
    {"http_err_rate", Storage::Rate, false, false}, {"bytes_in_cnt", Storage::Int, false, false},
    {"bytes_in_rate", Storage::Rate, false, false}, {"bytes_out_cnt", Storage::Int, false, false},
    {"bytes_out_rate", Storage::Rate, false, false}, {"gpc1", Storage::Int, false, false},
    {"gpc1_rate", Storage::Rate, false, false},    {"server_key", Storage::Dict, false, false},
    {"http_fail_cnt", Storage::Int, false, false}, {"http_fail_rate", Storage::Rate, false, false},
    {"gpt", Storage::Int, true, false},            {"gpc", Storage::Int, true, false},
    {"gpc_rate", Storage::Rate, true, false},
    {"glitch_cnt", Storage::Int, false, false},    {"glitch_rate", Storage::Rate, false, false},
};

void putU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

bool getU32(std::span<const uint8_t> b, size_t& pos, uint32_t& v) {
  if (pos > b.size() || b.size() - pos < 4) return false;
  v = uint32_t{b[pos]} << 24 | uint32_t{b[pos + 1]} << 16 | uint32_t{b[pos + 2]} << 8 | b[pos + 3];
  pos += 4;
  return true;
}

// Splits "a b c" on single spaces.
std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= line.size()) {
    size_t sp = line.find(' ', start);
    if (sp == std::string_view::npos) sp = line.size();
    if (sp > start) out.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
  return out;
}

template <class T>
bool number(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

void putVarint(std::string& out, uint64_t v) {
  if (v < 240) {
    out.push_back(static_cast<char>(v));
    return;
  }
  // The first byte holds the low 4 bits above 0xF0; each next one 7 bits,
  // its high bit saying another follows.
  out.push_back(static_cast<char>(static_cast<uint8_t>(v) | 0xf0));
  v = (v - 240) >> 4;
  while (v >= 128) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(v) | 0x80));
    v = (v - 128) >> 7;
  }
  out.push_back(static_cast<char>(v));
}

bool getVarint(std::span<const uint8_t> bytes, size_t& pos, uint64_t& v) {
  if (pos >= bytes.size()) return false;
  uint64_t value = bytes[pos++];
  if (value >= 240) {
    unsigned shift = 4;
    uint8_t b = 0;
    do {
      if (pos >= bytes.size() || shift > 60) return false;
      b = bytes[pos++];
      value += uint64_t{b} << shift;
      shift += 7;
    } while (b >= 128);
  }
  v = value;
  return true;
}

std::string encodeHello(std::string_view remotePeer, std::string_view localPeer, uint64_t pid) {
  return std::string(kProtocol) + " " + std::to_string(kMajor) + "." + std::to_string(kMinor) + "\n" +
         std::string(remotePeer) + "\n" + std::string(localPeer) + " " + std::to_string(pid) + " 1\n";
}

Status parseHello(std::string_view buffered, Hello& out, size_t& consumed) {
  constexpr size_t kMax = 1024;  // three short lines
  size_t ends[3];
  size_t from = 0;
  for (size_t& e : ends) {
    e = buffered.find('\n', from);
    if (e == std::string_view::npos) return buffered.size() > kMax ? Status::Error : Status::NeedMore;
    from = e + 1;
  }
  if (ends[2] > kMax) return Status::Error;
  std::string_view l1 = buffered.substr(0, ends[0]);
  std::string_view l2 = buffered.substr(ends[0] + 1, ends[1] - ends[0] - 1);
  std::string_view l3 = buffered.substr(ends[1] + 1, ends[2] - ends[1] - 1);
  auto w1 = words(l1);
  auto w3 = words(l3);
  if (w1.size() != 2 || l2.empty() || l2.find(' ') != std::string_view::npos || w3.empty()) return Status::Error;
  out.protocol = std::string(w1[0]);
  size_t dot = w1[1].find('.');
  if (dot == std::string_view::npos || !number(w1[1].substr(0, dot), out.major) ||
      !number(w1[1].substr(dot + 1), out.minor)) {
    return Status::Error;
  }
  out.remotePeer = std::string(l2);
  out.localPeer = std::string(w3[0]);
  if (w3.size() > 1 && !number(w3[1], out.pid)) return Status::Error;
  if (w3.size() > 2 && !number(w3[2], out.relativePid)) return Status::Error;
  consumed = ends[2] + 1;
  return Status::Done;
}

std::string encodeStatus(int code) { return std::to_string(code) + "\n"; }

Status parseStatus(std::string_view buffered, int& code, size_t& consumed) {
  size_t nl = buffered.find('\n');
  if (nl == std::string_view::npos) return buffered.size() > 16 ? Status::Error : Status::NeedMore;
  if (!number(buffered.substr(0, nl), code)) return Status::Error;
  consumed = nl + 1;
  return Status::Done;
}

Status parseMessage(std::span<const uint8_t> buffered, Message& out, size_t& consumed, size_t maxLength) {
  if (buffered.size() < 2) return Status::NeedMore;
  out.cls = buffered[0];
  out.type = buffered[1];
  size_t pos = 2;
  if (out.type < 128) {
    out.data = {};
    consumed = pos;
    return Status::Done;
  }
  uint64_t length = 0;
  if (!getVarint(buffered, pos, length)) {
    // Up to 10 bytes of varint may be still on their way.
    return buffered.size() < 2 + 10 ? Status::NeedMore : Status::Error;
  }
  if (length > maxLength) return Status::Error;
  if (buffered.size() - pos < length) return Status::NeedMore;
  out.data = buffered.subspan(pos, length);
  consumed = pos + length;
  return Status::Done;
}

std::string encodeMessage(uint8_t cls, uint8_t type, std::string_view data) {
  std::string out;
  out.push_back(static_cast<char>(cls));
  out.push_back(static_cast<char>(type));
  if (type >= 128) {
    putVarint(out, data.size());
    out.append(data);
  }
  return out;
}

Storage storageOf(uint8_t type) { return type < kDataTypes ? kTypes[type].storage : Storage::Int; }
bool isArray(uint8_t type) { return type < kDataTypes && kTypes[type].array; }
std::string_view dataTypeName(uint8_t type) { return type < kDataTypes ? kTypes[type].name : std::string_view(); }
bool isLocalOnly(uint8_t type) { return type < kDataTypes && kTypes[type].localOnly; }

size_t TableDef::elements(uint8_t type) const {
  if (!isArray(type)) return 1;
  auto it = params.find(type);
  return it == params.end() || it->second.empty() ? 0 : static_cast<size_t>(it->second[0]);
}

std::string encodeDefine(const TableDef& def) {
  std::string d;
  putVarint(d, def.id);
  putVarint(d, def.name.size());
  d += def.name;
  putVarint(d, def.keyType);
  putVarint(d, def.keyLength);
  putVarint(d, def.dataTypes);
  putVarint(d, def.expireMs);
  // Parameters, each set prefixed by its data type, in type order.
  for (uint8_t t = 0; t < kDataTypes; ++t) {
    if (!def.has(t) || (!isArray(t) && storageOf(t) != Storage::Rate)) continue;
    putVarint(d, t);
    auto it = def.params.find(t);
    const size_t wanted = isArray(t) ? (storageOf(t) == Storage::Rate ? 2 : 1) : 1;
    for (size_t i = 0; i < wanted; ++i) putVarint(d, it != def.params.end() && i < it->second.size() ? it->second[i] : 0);
  }
  return encodeMessage(kStickTable, kDefine, d);
}

bool parseDefine(std::span<const uint8_t> data, TableDef& out) {
  size_t pos = 0;
  uint64_t nameLength = 0;
  if (!getVarint(data, pos, out.id) || !getVarint(data, pos, nameLength)) return false;
  if (nameLength == 0 || nameLength > data.size() - pos) return false;
  out.name.assign(reinterpret_cast<const char*>(data.data() + pos), nameLength);
  pos += nameLength;
  if (!getVarint(data, pos, out.keyType) || !getVarint(data, pos, out.keyLength) ||
      !getVarint(data, pos, out.dataTypes)) {
    return false;
  }
  out.params.clear();
  if (pos == data.size()) {
    // An old peer: no expire, no parameters. Its rates have no known
    // period (0), and an array cannot be sized.
    out.expireMs = 0;
    for (uint8_t t = 0; t < 64; ++t) {
      if (!out.has(t)) continue;
      if (t >= kDataTypes || isArray(t)) return false;
      if (storageOf(t) == Storage::Rate) out.params[t] = {0};
    }
    return true;
  }
  if (!getVarint(data, pos, out.expireMs)) return false;
  for (uint8_t t = 0; t < 64; ++t) {
    if (!out.has(t)) continue;
    if (t >= kDataTypes) return false;  // a type this side cannot size
    if (!isArray(t) && storageOf(t) != Storage::Rate) continue;
    uint64_t prefix = 0;
    if (!getVarint(data, pos, prefix) || prefix != t) return false;
    const size_t count = isArray(t) ? (storageOf(t) == Storage::Rate ? 2 : 1) : 1;
    std::vector<uint64_t>& p = out.params[t];
    for (size_t i = 0; i < count; ++i) {
      uint64_t v = 0;
      if (!getVarint(data, pos, v)) return false;
      p.push_back(v);
    }
    if (isArray(t) && (p[0] == 0 || p[0] > 100)) return false;
  }
  return pos == data.size();
}

std::string encodeUpdate(const TableDef& def, const Update& u) {
  std::string d;
  if (u.id) putU32(d, *u.id);
  if (u.expireMs) putU32(d, *u.expireMs);
  if (def.keyType == kKeyString) {
    putVarint(d, u.key.size());
    d += u.key;
  } else {
    std::string key = u.key;
    key.resize(def.keyType == kKeySint ? 4 : def.keyLength, '\0');
    d += key;
  }
  for (const Value& v : u.values) {
    if (!def.has(v.type)) continue;
    switch (storageOf(v.type)) {
      case Storage::Int:
        for (size_t i = 0; i < def.elements(v.type); ++i) putVarint(d, i < v.ints.size() ? v.ints[i] : 0);
        break;
      case Storage::Rate:
        for (size_t i = 0; i < def.elements(v.type); ++i) {
          Rate r = i < v.rates.size() ? v.rates[i] : Rate{};
          putVarint(d, r.ageMs);
          putVarint(d, r.current);
          putVarint(d, r.previous);
        }
        break;
      case Storage::Dict: {
        if (!v.dictId) {
          putVarint(d, 0);
          break;
        }
        std::string inner;
        putVarint(inner, *v.dictId);
        if (!v.dictValue.empty()) {
          putVarint(inner, v.dictValue.size());
          inner += v.dictValue;
        }
        putVarint(d, inner.size());
        d += inner;
        break;
      }
    }
  }
  const uint8_t type = u.id ? (u.expireMs ? kUpdateTimed : kUpdate) : (u.expireMs ? kIncrementalUpdateTimed : kIncrementalUpdate);
  return encodeMessage(kStickTable, type, d);
}

bool parseUpdate(std::span<const uint8_t> data, const TableDef& def, bool withId, bool timed, Update& out) {
  size_t pos = 0;
  out = Update{};
  uint32_t v32 = 0;
  if (withId) {
    if (!getU32(data, pos, v32)) return false;
    out.id = v32;
  }
  if (timed) {
    if (!getU32(data, pos, v32)) return false;
    out.expireMs = v32;
  }
  if (def.keyType == kKeyString) {
    uint64_t length = 0;
    if (!getVarint(data, pos, length) || length > data.size() - pos) return false;
    out.key.assign(reinterpret_cast<const char*>(data.data() + pos), length);
    pos += length;
  } else {
    const size_t length = def.keyType == kKeySint ? 4 : def.keyLength;
    if (length == 0 || length > data.size() - pos) return false;
    out.key.assign(reinterpret_cast<const char*>(data.data() + pos), length);
    pos += length;
  }
  for (uint8_t t = 0; t < 64; ++t) {
    if (!def.has(t)) continue;
    if (t >= kDataTypes) return false;
    Value v;
    v.type = t;
    switch (storageOf(t)) {
      case Storage::Int:
        for (size_t i = 0; i < def.elements(t); ++i) {
          uint64_t x = 0;
          if (!getVarint(data, pos, x)) return false;
          v.ints.push_back(x);
        }
        break;
      case Storage::Rate:
        for (size_t i = 0; i < def.elements(t); ++i) {
          Rate r;
          if (!getVarint(data, pos, r.ageMs) || !getVarint(data, pos, r.current) || !getVarint(data, pos, r.previous)) {
            return false;
          }
          v.rates.push_back(r);
        }
        break;
      case Storage::Dict: {
        uint64_t length = 0;
        if (!getVarint(data, pos, length) || length > data.size() - pos) return false;
        if (length > 0) {
          std::span<const uint8_t> inner = data.subspan(pos, length);
          size_t ip = 0;
          uint64_t id = 0;
          if (!getVarint(inner, ip, id)) return false;
          v.dictId = id;
          if (ip < inner.size()) {
            uint64_t vlen = 0;
            if (!getVarint(inner, ip, vlen) || vlen != inner.size() - ip) return false;
            v.dictValue.assign(reinterpret_cast<const char*>(inner.data() + ip), vlen);
          }
          pos += length;
        }
        break;
      }
    }
    out.values.push_back(std::move(v));
  }
  return pos == data.size();
}

std::string encodeAck(uint64_t tableId, uint32_t updateId) {
  std::string d;
  putVarint(d, tableId);
  putU32(d, updateId);
  return encodeMessage(kStickTable, kAck, d);
}

bool parseAck(std::span<const uint8_t> data, uint64_t& tableId, uint32_t& updateId) {
  size_t pos = 0;
  return getVarint(data, pos, tableId) && getU32(data, pos, updateId) && pos == data.size();
}

std::string encodeSwitch(uint64_t tableId) {
  std::string d;
  putVarint(d, tableId);
  return encodeMessage(kStickTable, kSwitch, d);
}

}  // namespace sluice::proto::peers
