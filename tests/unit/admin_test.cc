// SPDX-License-Identifier: Apache-2.0
// Unit tests of the control-plane pieces that do not need a process: the
// HTTP request parser of the stats endpoint, the runtime API's line
// splitting, pattern lists edited live, rate and average counters, and the
// CSV and Prometheus renderings of a snapshot.
#include <gtest/gtest.h>

#include "admin/cli.h"
#include "admin/endpoints.h"
#include "admin/http_request.h"
#include "admin/prometheus.h"
#include "admin/stats.h"
#include "observe/counters.h"
#include "route/acl.h"
#include "route/expression.h"
#include "route/pattern_ref.h"

namespace sluice::admin {
namespace {

TEST(HttpRequestParser, WholeRequestInPieces) {
  std::string req = "POST /stats;st=x?a=1 HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nX: y \r\n\r\nhello";
  for (size_t n = 0; n < req.size(); ++n) {
    HttpRequest r;
    EXPECT_EQ(parseHttpRequest(std::string_view(req).substr(0, n), r), HttpParse::NeedMore) << n;
  }
  HttpRequest r;
  ASSERT_EQ(parseHttpRequest(req + "extra", r), HttpParse::Done);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/stats;st=x");
  EXPECT_EQ(r.query, "a=1");
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_EQ(r.header("CONTENT-LENGTH"), "5");
  EXPECT_EQ(r.header("x"), "y");
}

// A request sent a byte at a time (a slow or hostile client): with the
// resume point and the size to wait for, the bytes the parser searches add
// up to a few times the request's length, not its square (issue 22).
TEST(HttpRequestParser, ByteAtATimeIsLinear) {
  std::string head = "POST /stats HTTP/1.1\r\nHost: x\r\n";
  while (head.size() < 15000) head += "X-Pad: " + std::string(200, 'p') + "\r\n";  // 75 headers
  const std::string body(60000, 'b');
  const std::string request = head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t scanned = 0, waitFor = 0, calls = 0, searched = 0;
  HttpParse result = HttpParse::NeedMore;
  HttpRequest req;
  for (size_t n = 1; n <= request.size(); ++n) {
    if (n < waitFor) continue;  // what the caller does: nothing to look at yet
    ++calls;
    const size_t from = scanned > 3 ? scanned - 3 : 0;
    searched += n - std::min(from, n);
    result = parseHttpRequest(std::string_view(request).substr(0, n), req, {}, &scanned);
    if (result != HttpParse::NeedMore) break;
    waitFor = req.needed;
  }
  ASSERT_EQ(result, HttpParse::Done);
  EXPECT_EQ(req.body.size(), body.size());
  EXPECT_EQ(req.header("Content-Length"), std::to_string(body.size()));
  // The head is searched once (4 bytes of overlap a call); the body costs
  // one more call once it is all there.
  EXPECT_LE(searched, 4 * head.size() + request.size()) << searched << " bytes searched for " << request.size();
  EXPECT_LE(calls, head.size() + 100) << "a call per byte of the head, one for the body";
}

TEST(HttpRequestParser, RefusesWhatItDoesNotServe) {
  auto status = [](const std::string& text) {
    HttpRequest r;
    return parseHttpRequest(text, r) == HttpParse::Error ? r.errorStatus : 0;
  };
  EXPECT_EQ(status("GET /\r\n\r\n"), 400);
  EXPECT_EQ(status("GET stats HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n"), 413);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(20000, 'a')), 431);
}

TEST(CliLines, CommandsAndWords) {
  EXPECT_EQ(Cli::splitCommands("show info; show stat"), (std::vector<std::string>{"show info", " show stat"}));
  EXPECT_EQ(Cli::splitCommands("add map a\\;b k v"), (std::vector<std::string>{"add map a\\;b k v"}));
  EXPECT_EQ(Cli::splitWords("  set   server be/s1\tstate drain "),
            (std::vector<std::string>{"set", "server", "be/s1", "state", "drain"}));
  EXPECT_EQ(Cli::splitWords("add map /a\\ b.map k v"), (std::vector<std::string>{"add", "map", "/a b.map", "k", "v"}));
  EXPECT_EQ(urlDecode("b=be%2F1&s=a+b"), "b=be/1&s=a b");
}

