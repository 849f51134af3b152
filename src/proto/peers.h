// SPDX-License-Identifier: Apache-2.0
// HAProxy's "peers" protocol (version 2.1, as HAProxy 2.6 speaks it), the
// wire format only: pure functions over bytes, no I/O. The facts come from
// HAProxy's management guide and docs/peers-v2.0.txt: a text handshake
// ("HAProxyS 2.1", the peer names, a status code), then binary messages
// (class, type, and for types >= 128 a varint length and data) carrying
// stick-table definitions, entry updates, acknowledgements, resync control
// and heartbeats. Numbers use HAProxy's own varint (1 byte below 240, then
// 4 + 7 + 7 ... bits).
//
//   peers::Message m;
//   size_t used = 0;
//   switch (peers::parseMessage(buffered, m, used)) { ... }
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::proto::peers {

enum class Status : uint8_t { NeedMore, Done, Error };

// -- numbers ------------------------------------------------------------------
void putVarint(std::string& out, uint64_t v);
// Reads one varint at `pos`, moving it past; false when the bytes end first
// or the number runs past 64 bits.
bool getVarint(std::span<const uint8_t> bytes, size_t& pos, uint64_t& v);

// -- handshake ------------------------------------------------------------------
inline constexpr std::string_view kProtocol = "HAProxyS";
inline constexpr int kMajor = 2, kMinor = 1;

// Status codes of the handshake's answer.
enum Code : int {
  kSucceeded = 200,
  kTryAgain = 300,
  kProtocolError = 501,
  kBadVersion = 502,
  kLocalNameMismatch = 503,   // the name the connecting peer thinks we have is not ours
  kRemoteNameMismatch = 504,  // the connecting peer is not one we know
};

struct Hello {
  std::string protocol;
  int major = 0, minor = 0;
  std::string remotePeer;  // the name the sender gives the receiver
  std::string localPeer;   // the sender's own name
  uint64_t pid = 0;
  uint64_t relativePid = 0;
};

// "<protocol> <major>.<minor>\n<remote peer>\n<local peer> <pid> <relative pid>\n"
std::string encodeHello(std::string_view remotePeer, std::string_view localPeer, uint64_t pid);
Status parseHello(std::string_view buffered, Hello& out, size_t& consumed);
std::string encodeStatus(int code);
Status parseStatus(std::string_view buffered, int& code, size_t& consumed);

// -- messages -------------------------------------------------------------------
enum Class : uint8_t { kControl = 0, kError = 1, kStickTable = 10 };
enum ControlType : uint8_t { kResyncRequest = 0, kResyncFinished = 1, kResyncPartial = 2, kResyncConfirm = 3, kHeartbeat = 4 };
enum ErrorType : uint8_t { kErrProtocol = 0, kErrSizeLimit = 1 };
enum TableType : uint8_t {
  kUpdate = 0x80, kIncrementalUpdate = 0x81, kDefine = 0x82, kSwitch = 0x83, kAck = 0x84,
  kUpdateTimed = 0x85, kIncrementalUpdateTimed = 0x86,
};

struct Message {
  uint8_t cls = 0;
  uint8_t type = 0;
  std::span<const uint8_t> data;  // into the parsed buffer
};
// One message at the start of `buffered`; Error when its length is over `maxLength`.
Status parseMessage(std::span<const uint8_t> buffered, Message& out, size_t& consumed, size_t maxLength = 65536);
std::string encodeMessage(uint8_t cls, uint8_t type, std::string_view data = {});

// -- stick tables -----------------------------------------------------------------
// Key types on the wire.
enum KeyType : uint8_t { kKeySint = 2, kKeyIpv4 = 4, kKeyIpv6 = 5, kKeyString = 6, kKeyBinary = 7 };

// Stored data types, numbered as HAProxy numbers them (glitch_cnt and
// glitch_rate since 3.0).
enum DataType : uint8_t {
  kServerId = 0, kGpt0, kGpc0, kGpc0Rate, kConnCnt, kConnRate, kConnCur, kSessCnt, kSessRate,
  kHttpReqCnt, kHttpReqRate, kHttpErrCnt, kHttpErrRate, kBytesInCnt, kBytesInRate, kBytesOutCnt,
  kBytesOutRate, kGpc1, kGpc1Rate, kServerKey, kHttpFailCnt, kHttpFailRate, kGpt, kGpc, kGpcRate,
  kGlitchCnt, kGlitchRate,
  kDataTypes
};
enum class Storage : uint8_t { Int, Rate, Dict };
Storage storageOf(uint8_t type);
bool isArray(uint8_t type);
std::string_view dataTypeName(uint8_t type);  // "gpc0", "conn_rate", ...
// Data types whose values only the peer that holds the connections knows
// (conn_cur): sent, but never applied from a peer.
bool isLocalOnly(uint8_t type);

struct TableDef {
  uint64_t id = 0;            // the sender's number for the table (switch, ack)
  std::string name;           // the table's name, the same on every peer
  uint64_t keyType = 0;
  uint64_t keyLength = 0;     // 4 (IPv4, integer), 16 (IPv6), string length + 1, binary length
  uint64_t dataTypes = 0;     // bit per DataType
  uint64_t expireMs = 0;
  // Per data type with parameters: a rate's period (ms); an array's element
  // count (and period, for rates).
  std::map<uint8_t, std::vector<uint64_t>> params;
  bool has(uint8_t type) const { return type < 64 && (dataTypes >> type) & 1; }
  size_t elements(uint8_t type) const;
};
std::string encodeDefine(const TableDef& def);
bool parseDefine(std::span<const uint8_t> data, TableDef& out);

// A rate as HAProxy sends it: the age of its current period, and the
// counts of the current and the previous period.
struct Rate {
  uint64_t ageMs = 0;
  uint64_t current = 0;
  uint64_t previous = 0;
  bool operator==(const Rate&) const = default;
};

struct Value {
  uint8_t type = 0;
  std::vector<uint64_t> ints;     // Int storage: one, or one per array element
  std::vector<Rate> rates;        // Rate storage: likewise
  std::optional<uint64_t> dictId; // Dict storage (server_key): the cache id ...
  std::string dictValue;          // ... and the value when sent with it
};

struct Update {
  std::optional<uint32_t> id;        // absent in incremental updates: the previous one's + 1
  std::optional<uint32_t> expireMs;  // timed updates: the entry's remaining life
  std::string key;                   // as on the wire: 4 or 16 bytes, the string, the binary key
  std::vector<Value> values;         // in data type order, for the types the definition has
};
// Encoded per `def`: its key type and data types, all present in `u`.
std::string encodeUpdate(const TableDef& def, const Update& u);
bool parseUpdate(std::span<const uint8_t> data, const TableDef& def, bool withId, bool timed, Update& out);

std::string encodeAck(uint64_t tableId, uint32_t updateId);
bool parseAck(std::span<const uint8_t> data, uint64_t& tableId, uint32_t& updateId);
std::string encodeSwitch(uint64_t tableId);

}  // namespace sluice::proto::peers
