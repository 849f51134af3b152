// SPDX-License-Identifier: Apache-2.0
// TLS alerts for a polite refusal: the alert names of RFC 8446 section 6
// (and the older ones RFC 5246 still lists), and the one record that tells a
// client "no" in its own TLS language, so that its TLS stack reports the
// reason (curl: "tlsv1 unrecognized name") instead of a reset connection.
//
//   auto code = proto::tlsAlertCode("unrecognized_name");   // 112
//   auto rec = proto::tlsAlertRecord(proto::alertRecordVersion(info), *code);
//   send(fd, rec.data(), rec.size(), 0);
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "proto/client_hello.h"

namespace sluice::proto {

// The code of an alert name ("unrecognized_name"), or nullopt. Only alerts a
// server may send to refuse a handshake are named: not close_notify or
// user_canceled, which are not errors.
std::optional<uint8_t> tlsAlertCode(std::string_view name);
// The name of a code, or "" when it has none here.
std::string_view tlsAlertName(uint8_t code);
// Every name tlsAlertCode() knows, for "did you mean" and the documentation.
std::vector<std::string_view> tlsAlertNames();

// The record version to answer a client with: what it offered as its
// ClientHello's legacy_version (0x0300 SSL 3.0 ... 0x0303 TLS 1.2; TLS 1.3
// clients offer 0x0303, and RFC 8446 5.1 wants 0x0303 in every record but a
// first ClientHello), at most 0x0303. Without a parsed hello, the version of the first
// record's header when `buffered` starts with a TLS handshake record; 0 when
// the client has not spoken TLS (then no alert can be understood).
uint16_t alertRecordVersion(const ClientHelloInfo* hello, std::span<const uint8_t> buffered);

// A fatal alert in one plaintext record: type 21, version, length 2, level 2,
// the code.
std::array<uint8_t, 7> tlsAlertRecord(uint16_t version, uint8_t code);

}  // namespace sluice::proto