TEST(PatternRefs, EditsReachEveryUserOrNone) {
  route::PatternRef ref(0, "/x.map", true, "map");
  ref.load({{"a.example", "bk_a"}});
  std::string error;
  auto str = ref.attach(route::MatchMethod::Str, false, false, error);
  auto end = ref.attach(route::MatchMethod::End, true, false, error);
  ASSERT_TRUE(str && end) << error;
  auto lookup = [](const std::shared_ptr<const route::LiveIndex>& live, const std::string& s) -> std::string {
    route::Sample smp = route::Sample::ofStr(s);
    auto idx = live->get();
    const route::PatternEntry* e = idx->lookup(smp);
    return e ? e->value : "-";
  };
  EXPECT_EQ(lookup(str, "b.example"), "-");
  ASSERT_TRUE(ref.add({{"b.example", "bk_b"}}, error)) << error;
  EXPECT_EQ(lookup(str, "b.example"), "bk_b");
  EXPECT_EQ(lookup(end, "WWW.B.EXAMPLE"), "bk_b");
  ASSERT_TRUE(ref.set("b.example", "bk_c", error));
  EXPECT_EQ(lookup(str, "b.example"), "bk_c");
  EXPECT_EQ(ref.remove("b.example", error), 1u);
  EXPECT_EQ(lookup(str, "b.example"), "-");
  // An entry the int user cannot read is refused for all users.
  auto num = ref.attach(route::MatchMethod::Int, false, false, error);
  ASSERT_FALSE(num) << "a.example is no integer";
  route::PatternRef ports(1, "/p.map", true, "map");
  ports.load({{"443", "tls"}});
  auto intUser = ports.attach(route::MatchMethod::Int, false, false, error);
  ASSERT_TRUE(intUser) << error;
  EXPECT_FALSE(ports.add({{"8443", "x"}, {"notanumber", "y"}}, error));
  EXPECT_EQ(ports.size(), 1u) << "nothing of a refused edit is applied";
  // Ids as "show map" prints them select one entry.
  ASSERT_TRUE(ports.add({{"443", "again"}}, error));
  auto entries = ports.entries();
  ASSERT_EQ(entries.size(), 2u);
  char id[32];
  snprintf(id, sizeof(id), "#0x%llx", static_cast<unsigned long long>(entries[1].id));
  EXPECT_EQ(ports.remove(id, error), 1u);
  EXPECT_EQ(ports.entries()[0].value, "tls");
}

TEST(AclNames, DerivedMatchSuffixes) {
  route::MapRegistry maps;
  route::AclScope scope(maps);
  std::string error;
  route::HttpRequestView http;
  http.path = "/metrics/x";
  route::SessionView v;
  v.http = &http;
  auto beg = scope.compileCondition({"if", "{", "path_beg", "/metrics", "}"}, error);
  ASSERT_TRUE(beg) << error;
  EXPECT_EQ(beg->evaluate(v), route::Tri::Pass);
  auto exact = scope.compileCondition({"if", "{", "path", "/metrics", "}"}, error);
  ASSERT_TRUE(exact) << error;
  EXPECT_EQ(exact->evaluate(v), route::Tri::Fail);
  EXPECT_FALSE(scope.compileCondition({"if", "{", "path_nosuch", "/x", "}"}, error));
}

TEST(Counters, RateCountsTheLastWholeSecond) {
  observe::RateCounter r;
  for (int i = 0; i < 5; ++i) r.add(100);
  EXPECT_EQ(r.rate(100), 0u) << "the current second is not over";
  EXPECT_EQ(r.rate(101), 5u);
  r.add(101);
  r.add(101);
  EXPECT_EQ(r.rate(101), 5u);
  EXPECT_EQ(r.rate(102), 2u);
  EXPECT_EQ(r.rate(110), 0u);
  EXPECT_EQ(r.peak(110), 5u);
}

TEST(Counters, SlidingAverage) {
  observe::SlidingAverage a;
  EXPECT_EQ(a.average(), 0u);
  a.add(10);
  a.add(30);
  EXPECT_EQ(a.average(), 20u);
  EXPECT_EQ(a.max(), 30u);
  for (int i = 0; i < 5000; ++i) a.add(100);
  EXPECT_GE(a.average(), 95u);
  EXPECT_LE(a.average(), 100u);
}

TEST(Renderings, CsvQuotingAndUptime) {
  EXPECT_EQ(csvField("plain"), "plain");
  EXPECT_EQ(csvField("a,b"), "\"a,b\"");
  EXPECT_EQ(csvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(uptimeText(90061), "1d 1h01m01s");
  EXPECT_EQ(statColumns().front(), "pxname");
  EXPECT_EQ(statColumns().back(), "-");
}

TEST(Renderings, PrometheusEscapesLabels) {
  Snapshot snap;
  StatRow r;
  r.type = RowType::Backend;
  r.proxy = "we\"ird\\name";
  r.name = "BACKEND";
  r.status = "UP";
  r.state = "UP";
  snap.rows.push_back(r);
  std::string text = renderPrometheus(snap, {"backend"});
  EXPECT_NE(text.find("haproxy_backend_status{proxy=\"we\\\"ird\\\\name\",state=\"UP\"} 1\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("haproxy_process_"), std::string::npos);
}

}  // namespace
}  // namespace sluice::admin
