// SPDX-License-Identifier: Apache-2.0
// Unit tests of fetches, converters, match methods, maps, ACLs and their
// three-valued evaluation (pass / fail / not yet).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "route/acl.h"
#include "route/expression.h"
#include "route/format.h"
#include "route/pattern.h"

namespace sluice::route {
namespace {

const PatternEntry* find(PatternIndex& idx, const std::string& s) {
  Sample smp = Sample::ofStr(s);
  return idx.lookup(smp);
}

PatternIndex index(MatchMethod m, bool icase, std::vector<std::pair<std::string, std::string>> entries) {
  PatternIndex idx(m, icase);
  std::string error;
  for (auto& [k, v] : entries) EXPECT_TRUE(idx.add(k, v, error)) << error;
  return idx;
}

// str: exact, case-sensitive unless -i.
TEST(Patterns, ExactString) {
  auto idx = index(MatchMethod::Str, false, {{"a.example", "1"}});
  EXPECT_NE(find(idx, "a.example"), nullptr);
  EXPECT_EQ(find(idx, "A.example"), nullptr);
  auto icase = index(MatchMethod::Str, true, {{"A.Example", "1"}});
  EXPECT_NE(find(icase, "a.EXAMPLE"), nullptr);
}

// beg is a prefix tree: the longest prefix wins, whatever the file order.
TEST(Patterns, BeginningLongestWins) {
  auto idx = index(MatchMethod::Beg, false, {{"api", "short"}, {"api.v2", "long"}});
  EXPECT_EQ(find(idx, "api.v2.example")->value, "long");
  EXPECT_EQ(find(idx, "api.v1.example")->value, "short");
  EXPECT_EQ(find(idx, "www"), nullptr);
}

// end, sub, reg are lists: the first matching line wins.
TEST(Patterns, EndSubRegFirstInFileOrder) {
  auto end = index(MatchMethod::End, false, {{".example.com", "wide"}, {"www.example.com", "narrow"}});
  EXPECT_EQ(find(end, "www.example.com")->value, "wide");
  EXPECT_EQ(find(end, "example.com"), nullptr);
  auto sub = index(MatchMethod::Sub, true, {{"MIDDLE", "x"}});
  EXPECT_NE(find(sub, "a.middle.b"), nullptr);
  auto reg = index(MatchMethod::Reg, false, {{"^api[0-9]+\\.", "api"}, {".*", "any"}});
  EXPECT_EQ(find(reg, "api42.example")->value, "api");
  EXPECT_EQ(find(reg, "web.example")->value, "any");
  PatternIndex bad(MatchMethod::Reg, false);
  std::string error;
  EXPECT_FALSE(bad.add("(unclosed", "", error));
  EXPECT_NE(error.find("invalid regex"), std::string::npos);
}

// dom: the pattern must stand between delimiters; leading dots are ignored.
TEST(Patterns, DomainMatch) {
  auto idx = index(MatchMethod::Dom, true, {{".example.com", "e"}, {"api", "a"}});
  EXPECT_EQ(find(idx, "www.example.com")->value, "e");
  EXPECT_EQ(find(idx, "example.com")->value, "e");
  EXPECT_EQ(find(idx, "badexample.com"), nullptr);
  EXPECT_EQ(find(idx, "x.api.y")->value, "a");
  EXPECT_EQ(find(idx, "rapid.y"), nullptr);
  auto dir = index(MatchMethod::Dir, false, {{"/images/", "i"}});
  EXPECT_NE(find(dir, "/static/images/logo.png"), nullptr);
  EXPECT_EQ(find(dir, "/images.png"), nullptr);
}

// int: values, ranges, and operators.
TEST(Patterns, IntegersAndVersions) {
  PatternIndex idx(MatchMethod::Int, false);
  std::string error;
  ASSERT_TRUE(idx.add("10:20", "", error));
  ASSERT_TRUE(idx.add("gt 100", "", error));
  auto hit = [&](int64_t v) { return idx.lookup(Sample::ofInt(v)) != nullptr; };
  EXPECT_TRUE(hit(10));
  EXPECT_TRUE(hit(20));
  EXPECT_FALSE(hit(21));
  EXPECT_FALSE(hit(100));
  EXPECT_TRUE(hit(101));
  EXPECT_FALSE(idx.add("abc", "", error));
  EXPECT_FALSE(idx.add("gt 1:2", "", error));

  PatternIndex ver(MatchMethod::Int, false, /*dottedVersions=*/true);
  ASSERT_TRUE(ver.add("3.1:3.3", "", error)) << error;
  EXPECT_NE(ver.lookup(Sample::ofInt((3 << 16) | 3)), nullptr);
  EXPECT_EQ(ver.lookup(Sample::ofInt((3 << 16) | 0)), nullptr);
}

// ip: networks of both families; the finest (longest) prefix wins.
TEST(Patterns, Addresses) {
  PatternIndex idx(MatchMethod::Ip, false);
  std::string error;
  ASSERT_TRUE(idx.add("10.0.0.0/8", "wide", error));
  ASSERT_TRUE(idx.add("10.1.0.0/255.255.0.0", "narrow", error));
  ASSERT_TRUE(idx.add("2001:db8::/32", "v6", error));
  ASSERT_TRUE(idx.add("192.168.1.7", "host", error));
  auto at = [&](const std::string& a) -> std::string {
    auto addr = core::Address::parse(a.find(':') != std::string::npos ? "[" + a + "]:1" : a + ":1");
    const PatternEntry* e = idx.lookup(Sample::ofIp(*addr));
    return e ? e->value : "";
  };
  EXPECT_EQ(at("10.2.3.4"), "wide");
  EXPECT_EQ(at("10.1.3.4"), "narrow");
  EXPECT_EQ(at("2001:db8::5"), "v6");
  EXPECT_EQ(at("192.168.1.7"), "host");
  EXPECT_EQ(at("192.168.1.8"), "");
  EXPECT_EQ(at("::ffff:10.1.0.1"), "narrow");  // a v4-mapped client on a v4v6 listener
  EXPECT_FALSE(idx.add("10.0.0.0/33", "", error));
  EXPECT_FALSE(idx.add("not-an-address", "", error));
}

// A SessionView with a parsed hello, for expression tests.
struct HelloView {
  proto::ClientHelloInfo info;
  Variables vars;
  SessionView view(bool helloFinal = true, bool final = true) {
    SessionView v;
    v.src = *core::Address::parse("192.0.2.7:40000");
    v.dst = *core::Address::parse("198.51.100.1:443");
    v.hello = helloFinal ? &info : nullptr;
    v.helloFinal = helloFinal;
    v.final = final;
    v.vars = &vars;
    v.counted = true;
    v.fromClient = v.toServer = 517;
    v.fromServer = v.toClient = 4096;
    return v;
  }
};

// Fetches and converters chained as HAProxy writes them.
TEST(Expressions, FetchesAndConverters) {
  MapRegistry maps;
  HelloView hv;
  hv.info.hasSni = true;
  hv.info.sni = "WWW.Example.ORG";
  hv.info.handshakeType = 1;
  hv.info.legacyVersion = 0x0303;
  hv.info.alpn = {"h2", "http/1.1"};
  auto eval = [&](const std::string& text, size_t index = 0) -> std::string {
    std::string error;
    auto e = SampleExpr::parse(text, maps, error);
    EXPECT_TRUE(e) << text << ": " << error;
    if (!e) return "<parse error>";
    Sample s;
    return e->evaluate(hv.view(), index, s) ? sampleToString(s) : "<none>";
  };
  EXPECT_EQ(eval("req.ssl_sni"), "WWW.Example.ORG");
  EXPECT_EQ(eval("req_ssl_sni,lower"), "www.example.org");
  EXPECT_EQ(eval("req.ssl_sni,upper,length"), "15");
  EXPECT_EQ(eval("req.ssl_sni,lower,field(1,.)"), "www");
  EXPECT_EQ(eval("req.ssl_sni,lower,field(-2,.,2)"), "example.org");
  EXPECT_EQ(eval("req.ssl_hello_type"), "1");
  EXPECT_EQ(eval("req.ssl_ver"), std::to_string((3 << 16) | 3));
  EXPECT_EQ(eval("req.ssl_alpn"), "h2");
  EXPECT_EQ(eval("req.ssl_alpn", 1), "http/1.1");
  EXPECT_EQ(eval("req.ssl_alpn", 2), "<none>");
  EXPECT_EQ(eval("src"), "192.0.2.7");
  EXPECT_EQ(eval("src_port"), "40000");
  EXPECT_EQ(eval("dst_port"), "443");
  EXPECT_EQ(eval("str(abc),hex"), "616263");
  EXPECT_EQ(eval("str(1f),hex2i"), "31");
  EXPECT_EQ(eval("str(0A0b),hex2i"), "2571");
  EXPECT_EQ(eval("str(1g),hex2i"), "0");  // not hex: zero, as HAProxy
  EXPECT_EQ(eval("str(abc),hex,hex2i"), "6382179");
  EXPECT_EQ(eval("str(abcde),be2hex"), "6162636465");
  EXPECT_EQ(eval("str(abcde),be2hex(:,2)"), "6162:6364:65");
  EXPECT_EQ(eval("str(abcde),be2hex(:,2,1)"), "6162:6364");
  EXPECT_EQ(eval("var(txn.none)"), "<none>");
  hv.vars.set("txn.sni", Sample::ofStr("kept"));
  EXPECT_EQ(eval("var(txn.sni)"), "kept");
  EXPECT_EQ(eval("ipv4(10.1.2.3)"), "10.1.2.3");
  EXPECT_EQ(eval("ipv6(2001:db8::1)"), "2001:db8::1");
  EXPECT_EQ(eval("bytes_in"), "517");
  EXPECT_EQ(eval("bytes_out"), "4096");
  EXPECT_EQ(eval("req.bytes_out"), "517");
  EXPECT_EQ(eval("res.bytes_in"), "4096");

  std::string error;
  EXPECT_FALSE(SampleExpr::parse("ipv4(2001:db8::1)", maps, error));
  EXPECT_NE(error.find("'ipv4' expects an IPv4 address, got '2001:db8::1'"), std::string::npos) << error;
  EXPECT_FALSE(SampleExpr::parse("ipv6(10.1.2.3)", maps, error));
  EXPECT_FALSE(SampleExpr::parse("ipv4(nonsense)", maps, error));
  EXPECT_FALSE(SampleExpr::parse("req.ssl_snii", maps, error));
  EXPECT_NE(error.find("did you mean 'req.ssl_sni'"), std::string::npos) << error;
  EXPECT_FALSE(SampleExpr::parse("req.ssl_sni,lowr", maps, error));
  EXPECT_NE(error.find("did you mean 'lower'"), std::string::npos) << error;
  EXPECT_FALSE(SampleExpr::parse("req.ssl_sni(1)", maps, error));
  EXPECT_FALSE(SampleExpr::parse("req.payload(0)", maps, error));
  EXPECT_FALSE(SampleExpr::parse("req.ssl_sni,map(/no/such.map)", maps, error));
  EXPECT_NE(error.find("cannot open map file"), std::string::npos) << error;
}

// Before the hello is whole, TLS fetches say "not yet"; after a non-TLS
// verdict they say "no value", final.
TEST(Expressions, NotYetVersusNever) {
  MapRegistry maps;
  HelloView hv;
  std::string error;
  auto e = SampleExpr::parse("req.ssl_sni", maps, error);
  Sample s;
  EXPECT_FALSE(e->evaluate(hv.view(/*helloFinal=*/false, /*final=*/false), 0, s));
  EXPECT_TRUE(s.mayChange);
  Sample t;
  EXPECT_FALSE(e->evaluate(hv.view(/*helloFinal=*/false, /*final=*/true), 0, t));
  EXPECT_FALSE(t.mayChange);
}

// Map converters: match kinds, output types and default values.
TEST(Expressions, MapConverters) {
  std::string dir = std::filesystem::temp_directory_path() / "sluice-maps";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/sni.map") << "# comment\n\n  a.example   bk_a  \nb.example bk b with spaces\n";
  std::ofstream(dir + "/ports.map") << "a.example 8443\n";
  std::ofstream(dir + "/dom.map") << "example.net bk_net\n";
  MapRegistry maps(dir);
  HelloView hv;
  hv.info.hasSni = true;
  auto eval = [&](const std::string& sni, const std::string& text) -> std::string {
    hv.info.sni = sni;
    std::string error;
    auto e = SampleExpr::parse(text, maps, error);
    EXPECT_TRUE(e) << error;
    Sample s;
    return e && e->evaluate(hv.view(), 0, s) ? sampleToString(s) : "<none>";
  };
  EXPECT_EQ(eval("a.example", "req.ssl_sni,map(sni.map)"), "bk_a");
  EXPECT_EQ(eval("b.example", "req.ssl_sni,map_str(sni.map)"), "bk b with spaces");
  EXPECT_EQ(eval("c.example", "req.ssl_sni,map(sni.map)"), "<none>");
  EXPECT_EQ(eval("c.example", "req.ssl_sni,map(sni.map,fallback)"), "fallback");
  EXPECT_EQ(eval("a.example", "req.ssl_sni,map_str_int(ports.map)"), "8443");
  EXPECT_EQ(eval("www.example.net", "req.ssl_sni,map_dom(dom.map)"), "bk_net");
  EXPECT_EQ(eval("www.example.net", "req.ssl_sni,map_end(dom.map)"), "bk_net");
  // The same file is read and indexed once per match kind.
  size_t files = maps.filesRead().size();
  eval("a.example", "req.ssl_sni,map(sni.map)");
  EXPECT_EQ(maps.filesRead().size(), files);
  std::filesystem::remove_all(dir);
}

// Conditions: named and inline ACLs, AND, OR, NOT, unless, and "not yet".
TEST(Acls, ConditionsAreThreeValued) {
  MapRegistry maps;
  AclScope scope(maps);
  core::Diagnostics diag;
  std::vector<config::AclConfig> acls = {
      {{"t", 1}, "is_a", {"req.ssl_sni", "-i", "a.example"}},
      {{"t", 2}, "is_a", {"req.ssl_sni", "-i", "a2.example"}},
      {{"t", 3}, "lan", {"src", "192.0.2.0/24"}},
      {{"t", 4}, "h2", {"req.ssl_alpn", "h2"}},
  };
  scope.define(acls, diag);
  ASSERT_FALSE(diag.hasErrors()) << diag.render();
  HelloView hv;
  hv.info.hasSni = true;
  hv.info.sni = "A2.example";
  hv.info.alpn = {"http/1.1", "h2"};
  auto eval = [&](std::vector<std::string> words, bool helloFinal = true, bool final = true) {
    std::string error;
    auto c = scope.compileCondition(words, error);
    EXPECT_TRUE(c) << error;
    return c ? c->evaluate(hv.view(helloFinal, final)) : Tri::Fail;
  };
  EXPECT_EQ(eval({"if", "is_a", "lan"}), Tri::Pass);
  EXPECT_EQ(eval({"if", "is_a", "!lan"}), Tri::Fail);
  EXPECT_EQ(eval({"unless", "is_a"}), Tri::Fail);
  EXPECT_EQ(eval({"if", "!is_a", "||", "h2"}), Tri::Pass);
  EXPECT_EQ(eval({"if", "{", "req.ssl_sni", "-m", "end", ".example", "}"}), Tri::Pass);
  EXPECT_EQ(eval({"if", "!", "{", "src", "10.0.0.0/8", "}"}), Tri::Pass);
  EXPECT_EQ(eval({"if", "TRUE"}), Tri::Pass);
  EXPECT_EQ(eval({"if", "LOCALHOST"}), Tri::Fail);
  // Hello not complete yet, window open: the answer is "not yet", even negated.
  EXPECT_EQ(eval({"if", "is_a"}, false, false), Tri::Miss);
  EXPECT_EQ(eval({"unless", "is_a"}, false, false), Tri::Miss);
  // ...but an address test that fails decides an AND at once.
  EXPECT_EQ(eval({"if", "!lan", "is_a"}, false, false), Tri::Fail);
  // Window over with no hello: final, no value.
  EXPECT_EQ(eval({"if", "is_a"}, false, true), Tri::Fail);
  EXPECT_EQ(eval({"if", "{", "req.ssl_sni", "-m", "found", "}"}, false, true), Tri::Fail);

  std::string error;
  EXPECT_FALSE(scope.compileCondition({"if", "is_b"}, error));
  EXPECT_NE(error.find("unknown ACL 'is_b'"), std::string::npos);
  EXPECT_FALSE(scope.compileCondition({"if", "{", "req.ssl_sni", "x"}, error));
  EXPECT_NE(error.find("missing '}'"), std::string::npos);
  EXPECT_FALSE(scope.compileCondition({"if", "HTTP"}, error));
  EXPECT_NE(error.find("needs HTTP"), std::string::npos);
  EXPECT_FALSE(scope.compileCondition({"if", "is_a", "||"}, error));
  EXPECT_FALSE(scope.compileCondition({"if", "{", "req.ssl_sni", "}"}, error));
  EXPECT_NE(error.find("no pattern"), std::string::npos);
}

// req.len waits while data may still come, unless the window is over.
TEST(Acls, RequestLengthWaits) {
  MapRegistry maps;
  AclScope scope(maps);
  std::string error;
  auto c = scope.compileCondition({"if", "{", "req.len", "gt", "3", "}"}, error);
  ASSERT_TRUE(c) << error;
  std::vector<uint8_t> data = {1, 2};
  SessionView v;
  v.payload = data;
  v.final = false;
  EXPECT_EQ(c->evaluate(v), Tri::Miss);
  v.final = true;
  EXPECT_EQ(c->evaluate(v), Tri::Fail);
  data = {1, 2, 3, 4};
  v.payload = data;
  v.final = false;
  EXPECT_EQ(c->evaluate(v), Tri::Pass);
}

// Format strings: literals, samples, variables, escapes.
TEST(Formats, ParseAndRender) {
  MapRegistry maps;
  std::string error;
  HelloView hv;
  hv.info.hasSni = true;
  hv.info.sni = "x.example";
  auto f = FormatString::parse("bk_%[req.ssl_sni,lower]_100%%", maps, false, error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(f->renderSamples(hv.view()), "bk_x.example_100%");
  EXPECT_TRUE(f->usesHello());
  EXPECT_FALSE(FormatString::parse("%ci", maps, false, error));
  auto lf = FormatString::parse("%ci:%cp %{+Q}[req.ssl_sni]", maps, true, error);
  ASSERT_TRUE(lf) << error;
  EXPECT_EQ(lf->segments().size(), 5u);
  EXPECT_FALSE(FormatString::parse("%[req.ssl_sni", maps, true, error));
}

}  // namespace
}  // namespace sluice::route
