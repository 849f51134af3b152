// SPDX-License-Identifier: Apache-2.0
// Session: the way of one connection, as a state machine driven by the
// worker's event loop (DESIGN.md, "The way of one connection"):
//
//   accept -> connection rules -> inspect (ClientHello, content rules, bounded
//   by inspect-delay and a size cap) -> switching rules -> backend rules ->
//   server choice -> connect (timeout, retries, redispatch) -> replay of the
//   inspected bytes -> forward both ways (splice through pooled pipes, or copy)
//   with half-close -> close -> one log line + counters.
//
// Every session ends with exactly one termination state (HAProxy's two
// letters, e.g. "--", "CD", "sC", "PR") that the log and counters read.
// Nothing here throws; all callbacks are noexcept.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/address.h"
#include "event/loop.h"
#include "net/pipe_pool.h"
#include "net/pump.h"
#include "proto/client_hello.h"
#include "proto/socks4.h"
#include "route/sample.h"
#include "runtime/runtime.h"
#include "session/connection_core.h"
#include "session/rule_context.h"

namespace sluice::session {

class Worker;

// What "show sess" and the stats page show of one session.
struct SessionInfo {
  uint64_t id = 0;
  unsigned thread = 0;
  std::string frontend, backend, server;
  std::string source, destination;
  std::string state;
  std::string sni;
  uint64_t ageMs = 0;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  bool spliced = true;
  bool quic = false;   // a QUIC flow (UDP datagrams), not a TCP session

  // Who and where, as a TCP session and a QUIC flow both report it: the
  // addresses as the rules see them, the proxy and server names.
  static SessionInfo of(uint64_t id, unsigned thread, const RuleContext& rc, const runtime::Frontend& fe,
                        const runtime::Backend* be, const balance::ServerState* server) {
    SessionInfo i;
    i.id = id;
    i.thread = thread;
    i.frontend = fe.name;
    if (be) i.backend = be->name;
    if (server) i.server = server->name;
    i.source = rc.src.toString();
    i.destination = rc.dst.toString();
    return i;
  }
};

class Session final : public event::EventHandler {
 public:
  Session(Worker& worker, std::shared_ptr<const runtime::Runtime> rt, runtime::Frontend& fe,
          int clientFd, const core::Address& src, const core::Address& dst, const config::BindConfig* bind);
  ~Session() override;

  // Runs the connection rules and starts the session. The session may end
  // (and be queued for deletion) before this returns.
  void start() noexcept;

  // Client-side events.
  void onEvents(uint32_t events) noexcept override;

  // Ends the session now (soft stop timeout, shutdown); cause is the first
  // letter of the termination state.
  void kill(char cause) noexcept;

  // A server slot freed while this session waited in its backend's queue.
  void dequeued() noexcept;

  bool closed() const { return state_ == State::Closed; }
  uint64_t id() const { return core_.id; }
  SessionInfo describe() const;
  const balance::ServerState* server() const { return core_.server; }

  // Intrusive list of the worker's live sessions.
  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  enum class State : uint8_t { Inspecting, Queued, TurnAround, Connecting, Forwarding, Closed };

  class ServerSide final : public event::EventHandler {
   public:
    explicit ServerSide(Session& s) : s_(s) {}
    void onEvents(uint32_t events) noexcept override { s_.onServerEvents(events); }

   private:
    Session& s_;
  };

  class SessionTimer final : public event::Timer {
   public:
    explicit SessionTimer(Session& s) : s_(s) {}
    void onTimer() noexcept override { s_.onTimer(); }

   private:
    Session& s_;
  };

  void onServerEvents(uint32_t events) noexcept;
  void onTimer() noexcept;

