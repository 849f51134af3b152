// SPDX-License-Identifier: Apache-2.0
// The refusal record of "tls-alert": alert codes as RFC 8446 section 6
// numbers them, the record's bytes, and the version a client is answered in.
#include <gtest/gtest.h>

#include <array>

#include "hello_builder.h"
#include "proto/client_hello.h"
#include "proto/tls_alert.h"

namespace sluice::proto {
namespace {

TEST(TlsAlert, NamesAndCodesFollowTheRfc) {
  EXPECT_EQ(tlsAlertCode("unrecognized_name"), 112);
  EXPECT_EQ(tlsAlertCode("handshake_failure"), 40);
  EXPECT_EQ(tlsAlertCode("access_denied"), 49);
  EXPECT_EQ(tlsAlertCode("protocol_version"), 70);
  EXPECT_EQ(tlsAlertCode("no_application_protocol"), 120);
  EXPECT_EQ(tlsAlertCode("internal_error"), 80);
  // Not errors, so not a way to refuse.
  EXPECT_FALSE(tlsAlertCode("close_notify"));
  EXPECT_FALSE(tlsAlertCode("user_canceled"));
  EXPECT_FALSE(tlsAlertCode("Unrecognized_Name"));
  EXPECT_EQ(tlsAlertName(112), "unrecognized_name");
  EXPECT_EQ(tlsAlertName(0), "");
  for (std::string_view n : tlsAlertNames()) EXPECT_EQ(tlsAlertName(*tlsAlertCode(n)), n);
}

TEST(TlsAlert, RecordIsOneFatalAlert) {
  EXPECT_EQ(tlsAlertRecord(0x0303, 112), (std::array<uint8_t, 7>{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70}));
  EXPECT_EQ(tlsAlertRecord(0x0301, 40), (std::array<uint8_t, 7>{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28}));
}

// The version the client offered in its hello, never above TLS 1.2's 0x0303
// (a TLS 1.3 client offers 0x0303 and lists 0x0304 in supported_versions).
TEST(TlsAlert, AnswersInTheVersionTheClientOffered) {
  auto versionFor = [](uint16_t recordVersion, uint16_t legacyVersion) {
    testing::HelloSpec spec;
    spec.recordVersion = recordVersion;
    spec.legacyVersion = legacyVersion;
    spec.sni = "example.com";
    testing::Bytes bytes = testing::buildHello(spec);
    ClientHelloParser parser;
    EXPECT_EQ(parser.parse(bytes), HelloStatus::Done);
    return alertRecordVersion(&parser.info(), bytes);
  };
  EXPECT_EQ(versionFor(0x0301, 0x0303), 0x0303);  // TLS 1.2 and 1.3 clients
  EXPECT_EQ(versionFor(0x0301, 0x0302), 0x0302);  // TLS 1.1
  EXPECT_EQ(versionFor(0x0301, 0x0301), 0x0301);  // TLS 1.0
  EXPECT_EQ(versionFor(0x0300, 0x0300), 0x0300);  // SSL 3.0
  EXPECT_EQ(versionFor(0x0301, 0x0304), 0x0303);  // a client that breaks the rule still gets 0x0303

  // No parsed hello: the first record's version, if the bytes are TLS.
  const uint8_t partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  EXPECT_EQ(alertRecordVersion(nullptr, partial), 0x0301);
  const uint8_t http[] = {'G', 'E', 'T', ' ', '/'};
  EXPECT_EQ(alertRecordVersion(nullptr, http), 0);
  EXPECT_EQ(alertRecordVersion(nullptr, {}), 0);
}

}  // namespace
}  // namespace sluice::proto
