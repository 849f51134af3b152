// SPDX-License-Identifier: Apache-2.0
// Protocol answers of the health checks; see protocols.h. The formats come
// from the protocols' own documents: MySQL's client/server protocol (packet
// header, Initial Handshake v10, ERR packet), RFC 4511 (LDAPv3 BindRequest
// and BindResponse, BER lengths per X.690), HAProxy's SPOE.txt (frames,
// variable-length integers, typed data), and HAProxy's manual for the words
// of an agent-check reply.
#include "health/protocols.h"

#include "config/dialect.h"
#include "core/strings.h"

namespace sluice::health {

namespace {

using Bytes = std::span<const uint8_t>;

// A truncated answer is only wrong once the server has closed.
ProtocolVerdict incomplete(bool eof, std::string_view what) {
  return eof ? ProtocolVerdict::fail("L7RSP", std::string(what)) : ProtocolVerdict::needMore();
}

// ---------------------------------------------------------------------------
// MySQL: packets are a 3-byte little-endian length, a sequence id, a payload.

struct MysqlPacket {
  size_t payloadAt = 0;
  size_t length = 0;
};

// The packet starting at `at`, or nullopt when it has not fully arrived.
std::optional<MysqlPacket> mysqlPacketAt(Bytes in, size_t at) {
  if (in.size() < at + 4) return std::nullopt;
  size_t len = in[at] | (size_t{in[at + 1]} << 8) | (size_t{in[at + 2]} << 16);
  if (in.size() < at + 4 + len) return std::nullopt;
  return MysqlPacket{at + 4, len};
}

// An ERR packet (0xff, 2-byte code, optional "#" + 5-byte SQL state, text).
ProtocolVerdict mysqlError(Bytes in, const MysqlPacket& p) {
  int code = 0;
  size_t text = p.payloadAt + 1;
  size_t end = p.payloadAt + p.length;
  if (p.length >= 3) {
    code = in[p.payloadAt + 1] | (in[p.payloadAt + 2] << 8);
    text = p.payloadAt + 3;
  }
  if (end - std::min(end, text) >= 6 && in[text] == '#') text += 6;  // protocol 4.1's SQL state
  std::string message(reinterpret_cast<const char*>(in.data()) + std::min(text, end), end - std::min(text, end));
  return ProtocolVerdict::fail("L7STS", message, code);
}

// The version string of an Initial Handshake packet.
std::optional<std::string> mysqlVersion(Bytes in, const MysqlPacket& p) {
  if (p.length < 2) return std::nullopt;
  uint8_t protocol = in[p.payloadAt];
  if (protocol != 10 && protocol != 9) return std::nullopt;
  std::string version;
  for (size_t i = p.payloadAt + 1; i < p.payloadAt + p.length; ++i) {
    if (in[i] == 0) return version;
    version.push_back(static_cast<char>(in[i]));
  }
  return std::nullopt;  // no terminating NUL inside the packet
}

void putLe(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// ---------------------------------------------------------------------------
// BER (X.690) as LDAP uses it: a tag byte, a definite length, the contents.

struct BerItem {
  uint8_t tag = 0;
  size_t contentAt = 0;
  size_t length = 0;
};

enum class BerRead { Ok, NeedMore, Bad };

BerRead readBer(Bytes in, size_t at, size_t limit, BerItem& item) {
  if (at + 2 > limit) return limit < in.size() ? BerRead::Bad : BerRead::NeedMore;
  item.tag = in[at];
  uint8_t first = in[at + 1];
  size_t header = 2;
  size_t length = first;
  if (first & 0x80) {
    size_t n = first & 0x7f;
    if (n == 0 || n > 4) return BerRead::Bad;  // indefinite lengths are not allowed in LDAP
    if (at + 2 + n > limit) return limit < in.size() ? BerRead::Bad : BerRead::NeedMore;
    length = 0;
    for (size_t i = 0; i < n; ++i) length = (length << 8) | in[at + 2 + i];
    header += n;
  }
  item.contentAt = at + header;
  item.length = length;
  return BerRead::Ok;
}

// ---------------------------------------------------------------------------
// SPOP

constexpr uint32_t kSpopMaxFrameSize = 16380;  // what the hello announces
constexpr uint8_t kSpopAgentHello = 101;
constexpr uint8_t kSpopAgentDisconnect = 103;

void putVarint(std::string& out, uint64_t v) {
  if (v < 240) {
    out.push_back(static_cast<char>(v));
    return;
  }
  out.push_back(static_cast<char>((v | 240) & 0xff));
  v = (v - 240) >> 4;
  while (v >= 128) {
    out.push_back(static_cast<char>((v | 128) & 0xff));
    v = (v - 128) >> 7;
  }
  out.push_back(static_cast<char>(v));
}

bool getVarint(Bytes in, size_t& at, size_t end, uint64_t& v) {
  if (at >= end) return false;
  v = in[at++];
  if (v < 240) return true;
  unsigned shift = 4;
  while (true) {
    if (at >= end || shift > 56) return false;
    uint8_t b = in[at++];
    v += uint64_t{b} << shift;
    shift += 7;
    if (b < 128) return true;
  }
}

void putString(std::string& out, std::string_view s) {
  putVarint(out, s.size());
  out += s;
}

// A typed value: strings and integers are kept, other types skipped.
struct SpopValue {
  uint8_t type = 0;
  std::string text;
  uint64_t integer = 0;
};

bool getTyped(Bytes in, size_t& at, size_t end, SpopValue& value) {
  if (at >= end) return false;
  value.type = in[at++] & 0x0f;
  switch (value.type) {
    case 0:  // NULL
    case 1:  // BOOL: the value is in the flags
      return true;
    case 2:
    case 3:
    case 4:
    case 5:
      return getVarint(in, at, end, value.integer);
    case 6:
      at += 4;
      return at <= end;
    case 7:
      at += 16;
      return at <= end;
    case 8:
    case 9: {
      uint64_t len = 0;
      if (!getVarint(in, at, end, len) || len > end - at) return false;
      value.text.assign(reinterpret_cast<const char*>(in.data()) + at, len);
      at += len;
      return true;
    }
    default:
      return false;
  }
}

std::string_view trimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string mysqlLoginPackets(std::string_view user, bool post41) {
  std::string payload;
  if (post41) {
    putLe(payload, 0x00008200, 4);  // CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION
    putLe(payload, 0x01008000, 4);  // max packet size
    payload.push_back(0x21);        // utf8_general_ci
    payload.append(23, '\0');       // reserved
  } else {
    putLe(payload, 0x8000, 2);      // CLIENT_SECURE_CONNECTION
    putLe(payload, 0x010000, 3);    // max packet size
  }
  payload += user;
  payload.push_back('\0');
  payload.push_back('\0');          // empty auth response
  std::string out;
  putLe(out, static_cast<uint32_t>(payload.size()), 3);
  out.push_back(1);                 // sequence id: answers the handshake
  out += payload;
  out += std::string("\x01\x00\x00\x00\x01", 5);  // COM_QUIT, a new command
  return out;
}

ProtocolVerdict mysqlHandshake(Bytes in, bool eof) {
  auto p = mysqlPacketAt(in, 0);
  if (!p) return incomplete(eof, "truncated MySQL handshake");
  if (p->length >= 1 && in[p->payloadAt] == 0xff) return mysqlError(in, *p);
  auto version = mysqlVersion(in, *p);
  if (!version) return ProtocolVerdict::fail("L7RSP", "not a MySQL handshake");
  return ProtocolVerdict::ok(*version);
}

ProtocolVerdict mysqlLoginReply(Bytes in, bool eof) {
  auto hello = mysqlPacketAt(in, 0);
  if (!hello) return incomplete(eof, "truncated MySQL handshake");
  auto p = mysqlPacketAt(in, hello->payloadAt + hello->length);
  if (!p) return incomplete(eof, "truncated MySQL answer");
  if (p->length >= 1 && in[p->payloadAt] == 0xff) return mysqlError(in, *p);
  return ProtocolVerdict::ok("");
}

std::string ldapBindRequest() {
  // SEQUENCE { messageID 1, [APPLICATION 0] BindRequest { version 3,
  // name "", authentication simple [0] "" } }
  return std::string("\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00", 14);
}

ProtocolVerdict ldapBindResponse(Bytes in, bool eof) {
  const ProtocolVerdict notLdap = ProtocolVerdict::fail("L7RSP", "Not LDAPv3 protocol");
  if (in.empty()) return incomplete(eof, "Not LDAPv3 protocol");
  if (in[0] != 0x30) return notLdap;
  BerItem message;
  switch (readBer(in, 0, in.size(), message)) {
    case BerRead::NeedMore:
      return incomplete(eof, "Not LDAPv3 protocol");
    case BerRead::Bad:
      return notLdap;
    case BerRead::Ok:
      break;
  }
  if (message.length > 65536) return notLdap;
  size_t end = message.contentAt + message.length;
  if (in.size() < end) return incomplete(eof, "Not LDAPv3 protocol");
  BerItem id;
  if (readBer(in, message.contentAt, end, id) != BerRead::Ok || id.tag != 0x02 || id.length != 1 ||
      id.contentAt + 1 > end || in[id.contentAt] != 1) {
    return notLdap;
  }
  BerItem op;
  if (readBer(in, id.contentAt + id.length, end, op) != BerRead::Ok || op.tag != 0x61) return notLdap;
  BerItem result;
  if (readBer(in, op.contentAt, end, result) != BerRead::Ok || result.tag != 0x0a || result.length != 1 ||
      result.contentAt + 1 > end) {
    return notLdap;
  }
  int code = in[result.contentAt];
  if (code != 0) {
    return ProtocolVerdict::fail("L7STS", "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9", code);
  }
  return ProtocolVerdict::ok("Success");
}

std::string spopHelloFrame() {
  std::string frame;
  frame.push_back(1);                                  // HAPROXY-HELLO
  frame += std::string("\x00\x00\x00\x01", 4);         // flags: FIN
  putVarint(frame, 0);                                 // stream-id
  putVarint(frame, 0);                                 // frame-id
  putString(frame, "supported-versions");
  frame.push_back(8);
  putString(frame, "2.0");
  putString(frame, "max-frame-size");
  frame.push_back(3);
  putVarint(frame, kSpopMaxFrameSize);
  putString(frame, "capabilities");
  frame.push_back(8);
  putString(frame, "");
  putString(frame, "healthcheck");
  frame.push_back(0x11);                               // BOOL, true
  std::string out;
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((frame.size() >> (8 * i)) & 0xff));
  return out + frame;
}

ProtocolVerdict spopAgentHello(Bytes in, bool eof) {
  auto invalid = [] { return ProtocolVerdict::fail("L7RSP", "invalid frame received"); };
  if (in.size() < 4) return incomplete(eof, "invalid frame received");
  uint32_t size = (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | in[3];
  if (size == 0) return invalid();
  // HAProxy 3.1 replaced its SPOE applet by a multiplexer, whose words for
  // the same faults differ.
  const bool mux = config::dialectAtLeast(3, 1);
  if (size > kSpopMaxFrameSize) {
    return ProtocolVerdict::fail("L7RSP", mux ? "max-frame-size too big or too small" : "frame is too big");
  }
  if (in.size() < 4 + size) return incomplete(eof, "invalid frame received");
  size_t at = 4;
  const size_t end = 4 + size;
  uint8_t type = in[at++];
  if (type != kSpopAgentHello && type != kSpopAgentDisconnect) return invalid();
  if (end - at < 4) return invalid();
  uint32_t flags = (uint32_t{in[at]} << 24) | (uint32_t{in[at + 1]} << 16) | (uint32_t{in[at + 2]} << 8) | in[at + 3];
  at += 4;
  if (!(flags & 1)) return mux ? invalid() : ProtocolVerdict::fail("L7RSP", "fragmentation not supported");
  uint64_t streamId = 0;
  uint64_t frameId = 0;
  if (!getVarint(in, at, end, streamId) || !getVarint(in, at, end, frameId) || streamId || frameId) {
    return invalid();
  }
  std::optional<std::string> version;
  std::optional<uint64_t> maxFrameSize;
  bool capabilities = false;
  std::optional<uint64_t> statusCode;
  std::string message;
  while (at < end) {
    uint64_t nameLen = 0;
    if (!getVarint(in, at, end, nameLen) || nameLen > end - at) return invalid();
    std::string name(reinterpret_cast<const char*>(in.data()) + at, nameLen);
    at += nameLen;
    SpopValue value;
    if (!getTyped(in, at, end, value)) return invalid();
    bool isString = value.type == 8;
    bool isInteger = value.type >= 2 && value.type <= 5;
    if (name == "version" && isString) version = value.text;
    if (name == "max-frame-size" && isInteger) maxFrameSize = value.integer;
    if (name == "capabilities" && isString) capabilities = true;
    if (name == "status-code" && isInteger) statusCode = value.integer;
    if (name == "message" && isString) message = value.text;
  }
  if (type == kSpopAgentDisconnect) {
    if (message.empty()) message = "the agent disconnected";
    return ProtocolVerdict::fail("L7STS", message, static_cast<int>(statusCode.value_or(0)));
  }
  if (!version) return ProtocolVerdict::fail("L7RSP", "version value not found");
  bool supported = false;
  for (std::string_view v : core::split(*version, ',')) {
    v = trimSpaces(v);
    if (v == "2.0" || v.starts_with("2.")) supported = true;
  }
  if (!supported) return ProtocolVerdict::fail("L7RSP", "unsupported version");
  if (!maxFrameSize) return ProtocolVerdict::fail("L7RSP", "max-frame-size value not found");
  if (*maxFrameSize < 256 || *maxFrameSize > kSpopMaxFrameSize) {
    return ProtocolVerdict::fail("L7RSP", "max-frame-size too big or too small");
  }
  if (!capabilities) return ProtocolVerdict::fail("L7RSP", "capabilities value not found");
  return ProtocolVerdict::ok("SPOA server is ok");
}

std::optional<AgentReply> parseAgentReply(std::string_view in, bool eof) {
  size_t eol = in.find('\n');
  if (eol == std::string_view::npos && !eof && in.size() < 1024) return std::nullopt;
  std::string_view line = in.substr(0, eol == std::string_view::npos ? std::min<size_t>(in.size(), 1024) : eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  AgentReply r;
  size_t hash = line.find('#');
  if (hash != std::string_view::npos) {
    r.description = std::string(trimSpaces(line.substr(hash + 1)));
    line = line.substr(0, hash);
  }
  size_t i = 0;
  while (i < line.size()) {
    size_t j = line.find_first_of(" \t,", i);
    if (j == std::string_view::npos) j = line.size();
    std::string word(line.substr(i, j - i));
    i = j + 1;
    if (word.empty()) continue;
    for (char& c : word) c = core::asciiLower(c);
    if (word.back() == '%') {
      auto v = core::parseUnsigned(word.substr(0, word.size() - 1));
      if (v) {
        r.weightPercent = static_cast<uint32_t>(std::min<uint64_t>(*v, 100000));
        continue;
      }
    } else if (word.starts_with("maxconn:")) {
      auto v = core::parseUnsigned(word.substr(8));
      if (v) {
        r.maxconn = static_cast<uint32_t>(std::min<uint64_t>(*v, 1000000000));
        continue;
      }
    } else if (word == "up") {
      r.health = AgentReply::Health::Up;
      continue;
    } else if (word == "down") {
      r.health = AgentReply::Health::Down;
      continue;
    } else if (word == "stopped") {
      r.health = AgentReply::Health::Stopped;
      continue;
    } else if (word == "fail") {
      r.health = AgentReply::Health::Fail;
      continue;
    } else if (word == "ready") {
      r.admin = AgentReply::Admin::Ready;
      continue;
    } else if (word == "drain") {
      r.admin = AgentReply::Admin::Drain;
      continue;
    } else if (word == "maint") {
      r.admin = AgentReply::Admin::Maint;
      continue;
    }
    r.unknown.push_back(word);
  }
  return r;
}

}  // namespace sluice::health
