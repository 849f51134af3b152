// SPDX-License-Identifier: Apache-2.0
// The protocol health checks' judges over real protocol bytes: MySQL,
// LDAP, SPOP answers whole, cut anywhere, and wrong; agent-check lines.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "config/dialect.h"
#include "health/checker.h"
#include "health/protocols.h"

namespace sluice::health {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  std::string digits;
  for (char c : hex) {
    if (c != ' ') digits.push_back(c);
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

using State = ProtocolVerdict::State;

// MySQL 8.0.19's Initial Handshake (protocol 10).
const std::string kMysqlHello = unhex(
    "4A0000000A382E302E3139000A0000006F3C025E6249410D00FFFFFF0200FFC715000000000000000000007C18215910"
    "6E2761144322200063616368696E675F736861325F70617373776F726400");

TEST(MysqlCheck, HandshakeGivesTheVersionAndWaitsForAWholePacket) {
  ProtocolVerdict v = mysqlHandshake(bytes(kMysqlHello), false);
  EXPECT_EQ(v.state, State::Ok);
  EXPECT_EQ(v.info, "8.0.19");
  for (size_t cut = 0; cut < kMysqlHello.size(); ++cut) {
    std::string part = kMysqlHello.substr(0, cut);
    EXPECT_EQ(mysqlHandshake(bytes(part), false).state, State::NeedMore) << cut;
    ProtocolVerdict closed = mysqlHandshake(bytes(part), true);
    EXPECT_EQ(closed.state, State::Fail) << cut;
    EXPECT_EQ(closed.status, "L7RSP");
  }
}

TEST(MysqlCheck, ErrorPacketIsWrongStatusWithCodeAndMessage) {
  // ER_NOT_SUPPORTED_AUTH_MODE (1251), without and with the 4.1 SQL state.
  std::string text = "Client does not support authentication protocol";
  std::string payload = std::string("\xff\xe3\x04", 3) + text;
  std::string packet = std::string(1, static_cast<char>(payload.size())) + std::string("\0\0\2", 3) + payload;
  ProtocolVerdict v = mysqlHandshake(bytes(packet), false);
  EXPECT_EQ(v.state, State::Fail);
  EXPECT_EQ(v.status, "L7STS");
  EXPECT_EQ(v.code, 1251);
  EXPECT_EQ(v.info, text);
  std::string payload41 = std::string("\xff\xe3\x04#08004", 9) + text;
  std::string packet41 = std::string(1, static_cast<char>(payload41.size())) + std::string("\0\0\2", 3) + payload41;
  ProtocolVerdict v41 = mysqlLoginReply(bytes(kMysqlHello + packet41), false);
  EXPECT_EQ(v41.code, 1251);
  EXPECT_EQ(v41.info, text);
}

TEST(MysqlCheck, LoginReplyFollowsTheHandshake) {
  std::string ok = unhex("03000002000000");
  EXPECT_EQ(mysqlLoginReply(bytes(kMysqlHello + ok), false).state, State::Ok);
  EXPECT_EQ(mysqlLoginReply(bytes(kMysqlHello + ok.substr(0, 5)), false).state, State::NeedMore);
  EXPECT_EQ(mysqlLoginReply(bytes(kMysqlHello), true).state, State::Fail);
}

TEST(MysqlCheck, NotMysqlIsInvalid) {
  std::string http = "HTTP/1.1 400 Bad Request\r\n\r\n";
  // "HTT" read as a length never completes; at the close it is invalid.
  EXPECT_EQ(mysqlHandshake(bytes(http), true).status, "L7RSP");
  std::string wrongProtocol = unhex("0500000007332E3000");
  EXPECT_EQ(mysqlHandshake(bytes(wrongProtocol), false).status, "L7RSP");
}

TEST(MysqlCheck, LoginPacketsAreThoseOfHaproxy) {
  // The bytes HAProxy's own test accepts for "user user" pre-4.1 and 4.1.
  EXPECT_EQ(mysqlLoginPackets("user", false), unhex("0B00000100800000017573657200000100000001"));
  EXPECT_EQ(mysqlLoginPackets("user", true),
            unhex("2600000100820000008000012100000000000000000000000000000000000000000000007573657200000100000001"));
}

TEST(LdapCheck, BindResponses) {
  EXPECT_EQ(ldapBindRequest(), unhex("300C020101600702010304008000"));
  ProtocolVerdict ok = ldapBindResponse(bytes(unhex("300C020101 61 070A01 00 04000400")), false);
  EXPECT_EQ(ok.state, State::Ok);
  EXPECT_EQ(ok.info, "Success");
  ProtocolVerdict refused = ldapBindResponse(bytes(unhex("300C020101 61 070A01 31 04000400")), false);
  EXPECT_EQ(refused.status, "L7STS");
  EXPECT_EQ(refused.code, 0x31);  // invalidCredentials
  EXPECT_EQ(ldapBindResponse(bytes(unhex("300C020101 60 070A01 00 04000400")), false).info, "Not LDAPv3 protocol");
  EXPECT_EQ(ldapBindResponse(bytes("HTTP/1.0 200"), false).status, "L7RSP");
}

TEST(LdapCheck, LongFormLengthsCutAnywhere) {
  std::string whole = unhex("308400000010020101 61 84000000070A01 00 04000400");
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    EXPECT_EQ(ldapBindResponse(bytes(whole.substr(0, cut)), false).state, State::NeedMore) << cut;
  }
  EXPECT_EQ(ldapBindResponse(bytes(whole), false).state, State::Ok);
  // A length beyond what LDAP allows in BER (more than 4 length bytes).
  EXPECT_EQ(ldapBindResponse(bytes(unhex("3085000000001002")), false).status, "L7RSP");
}

TEST(SpopCheck, HelloFrameAnnouncesVersion2AndHealthcheck) {
  std::string f = spopHelloFrame();
  ASSERT_EQ(f.size(), 82u);  // what HAProxy's spop test reads
  EXPECT_EQ(f.substr(0, 4), unhex("0000004E"));
  EXPECT_EQ(f[4], 1);  // HAPROXY-HELLO
  EXPECT_NE(f.find("supported-versions"), std::string::npos);
  EXPECT_NE(f.find(std::string("healthcheck\x11", 12)), std::string::npos);
}

TEST(SpopCheck, AgentHelloAnswers) {
  std::string good = unhex(
      "00000036 65 00000001 0000 0776657273696F6E 0803322E30 0E6D61782D6672616D652D73697A65 03FCF006 "
      "0C6361706162696C6974696573 0800");
  ProtocolVerdict ok = spopAgentHello(bytes(good), false);
  EXPECT_EQ(ok.state, State::Ok) << ok.info;
  EXPECT_EQ(ok.info, "SPOA server is ok");
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_EQ(spopAgentHello(bytes(good.substr(0, cut)), false).state, State::NeedMore) << cut;
  }
  EXPECT_EQ(spopAgentHello(bytes(unhex("00000000")), false).info, "invalid frame received");
  // HAProxy 3.1's multiplexer calls a HELLO without FIN an invalid frame; 2.6 said fragmentation.
  EXPECT_EQ(spopAgentHello(bytes(unhex("00000007 65 00000000 0000")), false).info, "invalid frame received");
  EXPECT_EQ(spopAgentHello(bytes(unhex("00000014 65 00000001 0000 0776657273696F6E 0803312E30")), false).info,
            "unsupported version");
  // A version but no max-frame-size.
  EXPECT_EQ(spopAgentHello(bytes(unhex("00000014 65 00000001 0000 0776657273696F6E 0803322E30")), false).info,
            "max-frame-size value not found");
  // AGENT-DISCONNECT with its message.
  std::string bye = unhex("00000020 67 00000001 0000 0B7374617475732D636F6465 0301 076D657373616765 0807") + "go away";
  bye[3] = static_cast<char>(bye.size() - 4);
  ProtocolVerdict d = spopAgentHello(bytes(bye), false);
  EXPECT_EQ(d.status, "L7STS");
  EXPECT_EQ(d.code, 1);
  EXPECT_EQ(d.info, "go away");
  EXPECT_EQ(spopAgentHello(bytes(unhex("FFFFFFFF")), false).info, "max-frame-size too big or too small");
  config::setDialect({2, 6});
  EXPECT_EQ(spopAgentHello(bytes(unhex("00000007 65 00000000 0000")), false).info, "fragmentation not supported");
  EXPECT_EQ(spopAgentHello(bytes(unhex("FFFFFFFF")), false).info, "frame is too big");
  config::setDialect(config::kDefaultDialect);
}

