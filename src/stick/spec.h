// SPDX-License-Identifier: Apache-2.0
// What a "stick-table" line declares: the key type, the size, the expiry and
// the data stored per entry. Plain data, so that the configuration model can
// hold it without the table's machinery (stick/table.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::stick {

enum class KeyType : uint8_t { Ip, Ipv6, Integer, String, Binary };

// Stored data types, in the order HAProxy lists them in "show table".
enum class DataType : uint8_t {
  ServerId,
  Gpt0,
  Gpc0,
  Gpc0Rate,
  ConnCnt,
  ConnRate,
  ConnCur,
  SessCnt,
  SessRate,
  HttpReqCnt,
  HttpReqRate,
  HttpErrCnt,
  HttpErrRate,
  BytesInCnt,
  BytesInRate,
  BytesOutCnt,
  BytesOutRate,
  Gpc1,
  Gpc1Rate,
  HttpFailCnt,
  HttpFailRate,
  GlitchCnt,   // HAProxy 3.0: protocol glitches; none in TCP, kept as peers send them
  GlitchRate,
  Count
};
inline constexpr size_t kDataTypes = static_cast<size_t>(DataType::Count);

std::string_view dataTypeName(DataType t);
std::optional<DataType> dataTypeByName(std::string_view name);
bool isRate(DataType t);

// What "stick-table" declares.
struct TableSpec {
  std::string name;              // the proxy that declares it
  KeyType keyType = KeyType::Ip;
  uint32_t keyLength = 32;       // string and binary keys
  uint64_t size = 0;             // entries
  uint32_t expireMs = 0;         // 0: never (only pushed out when full)
  bool noPurge = false;
  std::string peers;             // "peers <section>": shared over the peers protocol
  // Stored data types; for rates, the period in ms.
  std::array<bool, kDataTypes> stored{};
  std::array<uint32_t, kDataTypes> period{};

  bool stores(DataType t) const { return stored[static_cast<size_t>(t)]; }
  // The same declaration: a reload keeps the table and its entries.
  bool operator==(const TableSpec&) const = default;
};

std::string_view keyTypeName(KeyType t);

}  // namespace sluice::stick
