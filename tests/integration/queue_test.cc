// SPDX-License-Identifier: Apache-2.0
// Server maxconn and the backend queue through the real binary: waiting
// connections are served in turn and log their wait (Tw) and queue position
// (bq); "timeout queue" ends a wait with sQ; "maxqueue" refuses at once (PQ).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <sstream>
#include <thread>

#include "harness.h"

namespace sluice::testing {
namespace {

// The runtime API socket every test here opens, to see the queue.
struct Admin {
  std::string dir = makeTempDir("queue");
  std::string sock = dir + "/admin.sock";
  // qcur of backend `be` ("show stat", third column of its BACKEND row).
  int queued(const std::string& be) const {
    std::string csv = cliRequest(sock, "show stat\n");
    std::istringstream in(csv);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(be + ",BACKEND,", 0) != 0) continue;
      std::istringstream cols(line);
      std::string col;
      for (int i = 0; i < 3 && std::getline(cols, col, ','); ++i) {
      }
      return col.empty() ? 0 : std::stoi(col);
    }
    return -1;
  }
};

std::string head(const std::string& extra = "", const Admin* admin = nullptr) {
  return "global\n  log stdout format raw local0\n  nbthread 2\n" +
         (admin ? "  stats socket " + admin->sock + " level admin\n" : std::string()) +
         "defaults\n  mode tcp\n  log global\n  option tcplog\n"
         "  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n" + extra;
}

std::string ask(int port) {
  std::string name = askServerName(port, "", 5000);
  return name == "none" || name == "connect-failed" ? name : "ok";
}

// maxconn 1: three clients at once are all served, one after the other.
TEST(Queue, WaitersAreServedInTurn) {
  TestServer slow("slow", TestServer::Mode::Identify);
  slow.setHoldMs(300);
  int port = freePort();
  Admin admin;
  Sluice s(head("", &admin) + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server s 127.0.0.1:" + std::to_string(slow.port()) + " maxconn 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  ASSERT_TRUE(eventually([&] { return admin.queued("l") == 0; })) << "the runtime API did not answer";
  std::vector<std::string> results(3);
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&, i] { results[static_cast<size_t>(i)] = ask(port); });
    // Each client in its place before the next: the first at the server,
    // the others in the queue.
    if (i == 0) {
      ASSERT_TRUE(eventually([&] { return slow.active() == 1; }));
    } else {
      ASSERT_TRUE(eventually([&] { return admin.queued("l") == i; })) << "client " << i << " is not queued";
    }
  }
  for (auto& t : clients) t.join();
  for (const auto& r : results) EXPECT_EQ(r, "ok");
  EXPECT_TRUE(s.waitForLog("l l/s "));
  eventually([&] { return s.logLines("l l/s ").size() >= 3; }, 1000);
  auto lines = s.logLines("l l/s ");
  ASSERT_EQ(lines.size(), 3u) << s.log();
  // Tw (queue time) is large for the last one, and the servers never had two at once.
  int waited = 0;
  std::regex tw(R"( (\d+)/\d+/\d+ \d+ -- \d+/\d+/\d+/(\d+)/0 0/(\d+)$)");
  for (const auto& l : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(l, m, tw)) << l;
    // %sc leaves the logged connection out (as HAProxy's): with maxconn 1
    // no other connection was ever at the server beside it.
    EXPECT_EQ(m[2], "0") << "srv_conn never above maxconn: " << l;
    if (std::stoi(m[1]) >= 200) ++waited;
  }
  EXPECT_GE(waited, 1) << s.log();
}

// timeout queue: a connection that waits too long is closed with sQ.
TEST(Queue, TimeoutQueue) {
  TestServer hold("hold", TestServer::Mode::Hold);
  int port = freePort();
  Sluice s(head("  timeout queue 300ms\n") + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server s 127.0.0.1:" + std::to_string(hold.port()) + " maxconn 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int first = connectTcp("127.0.0.1", port);
  sendAll(first, "x");
  eventually([&] { return hold.active() >= 1; }, 1000);
  int second = connectTcp("127.0.0.1", port);
  sendAll(second, "y");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(waitClosed(second, scaled(3000)));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, scaled(1500));
  close(second);
  EXPECT_TRUE(s.waitForLog(" sQ ")) << s.log();
  EXPECT_EQ(hold.connections(), 1);
  close(first);
}

// maxqueue: beyond it, a connection is refused at once (PQ).
TEST(Queue, MaxQueueRefuses) {
  TestServer hold("hold", TestServer::Mode::Hold);
  int port = freePort();
  Admin admin;
  Sluice s(head("  timeout queue 5s\n", &admin) + "listen l\n  bind 127.0.0.1:" + std::to_string(port) + "\n"
                    "  server s 127.0.0.1:" + std::to_string(hold.port()) + " maxconn 1 maxqueue 1\n",
           {port});
  ASSERT_TRUE(s.started()) << s.log();
  int a = connectTcp("127.0.0.1", port);
  sendAll(a, "a");
  ASSERT_TRUE(eventually([&] { return hold.active() == 1; }));
  int b = connectTcp("127.0.0.1", port);  // waits in the queue
  sendAll(b, "b");
  ASSERT_TRUE(eventually([&] { return admin.queued("l") == 1; })) << "b is not queued";
  int c = connectTcp("127.0.0.1", port);  // queue full
  sendAll(c, "c");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(waitClosed(c, scaled(2000)));
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count(), 500);
  EXPECT_TRUE(s.waitForLog(" PQ ")) << s.log();
  close(a);
  close(b);
  close(c);
}

}  // namespace
}  // namespace sluice::testing
