// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the parsers of first messages, in fetches, converters
// and health checks (FIX, MQTT, RDP cookies, MySQL, LDAP, SPOP, agent
// replies). The first byte picks the parser, the rest is its input.
// Invariants: no crash or overread; a verdict reached on some bytes is
// not "need more" on those bytes plus more (nothing is undone by data
// that comes later), and every judge is deterministic.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "health/protocols.h"
#include "proto/fix.h"
#include "proto/mqtt.h"
#include "proto/rdp.h"

using namespace sluice;

namespace {

template <typename F>
void monotone(std::span<const uint8_t> in, F judge) {
  // A verdict on a prefix holds for the whole input: parsers must not
  // decide before their message is complete.
  for (size_t cut : {in.size() / 3, in.size() / 2, in.size()}) {
    if (judge(in.first(cut)) != proto::Completeness::NeedMore && judge(in) == proto::Completeness::NeedMore) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::span<const uint8_t> in(data + 1, size - 1);
  std::string text(reinterpret_cast<const char*>(in.data()), in.size());
  bool more = false;
  switch (data[0] % 8) {
    case 0:
      monotone(in, [](std::span<const uint8_t> b) { return proto::fixValidate(b); });
      (void)proto::fixTagValue(in, "35", more);
      (void)proto::fixTagValue(in, "CheckSum", more);
      break;
    case 1:
      monotone(in, [](std::span<const uint8_t> b) { return proto::mqttValidate(b); });
      for (const char* f : {"client_identifier", "username", "password", "17", "39", "will_payload"}) {
        (void)proto::mqttFieldValue(in, 1, f, more);
        (void)proto::mqttFieldValue(in, 2, f, more);
      }
      break;
    case 2: {
      std::optional<proto::RdpCookie> c;
      monotone(in, [&](std::span<const uint8_t> b) { return proto::rdpCookie(b, c); });
      if (proto::rdpCookie(in, c) == proto::Completeness::Valid && c) (void)proto::decodeRdpRoutingToken(c->value);
      (void)proto::decodeRdpRoutingToken(text);
      break;
    }
    case 3:
      (void)health::mysqlHandshake(in, false);
      (void)health::mysqlHandshake(in, true);
      (void)health::mysqlLoginReply(in, true);
      break;
    case 4:
      (void)health::ldapBindResponse(in, false);
      (void)health::ldapBindResponse(in, true);
      break;
    case 5:
      (void)health::spopAgentHello(in, false);
      (void)health::spopAgentHello(in, true);
      break;
    case 6:
      (void)health::parseAgentReply(text, false);
      (void)health::parseAgentReply(text, true);
      break;
    default: {
      // Protocol judges answer the same twice.
      health::ProtocolVerdict a = health::spopAgentHello(in, true);
      health::ProtocolVerdict b = health::spopAgentHello(in, true);
      if (a.state != b.state || a.info != b.info) abort();
      break;
    }
  }
  return 0;
}
