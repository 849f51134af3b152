// SPDX-License-Identifier: Apache-2.0
// MQTT CONNECT / CONNACK parsing; see mqtt.h. Formats from the OASIS MQTT
// 3.1.1 and 5.0 standards: the fixed header and its variable-length
// remaining length (at most 4 bytes), the CONNECT flags' rules, and the
// 5.0 property identifiers with their types.
#include "proto/mqtt.h"

#include <map>
#include <vector>

#include "core/strings.h"

namespace sluice::proto {

namespace {

constexpr uint8_t kConnect = 1;
constexpr uint8_t kConnack = 2;

// A bounded reader: any read past `end` fails and stays failed.
class Reader {
 public:
  Reader(std::span<const uint8_t> in, size_t at, size_t end) : in_(in), at_(at), end_(end) {}
  bool ok() const { return ok_; }
  size_t at() const { return at_; }
  bool done() const { return at_ == end_; }

  uint32_t byte() { return take(1) ? in_[at_ - 1] : 0; }
  uint32_t u16() { return take(2) ? (uint32_t{in_[at_ - 2]} << 8) | in_[at_ - 1] : 0; }
  uint32_t u32() {
    if (!take(4)) return 0;
    return (uint32_t{in_[at_ - 4]} << 24) | (uint32_t{in_[at_ - 3]} << 16) | (uint32_t{in_[at_ - 2]} << 8) |
           in_[at_ - 1];
  }
  uint32_t varint() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      uint32_t b = byte();
      if (!ok_) return 0;
      v |= (b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return v;
    }
    ok_ = false;  // a fifth byte
    return 0;
  }
  std::string bytes() {  // a 2-byte length, then the bytes (UTF-8 string or binary data)
    uint32_t len = u16();
    if (!take(len)) return {};
    return std::string(reinterpret_cast<const char*>(in_.data()) + at_ - len, len);
  }

 private:
  bool take(size_t n) {
    if (!ok_ || end_ - at_ < n) {
      ok_ = false;
      return false;
    }
    at_ += n;
    return true;
  }
  std::span<const uint8_t> in_;
  size_t at_;
  size_t end_;
  bool ok_ = true;
};

struct Packet {
  uint8_t type = 0;
  std::map<std::string, std::string> fields;
  std::map<uint32_t, std::string> properties;  // first occurrence of each id
};

// MQTT 5.0 properties: `length` bytes of id/value pairs.
bool readProperties(Reader& r, Packet& p) {
  uint32_t length = r.varint();
  if (!r.ok()) return false;
  size_t end = r.at() + length;
  while (r.ok() && r.at() < end) {
    uint32_t id = r.varint();
    std::string value;
    switch (id) {
      case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2a:
        value = std::to_string(r.byte());
        break;
      case 0x13: case 0x21: case 0x22: case 0x23:
        value = std::to_string(r.u16());
        break;
      case 0x02: case 0x11: case 0x18: case 0x27:
        value = std::to_string(r.u32());
        break;
      case 0x0b:
        value = std::to_string(r.varint());
        break;
      case 0x03: case 0x08: case 0x12: case 0x15: case 0x1a: case 0x1c: case 0x1f: case 0x09: case 0x16:
        value = r.bytes();
        break;
      case 0x26: {  // user property: a name and a value
        std::string name = r.bytes();
        value = name + ":" + r.bytes();
        break;
      }
      default:
        return false;
    }
    p.properties.emplace(id, value);
  }
  return r.ok() && r.at() == end;
}

bool parseConnect(Reader& r, Packet& p) {
  std::string name = r.bytes();
  uint32_t level = r.byte();
  if (!r.ok()) return false;
  if (!((name == "MQTT" && (level == 4 || level == 5)) || (name == "MQIsdp" && level == 3))) return false;
  uint32_t flags = r.byte();
  uint32_t keepalive = r.u16();
  if (!r.ok() || (flags & 0x01)) return false;  // reserved bit
  const bool will = flags & 0x04;
  const uint32_t willQos = (flags >> 3) & 3;
  const bool willRetain = flags & 0x20;
  const bool password = flags & 0x40;
  const bool username = flags & 0x80;
  if (willQos == 3 || (!will && (willQos || willRetain))) return false;
  if (level < 5 && password && !username) return false;
  p.fields["protocol_name"] = name;
  p.fields["protocol_version"] = std::to_string(level);
  p.fields["flags"] = std::to_string(flags);
  p.fields["keepalive"] = std::to_string(keepalive);
  if (level == 5 && !readProperties(r, p)) return false;
  p.fields["client_identifier"] = r.bytes();
  if (will) {
    if (level == 5 && !readProperties(r, p)) return false;
    p.fields["will_topic"] = r.bytes();
    p.fields["will_payload"] = r.bytes();
  }
  if (username) p.fields["username"] = r.bytes();
  if (password) p.fields["password"] = r.bytes();
  return r.ok() && r.done();
}

bool parseConnack(Reader& r, Packet& p, uint32_t remaining) {
  uint32_t flags = r.byte();
  uint32_t reason = r.byte();
  if (!r.ok() || (flags & 0xfe)) return false;  // only "session present"
  p.fields["flags"] = std::to_string(flags);
  p.fields["reason_code"] = std::to_string(reason);
  // A 3.1.1 CONNACK is 2 bytes; a 5.0 one carries properties.
  p.fields["protocol_version"] = remaining == 2 ? "4" : "5";
  if (remaining > 2 && !readProperties(r, p)) return false;
  return r.ok() && r.done();
}

Completeness parse(std::span<const uint8_t> in, Packet& p) {
  if (in.size() < 2) return Completeness::NeedMore;
  p.type = in[0] >> 4;
  if ((p.type != kConnect && p.type != kConnack) || (in[0] & 0x0f)) return Completeness::Invalid;
  uint32_t remaining = 0;
  size_t at = 1;
  for (int i = 0;; ++i) {
    if (i == 4) return Completeness::Invalid;
    if (at >= in.size()) return Completeness::NeedMore;
    uint8_t b = in[at++];
    remaining |= uint32_t{b & 0x7fu} << (7 * i);
    if (!(b & 0x80)) break;
  }
  if (in.size() - at < remaining) return Completeness::NeedMore;
  Reader r(in, at, at + remaining);
  bool ok = p.type == kConnect ? parseConnect(r, p) : parseConnack(r, p, remaining);
  return ok ? Completeness::Valid : Completeness::Invalid;
}

}  // namespace

Completeness mqttValidate(std::span<const uint8_t> in) {
  Packet p;
  return parse(in, p);
}

std::optional<uint8_t> mqttPacketType(std::string_view arg) {
  std::string a(arg);
  for (char& c : a) c = core::asciiLower(c);
  if (a == "connect" || a == "1") return kConnect;
  if (a == "connack" || a == "2") return kConnack;
  return std::nullopt;
}

std::optional<std::string> mqttFieldValue(std::span<const uint8_t> in, uint8_t packetType, std::string_view field,
                                          bool& needMore) {
  Packet p;
  Completeness c = parse(in, p);
  needMore = c == Completeness::NeedMore;
  if (c != Completeness::Valid || p.type != packetType) return std::nullopt;
  std::string name(field);
  for (char& ch : name) ch = core::asciiLower(ch);
  if (auto id = core::parseUnsigned(name)) {
    auto it = p.properties.find(static_cast<uint32_t>(*id));
    if (it == p.properties.end()) return std::nullopt;
    return it->second;
  }
  auto it = p.fields.find(name);
  if (it == p.fields.end()) return std::nullopt;
  return it->second;
}

}  // namespace sluice::proto
