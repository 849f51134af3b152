// SPDX-License-Identifier: Apache-2.0
// Hitless reload through the real binary: a stream of new TLS connections
// and long transfers keeps going through 50 reloads (SIGUSR2 and SIGHUP,
// alternating between two different configurations) with zero failures and
// zero truncated transfers; a bad file is refused with its file:line and the
// old configuration keeps serving; listeners added and removed by a reload
// open and close.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "harness.h"

namespace sluice::testing {
namespace {

struct Ports {
  int tls = freePort();
  int bulk = freePort();
  int extra = freePort();
};

// Two configurations that differ in routing, weights, timeouts, balance
// algorithm and listeners; both must serve every client of the test.
std::string config(const Ports& p, int variant, int a, int b, int sink) {
  std::string cfg =
      "global\n  log stdout format raw local0\n  nbthread 2\n"
      "defaults\n  mode tcp\n  log global\n  option tcplog\n"
      "  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n"
      "frontend tls\n  bind 127.0.0.1:" + std::to_string(p.tls) + "\n"
      "  tcp-request inspect-delay 5s\n  tcp-request content accept if { req_ssl_hello_type 1 }\n";
  if (variant == 0) {
    cfg += "  use_backend be_a if { req_ssl_sni -i a.test }\n  default_backend be_both\n";
  } else {
    cfg += "  use_backend be_both if { req_ssl_sni -m end .test }\n  default_backend be_a\n";
  }
  cfg += "backend be_a\n  server a 127.0.0.1:" + std::to_string(a) + "\n";
  cfg += std::string("backend be_both\n  balance ") + (variant == 0 ? "roundrobin" : "leastconn") + "\n" +
         "  server a 127.0.0.1:" + std::to_string(a) + " weight " + (variant == 0 ? "10" : "30") + "\n" +
         "  server b 127.0.0.1:" + std::to_string(b) + "\n";
  cfg += "listen bulk\n  bind 127.0.0.1:" + std::to_string(p.bulk) + "\n" +
         "  timeout server " + (variant == 0 ? "30s" : "40s") + "\n" +
         "  server k 127.0.0.1:" + std::to_string(sink) + "\n";
  if (variant == 1) {
    cfg += "listen extra\n  bind 127.0.0.1:" + std::to_string(p.extra) + "\n" +
           "  server k 127.0.0.1:" + std::to_string(sink) + "\n";
  }
  return cfg;
}

std::string configPath(const Sluice& s) { return s.dir() + "/sluice.cfg"; }

// Waits until the log says `count` reloads were applied.
bool waitForReloads(const Sluice& s, size_t count) {
  for (int i = 0; i < scaled(10000) / 10; ++i) {
    if (s.logLines("configuration reloaded").size() >= count) return true;
    usleep(10000);
  }
  return false;
}

TEST(Reload, FiftyReloadsUnderLoadLoseNothing) {
  Cert certA = makeCert(makeTempDir("cert"), "a.test");
  TestServer a("a", TestServer::Mode::Identify, &certA);
  TestServer b("b", TestServer::Mode::Identify, &certA);
  TestServer sink("sink", TestServer::Mode::Sink);
  Ports p;
  Sluice s(config(p, 0, a.port(), b.port(), sink.port()), {p.tls, p.bulk});
  ASSERT_TRUE(s.started()) << s.log();

  std::atomic<bool> done{false};
  std::atomic<int> tlsOk{0}, tlsFailed{0}, bulkOk{0}, bulkFailed{0};
  std::mutex errorsMutex;
  std::vector<std::string> errors;
  auto fail = [&](const std::string& e) {
    std::lock_guard<std::mutex> lock(errorsMutex);
    if (errors.size() < 10) errors.push_back(e);
  };

  // New TLS connections, one after another, on two threads.
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&, t] {
      while (!done.load()) {
        TlsClientOptions o;
        o.sni = t == 0 ? "a.test" : "b.test";
        TlsResult r = tlsRequest("127.0.0.1", p.tls, o);
        if (r.handshake && r.response.find("server=") != std::string::npos) {
          tlsOk++;
        } else {
          tlsFailed++;
          fail("tls: " + r.error + " / " + r.response);
        }
      }
    });
  }
  // Long transfers: 4 MB each, paced so that each spans several reloads.
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&] {
      while (!done.load()) {
        int fd = connectTcp("127.0.0.1", p.bulk);
        if (fd < 0) {
          bulkFailed++;
          fail("bulk: connect failed");
          continue;
        }
        std::string chunk(64 * 1024, '\0');
        uint64_t h = 1469598103934665603ULL;
        uint64_t total = 4ull * 1024 * 1024;
        bool sent = true;
        for (uint64_t off = 0; off < total && sent; off += chunk.size()) {
          for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(patternByte(off + i));
          h = fnv64(chunk, h);
          sent = sendAll(fd, chunk, scaled(10000));
          usleep(15000);
        }
        shutdown(fd, SHUT_WR);
        std::string answer = recvAll(fd, scaled(10000));
        close(fd);
        char expected[64];
        snprintf(expected, sizeof(expected), "%llu %016llx\n", static_cast<unsigned long long>(total),
                 static_cast<unsigned long long>(h));
        if (sent && answer == expected) {
          bulkOk++;
        } else {
          bulkFailed++;
          fail("bulk: sent=" + std::to_string(sent) + " answer='" + answer + "'");
        }
      }
    });
  }

  for (int i = 1; i <= 50; ++i) {
    writeFile(configPath(s), config(p, i % 2, a.port(), b.port(), sink.port()));
    kill(s.process().pid(), i % 2 ? SIGUSR2 : SIGHUP);
    ASSERT_TRUE(waitForReloads(s, static_cast<size_t>(i))) << "reload " << i << "\n" << s.log();
    usleep(60000);  // let connections and transfers run on this configuration
  }
  done = true;
  for (auto& c : clients) c.join();

  for (const auto& e : errors) ADD_FAILURE() << e;
  std::cout << "50 reloads: " << tlsOk.load() << " TLS connections, " << bulkOk.load()
            << " 4 MB transfers, all complete\n";
  EXPECT_EQ(tlsFailed.load(), 0);
  EXPECT_EQ(bulkFailed.load(), 0);
  EXPECT_GT(tlsOk.load(), 100);
  EXPECT_GE(bulkOk.load(), 4);
  // Transfers that started before a reload ended on their own, unhurried:
  // the log shows them closed normally ("--"), none killed ("K").
  EXPECT_GT(terminationStates(s.log()).size(), 100u) << "the tcplog lines were not found";
  EXPECT_EQ(countStates(s.log(), "K"), 0u) << s.log();
  EXPECT_EQ(countStates(s.log(), "--"), terminationStates(s.log()).size()) << s.log();
}

