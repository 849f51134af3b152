// SPDX-License-Identifier: Apache-2.0
// The stats proxy as tutorials write it ("listen stats", "stats uri",
// "stats auth", "stats admin", "http-request use-service
// prometheus-exporter") through the real binary: authentication, the page
// and its CSV/JSON, the admin form, HTTP rules, and the Prometheus output
// checked with HAProxy's own metric names and, when installed, promtool.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "harness.h"

namespace sluice::testing {
namespace {

struct StatsFarm {
  TestServer s1{"s1", TestServer::Mode::Identify};
  TestServer s2{"s2", TestServer::Mode::Identify};
  int plain = freePort();
  int stats = freePort();

  std::string config(const std::string& adminCondition = "if TRUE", const std::string& extra = "") {
    return "global\n  log stdout format raw local0\n  nbthread 2\n"
           "defaults\n  mode tcp\n  log global\n  timeout connect 2s\n  timeout client 10s\n"
           "  timeout server 10s\n"
           "listen plain\n  bind 127.0.0.1:" + std::to_string(plain) + "\n"
           "  server s1 127.0.0.1:" + std::to_string(s1.port()) + " check inter 300\n"
           "  server s2 127.0.0.1:" + std::to_string(s2.port()) + "\n"
           "listen stats\n  bind 127.0.0.1:" + std::to_string(stats) + "\n  mode http\n"
           "  stats enable\n  stats uri /stats\n  stats refresh 10s\n  stats auth admin:s3cret\n"
           "  stats admin " + adminCondition + "\n"
           "  http-request use-service prometheus-exporter if { path /metrics }\n" + extra;
  }
};

const std::vector<std::string> kAuth = {"Authorization: Basic YWRtaW46czNjcmV0"};  // admin:s3cret

TEST(StatsHttp, PageNeedsTheUserAndShowsEveryServer) {
  StatsFarm f;
  Sluice s(f.config(), {f.plain, f.stats});
  ASSERT_TRUE(s.started()) << s.log();
  askServerName(f.plain);

  std::string denied = httpRequest(f.stats, "GET", "/stats");
  EXPECT_EQ(httpStatus(denied), 401) << denied;
  EXPECT_NE(denied.find("WWW-Authenticate: Basic realm=\""), std::string::npos);
  EXPECT_EQ(httpStatus(httpRequest(f.stats, "GET", "/stats", {"Authorization: Basic YWRtaW46d3Jvbmc="})), 401);

  std::string page = httpRequest(f.stats, "GET", "/stats", kAuth);
  ASSERT_EQ(httpStatus(page), 200) << page;
  EXPECT_NE(page.find("Content-Type: text/html"), std::string::npos);
  std::string body = httpBody(page);
  EXPECT_NE(body.find("data-proxy=\"plain\" data-name=\"s1\""), std::string::npos);
  EXPECT_NE(body.find("data-proxy=\"plain\" data-name=\"s2\" data-status=\"no check\""), std::string::npos);
  EXPECT_NE(body.find("<canvas id=\"chart\""), std::string::npos);
  EXPECT_NE(body.find("name=\"action\""), std::string::npos) << "admin form for 'stats admin if TRUE'";

  std::string csv = httpRequest(f.stats, "GET", "/stats;csv", kAuth);
  EXPECT_EQ(httpStatus(csv), 200);
  EXPECT_EQ(httpBody(csv).rfind("# pxname,svname,qcur,", 0), 0u);
  EXPECT_NE(httpBody(csv).find("\nplain,s2,"), std::string::npos);

  std::string json = httpRequest(f.stats, "GET", "/stats;json", kAuth);
  EXPECT_EQ(httpStatus(json), 200);
  EXPECT_NE(httpBody(json).find("\"proxy\":\"plain\",\"name\":\"s1\""), std::string::npos) << httpBody(json);
  EXPECT_NE(httpBody(json).find("\"history\":["), std::string::npos);

  // Anything else on the stats proxy is not a page.
  EXPECT_EQ(httpStatus(httpRequest(f.stats, "GET", "/other", kAuth)), 503);
  EXPECT_EQ(httpStatus(httpRequest(f.stats, "DELETE", "/stats", kAuth)), 405);
}

TEST(StatsHttp, AdminFormDrainsAServer) {
  StatsFarm f;
  Sluice s(f.config(), {f.plain, f.stats});
  ASSERT_TRUE(s.started()) << s.log();
  std::string r = httpRequest(f.stats, "POST", "/stats", kAuth, "b=plain&s=s2&action=drain");
  EXPECT_EQ(httpStatus(r), 303) << r;
  EXPECT_NE(r.find("Location: /stats;st=DONE"), std::string::npos) << r;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(askServerName(f.plain), "s1");
  std::string page = httpBody(httpRequest(f.stats, "GET", "/stats;st=DONE", kAuth));
  EXPECT_NE(page.find("data-name=\"s2\" data-status=\"DRAIN\""), std::string::npos);
  EXPECT_NE(page.find("Action processed successfully."), std::string::npos);

  r = httpRequest(f.stats, "POST", "/stats", kAuth, "b=plain&s=s2&action=ready");
  EXPECT_EQ(httpStatus(r), 303);
  EXPECT_NE(httpBody(httpRequest(f.stats, "GET", "/stats", kAuth)).find("data-name=\"s2\" data-status=\"no check\""),
            std::string::npos);
  EXPECT_NE(httpRequest(f.stats, "POST", "/stats", kAuth, "b=plain&s=nosuch&action=maint").find("st=ERRP"),
            std::string::npos);
}

TEST(StatsHttp, AdminNeedsItsCondition) {
  StatsFarm f;
  Sluice s(f.config("if { src 10.0.0.0/8 }"), {f.plain, f.stats});
  ASSERT_TRUE(s.started()) << s.log();
  std::string page = httpBody(httpRequest(f.stats, "GET", "/stats", kAuth));
  EXPECT_EQ(page.find("name=\"action\""), std::string::npos) << "no admin form for 127.0.0.1";
  EXPECT_EQ(httpStatus(httpRequest(f.stats, "POST", "/stats", kAuth, "b=plain&s=s2&action=maint")), 403);
  EXPECT_NE(askServerName(f.plain), "none");
}

TEST(StatsHttp, HttpRequestRulesApply) {
  StatsFarm f;
  Sluice s(f.config("if TRUE", "  http-request deny if { path_beg /stats/secret }\n"), {f.plain, f.stats});
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_EQ(httpStatus(httpRequest(f.stats, "GET", "/stats/secret", kAuth)), 403);
  EXPECT_EQ(httpStatus(httpRequest(f.stats, "GET", "/stats", kAuth)), 200);
  // The exporter needs no stats credentials: its rule comes first.
  EXPECT_EQ(httpStatus(httpRequest(f.stats, "GET", "/metrics")), 200);
}

// Every sample line of the exposition format: name, labels, value.
struct Sample {
  std::string name;
  std::string labels;
  double value = 0;
};

std::vector<Sample> parseExposition(const std::string& text, std::string& error) {
  std::vector<Sample> out;
  std::set<std::string> typed;
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (type != "gauge" && type != "counter") error += "line " + std::to_string(n) + ": type " + type + "\n";
      if (!typed.insert(name).second) error += "line " + std::to_string(n) + ": " + name + " typed twice\n";
      continue;
    }
    Sample s;
    size_t brace = line.find('{');
    size_t space = line.rfind(' ');
    if (space == std::string::npos) {
      error += "line " + std::to_string(n) + ": no value\n";
      continue;
    }
    s.name = line.substr(0, std::min(brace, space));
    if (brace != std::string::npos) s.labels = line.substr(brace, line.rfind('}') - brace + 1);
    s.value = std::stod(line.substr(space + 1));
    if (!typed.count(s.name)) error += "line " + std::to_string(n) + ": " + s.name + " has no TYPE before it\n";
    for (char c : s.name) {
      if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') error += "bad name " + s.name + "\n";
    }
    out.push_back(s);
  }
  return out;
}