  // Phases
  void readProxyHeader() noexcept;
  void afterHandshake() noexcept;
  void inspect() noexcept;
  bool readClient() noexcept;
  void feedHello() noexcept;
  void prependProxyHeader() noexcept;
  bool runRules(const std::vector<runtime::Rule>& rules, bool& waiting) noexcept;
  bool evaluateRules(const std::vector<runtime::Rule>& rules, bool final, bool response, bool& waiting) noexcept;
  void sendTlsAlert(uint8_t code) noexcept;
  void decide() noexcept;
  void assignServer() noexcept;
  void enqueue() noexcept;
  void leaveQueue() noexcept;
  void connect() noexcept;
  void onConnectResult(int error) noexcept;
  void connectFailed(int error, bool timedOut) noexcept;
  void socksEvents(uint32_t events) noexcept;
  void established() noexcept;
  void forward() noexcept;
  bool flushReplay() noexcept;
  // tcp-response content: reads the server's first bytes and runs the
  // backend's response rules on them; then hands them to the client.
  // Each returns false if the session ended.
  bool inspectResponse() noexcept;
  bool flushResponse() noexcept;

  struct ForwardTimeouts {
    uint32_t client = 0;
    uint32_t server = 0;
    uint32_t tunnel = 0;
  };
  ForwardTimeouts forwardTimeouts() const noexcept;
  void rearmTimer() noexcept;
  uint64_t nextDeadline() const noexcept;
  void finish(char cause, char stage) noexcept;
  void emitLog(bool early) noexcept;
  // Ends a connection whose PROXY header is missing, wrong or late with
  // HAProxy's single line for it instead of the usual log line.
  void refuseProxyHeader(char cause, std::string_view what) noexcept;
  void accountBytes(bool final) noexcept;
  route::SessionView view(bool final) noexcept;
  uint64_t now() const noexcept;
  char stageLetter() const noexcept;

  Worker& worker_;
  // The rules' context, backend, server, retries, timings, byte accounting
  // and termination state: what a QUIC flow has too.
  ConnectionCore core_;

  int clientFd_ = -1;
  int serverFd_ = -1;
  ServerSide serverSide_{*this};
  SessionTimer timer_{*this};
  State state_ = State::Inspecting;

  bool clientReadable_ = false;
  bool clientWritable_ = false;
  bool serverReadable_ = false;
  bool serverWritable_ = false;

  // PROXY header from a trusted peer (accept-proxy, expect-proxy)
  bool expectProxy_ = false;
  const config::BindConfig* bind_ = nullptr;  // the line it came in by (the runtime's): named in logs
  bool proxyDone_ = true;
  uint64_t proxyDeadline_ = 0;

  // Inspection
  std::vector<uint8_t> inspectBuffer_;
  bool responseInspecting_ = false;
  bool responseEof_ = false;
  uint64_t responseDeadline_ = 0;
  std::vector<uint8_t> responseBuffer_;
  size_t responseSent_ = 0;
  size_t replayed_ = 0;
  std::unique_ptr<proto::ClientHelloParser> hello_;  // while inspecting and routing
  std::string sni_;                                  // kept for "show sess"
  bool helloFinal_ = false;
  bool lingerClient_ = false;  // a TLS alert was sent: close once the client has read it
  bool windowOver_ = false;
  uint64_t inspectDeadline_ = 0;
  uint32_t reads_ = 0;

  // Waiting for a server slot
  uint64_t queueTicket_ = 0;
  uint64_t queueStart_ = 0;
  uint64_t queueDeadline_ = 0;
  uint32_t backendQueuePosition_ = 0;   // %bq
  bool requeueAtFront_ = false;

  // Connection to the server
  uint64_t connectDeadline_ = 0;
  // "socks4" servers: the connection is to the proxy; once it is open the
  // CONNECT request goes out and its 8-byte answer is awaited here.
  core::Address socksTarget_;
  bool socksPending_ = false;
  uint8_t socksReply_[proto::kSocks4ReplySize] = {};
  uint8_t socksGot_ = 0;
  uint64_t retryAt_ = 0;

  // Forwarding
  net::Flow c2s_;
  net::Flow s2c_;
  bool resume_ = false;  // forward() yielded with work left; the timer resumes it
  uint64_t lastClientActivity_ = 0;
  uint64_t lastServerActivity_ = 0;

  // Timing and logging
  bool loggedEarly_ = false;
  bool counted_ = false;        // counted in frontend/process counters
};

}  // namespace sluice::session
