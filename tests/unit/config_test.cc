// SPDX-License-Identifier: Apache-2.0
// Unit tests of the configuration reader: words and quoting, variables,
// conditional blocks, sections and defaults, every kind of error with its
// file:line and hint, and Debian's stock file with the tutorial appended.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <set>

#include <filesystem>
#include <fstream>
#include <map>

#include "config/dialect.h"
#include "config/lexer.h"
#include "config/keywords.h"
#include "config/parser.h"
#include "config/server_edit.h"

namespace sluice::config {
namespace {

EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> words(std::string_view line, const EnvLookup& e = env({})) {
  std::vector<std::string> out;
  std::string error;
  EXPECT_TRUE(tokenizeLine(line, e, out, error)) << error;
  return out;
}

Config parse(const std::string& text, core::Diagnostics& diag, const EnvLookup& e = env({})) {
  return parseConfig(readConfigText(text, "test.cfg", e, diag), diag);
}

bool hasMessage(const core::Diagnostics& d, const std::string& needle) {
  return d.render().find(needle) != std::string::npos;
}

const std::string kMinimal =
    "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";

// Blanks separate words; '#' starts a comment; quotes and escapes group.
TEST(Lexer, WordsQuotesAndEscapes) {
  EXPECT_EQ(words("  bind   :443  # comment"), (std::vector<std::string>{"bind", ":443"}));
  EXPECT_EQ(words("log-format \"%ci %cp\" 'a b' c\\ d"),
            (std::vector<std::string>{"log-format", "%ci %cp", "a b", "c d"}));
  EXPECT_EQ(words("x \\#notcomment '#' \"#\""), (std::vector<std::string>{"x", "#notcomment", "#", "#"}));
  EXPECT_EQ(words("x \"a\\\"b\" 'c\\d'"), (std::vector<std::string>{"x", "a\"b", "c\\d"}));
  EXPECT_EQ(words("x \\x41\\x42 \\t"), (std::vector<std::string>{"x", "AB", "\t"}));
  EXPECT_EQ(words("acl a req.ssl_sni -m reg ^www\\.ex"),
            (std::vector<std::string>{"acl", "a", "req.ssl_sni", "-m", "reg", "^www\\.ex"}));
  EXPECT_EQ(words("x \"\""), (std::vector<std::string>{"x", ""}));
  EXPECT_EQ(words("x \"a\"'b'c"), (std::vector<std::string>{"x", "abc"}));
}

// Variables expand inside double quotes only, with defaults and [*] splitting.
TEST(Lexer, EnvironmentVariables) {
  auto e = env({{"PORT", "8443"}, {"LIST", "a b  c"}, {"EMPTY", ""}});
  EXPECT_EQ(words("bind \":${PORT}\"", e), (std::vector<std::string>{"bind", ":8443"}));
  EXPECT_EQ(words("bind \":$PORT\"", e), (std::vector<std::string>{"bind", ":8443"}));
  EXPECT_EQ(words("x '$PORT'", e), (std::vector<std::string>{"x", "$PORT"}));
  EXPECT_EQ(words("x \"${NOPE-dflt}\"", e), (std::vector<std::string>{"x", "dflt"}));
  EXPECT_EQ(words("x \"${EMPTY-dflt}\"", e), (std::vector<std::string>{"x", ""}));
  EXPECT_EQ(words("x \"${LIST[*]}\"", e), (std::vector<std::string>{"x", "a", "b", "c"}));
  EXPECT_EQ(words("x \"\\$PORT\"", e), (std::vector<std::string>{"x", "$PORT"}));
}

// Malformed lines are errors with a reason.
TEST(Lexer, MalformedLines) {
  std::vector<std::string> out;
  std::string error;
  EXPECT_FALSE(tokenizeLine("x \"open", env({}), out, error));
  EXPECT_NE(error.find("unterminated double quote"), std::string::npos);
  EXPECT_FALSE(tokenizeLine("x 'open", env({}), out, error));
  EXPECT_FALSE(tokenizeLine("x \\x4", env({}), out, error));
  EXPECT_FALSE(tokenizeLine("x \"${OPEN\"", env({}), out, error));
  EXPECT_FALSE(tokenizeLine("x trailing\\", env({}), out, error));
}

// version_atleast() answers as the dialect: HAProxy 3.2 unless 2.6 is asked.
TEST(Lexer, VersionPredicatesFollowTheDialect) {
  auto kept = [](std::string_view condition) {
    core::Diagnostics diag;
    auto lines = readConfigText(".if " + std::string(condition) + "\nyes\n.endif\n", "t.cfg", env({}), diag);
    EXPECT_FALSE(diag.hasErrors()) << diag.render();
    return lines.size() == 1;
  };
  EXPECT_EQ(dialectName(), "3.2");
  EXPECT_TRUE(kept("version_atleast(3.2)"));
  EXPECT_TRUE(kept("version_atleast(3.1-dev12)"));
  EXPECT_FALSE(kept("version_atleast(3.3)"));
  EXPECT_TRUE(kept("version_before(3.3)"));
  setDialect({2, 6});
  EXPECT_TRUE(kept("version_atleast(2.6)"));
  EXPECT_FALSE(kept("version_atleast(2.7)"));
  setDialect(kDefaultDialect);

  Dialect d;
  std::string error;
  EXPECT_TRUE(parseDialect("2.8", d, error));
  EXPECT_EQ(d.major, 2);
  EXPECT_EQ(d.minor, 8);
  EXPECT_FALSE(parseDialect("2.4", d, error));
  EXPECT_NE(error.find("outside the releases sluice can answer as (2.6 to 3.2)"), std::string::npos) << error;
  EXPECT_FALSE(parseDialect("3.3", d, error));
  EXPECT_FALSE(parseDialect("three", d, error));
}

// .if/.elif/.else/.endif with HAProxy's predicates.
TEST(Lexer, ConditionalBlocks) {
  core::Diagnostics diag;
  auto lines = readConfigText(
      ".if defined(FOO)\nfoo\n.elif streq(\"$BAR\",yes)\nbar\n.else\nnone\n.endif\n"
      ".if version_atleast(2.4) && feature(OPENSSL) && !feature(LUA)\nnew\n.endif\n"
      ".if 0\n.if 1\nnested\n.endif\n.else\nelse\n.endif\n",
      "t.cfg", env({{"BAR", "yes"}}), diag);
  std::vector<std::string> got;
  for (auto& l : lines) got.push_back(l.words[0]);
  EXPECT_EQ(got, (std::vector<std::string>{"bar", "new", "else"}));
  EXPECT_FALSE(diag.hasErrors()) << diag.render();

  core::Diagnostics bad;
  readConfigText(".if defined(X)\nfoo\n", "t.cfg", env({}), bad);
  EXPECT_TRUE(hasMessage(bad, "t.cfg:1: error: '.if' is never closed"));
  core::Diagnostics stray;
  readConfigText(".endif\n.alert \"stop here\"\n", "t.cfg", env({}), stray);
  EXPECT_TRUE(hasMessage(stray, "t.cfg:1: error: '.endif' without a matching '.if'"));
  EXPECT_TRUE(hasMessage(stray, "t.cfg:2: error: stop here"));
}

// setenv in global changes what later lines expand.
TEST(Lexer, SetenvAppliesToLaterLines) {
  core::Diagnostics diag;
  auto lines = readConfigText("global\n setenv P 9000\n presetenv P 1\n x \"$P\"\n unsetenv P\n y \"${P-none}\"\n",
                              "t.cfg", env({}), diag);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[3].words[1], "9000");
  EXPECT_EQ(lines[5].words[1], "none");
}

TEST(Durations, UnitsAndLimits) {
  uint32_t ms = 0;
  EXPECT_TRUE(parseDuration("5000", ms));
  EXPECT_EQ(ms, 5000u);
  EXPECT_TRUE(parseDuration("5s", ms));
  EXPECT_EQ(ms, 5000u);
  EXPECT_TRUE(parseDuration("2m", ms));
  EXPECT_EQ(ms, 120000u);
  EXPECT_TRUE(parseDuration("1h", ms));
  EXPECT_EQ(ms, 3600000u);
  EXPECT_TRUE(parseDuration("1d", ms));
  EXPECT_EQ(ms, 86400000u);
  EXPECT_TRUE(parseDuration("1500us", ms));
  EXPECT_EQ(ms, 2u);
  EXPECT_TRUE(parseDuration("100ms", ms));
  EXPECT_EQ(ms, 100u);
  EXPECT_FALSE(parseDuration("5x", ms));
  EXPECT_FALSE(parseDuration("s", ms));
  EXPECT_FALSE(parseDuration("", ms));
  EXPECT_FALSE(parseDuration("30d", ms));  // beyond 2^31-1 ms
}

// Debian's stock file plus the tutorial: valid, honest warnings, right model.
TEST(Parser, DebianStockFileWithTutorial) {
  std::string text;
  for (const char* f : {"/debian-haproxy.cfg", "/tutorial-passthrough.cfg"}) {
    std::ifstream in(std::string(SLUICE_TEST_DATA_DIR) + f);
    text += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) + "\n";
  }
  core::Diagnostics diag;
  Config cfg = parse(text, diag);
  EXPECT_FALSE(diag.hasErrors()) << diag.render();
  EXPECT_EQ(cfg.global.user, "haproxy");
  EXPECT_EQ(cfg.global.chroot, "/var/lib/haproxy");
  EXPECT_TRUE(cfg.global.daemon);
  ASSERT_EQ(cfg.global.log.targets.size(), 2u);
  EXPECT_EQ(cfg.global.log.targets[0].path, "/dev/log");
  EXPECT_EQ(cfg.global.log.targets[1].maxLevel, 5);  // notice
  const ProxyConfig* fe = cfg.findProxy("https_front", false);
  ASSERT_NE(fe, nullptr);
  EXPECT_EQ(fe->mode, ProxyMode::Tcp);
  EXPECT_TRUE(fe->tcplog);
  EXPECT_FALSE(fe->httplog);
  EXPECT_TRUE(fe->dontlognull);
  EXPECT_EQ(fe->inspectDelay.value_or(0), 5000u);
  EXPECT_EQ(fe->timeoutClient.value_or(0), 50000u);
  EXPECT_EQ(fe->defaultBackend, "https_back");
  ASSERT_EQ(fe->tcpRequestContent.size(), 1u);
  EXPECT_EQ(fe->tcpRequestContent[0].action, "accept");
  EXPECT_EQ(fe->binds[0].addresses[0].port(), 443);
  const ProxyConfig* be = cfg.findProxy("https_back", true);
  ASSERT_NE(be, nullptr);
  EXPECT_EQ(be->servers.size(), 2u);
  EXPECT_EQ(be->checkKind, ProxyConfig::CheckKind::SslHello);
  EXPECT_EQ(be->timeoutConnect.value_or(0), 5000u);
  // At most one warning per keyword.
  std::string out = diag.render();
  size_t n = 0;
  for (size_t p = out.find("'errorfile'"); p != std::string::npos; p = out.find("'errorfile'", p + 1)) ++n;
  EXPECT_EQ(n, 1u) << out;
  EXPECT_NE(out.find("(and 6 more lines)"), std::string::npos) << out;
}