double value(const std::vector<Sample>& all, const std::string& name, const std::string& labels) {
  for (const Sample& s : all) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return -12345;
}

TEST(StatsHttp, PrometheusSpeaksHAProxysNames) {
  StatsFarm f;
  Sluice s(f.config(), {f.plain, f.stats});
  ASSERT_TRUE(s.started()) << s.log();
  for (int i = 0; i < 4; ++i) askServerName(f.plain);
  std::string r = httpRequest(f.stats, "GET", "/metrics");
  ASSERT_EQ(httpStatus(r), 200);
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  std::string text = httpBody(r);
  std::string error;
  std::vector<Sample> all = parseExposition(text, error);
  EXPECT_TRUE(error.empty()) << error;

  // Every haproxy_ name is one HAProxy 2.6 exports itself, so dashboards
  // built for HAProxy find them.
  std::set<std::string> known;
  std::istringstream names(readFile(dataDir() + "/haproxy-2.6-metric-names.txt"));
  for (std::string n; std::getline(names, n);) known.insert(n);
  std::set<std::string> ours;
  for (const Sample& x : all) ours.insert(x.name);
  for (const std::string& n : ours) {
    if (n.rfind("haproxy_", 0) == 0) EXPECT_TRUE(known.count(n)) << n << " is not an HAProxy metric";
    else EXPECT_EQ(n.rfind("sluice_", 0), 0u) << n;
  }
  EXPECT_GT(ours.size(), 80u);

  EXPECT_EQ(value(all, "haproxy_frontend_sessions_total", "{proxy=\"plain\"}"), 4);
  EXPECT_EQ(value(all, "haproxy_server_sessions_total", "{proxy=\"plain\",server=\"s1\"}") +
                value(all, "haproxy_server_sessions_total", "{proxy=\"plain\",server=\"s2\"}"),
            4);
  EXPECT_EQ(value(all, "haproxy_server_status", "{proxy=\"plain\",server=\"s2\",state=\"UP\"}"), 1);
  EXPECT_EQ(value(all, "haproxy_server_status", "{proxy=\"plain\",server=\"s2\",state=\"DOWN\"}"), 0);
  EXPECT_EQ(value(all, "haproxy_backend_active_servers", "{proxy=\"plain\"}"), 2);
  EXPECT_GT(value(all, "haproxy_backend_bytes_in_total", "{proxy=\"plain\"}"), 0);
  EXPECT_EQ(value(all, "haproxy_process_nbthread", ""), 2);
  EXPECT_GE(value(all, "sluice_process_spliced_bytes_total", "") + value(all, "sluice_process_copied_bytes_total", ""),
            1);
  // The check of s1 has run by now (inter 300ms): its status is reported.
  for (int i = 0; i < 50; ++i) {
    all = parseExposition(httpBody(httpRequest(f.stats, "GET", "/metrics")), error);
    if (value(all, "haproxy_server_check_status", "{proxy=\"plain\",server=\"s1\",state=\"L4OK\"}") == 1) break;
    usleep(50000);
  }
  EXPECT_EQ(value(all, "haproxy_server_check_status", "{proxy=\"plain\",server=\"s1\",state=\"L4OK\"}"), 1);

  // "?scope=" as HAProxy's exporter takes it.
  std::string scoped = httpBody(httpRequest(f.stats, "GET", "/metrics?scope=server"));
  EXPECT_NE(scoped.find("haproxy_server_status"), std::string::npos);
  EXPECT_EQ(scoped.find("haproxy_frontend_"), std::string::npos);
  EXPECT_EQ(scoped.find("haproxy_process_"), std::string::npos);

  // And the reference checker, when Debian's prometheus package is there.
  if (runCommand("command -v promtool >/dev/null") != 0) SLUICE_SKIP_OR_FAIL("promtool is not installed (scripts/install-deps installs prometheus)");
  std::string file = makeTempDir("prom") + "/metrics.txt";
  writeFile(file, text);
  std::string out;
  int rc = runCommand("promtool check metrics < " + file + " 2>&1", &out);
  EXPECT_EQ(rc, 0) << out;
}

}  // namespace
}  // namespace sluice::testing
