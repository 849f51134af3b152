// SPDX-License-Identifier: Apache-2.0
// TLS alert names and the refusal record; see tls_alert.h.
#include "proto/tls_alert.h"

#include <algorithm>

namespace sluice::proto {
namespace {

struct Alert {
  std::string_view name;
  uint8_t code;
};

// RFC 8446 section 6 and RFC 5246 section 7.2, without close_notify (0) and
// user_canceled (90), and without the ones only the record layer or a client
// can mean (bad_record_mac, decryption_failed, record_overflow, the
// certificate complaints a client makes of a server).
constexpr Alert kAlerts[] = {
    {"unexpected_message", 10},      {"handshake_failure", 40},
    {"illegal_parameter", 47},       {"access_denied", 49},
    {"decode_error", 50},            {"protocol_version", 70},
    {"insufficient_security", 71},   {"internal_error", 80},
    {"inappropriate_fallback", 86},  {"missing_extension", 109},
    {"unsupported_extension", 110},  {"unrecognized_name", 112},
    {"unknown_psk_identity", 115},   {"certificate_required", 116},
    {"no_application_protocol", 120},
};

}  // namespace

std::optional<uint8_t> tlsAlertCode(std::string_view name) {
  for (const Alert& a : kAlerts) {
    if (a.name == name) return a.code;
  }
  return std::nullopt;
}

std::string_view tlsAlertName(uint8_t code) {
  for (const Alert& a : kAlerts) {
    if (a.code == code) return a.name;
  }
  return {};
}

std::vector<std::string_view> tlsAlertNames() {
  std::vector<std::string_view> out;
  for (const Alert& a : kAlerts) out.push_back(a.name);
  return out;
}

uint16_t alertRecordVersion(const ClientHelloInfo* hello, std::span<const uint8_t> buffered) {
  uint16_t offered = 0;
  if (hello) {
    // An SSLv2-compatible hello offering SSL 3.0 or TLS is answered in TLS
    // records too, as servers answer it with a TLS ServerHello.
    offered = hello->legacyVersion;
  } else if (buffered.size() >= 3 && buffered[0] == 0x16 && buffered[1] == 0x03) {
    offered = static_cast<uint16_t>(buffered[1] << 8 | buffered[2]);
  }
  if (offered >> 8 != 0x03) return 0;
  return std::min<uint16_t>(offered, 0x0303);
}

std::array<uint8_t, 7> tlsAlertRecord(uint16_t version, uint8_t code) {
  return {21, static_cast<uint8_t>(version >> 8), static_cast<uint8_t>(version & 0xff), 0, 2, 2, code};
}

}  // namespace sluice::proto