// Unknown keywords are errors, with file:line and a "did you mean".
TEST(Parser, TyposAreErrorsWithSuggestions) {
  core::Diagnostics diag;
  parse("global\n  maxcon 100\nfrontend fe\n  bnd :443\n  optin tcplog\n  option tcplgo\n"
        "  timeout clent 5s\n  default_backend be\nbackend be\n  balance roundrobn\n"
        "  server s 127.0.0.1:1 wieght 2\n",
        diag);
  std::string out = diag.render();
  EXPECT_NE(out.find("test.cfg:2: error: unknown keyword 'maxcon' in global section"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'maxconn'?"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:4: error: unknown keyword 'bnd' in frontend 'fe'"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'bind'?"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:5: error: unknown keyword 'optin'"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'option tcplog'?"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:7: error: unknown timeout 'clent'"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:10: error: unknown balance algorithm 'roundrobn'"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:11: error: unknown server parameter 'wieght'"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'weight'?"), std::string::npos) << out;
}

// One table per kind of section dispatches, suggests and documents: every
// keyword it names is found by "did you mean" (not only a hand-kept list),
// families ("tune.", "ssl-") and removed keywords answer from the same
// table, and no name is listed twice (a second entry would never be read).
TEST(Parser, KeywordTablesDriveDispatchAndSuggestions) {
  core::Diagnostics diag;
  parse("global\n  tune.listener.cpu-steerin on\n  tune.foo 3\n  ssl-foo bar\n  server-state-fil /x\n"
        "frontend fe\n  bind :443\n  email-alertt to x@y\n  clitimeout 5s\n  clitcpka-idl 30\n"
        "  default_backend be\nbackend be\n  load-server-state-from-fil local\n  server s 127.0.0.1:1\n",
        diag);
  std::string out = diag.render();
  // HAProxy's own tune.* and ssl-* keywords sluice does not read are
  // ignored; any other word of those families is a typo, refused with the
  // keyword meant, as HAProxy does (issue 23: "tune.buffsize").
  EXPECT_NE(out.find("test.cfg:2: error: unknown keyword 'tune.listener.cpu-steerin'"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'tune.listener.cpu-steering'?"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:3: error: unknown keyword 'tune.foo'"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:4: error: unknown keyword 'ssl-foo'"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'server-state-file'?"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'email-alert'?"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:9: error: 'clitimeout' was removed from HAProxy and is not supported"),
            std::string::npos) << out;
  EXPECT_NE(out.find("use 'timeout client' instead"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'clitcpka-idle'?"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'load-server-state-from-file'?"), std::string::npos) << out;

  std::set<std::pair<std::string, std::string>> seen;
  for (const KeywordInfo& k : knownKeywords()) {
    EXPECT_TRUE(seen.insert({k.section, k.name}).second) << k.section << " keyword '" << k.name << "' listed twice";
  }
}

// Each supported keyword and parameter has a reader, and only those: a
// supported entry without one would be accepted and silently do nothing.
TEST(Parser, EverySupportedKeywordHasAReader) {
  auto check = [](const auto& list, const char* what) {
    for (const auto& k : list) {
      const bool readable = k.treatment == "supported" || k.treatment == "parsed" || k.treatment == "sluice's own";
      EXPECT_EQ(k.read != nullptr, readable) << what << " '" << k.name << "' (" << k.treatment << ")";
    }
  };
  check(detail::kServerParams, "server parameter");
  check(detail::kBindParams, "bind parameter");
  for (const auto* table : {&detail::globalKeywordTable(), &detail::proxyKeywordTable()}) {
    for (const detail::Keyword& k : table->entries()) {
      if (k.prefix || k.removed) continue;
      // "filter" and "transparent" have readers that decide case by case.
      if (k.name == "filter" || k.name == "transparent" || k.name == "nbproc") continue;
      const bool readable = k.treatment == "supported" || k.treatment == "sluice's own";
      EXPECT_EQ(k.read != nullptr, readable) << "keyword '" << k.name << "' (" << k.treatment << ")";
    }
  }
}

// Keywords in the wrong section, and values of the wrong shape.
TEST(Parser, WrongSectionAndBadValues) {
  core::Diagnostics diag;
  parse(kMinimal +
            "frontend fe\n  bind :443\n  server s 1.2.3.4:5\n  timeout connect 5x\n"
            "  default_backend nowhere\nbackend be\n  bind :80\n  server s 1.2.3.4:99999\n"
            "  server t 1.2.3.4:5\n  server t 1.2.3.4:6\n",
        diag);
  std::string out = diag.render();
  EXPECT_NE(out.find("test.cfg:8: error: 'server' is not allowed in a frontend section"), std::string::npos) << out;
  // Out of its place, what HAProxy ignores with a warning sluice ignores
  // too (servers where no backend is stay errors, as in HAProxy).
  EXPECT_NE(out.find("test.cfg:9: warning: 'timeout connect' is ignored: frontend 'fe' has no backend capability"),
            std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:10: error: unknown backend 'nowhere'"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:12: warning: 'bind' is ignored: backend 'be' has no frontend capability"),
            std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:13: error: invalid port '99999'"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:15: error: server 't' is already defined"), std::string::npos) << out;
}

