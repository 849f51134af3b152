// SPDX-License-Identifier: Apache-2.0
// Active health checks, run on the control thread's event loop so that they
// never block a worker. One check at a time per server (at most one check
// connection open to it), non-blocking from connect to verdict.
//
// State machine (HAProxy's rise/fall): a server starts UP; `fall` checks
// failing in a row mark it DOWN; `rise` checks passing in a row mark it UP
// again. Checks run every `inter`, `fastinter` while a transition is under
// way, `downinter` while down. Each transition is logged in HAProxy's words
// ("Server be/s1 is DOWN, reason: Layer4 connection problem, info: ...") and
// counted; "slowstart" ramps the weight of a server that comes back up.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "event/loop.h"
#include "health/plan.h"
#include "runtime/runtime.h"

namespace sluice::health {

struct CheckResult {
  bool ok = false;
  std::string code;     // L4OK, L4CON, L4TOUT, L6OK, L6RSP, L6TOUT, L7OK, L7RSP, L7STS, L7TOUT
  std::string info;     // "Connection refused", "HTTP status 503", ...
  int statusCode = 0;   // the protocol's own code: HTTP status, SMTP reply, MySQL error...
  uint64_t durationMs = 0;
};

std::string_view reasonText(const std::string& code);
// A socket error as a check's info text: strerror()'s words, preceded from
// HAProxy 3.1's dialect on by the errno's name ("ECONNREFUSED returned by OS
// (Connection refused)").
std::string socketErrorText(int err);

class ServerCheck;
class AgentCheck;

class HealthChecker {
 public:
  // Called on the control thread when a server changes state; `cause` is
  // 'D' (marked down, shutdown-sessions) or 'U' (an active server came up,
  // shutdown-backup-sessions) when sessions must be killed, else 0.
  using KillSessions = std::function<void(balance::ServerState* server, char cause)>;

  HealthChecker(event::EventLoop& loop, std::shared_ptr<const runtime::Runtime> rt,
                KillSessions kill, bool logToStderr);
  ~HealthChecker();

  void start();
  // Cancels every timer and closes every check connection. The checker may
  // then be destroyed after the loop's current batch of events (events
  // already fetched for its sockets find them closed and do nothing).
  void stop();
  size_t checkedServers() const { return checks_.size() + agents_.size(); }
  // "observe layer4": the server's connections failed error-limit times in
  // a row (`lastError` the last errno); applies its "on-error".
  void passiveErrors(const balance::ServerLive* server, int lastError);

 private:
  friend class ServerCheck;
  friend class AgentCheck;
  void transition(ServerCheck& c, bool up, const CheckResult& r);
  // An agent said "down" (or "up"): the server is up only when its health
  // check (if any) passes and its agent has not said down.
  void agentSays(runtime::Backend& be, balance::ServerState& s, bool down, const CheckResult& r);
  // `via`: the tracked server whose change this is ("track").
  void setHealth(runtime::Backend& be, balance::ServerState& s, bool up, const CheckResult& r,
                 const balance::ServerState* via = nullptr);
  void log(int level, const std::string& message);
  // To the backend's own log targets (its "log" lines, "log global"
  // included), or to the global log when it has none.
  void logFor(const runtime::Backend& be, int level, const std::string& message);
  void emit(const observe::Logger& to, int level, const std::string& message);  // and stderr under -d

  event::EventLoop& loop_;
  std::shared_ptr<const runtime::Runtime> rt_;
  KillSessions kill_;
  bool logToStderr_;
  std::vector<std::unique_ptr<ServerCheck>> checks_;
  std::vector<std::unique_ptr<AgentCheck>> agents_;
  std::unordered_map<const balance::ServerState*, ServerCheck*> checkOf_;
  std::unordered_set<const balance::ServerState*> agentDown_;
};

}  // namespace sluice::health
