// SPDX-License-Identifier: Apache-2.0
// Unit tests of log lines: HAProxy's TCP format field by field, the accept
// date, custom log-format rendering, and syslog headers per format.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include "observe/log_sink.h"
#include "observe/tcplog.h"

namespace sluice::observe {
namespace {

LogRecord sample() {
  LogRecord r;
  r.client = *core::Address::parse("10.0.1.2:33313");
  r.frontendAddress = *core::Address::parse("10.0.3.31:443");
  r.acceptWallMicros = 1233922371443000;  // 06/Feb/2009:12:12:51.443 UTC
  r.frontend = "fnt";
  r.backend = "bck";
  r.server = "srv1";
  r.tw = 0;
  r.tc = 0;
  r.tt = 5007;
  r.bytesOut = 212;
  r.term[0] = '-';
  r.term[1] = '-';
  r.retries = 3;
  return r;
}

// The example of HAProxy's manual §8.2.2, field for field.
TEST(TcpLog, MatchesHaproxyFormat) {
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(formatTcpLog(sample()),
            "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0");
  LogRecord r = sample();
  r.redispatched = true;
  r.early = true;
  r.server = "<NOSRV>";
  r.tc = -1;
  EXPECT_EQ(formatTcpLog(r),
            "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/<NOSRV> 0/-1/+5007 +212 -- 0/0/0/0/+3 0/0");
  r.client = *core::Address::parse("[2001:db8::1]:5000");
  EXPECT_EQ(formatTcpLog(r).rfind("2001:db8::1:5000 [", 0), 0u);
}

TEST(TcpLog, ConnectFromAndCustomFormat) {
  EXPECT_EQ(formatConnectLog(sample()), "Connect from 10.0.1.2:33313 to 10.0.3.31:443 (fnt/TCP)");
  route::MapRegistry maps;
  std::string error;
  auto f = route::FormatString::parse("%ci %fi:%fp %ft %b %s %Tt %ts %{+Q}[str(a b)] %[var(txn.x)]",
                                      maps, true, error);
  ASSERT_TRUE(f) << error;
  route::SessionView v;
  route::Variables vars;
  v.vars = &vars;
  LogRecord r = sample();
  r.view = &v;
  EXPECT_EQ(formatCustomLog(*f, r), "10.0.1.2 10.0.3.31:443 fnt bck srv1 5007 -- \"a#20b\" -");
}

// Each log format writes the header it promises (to a socket pair).
TEST(LogSink, HeadersPerFormat) {
  auto line = [](config::LogFormat fmt) {
    int fds[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, fds);
    config::LogTarget t;
    t.kind = config::LogTarget::Kind::Fd;
    t.fd = fds[0];
    t.format = fmt;
    t.facility = 16;
    std::string error;
    auto sink = LogSink::open(t, "sluice", "", error);
    sink->send(kInfo, "hello");
    char buf[512];
    ssize_t n = recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT);
    close(fds[0]);
    close(fds[1]);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  };
  EXPECT_EQ(line(config::LogFormat::Raw), "hello\n");
  EXPECT_EQ(line(config::LogFormat::Short), "<6>hello\n");
  EXPECT_EQ(line(config::LogFormat::Priority), "<134>hello\n");
  EXPECT_TRUE(std::regex_match(line(config::LogFormat::Local),
                               std::regex(R"(<134>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d sluice\[\d+\]: hello\n)")));
  EXPECT_TRUE(std::regex_match(line(config::LogFormat::Rfc5424),
                               std::regex(R"(<134>1 \d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d - sluice \d+ - - hello\n)")));
}

// Levels above the target's maximum are not sent; below the minimum are raised.
TEST(LogSink, LevelFiltering) {
  int fds[2];
  socketpair(AF_UNIX, SOCK_DGRAM, 0, fds);
  config::LogTarget t;
  t.fd = fds[0];
  t.format = config::LogFormat::Short;
  t.maxLevel = kNotice;
  t.minLevel = kErr;
  std::string error;
  auto sink = LogSink::open(t, "x", "", error);
  sink->send(kInfo, "dropped");
  sink->send(kEmerg, "capped");
  char buf[128];
  ssize_t n = recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "<3>capped\n");
  EXPECT_LT(recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT), 0);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace sluice::observe
