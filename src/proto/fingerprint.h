// SPDX-License-Identifier: Apache-2.0
// TLS client fingerprints computed from a ClientHello that sluice forwards
// without terminating: JA3 (Salesforce, 2017) and JA4 (FoxIO's JA4
// specification, technical_details/JA4.md), with GREASE values ignored as
// both specifications say. Pure functions over ClientHelloInfo.
//
//   proto::ja4(info, proto::Ja4Form::Hashed)   // "t13d1516h2_8daaf6152771_e5627efa2ab1"
//   proto::ja3Hash(info)                       // md5 of ja3String(info), hex
#pragma once

#include <string>

#include "proto/client_hello.h"

namespace sluice::proto {

enum class Ja4Form : uint8_t {
  Hashed,          // JA4: sorted lists, truncated SHA-256 (the fingerprint)
  Raw,             // JA4_r: sorted lists in clear
  HashedOriginal,  // JA4_o: the client's order, SNI and ALPN kept, hashed
  RawOriginal,     // JA4_ro: the client's order in clear
};

// Empty for an SSLv2-compatible hello, which has none of the fields.
std::string ja4(const ClientHelloInfo& hello, Ja4Form form);
// "771,4865-4866,0-11-10,29-23,0": version, ciphers, extensions, groups, point formats.
std::string ja3String(const ClientHelloInfo& hello);
// The JA3 fingerprint: MD5 of ja3String(), 32 lowercase hex digits.
std::string ja3Hash(const ClientHelloInfo& hello);

}  // namespace sluice::proto
