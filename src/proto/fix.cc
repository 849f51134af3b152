// SPDX-License-Identifier: Apache-2.0
// FIX message checks; see fix.h. The layout is FIX's standard header and
// trailer (FIX 4.x and FIXT.1.1 session messages).
#include "proto/fix.h"

#include <cctype>

namespace sluice::proto {

namespace {

constexpr uint8_t kSoh = 0x01;

struct Field {
  unsigned tag = 0;
  std::string_view value;
  size_t end = 0;  // offset just after its SOH
};

enum class FieldRead { Ok, NeedMore, Bad };

// Reads "tag=value<SOH>" at `at`.
FieldRead readField(std::span<const uint8_t> in, size_t at, Field& f) {
  size_t i = at;
  unsigned tag = 0;
  while (i < in.size() && in[i] != '=') {
    if (!std::isdigit(in[i]) || i - at > 9) return FieldRead::Bad;
    tag = tag * 10 + (in[i] - '0');
    ++i;
  }
  if (i >= in.size()) return FieldRead::NeedMore;
  if (i == at) return FieldRead::Bad;  // empty tag
  size_t valueAt = ++i;
  while (i < in.size() && in[i] != kSoh) ++i;
  if (i >= in.size()) return FieldRead::NeedMore;
  if (i == valueAt) return FieldRead::Bad;  // empty value
  f.tag = tag;
  f.value = std::string_view(reinterpret_cast<const char*>(in.data()) + valueAt, i - valueAt);
  f.end = i + 1;
  return FieldRead::Ok;
}

bool validVersion(std::string_view v) {
  // FIX.4.0 .. FIX.4.4, FIX.5.0 and its service packs, FIXT.1.1
  if (v == "FIXT.1.1") return true;
  return v.size() >= 7 && v.substr(0, 4) == "FIX." && std::isdigit(static_cast<unsigned char>(v[4])) &&
         v[5] == '.' && std::isdigit(static_cast<unsigned char>(v[6]));
}

}  // namespace

std::optional<unsigned> fixTagNumber(std::string_view tag) {
  static const std::pair<std::string_view, unsigned> kNames[] = {
      {"BeginString", 8},   {"BodyLength", 9},    {"MsgType", 35}, {"SenderCompID", 49},
      {"TargetCompID", 56}, {"CheckSum", 10},     {"MsgSeqNum", 34}, {"SendingTime", 52}};
  for (const auto& [name, number] : kNames) {
    if (name == tag) return number;
  }
  if (tag.empty() || tag.size() > 9) return std::nullopt;
  unsigned n = 0;
  for (char c : tag) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

Completeness fixValidate(std::span<const uint8_t> in) {
  Field f;
  size_t at = 0;
  auto next = [&](unsigned wantTag) -> std::optional<Completeness> {
    FieldRead r = readField(in, at, f);
    if (r == FieldRead::NeedMore) return Completeness::NeedMore;
    if (r == FieldRead::Bad || (wantTag && f.tag != wantTag)) return Completeness::Invalid;
    at = f.end;
    return std::nullopt;
  };
  if (auto r = next(8)) return *r;
  if (!validVersion(f.value)) return Completeness::Invalid;
  if (auto r = next(9)) return *r;
  if (f.value.size() > 9) return Completeness::Invalid;
  size_t bodyLength = 0;
  for (char c : f.value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return Completeness::Invalid;
    bodyLength = bodyLength * 10 + static_cast<size_t>(c - '0');
  }
  const size_t bodyStart = at;
  if (auto r = next(35)) return *r;
  // The body's fields, up to BodyLength bytes; then the checksum field.
  while (at < bodyStart + bodyLength) {
    if (auto r = next(0)) return *r;
    if (f.tag == 10) return Completeness::Invalid;  // the checksum came early
  }
  if (at != bodyStart + bodyLength) return Completeness::Invalid;
  unsigned sum = 0;
  for (size_t i = 0; i < at; ++i) sum += in[i];
  if (auto r = next(10)) return *r;
  if (f.value.size() != 3) return Completeness::Invalid;
  unsigned given = 0;
  for (char c : f.value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return Completeness::Invalid;
    given = given * 10 + static_cast<unsigned>(c - '0');
  }
  return given == sum % 256 ? Completeness::Valid : Completeness::Invalid;
}

std::optional<std::string> fixTagValue(std::span<const uint8_t> in, std::string_view tag, bool& needMore) {
  needMore = false;
  auto number = fixTagNumber(tag);
  if (!number) return std::nullopt;
  Field f;
  size_t at = 0;
  while (true) {
    FieldRead r = readField(in, at, f);
    if (r == FieldRead::NeedMore) {
      needMore = true;
      return std::nullopt;
    }
    if (r == FieldRead::Bad) return std::nullopt;
    if (f.tag == *number) return std::string(f.value);
    if (f.tag == 10) return std::nullopt;  // the end of the first message
    at = f.end;
  }
}

}  // namespace sluice::proto
