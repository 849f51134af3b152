// SPDX-License-Identifier: Apache-2.0
// What a TCP Session and a QUIC flow share, apart from how their bytes
// travel (issue 22: one core instead of twins that drift apart): the
// rules' context, the backend and server chosen, the address a server is
// reached at, what follows a failed connect (retries, redispatch, the
// pause before the same server again, "observe layer4"), byte accounting
// into the proxies', servers' and tracked entries' counters, the time
// samples of "show stat", and the fields of the one log line.
//
//   ConnectionCore core(worker, rt, fe, RuleContext(src, dst));
//   core.be = core.rc.chooseBackend(...); core.server = core.rc.pickServer(...);
//   connect to core.target() from core.origin(...)
//   on failure: switch (core.connectFailed(err, timedOut)) { ... }
//   while forwarding: core.accountBytes(in, out, copied, false);
//   at the end: core.accountBytes(..., true); core.recordTimes(...); log
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/address.h"
#include "observe/tcplog.h"
#include "runtime/runtime.h"
#include "session/rule_context.h"

namespace sluice::session {

class Worker;

class ConnectionCore {
 public:
  ConnectionCore(Worker& worker, std::shared_ptr<const runtime::Runtime> runtime, runtime::Frontend& frontend,
                 RuleContext context);
  ConnectionCore(const ConnectionCore&) = delete;
  ConnectionCore& operator=(const ConnectionCore&) = delete;

  Worker& worker;
  std::shared_ptr<const runtime::Runtime> rt;
  runtime::Frontend& fe;
  RuleContext rc;
  runtime::Backend* be = nullptr;
  balance::ServerState* server = nullptr;   // holds a connection slot while set
  uint64_t id = 0;                          // "show sess", the process-wide session number

  // Connection attempts.
  std::vector<balance::ServerState*> tried;
  uint32_t retries = 0;
  bool redispatched = false;
  int lastError = 0;
  bool timedOut = false;

  // Timing (loop milliseconds) and the termination state.
  int64_t acceptWallMicros = 0;
  uint64_t acceptMono = 0;
  uint64_t connectStart = 0;    // the first connect attempt
  int64_t queueMs = -1;         // Tw
  int64_t connectMs = -1;       // Tc
  char termCause = '-';
  char termStage = '-';

  // The address `server` is reached at: its own, or with "server ... :+N"
  // or no port, the port the client connected to (plus N); for a server at
  // 0.0.0.0 or ::, the address the client connected to (`interceptedDst`
  // when the connection was redirected to sluice, else rc.dst).
  core::Address target() const;
  std::optional<core::Address> interceptedDst;
  core::Address acceptedDst;  // rc.dst as accepted, before a PROXY header or set-dst
  // Where the connection to `target` comes from ("source", "usesrc"),
  // for a client seen at `client`.
  runtime::Backend::Origin origin(const core::Address& target, const core::Address& client) const;

  // Takes `chosen`'s slot for a new attempt.
  void useServer(balance::ServerState* chosen, uint64_t now);
  // Gives the slot back (and lets a queued connection have it).
  void releaseServer();

  // What follows a failed connect to `server`, by the backend's "retries"
  // and "option redispatch" (counted here, "observe layer4" told):
  enum class Retry : uint8_t {
    GiveUp,           // no retry left: the caller ends with 'S'/'s' 'C'
    OtherServer,      // the server was released and tried: pick another now
    SameServerLater,  // try the same server again after retryPauseMs()
  };
  Retry connectFailed(int error, bool timedOut);
  // The pause before the same server again: min(1 s, timeout connect), as
  // HAProxy waits, since an immediate retry would meet the same refusal.
  uint32_t retryPauseMs() const;

  // Byte counts so far (client -> server, server -> client, and how many
  // of them were copied rather than spliced): what moved since the last
  // call goes to the shared counters and tracked entries, at most every
  // 256 KiB or 500 ms while the connection lives, and all of it when
  // `final`.
  void accountBytes(uint64_t in, uint64_t out, uint64_t copied, uint64_t now, bool final);
  // qtime, ctime, ttime, cli_abrt and srv_abrt of "show stat", once.
  void recordTimes(char cause, bool forwarding, uint64_t now);
  // The log line's common fields; the caller adds what only it knows
  // (bytes, addresses of its sockets), then calls log().
  observe::LogRecord logRecord(uint64_t now) const;
  void log(observe::LogRecord& r, bool error);

 private:
  uint64_t accountedIn_ = 0;
  uint64_t accountedOut_ = 0;
  uint64_t accountedCopied_ = 0;
  uint64_t lastAccounted_ = 0;
};

}  // namespace sluice::session