// Socket errors in a check's info: HAProxy 3.1 names the errno first.
TEST(CheckInfo, SocketErrorsInTheDialectsWords) {
  EXPECT_EQ(socketErrorText(ECONNREFUSED), "ECONNREFUSED returned by OS (Connection refused)");
  EXPECT_EQ(socketErrorText(EHOSTUNREACH), "ENETUNREACH returned by OS (No route to host)");
  EXPECT_EQ(socketErrorText(ETIMEDOUT), "Connection timed out");
  config::setDialect({2, 6});
  EXPECT_EQ(socketErrorText(ECONNREFUSED), "Connection refused");
  config::setDialect(config::kDefaultDialect);
}

TEST(AgentCheck, RepliesAsTheManualDescribes) {
  EXPECT_FALSE(parseAgentReply("75%", false));  // no end of line yet
  auto r = parseAgentReply("75%,maxconn:30,maint,down\n", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->weightPercent, 75u);
  EXPECT_EQ(r->maxconn, 30u);
  EXPECT_EQ(r->admin, AgentReply::Admin::Maint);
  EXPECT_EQ(r->health, AgentReply::Health::Down);
  auto s = parseAgentReply("UP ready\t100% # back from lunch\r\n", false);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->health, AgentReply::Health::Up);
  EXPECT_EQ(s->admin, AgentReply::Admin::Ready);
  EXPECT_EQ(s->weightPercent, 100u);
  EXPECT_EQ(s->description, "back from lunch");
  auto t = parseAgentReply("drain stopped bogus", true);  // ended by the close
  ASSERT_TRUE(t);
  EXPECT_EQ(t->admin, AgentReply::Admin::Drain);
  EXPECT_EQ(t->health, AgentReply::Health::Stopped);
  ASSERT_EQ(t->unknown.size(), 1u);
  EXPECT_EQ(t->unknown[0], "bogus");
}

}  // namespace
}  // namespace sluice::health