// Keywords meaningless for passthrough are accepted with one warning each;
// ones that would change behaviour and are not implemented are errors.
TEST(Parser, IgnoredAndUnsupportedKeywords) {
  core::Diagnostics diag;
  Config cfg = parse("global\n  ssl-default-bind-ciphers X\n  tune.ssl.default-dh-param 2048\n"
                     "  lua-load /x.lua\n" + kMinimal +
                         "listen l\n  bind :443\n  http-request deny\n  option forwardfor\n"
                         "  server s 1.2.3.4:443 ssl\n",
                     diag);
  std::string out = diag.render();
  EXPECT_NE(out.find("test.cfg:2: warning: 'ssl-default-bind-ciphers' is accepted but ignored"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:3: warning: 'tune.ssl.default-dh-param' is accepted but ignored"), std::string::npos) << out;
  EXPECT_NE(out.find("test.cfg:4: error: 'lua-load' is not supported"), std::string::npos) << out;
  EXPECT_NE(out.find("warning: 'http-request' rules are HTTP-only; sluice ignores them"), std::string::npos) << out;
  EXPECT_NE(out.find("warning: 'option forwardfor' is accepted but ignored"), std::string::npos) << out;
  EXPECT_NE(out.find("error: server parameter 'ssl' is not supported"), std::string::npos) << out;
}

// A frontend left in "mode http" or terminating TLS is not served, and says so.
TEST(Parser, HttpAndTlsTerminatingProxiesAreSkipped) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal +
                         "frontend web\n  mode http\n  bind :80\n  default_backend be\n"
                         "frontend tls\n  bind :8443 ssl crt /etc/x.pem\n  default_backend be\n"
                         "frontend pass\n  bind :443\n  default_backend be\n"
                         "backend be\n  server s 1.2.3.4:443\n",
                     diag);
  EXPECT_FALSE(diag.hasErrors()) << diag.render();
  EXPECT_EQ(cfg.findProxy("web", false), nullptr);
  EXPECT_EQ(cfg.findProxy("tls", false), nullptr);
  EXPECT_NE(cfg.findProxy("pass", false), nullptr);
  EXPECT_TRUE(hasMessage(diag, "frontend 'web' is in mode http"));
  EXPECT_TRUE(hasMessage(diag, "frontend 'tls' terminates TLS"));
}

// Defaults: the last one applies; named ones are chosen with "from";
// a new anonymous defaults section starts from scratch.
TEST(Parser, DefaultsInheritance) {
  core::Diagnostics diag;
  Config cfg = parse("defaults base\n  mode tcp\n  timeout client 7s\n  option tcplog\n"
                     "  timeout connect 1s\n  timeout server 1s\n"
                     "defaults\n  mode tcp\n  timeout client 9s\n  timeout connect 1s\n  timeout server 1s\n"
                     "frontend a\n  bind :1\n  default_backend b\n"
                     "frontend c from base\n  bind :2\n  default_backend b\n"
                     "backend b\n  server s 1.2.3.4:5\n",
                     diag);
  EXPECT_FALSE(diag.hasErrors()) << diag.render();
  EXPECT_EQ(cfg.findProxy("a", false)->timeoutClient.value_or(0), 9000u);
  EXPECT_FALSE(cfg.findProxy("a", false)->tcplog);
  EXPECT_EQ(cfg.findProxy("c", false)->timeoutClient.value_or(0), 7000u);
  EXPECT_TRUE(cfg.findProxy("c", false)->tcplog);
}

// Binds: several addresses, port ranges, IPv6 forms, parameters.
TEST(Parser, BindAddresses) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal +
                         "frontend f\n  bind 127.0.0.1:8000-8002,[::1]:9000 name x backlog 100\n"
                         "  bind :::443 v4v6\n  bind *:80 transparent defer-accept accept-proxy\n"
                         "  bind ipv6@:8443\n  default_backend b\nbackend b\n  server s 1.2.3.4:5\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  const ProxyConfig* f = cfg.findProxy("f", false);
  ASSERT_EQ(f->binds.size(), 4u);
  ASSERT_EQ(f->binds[0].addresses.size(), 4u);
  EXPECT_EQ(f->binds[0].addresses[2].toString(), "127.0.0.1:8002");
  EXPECT_EQ(f->binds[0].addresses[3].toString(), "[::1]:9000");
  EXPECT_EQ(f->binds[0].backlog.value_or(0), 100u);
  EXPECT_TRUE(f->binds[1].addresses[0].isV6());
  EXPECT_TRUE(f->binds[1].v4v6);
  EXPECT_EQ(f->binds[2].addresses[0].toString(), "0.0.0.0:80");
  EXPECT_TRUE(f->binds[2].transparent);
  EXPECT_TRUE(f->binds[2].acceptProxy);
  EXPECT_TRUE(f->binds[2].deferAccept);
  EXPECT_TRUE(f->binds[3].addresses[0].isV6());

  core::Diagnostics bad;
  parse(kMinimal + "frontend f\n  bind 127.0.0.1\n  bind :0\n  bind :80 frobnicate\n  bind :81 accept-netscaler-cip 1234\n", bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:7: error: missing port in bind address"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:8: error: invalid port '0'"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:9: error: unknown bind parameter 'frobnicate'"));
  // Not silently ignored: another header protocol would change what the bytes mean.
  EXPECT_TRUE(hasMessage(bad, "test.cfg:10: error: bind parameter 'accept-netscaler-cip' is not supported"));
}

