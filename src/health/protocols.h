// SPDX-License-Identifier: Apache-2.0
// The answers of the protocol health checks that a pattern cannot judge:
// MySQL's handshake and authentication packets, LDAP's bindResponse, SPOP's
// AGENT-HELLO frame, and the line an agent-check agent sends. Pure
// functions over the bytes received so far: each says "need more", or gives
// the check's verdict in HAProxy's words (status code, info, L7 code).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::health {

struct ProtocolVerdict {
  enum class State { NeedMore, Ok, Fail };
  State state = State::NeedMore;
  std::string status;  // on failure: L7RSP (not the protocol) or L7STS (the server said no)
  int code = 0;        // the protocol's own error code, 0 when none
  std::string info;

  static ProtocolVerdict needMore() { return {}; }
  static ProtocolVerdict ok(std::string info) { return {State::Ok, "L7OK", 0, std::move(info)}; }
  static ProtocolVerdict fail(std::string status, std::string info, int code = 0) {
    return {State::Fail, std::move(status), code, std::move(info)};
  }
};

// The MySQL client packets of "option mysql-check user U [post-41|pre-41]":
// an authentication request without password, then COM_QUIT.
std::string mysqlLoginPackets(std::string_view user, bool post41);

// The server's first packet (Initial Handshake or an error packet). On
// success the info is the server's version string.
ProtocolVerdict mysqlHandshake(std::span<const uint8_t> in, bool eof);
// The packet after the handshake (both are in `in`): OK, or an error packet
// (L7STS with its code and message). On success the info is empty (the
// handshake gave the version).
ProtocolVerdict mysqlLoginReply(std::span<const uint8_t> in, bool eof);

// LDAPv3 anonymous simple bind (message id 1), as "option ldap-check" sends.
std::string ldapBindRequest();
// The bindResponse: resultCode 0 passes, any other is L7STS with the code.
ProtocolVerdict ldapBindResponse(std::span<const uint8_t> in, bool eof);

// SPOP: a HAPROXY-HELLO frame announcing version 2.0 with "healthcheck".
std::string spopHelloFrame();
// The AGENT-HELLO (or AGENT-DISCONNECT) frame that answers it.
ProtocolVerdict spopAgentHello(std::span<const uint8_t> in, bool eof);

// One line of an agent-check agent ("75%, maxconn:30 drain # text").
struct AgentReply {
  std::optional<uint32_t> weightPercent;  // "75%"
  std::optional<uint32_t> maxconn;        // "maxconn:30"
  enum class Admin { None, Ready, Drain, Maint } admin = Admin::None;
  enum class Health { None, Up, Down, Stopped, Fail } health = Health::None;
  std::string description;                // after '#'
  std::vector<std::string> unknown;       // words it did not understand
};
// Null when `line` holds no complete line and `eof` is false.
std::optional<AgentReply> parseAgentReply(std::string_view in, bool eof);

}  // namespace sluice::health