TEST(Reload, BadFileIsRefusedWithItsLineAndTheOldOneServes) {
  Cert cert = makeCert(makeTempDir("cert"), "a.test");
  TestServer a("a", TestServer::Mode::Identify, &cert);
  TestServer b("b", TestServer::Mode::Identify, &cert);
  TestServer sink("sink", TestServer::Mode::Sink);
  Ports p;
  Sluice s(config(p, 0, a.port(), b.port(), sink.port()), {p.tls, p.bulk});
  ASSERT_TRUE(s.started()) << s.log();

  std::string bad = config(p, 1, a.port(), b.port(), sink.port());
  bad.insert(bad.find("\nbackend be_a\n") + 1, "  use_backend nowhere if { req_ssl_sni -i x.test }\n");
  writeFile(configPath(s), bad);
  kill(s.process().pid(), SIGHUP);
  ASSERT_TRUE(s.waitForLog("reload refused")) << s.log();
  // The message names the file and line of the mistake.
  EXPECT_NE(s.log().find("sluice.cfg:17:"), std::string::npos) << s.log();
  EXPECT_NE(s.log().find("nowhere"), std::string::npos) << s.log();

  // Still the old configuration: a.test goes to be_a, and "extra" (only in
  // the refused file) is not listening.
  TlsClientOptions o;
  o.sni = "a.test";
  for (int i = 0; i < 4; ++i) {
    TlsResult r = tlsRequest("127.0.0.1", p.tls, o);
    EXPECT_NE(r.response.find("server=a"), std::string::npos) << r.error;
  }
  EXPECT_LT(connectTcp("127.0.0.1", p.extra, "", 500), 0);

  // A good file afterwards is applied.
  writeFile(configPath(s), config(p, 1, a.port(), b.port(), sink.port()));
  kill(s.process().pid(), SIGUSR2);
  ASSERT_TRUE(waitForReloads(s, 1)) << s.log();
  EXPECT_TRUE(waitForPort("127.0.0.1", p.extra, scaled(3000)));
}

TEST(Reload, ListenersFollowTheFile) {
  TestServer sink("sink", TestServer::Mode::Echo);
  Ports p;
  auto cfg = [&](bool withExtra) {
    std::string c = "global\n  nbthread 2\ndefaults\n  mode tcp\n  timeout connect 2s\n"
                    "  timeout client 10s\n  timeout server 10s\n"
                    "listen bulk\n  bind 127.0.0.1:" + std::to_string(p.bulk) + "\n"
                    "  server k 127.0.0.1:" + std::to_string(sink.port()) + "\n";
    if (withExtra) {
      c += "listen extra\n  bind 127.0.0.1:" + std::to_string(p.extra) + "\n"
           "  server k 127.0.0.1:" + std::to_string(sink.port()) + "\n";
    }
    return c;
  };
  Sluice s(cfg(false), {p.bulk});
  ASSERT_TRUE(s.started()) << s.log();
  // A connection open across both reloads keeps working.
  int held = connectTcp("127.0.0.1", p.bulk);
  ASSERT_GE(held, 0);
  ASSERT_TRUE(sendAll(held, "before "));

  writeFile(configPath(s), cfg(true));
  kill(s.process().pid(), SIGHUP);
  ASSERT_TRUE(waitForReloads(s, 1)) << s.log();
  int fd = connectTcp("127.0.0.1", p.extra);
  ASSERT_GE(fd, 0) << "the added listener accepts";
  ASSERT_TRUE(sendAll(fd, "x"));
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(recvAll(fd, scaled(3000)), "x");
  close(fd);

  writeFile(configPath(s), cfg(false));
  kill(s.process().pid(), SIGHUP);
  ASSERT_TRUE(waitForReloads(s, 2)) << s.log();
  EXPECT_LT(connectTcp("127.0.0.1", p.extra, "", 500), 0) << "the removed listener is closed";

  ASSERT_TRUE(sendAll(held, "after"));
  shutdown(held, SHUT_WR);
  EXPECT_EQ(recvAll(held, scaled(3000)), "before after");
  close(held);
}

}  // namespace
}  // namespace sluice::testing