// Servers: numeric and named addresses, no port (the client's), offsets.
TEST(Parser, ServerAddresses) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal +
                         "backend b\n  default-server inter 3s weight 5\n"
                         "  server a 10.0.0.1:443 check\n  server b [2001:db8::1]:8443 weight 9\n"
                         "  server c 10.0.0.3\n  server d 10.0.0.4:+1000 backup\n"
                         "  server e localhost:80\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  const ProxyConfig* b = cfg.findProxy("b", true);
  ASSERT_EQ(b->servers.size(), 5u);
  EXPECT_EQ(b->servers[0].inter, 3000u);
  EXPECT_EQ(b->servers[0].weight, 5u);
  EXPECT_EQ(b->servers[1].weight, 9u);
  EXPECT_EQ(b->servers[1].address.toString(), "[2001:db8::1]:8443");
  EXPECT_TRUE(b->servers[2].portFromClient);
  EXPECT_EQ(b->servers[3].portOffset, 1000);
  EXPECT_TRUE(b->servers[3].backup);
  EXPECT_TRUE(b->servers[4].address.valid());

  core::Diagnostics bad;
  parse(kMinimal + "backend b\n  server a no.such.host.invalid:443\n  server b 1.2.3.4:5 weight 300\n", bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:7: error: could not resolve address 'no.such.host.invalid'"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:8: error: invalid value '300' for server parameter 'weight'"));
}

// tcp-request rules keep their action and condition words.
TEST(Parser, TcpRequestRules) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal +
                         "frontend f\n  bind :443\n  tcp-request inspect-delay 3s\n"
                         "  tcp-request connection reject if { src 10.0.0.0/8 }\n"
                         "  tcp-request content set-var(txn.sni) req.ssl_sni\n"
                         "  tcp-request content accept if { req_ssl_hello_type 1 }\n"
                         "  tcp-request content reject\n  default_backend b\n"
                         "backend b\n  server s 1.2.3.4:5\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  const ProxyConfig* f = cfg.findProxy("f", false);
  EXPECT_EQ(f->inspectDelay.value_or(0), 3000u);
  ASSERT_EQ(f->tcpRequestConnection.size(), 1u);
  EXPECT_EQ(f->tcpRequestConnection[0].condition.size(), 5u);
  ASSERT_EQ(f->tcpRequestContent.size(), 3u);
  EXPECT_EQ(f->tcpRequestContent[0].action, "set-var(txn.sni)");
  EXPECT_EQ(f->tcpRequestContent[0].actionArgs, std::vector<std::string>{"req.ssl_sni"});
  EXPECT_TRUE(f->tcpRequestContent[2].condition.empty());

  core::Diagnostics bad;
  parse(kMinimal + "frontend f\n  bind :1\n  tcp-request content do-resolve(txn.ip,dns) req.ssl_sni\n"
                   "  tcp-request content acept\n  tcp-request conection accept\n",
        bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:8: error: rule action 'do-resolve(txn.ip,dns)' is not supported by sluice yet"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:9: error: unknown rule action 'acept'"));
  EXPECT_TRUE(hasMessage(bad, "did you mean 'accept'?"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:10: error: unknown 'tcp-request conection'"));
}

// "tls-alert [<name>]" (sluice's own): in content rules only, with a known
// alert name; typos get a suggestion.
TEST(Parser, TlsAlertRule) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal +
                         "frontend f\n  bind :443\n  tcp-request inspect-delay 3s\n"
                         "  tcp-request content tls-alert if !{ req.ssl_sni -m found }\n"
                         "  tcp-request content tls-alert handshake_failure if { req.ssl_sni -i old.example }\n"
                         "  default_backend b\n"
                         "backend b\n  tcp-request content tls-alert access_denied if { src 10.0.0.0/8 }\n"
                         "  server s 1.2.3.4:5\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  const ProxyConfig* f = cfg.findProxy("f", false);
  ASSERT_EQ(f->tcpRequestContent.size(), 2u);
  EXPECT_EQ(f->tcpRequestContent[1].action, "tls-alert");
  EXPECT_EQ(f->tcpRequestContent[1].actionArgs, std::vector<std::string>{"handshake_failure"});

  core::Diagnostics bad;
  parse(kMinimal + "frontend f\n  bind :1\n  tcp-request content tls-alert unrecognised_name\n"
                   "  tcp-request content tls-alert close_notify\n"
                   "  tcp-request content tls-alert a b\n"
                   "  tcp-request connection tls-alert\n",
        bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:8: error: unknown TLS alert 'unrecognised_name'"));
  EXPECT_TRUE(hasMessage(bad, "did you mean 'unrecognized_name'?"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:9: error: unknown TLS alert 'close_notify'"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:10: error: 'tls-alert' takes at most one alert name"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:11: error: rule action 'tls-alert' is only allowed in 'tcp-request content' rules"))
      << bad.render();
}

// The runtime API's server changes: applied to a model, written as state
// file comment lines and read back, and judged against changed files.
TEST(ServerEdits, ApplyWriteReadAndJudge) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal + "backend be\n  default-server maxconn 9\n  server a 10.0.0.1:443\n"
                                "  server b 10.0.0.2:443\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  ServerEdit add{ServerEdit::Kind::Add, "be", "c", {"10.0.0.3:443", "check", "agent-send", "hello \"you\" $x"}, ""};
  EXPECT_EQ(applyServerEdit(cfg, add), "");
  const ProxyConfig* be = cfg.findProxy("be", true);
  ASSERT_EQ(be->servers.size(), 3u);
  EXPECT_TRUE(be->servers[2].dynamic);
  EXPECT_TRUE(be->servers[2].disabled);  // in maintenance until enabled
  EXPECT_EQ(be->servers[2].maxconn, 9u);  // default-server applied
  EXPECT_EQ(be->servers[2].agentSend, "hello \"you\" $x");
  EXPECT_EQ(be->servers[2].id, 3u);
  EXPECT_EQ(applyServerEdit(cfg, add), "Already exists a server with the same name in backend.\n");

  ServerEdit del{ServerEdit::Kind::Delete, "be", "a", {}, ""};
  EXPECT_EQ(applyServerEdit(cfg, del), "");
  EXPECT_EQ(del.addressBefore, "10.0.0.1:443");
  EXPECT_EQ(be->servers[0].name, "b");
  EXPECT_EQ(be->servers[0].id, 2u);  // ids do not shift

  ServerEdit addr{ServerEdit::Kind::Address, "be", "b", {"10.0.0.9", "port", "8443"}, ""};
  EXPECT_EQ(applyServerEdit(cfg, addr), "");
  EXPECT_EQ(be->servers[0].address.toString(), "10.0.0.9:8443");
  EXPECT_EQ(addr.addressBefore, "10.0.0.2:443");

  for (const ServerEdit& e : {add, del, addr}) {
    std::optional<ServerEdit> back = parseServerEditLine(serverEditLine(e));
    ASSERT_TRUE(back) << serverEditLine(e);
    EXPECT_EQ(back->backend, e.backend);
    EXPECT_EQ(back->server, e.server);
    EXPECT_EQ(back->words, e.words) << serverEditLine(e);
    EXPECT_EQ(back->addressBefore, e.addressBefore);
  }
  EXPECT_FALSE(parseServerEditLine("# be_id be_name srv_id"));

  // Against the files as they were: everything still applies.
  core::Diagnostics d2;
  Config files = parse(kMinimal + "backend be\n  server a 10.0.0.1:443\n  server b 10.0.0.2:443\n", d2);
  std::string why;
  EXPECT_TRUE(serverEditStillApplies(files, add, why)) << why;
  EXPECT_TRUE(serverEditStillApplies(files, del, why)) << why;
  EXPECT_TRUE(serverEditStillApplies(files, addr, why)) << why;
  // Files that moved "b" and define "c" themselves win.
  Config changed = parse(kMinimal + "backend be\n  server a 10.0.0.1:443\n  server b 10.0.0.7:443\n"
                                    "  server c 10.0.0.3:443\n",
                         d2);
  EXPECT_FALSE(serverEditStillApplies(changed, add, why));
  EXPECT_EQ(why, "the configuration now defines server be/c itself");
  EXPECT_FALSE(serverEditStillApplies(changed, addr, why));
  EXPECT_EQ(why, "the configuration now gives server be/b the address 10.0.0.7:443");
  EXPECT_TRUE(serverEditStillApplies(changed, del, why));
}

// resolvers sections, server-template, and what a name needs to start.
TEST(Parser, ResolversAndServerTemplates) {
  core::Diagnostics diag;
  Config cfg = parse("resolvers dns\n  nameserver ns1 10.0.0.53\n  nameserver ns2 tcp@[2001:db8::53]:5353\n"
                     "  accepted_payload_size 4096\n  hold nx 5s\n  timeout resolve 2s\n  timeout retry 300ms\n"
                     "  resolve_retries 5\n" + kMinimal +
                         "backend be\n  server-template web 2-4 _https._tcp.svc.example resolvers dns check\n"
                         "  server api api.invalid:443 resolvers dns init-addr none resolve-prefer ipv4\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  ASSERT_EQ(cfg.resolvers.size(), 1u);
  const ResolversConfig& r = cfg.resolvers[0];
  ASSERT_EQ(r.nameservers.size(), 2u);
  EXPECT_EQ(r.nameservers[0].address.toString(), "10.0.0.53:53");
  EXPECT_TRUE(r.nameservers[1].tcp);
  EXPECT_EQ(r.nameservers[1].address.port(), 5353);
  EXPECT_EQ(r.acceptedPayloadSize, 4096u);
  EXPECT_EQ(r.holdNxMs, 5000u);
  EXPECT_EQ(r.timeoutResolveMs, 2000u);
  EXPECT_EQ(r.timeoutRetryMs, 300u);
  EXPECT_EQ(r.resolveRetries, 5u);
  const ProxyConfig* be = cfg.findProxy("be", true);
  ASSERT_EQ(be->servers.size(), 4u);
  EXPECT_EQ(be->servers[0].name, "web2");
  EXPECT_EQ(be->servers[2].name, "web4");
  EXPECT_EQ(be->servers[0].templatePrefix, "web");
  EXPECT_EQ(be->servers[0].fqdn, "_https._tcp.svc.example");
  EXPECT_FALSE(be->servers[0].hasAddress);  // SRV: addresses come from DNS
  EXPECT_TRUE(be->servers[0].check);
  EXPECT_FALSE(be->servers[3].hasAddress);  // init-addr none
  EXPECT_EQ(be->servers[3].resolvePrefer, "ipv4");

  core::Diagnostics bad;
  parse("resolvers dns\n  nameservr ns1 10.0.0.53\n  nameserver ns2 nowhere\n  hold often 1s\n" + kMinimal +
            "backend be\n  server a a.invalid:443 resolvers other\n  server b _srv._tcp.x\n"
            "  server c c.invalid:443 init-addr sometimes\n",
        bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:2: error: unknown keyword 'nameservr' in resolvers section 'dns'")) << bad.render();
  EXPECT_TRUE(hasMessage(bad, "did you mean 'nameserver'?"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:3: error: invalid name server address 'nowhere'"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:4: error: unknown 'hold often'"));
  EXPECT_TRUE(hasMessage(bad, "no resolvers section named 'other' before this line"));
  EXPECT_TRUE(hasMessage(bad, "the SRV label '_srv._tcp.x' needs 'resolvers <name>'"));
  EXPECT_TRUE(hasMessage(bad, "unknown init-addr method 'sometimes'"));
}

// peers sections and the tables that name them.
TEST(Parser, PeersSections) {
  core::Diagnostics diag;
  Config cfg = parse("global\n  localpeer lb1\npeers mesh\n  peer lb1 127.0.0.1:10001\n  peer lb2 10.0.0.2:10000\n"
                     "peers v2\n  bind 127.0.0.1:10002\n  server lb1\n  server lb2 10.0.0.2:10003\n  shards 2\n"
                     "  table src type ip size 1k expire 30s store conn_rate(10s) store gpc0\n" +
                         kMinimal + "backend be\n  stick-table type ip size 1k store gpc0 peers mesh\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  EXPECT_EQ(cfg.global.localPeer, "lb1");
  ASSERT_EQ(cfg.peers.size(), 2u);
  EXPECT_EQ(cfg.peers[0].peers.size(), 2u);
  EXPECT_EQ(cfg.peers[0].peers[1].address->toString(), "10.0.0.2:10000");
  EXPECT_FALSE(cfg.peers[1].peers[0].address);
  EXPECT_EQ(cfg.peers[1].bind->toString(), "127.0.0.1:10002");
  EXPECT_EQ(cfg.findProxy("be", true)->stickTable->peers, "mesh");
  // A table declared in the section: "<section>/<name>", shared through it.
  ASSERT_EQ(cfg.peers[1].tables.size(), 1u);
  const stick::TableSpec& t = cfg.peers[1].tables[0].spec;
  EXPECT_EQ(t.name, "v2/src");
  EXPECT_EQ(t.peers, "v2");
  EXPECT_EQ(t.size, 1024u);
  EXPECT_EQ(t.expireMs, 30000u);
  EXPECT_TRUE(t.stored[static_cast<size_t>(stick::DataType::ConnRate)]);
  EXPECT_TRUE(t.stored[static_cast<size_t>(stick::DataType::Gpc0)]);

  core::Diagnostics bad;
  parse("peers mesh\n  peer a nowhere\n  peer b 1.2.3.4:5\n  peer b 1.2.3.4:6\n  table t type ip size 1k\n"
        "  table t type ip size 2k\n  table u type ip\n  table v type ip size 1k peers mesh\n" + kMinimal +
            "backend be\n  stick-table type ip size 1k peers other\n  tcp-request content track-sc0 src table mesh/w\n",
        bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:2: error: invalid peer address 'nowhere'")) << bad.render();
  EXPECT_TRUE(hasMessage(bad, "test.cfg:4: error: peer 'b' is defined twice in peers section 'mesh'"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:6: error: table 't' is declared twice in peers section 'mesh'"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:7: error: in 'table': 'size' is missing"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:8: error: in 'table': 'peers' is implied"));
  EXPECT_TRUE(hasMessage(bad, "no peers section named 'other'"));
}

// HAProxy can run peers over TLS; sluice cannot, and says where.
// TLS on peers links, as HAProxy's manual writes it: bind parameters on
// "bind" (over "default-bind"), server parameters on "default-server" and
// each peer line; what HAProxy refuses, refused with its reason.
TEST(Parser, PeersOverTls) {
  const std::string dir = ::testing::TempDir() + "/peers-tls-" + std::to_string(::getpid());
  ASSERT_EQ(::system(("mkdir -p " + dir).c_str()), 0);
  {
    std::FILE* f = std::fopen((dir + "/p.pem").c_str(), "w");
    std::fputs("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
               "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n", f);
    std::fclose(f);
    f = std::fopen((dir + "/ca.pem").c_str(), "w");
    std::fputs("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n", f);
    std::fclose(f);
  }
  core::Diagnostics diag;
  Config cfg = parse("global\n  crt-base " + dir + "\n  ca-base " + dir + "\n"
                     "peers mesh\n  bind 127.0.0.1:10000 ssl crt p.pem ca-file ca.pem verify required\n"
                     "  default-server ssl ca-file ca.pem crt p.pem\n  server a\n"
                     "  server b 10.0.0.2:10000 sni str(b.example) alpn h2\n  server c 10.0.0.3:10000 verify none\n" +
                         kMinimal,
                     diag);
  EXPECT_FALSE(diag.hasErrors()) << diag.render();
  ASSERT_EQ(cfg.peers.size(), 1u);
  const PeersConfig& p = cfg.peers[0];
  EXPECT_TRUE(p.bindTls.enabled);
  EXPECT_EQ(p.bindTls.crt, dir + "/p.pem");
  EXPECT_EQ(p.bindTls.verify, PeerTls::Verify::Required);
  ASSERT_EQ(p.peers.size(), 3u);
  EXPECT_TRUE(p.peers[1].tls.enabled);
  EXPECT_EQ(p.peers[1].tls.caFile, dir + "/ca.pem");
  EXPECT_EQ(p.peers[1].tls.sni, "b.example");
  EXPECT_EQ(p.peers[2].tls.verify, PeerTls::Verify::None);
  EXPECT_TRUE(hasMessage(diag, "test.cfg:8: warning: 'alpn' is ignored on a line of peers section 'mesh'")) << diag.render();

  // HAProxy's refusals: a server verified by default without a CA, a bind
  // with ssl and no certificate, files that are not there.
  core::Diagnostics bad;
  parse("peers mesh\n  bind 127.0.0.1:10000 ssl\n  server a\n  server b 10.0.0.2:10000 ssl\n"
        "  server c 10.0.0.3:10000 ssl verify none crt /nonexistent/c.pem\n" + kMinimal,
        bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:2: error: 'ssl' on the bind of peers section 'mesh' needs 'crt <file>'"))
      << bad.render();
  EXPECT_TRUE(hasMessage(bad, "test.cfg:4: error: peer 'b' of peers section 'mesh': verify is enabled by default but "
                              "no CA file is given")) << bad.render();
  EXPECT_TRUE(hasMessage(bad, "test.cfg:5: error: peer 'c': cannot open")) << bad.render();
  // "ssl-server-verify none" makes "verify none" the default, as HAProxy.
  core::Diagnostics lax;
  parse("global\n  ssl-server-verify none\npeers mesh\n  server a 10.0.0.1:1\n  server b 10.0.0.2:10000 ssl\n" +
            kMinimal,
        lax);
  EXPECT_FALSE(lax.hasErrors()) << lax.render();
  ASSERT_EQ(::system(("rm -rf " + dir).c_str()), 0);
}

// "log" lines: targets, formats, facilities, levels.
TEST(Parser, LogTargets) {
  core::Diagnostics diag;
  Config cfg = parse("global\n  log stdout format raw local0\n  log 10.0.0.1 len 2048 local1 info notice\n"
                     "  log [::1]:5514 format rfc5424 daemon\n  log stderr local7\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  auto& t = cfg.global.log.targets;
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].fd, 1);
  EXPECT_EQ(t[0].format, LogFormat::Raw);
  EXPECT_EQ(t[1].address.toString(), "10.0.0.1:514");
  EXPECT_EQ(t[1].maxLength, 2048u);
  EXPECT_EQ(t[1].facility, 17);
  EXPECT_EQ(t[1].maxLevel, 6);
  EXPECT_EQ(t[1].minLevel, 5);
  EXPECT_EQ(t[2].address.toString(), "[::1]:5514");
  EXPECT_EQ(t[3].fd, 2);

  core::Diagnostics bad;
  parse("global\n  log stdout locl0\n  log stdout\n  log stdout local0 loud\n", bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:2: error: unknown log facility 'locl0'"));
  EXPECT_TRUE(hasMessage(bad, "did you mean 'local0'?"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:3: error: 'log stdout' needs a facility"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:4: error: unknown log level 'loud'"));
}

// What HAProxy 2.6 refuses, sluice refuses (issue 23): a file whose last
// line has no newline (it may have been cut short), and names with
// characters outside letters, digits and ".-_:".
TEST(Parser, TruncatedFilesAndBadNamesAreRefusedAsHAProxyDoes) {
  std::string dir = std::filesystem::temp_directory_path() / "sluice-cfgstrict-XXXXXX";
  std::vector<char> buf(dir.begin(), dir.end());
  buf.push_back('\0');
  dir = mkdtemp(buf.data());
  std::ofstream(dir + "/cut.cfg") << kMinimal << "listen l\n  bind :1\n  server s 1.2.3.4:5";
  std::ofstream(dir + "/whole.cfg") << kMinimal << "listen l\n  bind :1\n  server s 1.2.3.4:5\n";
  core::Diagnostics cut, whole;
  loadConfig({dir + "/cut.cfg"}, cut, env({}));
  loadConfig({dir + "/whole.cfg"}, whole, env({}));
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(hasMessage(cut, "cut.cfg:8: error: the last line has no newline at its end")) << cut.render();
  EXPECT_FALSE(whole.hasErrors()) << whole.render();

  core::Diagnostics names;
  parse(kMinimal + "frontend f@x\n  bind :1\n  default_backend b\nbackend b\n  server s$1 1.2.3.4:5\n"
                   "  server a.b-c_d:e 1.2.3.4:6\n",
        names);
  EXPECT_TRUE(hasMessage(names, "test.cfg:6: error: character '@' is not permitted in 'frontend' name 'f@x'"))
      << names.render();
  EXPECT_TRUE(hasMessage(names, "test.cfg:10: error: character '$' is not permitted in server name 's$1'"))
      << names.render();
  EXPECT_EQ(names.errorCount(), 2u) << names.render();
}

// HAProxy 3.0's GUIDs on proxies, servers and bind lines: kept, checked for
// their characters and for uniqueness across the whole file.
TEST(Parser, GuidsAreKeptCheckedAndUnique) {
  core::Diagnostics good;
  Config cfg = parse(kMinimal + "frontend fe\n  guid guid-fe\n  bind :1 guid-prefix guid-feS\n  default_backend be\n"
                                "backend be\n  guid guid-be\n  server srv 1.2.3.4:5 guid guid-srv strict-maxconn\n",
                     good);
  EXPECT_FALSE(good.hasErrors()) << good.render();
  EXPECT_EQ(good.warningCount(), 0u) << good.render();
  ASSERT_EQ(cfg.proxies.size(), 2u);
  EXPECT_EQ(cfg.proxies[0].guid, "guid-fe");
  EXPECT_EQ(cfg.proxies[0].binds[0].guidPrefix, "guid-feS");
  EXPECT_EQ(cfg.proxies[1].guid, "guid-be");
  EXPECT_EQ(cfg.proxies[1].servers[0].guid, "guid-srv");

  core::Diagnostics bad;
  parse(kMinimal + "frontend fe\n  guid same\n  bind :1 guid-prefix p\n  default_backend be\n"
                   "backend be\n  guid same\n  server a 1.2.3.4:5 guid p-0\n  server b 1.2.3.4:6 guid b@d\n",
        bad);
  EXPECT_TRUE(hasMessage(bad, "error: GUID 'same' of backend 'be' is already used by frontend 'fe'")) << bad.render();
  EXPECT_TRUE(hasMessage(bad, "error: GUID 'p-0' of server 'be/a' is already used by a listener of frontend 'fe'"))
      << bad.render();
  EXPECT_TRUE(hasMessage(bad, "error: invalid GUID 'b@d': it contains '@'")) << bad.render();
}

// What HAProxy 2.6 accepts, sluice accepts: a bare "balance" is roundrobin;
// keywords out of their place are ignored with HAProxy's warnings, and a
// tcp-request rule after one that runs later is pointed out.
TEST(Parser, LeniencyAndWarningsAsHAProxy) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal +
                         "frontend f\n  bind :1\n  use_backend b if { src 10.0.0.1 }\n"
                         "  tcp-request connection reject if { src 10.0.0.2 }\n  timeout server 5s\n"
                         "  default_backend b\nbackend b\n  balance\n  option tcplog\n  maxconn 10\n"
                         "  server s 1.2.3.4:5\n",
                     diag);
  EXPECT_FALSE(diag.hasErrors()) << diag.render();
  ASSERT_EQ(cfg.proxies.size(), 2u);
  EXPECT_EQ(cfg.proxies[1].balance.algorithm, "roundrobin");
  EXPECT_TRUE(hasMessage(diag, "test.cfg:9: warning: a 'tcp-request' rule placed after a 'use_backend' rule will "
                               "still be processed before it"))
      << diag.render();
  EXPECT_TRUE(hasMessage(diag, "test.cfg:10: warning: 'timeout server' is ignored: frontend 'f' has no backend "
                               "capability"))
      << diag.render();
  EXPECT_TRUE(hasMessage(diag, "test.cfg:14: warning: 'option tcplog' is ignored in backends (backend 'b')"))
      << diag.render();
  EXPECT_TRUE(hasMessage(diag, "test.cfg:15: warning: 'maxconn' is ignored: backend 'b' has no frontend capability"))
      << diag.render();
  EXPECT_FALSE(cfg.proxies[1].maxconn.has_value()) << "ignored means not applied";
}

// -f with a directory reads its *.cfg files in lexical order.
TEST(Parser, DirectoryOfFiles) {
  std::string dir = std::filesystem::temp_directory_path() / "sluice-cfgdir-XXXXXX";
  std::vector<char> buf(dir.begin(), dir.end());
  buf.push_back('\0');
  dir = mkdtemp(buf.data());
  std::ofstream(dir + "/10-global.cfg") << "global\n  maxconn 100\n";
  std::ofstream(dir + "/20-proxies.cfg") << kMinimal << "listen l\n  bind :1\n  server s 1.2.3.4:5\n";
  std::ofstream(dir + "/README") << "not a cfg file\n";
  std::ofstream(dir + "/.hidden.cfg") << "garbage line\n";
  core::Diagnostics diag;
  std::vector<std::string> loaded;
  Config cfg = loadConfig({dir}, diag, env({}));
  EXPECT_FALSE(diag.hasErrors()) << diag.render();
  EXPECT_EQ(cfg.global.maxconn.value_or(0), 100u);
  EXPECT_EQ(cfg.files.size(), 2u);
  std::filesystem::remove_all(dir);

  core::Diagnostics missing;
  loadConfig({"/no/such/file.cfg"}, missing, env({}));
  EXPECT_TRUE(hasMessage(missing, "/no/such/file.cfg: error: cannot open configuration file"));
}

// cpu-map as HAProxy writes it: auto: and fixed mappings, thread sets
// (all/odd/even/ranges), CPU sets (numbers, ranges, open ranges, commas);
// a thread group other than 1 is ignored with a warning; malformed sets and
// CPUs past 1023 are errors naming the line.
TEST(Config, CpuMap) {
  core::Diagnostics d;
  Config c = parse("global\n  nbthread 4\n  cpu-map auto:1/1-4 0-3\n  cpu-map 1/odd 6,8-9\n  cpu-map 1 2-\n"
                   "  cpu-map 2/1 0\n  tune.listener.cpu-steering on\n" + kMinimal, d);
  EXPECT_FALSE(d.hasErrors()) << d.render();
  ASSERT_EQ(c.global.cpuMap.size(), 3u);
  EXPECT_TRUE(c.global.cpuMap[0].automatic);
  EXPECT_EQ(c.global.cpuMap[0].threads, (std::vector<uint32_t>{1, 2, 3, 4}));
  EXPECT_EQ(c.global.cpuMap[0].cpus, (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_FALSE(c.global.cpuMap[1].automatic);
  EXPECT_EQ(c.global.cpuMap[1].threads.front(), 1u);
  EXPECT_EQ(c.global.cpuMap[1].threads[1], 3u);
  EXPECT_EQ(c.global.cpuMap[1].cpus, (std::vector<uint32_t>{6, 8, 9}));
  EXPECT_EQ(c.global.cpuMap[2].threads.size(), 256u) << "a lone group number is all its threads";
  EXPECT_EQ(c.global.cpuMap[2].cpus.size(), 1022u) << "2- runs to CPU 1023";
  EXPECT_TRUE(hasMessage(d, "test.cfg:6: warning: cpu-map for thread group 2 ignored")) << d.render();
  EXPECT_TRUE(c.global.cpuSteering);
  core::Diagnostics d2;
  EXPECT_FALSE(parse("global\n  cpu-map auto:1/1-2 0-1\n" + kMinimal, d2).global.cpuSteering) << "off unless asked";

  for (const char* bad : {"cpu-map 1/1 1024", "cpu-map 1/0 1", "cpu-map 1/x 1", "cpu-map 1/1 3-1", "cpu-map 1/1"}) {
    core::Diagnostics e;
    parse(std::string("global\n  ") + bad + "\n" + kMinimal, e);
    EXPECT_TRUE(e.hasErrors()) << bad;
    EXPECT_TRUE(hasMessage(e, "test.cfg:2: error:")) << bad << ": " << e.render();
  }
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

// source with usesrc at backend and server level.
TEST(Parser, SourceAndUsesrc) {
  core::Diagnostics diag;
  Config cfg = parse(kMinimal +
                         "backend b\n  source 0.0.0.0 usesrc clientip\n"
                         "  server a 10.0.0.1:443 source 10.0.0.9 usesrc client check\n"
                         "  server c 10.0.0.3:443 source 10.0.0.9:0 usesrc 10.1.1.1 interface eth1\n"
                         "  server d 10.0.0.4:443\n",
                     diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  const ProxyConfig* b = cfg.findProxy("b", true);
  EXPECT_EQ(b->source.usesrc, SourceSpec::Usesrc::ClientIp);
  EXPECT_EQ(b->servers[0].source.usesrc, SourceSpec::Usesrc::Client);
  EXPECT_TRUE(b->servers[0].check);
  EXPECT_EQ(b->servers[1].source.usesrc, SourceSpec::Usesrc::Address);
  EXPECT_EQ(b->servers[1].source.usesrcAddress.ipString(), "10.1.1.1");
  EXPECT_EQ(b->servers[1].source.interface, "eth1");
  EXPECT_FALSE(b->servers[2].source.set);

  core::Diagnostics bad;
  parse(kMinimal + "backend b\n  source 0.0.0.0 usesrc hdr_ip(x-forwarded-for)\n  source nothere\n", bad);
  EXPECT_TRUE(hasMessage(bad, "test.cfg:7: error: 'usesrc hdr_ip(x-forwarded-for)' needs HTTP"));
  EXPECT_TRUE(hasMessage(bad, "test.cfg:8: error: invalid source address 'nothere'"));
}

}  // namespace
// tune.maxaccept as HAProxy reads it: -1 lifts the limit, 0 still accepts
// one connection per wake-up (never zero: a listener that accepts nothing
// when woken spins a core), anything below -1 or not a number is an error.
TEST(Config, MaxAcceptValues) {
  auto value = [](const std::string& v, bool* ok) {
    core::Diagnostics diag;
    Config cfg = parse("global\n  tune.maxaccept " + v + "\n", diag);
    *ok = !diag.hasErrors();
    return cfg.global.maxAccept.value_or(0);
  };
  bool ok = false;
  EXPECT_EQ(value("0", &ok), 1u);
  EXPECT_TRUE(ok);
  EXPECT_EQ(value("-1", &ok), UINT32_MAX);
  EXPECT_TRUE(ok);
  EXPECT_EQ(value("16", &ok), 16u);
  EXPECT_TRUE(ok);
  value("-2", &ok);
  EXPECT_FALSE(ok);
  value("many", &ok);
  EXPECT_FALSE(ok);
}

// Addresses expand environment variables without quotes, as HAProxy's
// address parser does (VTest writes "server s1 ${s1_addr}:${s1_port}");
// other words keep a bare $NAME as written.
TEST(Config, VariablesInAddressesWithoutQuotes) {
  auto e = env({{"ADDR", "127.0.0.1"}, {"PORT", "8443"}, {"s1_addr", "127.0.0.2"}, {"s1_port", "9000"},
                {"LOG", "127.0.0.3"}, {"SRC", "127.0.0.4"}});
  core::Diagnostics diag;
  Config cfg = parse("global\n  log ${LOG}:${PORT} local0\n"
                     "defaults\n  mode tcp\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n"
                     "frontend fe\n  bind ${ADDR}:$PORT\n  default_backend be\n"
                     "backend be\n  source ${SRC}\n  server srv ${s1_addr}:${s1_port}\n"
                     "  server other ${UNSET-127.0.0.5}:${s1_port}\n"
                     "  acl literal req.ssl_sni -m str $PORT\n",
                     diag, e);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  const ProxyConfig* fe = cfg.findProxy("fe", false);
  const ProxyConfig* be = cfg.findProxy("be", true);
  ASSERT_TRUE(fe && be);
  ASSERT_EQ(fe->binds.size(), 1u);
  ASSERT_EQ(fe->binds[0].addresses.size(), 1u);
  EXPECT_EQ(fe->binds[0].addresses[0].toString(), "127.0.0.1:8443");
  ASSERT_EQ(be->servers.size(), 2u);
  EXPECT_EQ(be->servers[0].address.toString(), "127.0.0.2:9000");
  EXPECT_EQ(be->servers[1].address.toString(), "127.0.0.5:9000");
  EXPECT_EQ(be->source.address.toString(), "127.0.0.4:0");
  ASSERT_EQ(cfg.global.log.targets.size(), 1u);
  EXPECT_EQ(cfg.global.log.targets[0].address.toString(), "127.0.0.3:8443");
  auto w = readConfigText("  acl literal req.ssl_sni -m str $PORT\n", "t.cfg", e, diag);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].words.back(), "$PORT") << "outside addresses a bare variable stays as written";
}

// "log ${S1_addr}:${S1_port}" with both unset reads ":" — HAProxy takes it
// as the wildcard on port 514 (this host); so does sluice, with a warning.
TEST(Config, LogTargetFromUnsetVariablesIsTheWildcard) {
  core::Diagnostics diag;
  Config cfg = parse("global\n  log ${S1_addr}:${S1_port} daemon\n", diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  EXPECT_TRUE(hasMessage(diag, "test.cfg:2: warning: log target ':' is the wildcard address")) << diag.render();
  ASSERT_EQ(cfg.global.log.targets.size(), 1u);
  EXPECT_EQ(cfg.global.log.targets[0].address.toString(), "0.0.0.0:514");
}

// A filter that acts on TCP streams (SPOE, bandwidth limits) is an error
// with its line, not a silent no-op; HTTP-only filters are warnings.
TEST(Config, StreamFiltersAreRefused) {
  const std::string head = "defaults\n  mode tcp\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n"
                           "frontend fe\n  bind :8443\n";
  for (const char* f : {"spoe", "spoe config /etc/spoe.conf", "bwlim-in lim default-limit 1m default-period 1s"}) {
    core::Diagnostics diag;
    parse(head + "  filter " + f + "\n", diag);
    EXPECT_TRUE(diag.hasErrors()) << f;
    EXPECT_TRUE(hasMessage(diag, "test.cfg:8: error: 'filter ")) << diag.render();
  }
  core::Diagnostics diag;
  parse(head + "  filter compression\n", diag);
  EXPECT_FALSE(diag.hasErrors()) << diag.render();
  EXPECT_TRUE(hasMessage(diag, "test.cfg:8: warning: 'filter compression' is accepted but ignored")) << diag.render();
}

// HAProxy 2.5's limits on defaults sections with rules, the cases of its
// startup/default_rules test, each refused at its line.
TEST(Parser, DefaultsWithRules) {
  const std::string t = "  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";
  struct Case {
    std::string text;
    std::string message;  // empty: valid
  } cases[] = {
      {"defaults\n  tcp-request connection accept\n", "error: an anonymous defaults section cannot hold"},
      {"defaults d\n  tcp-response content accept\ndefaults from d\n  mode tcp\n",
       "error: a defaults section cannot inherit from defaults 'd'"},
      {"defaults d\n  tcp-request content accept\nlisten li from d\n  bind :8000\n  server www 127.0.0.1:80\n",
       "error: a listen section cannot inherit"},
      {"defaults d\n  tcp-request content accept\nfrontend fe from d\n  bind :8000\n  default_backend be\n"
       "backend be from d\n  server www 127.0.0.1:80\n",
       "used by frontends and by backends"},
      {"defaults d\n  tcp-request session accept\nbackend be from d\n  server www 127.0.0.1:80\n",
       "backend cannot inherit the tcp-request connection/session rules"},
      {"defaults d\n  tcp-response content accept\nfrontend fe from d\n  bind :8000\n",
       "frontend cannot inherit the tcp-response rules"},
      {"defaults d\n  tcp-request content track-sc0 src\nbackend be from d\n  server www 127.0.0.1:80\n",
       "error: 'track-sc0' in a defaults section needs 'table <name>'"},
      {"defaults d\n  mode http\n  http-request set-header x \"%[srv_conn(www)]\"\nbackend be from d\n  server www 127.0.0.1:80\n",
       "error: 'srv_conn(www)' in a defaults section must name the backend"},
      {"defaults d\n  tcp-response content accept\nbackend be from d\n  server www 127.0.0.1:80\n", ""},
      {"defaults d\n  tcp-request content track-sc0 src table be\nbackend be from d\n"
       "  stick-table type ip size 1k\n  server www 127.0.0.1:80\n", ""},
  };
  for (const Case& c : cases) {
    core::Diagnostics diag;
    std::string text = c.text;
    text.insert(text.find('\n') + 1, t);
    parse(text, diag);
    if (c.message.empty()) {
      EXPECT_FALSE(diag.hasErrors()) << text << diag.render();
    } else {
      EXPECT_TRUE(hasMessage(diag, c.message)) << text << diag.render();
    }
  }
}

}  // namespace sluice::config
