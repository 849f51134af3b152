// SPDX-License-Identifier: Apache-2.0
// What the rules of one connection read and write, apart from how its bytes
// travel: its addresses (set-src/-dst change them), variables, captures,
// log level and tracked counters; and the decisions taken on them: the
// tcp-request rules, the backend (switching rules), the server (use-server,
// persistence, stick match, balance). A TCP Session and a QUIC flow share
// it, so both obey one configuration the same way.
//
//   RuleContext rc(src, dst);
//   switch (rc.connectionRules(fe.connectionRules, makeView)) { ... }
//   RuleVerdict v = rc.contentRules(fe.contentRules, makeView, final, &triggered);
//   runtime::Backend* be = rc.chooseBackend(rt, fe, view);
//   balance::ServerState* s = rc.pickServer(*be, view, tried, redispatched, quic, allFull);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/address.h"
#include "observe/tcplog.h"
#include "route/sample.h"
#include "runtime/runtime.h"

namespace sluice::session {

enum class RuleVerdict : uint8_t {
  Continue,    // no rule ended the connection (an "accept" or the end of the list)
  Wait,        // a condition needs data not there yet and the window is open
  Reject,      // "reject"
  SilentDrop,  // "silent-drop": the caller makes the close silent if it can
  TlsAlert,    // "tls-alert": a reject that tells the client why (RuleContext::tlsAlert)
};

class RuleContext {
 public:
  RuleContext(const core::Address& source, const core::Address& destination) : src(source), dst(destination) {}
  ~RuleContext() { untrack(); }
  RuleContext(RuleContext&&) = default;
  RuleContext& operator=(RuleContext&&) = delete;

  // What the rules see and change.
  core::Address src;
  core::Address dst;
  int clientFd = -1;     // set-mark / set-tos act on it; -1 (QUIC): they do nothing
  route::Variables vars;
  std::vector<std::string> captures;   // "capture" slots, for %hr and capture.req.hdr()
  // The TLV bytes of the client's PROXY v2 header (fc_pp_tlv, fc_pp_authority, ...).
  std::string proxyTlvs;
  int logLevel = -1;                   // set-log-level; -2 silent
  uint8_t tlsAlert = 0;                // the alert of a TlsAlert verdict
  std::unique_ptr<stick::Tracking> tracking;  // only once a rule tracks counters

  using ViewMaker = std::function<route::SessionView()>;

  // "tcp-request connection" rules, before any byte: Continue, Reject or
  // SilentDrop; `expectProxy` is set by "expect-proxy layer4".
  RuleVerdict connectionRules(const std::vector<runtime::Rule>& rules, const ViewMaker& view, bool& expectProxy) noexcept;
  // Content (or session, or response) rules in order until one decides. A
  // condition that needs more data gives Wait unless `final`.
  RuleVerdict contentRules(const std::vector<runtime::Rule>& rules, const ViewMaker& view, bool final) noexcept;
  // The connection became a session for the counters it tracks.
  void countSession() noexcept;
  // Releases the tracked entries (the connection ended).
  void untrack() noexcept;

  // The backend the switching rules choose, else the default one (a miss is
  // counted when there were rules).
  runtime::Backend* chooseBackend(const runtime::Runtime& rt, runtime::Frontend& fe,
                                  const route::SessionView& v) const noexcept;
  // The server for a new connection of the given kind (QUIC or TCP): a
  // use-server rule, persistence, a stick match, then the balancer;
  // servers in `tried` only when nothing else is left. Null with `allFull`
  // when every candidate is at its maxconn.
  balance::ServerState* pickServer(runtime::Backend& be, const route::SessionView& v,
                                   std::span<balance::ServerState* const> tried, bool redispatched, bool quic,
                                   bool& allFull) const noexcept;
  // "stick store-request": remembers `server` for the keys of the rules.
  void storeStickiness(runtime::Backend& be, const balance::ServerState& server,
                       const route::SessionView& v) const noexcept;

  // Whether the connection's end gets a log line (a log target, a format,
  // no "set-log-level silent", no "option dontlog-normal" for a clean end).
  bool logWanted(const runtime::Frontend& fe, bool cleanEnd) const noexcept;
  // The end's log line: `r` holds what only the caller knows (timings,
  // bytes, termination state, the sample view); the addresses as the rules
  // report them, names, connection counts and captures are filled here,
  // then the line is formatted and sent at the level the rules chose.
  void log(runtime::Frontend& fe, const runtime::Backend* be, const balance::ServerState* server, int actconn,
           observe::LogRecord& r, bool error) const noexcept;

 private:
  // The rules in order until one decides (connection rules: always final,
  // stick counters tracked at connection level, expect-proxy honoured).
  RuleVerdict run(const std::vector<runtime::Rule>& rules, const ViewMaker& view, bool final, bool connectionLevel,
                  bool* expectProxy) noexcept;
  // capture, set-src/-dst and ports, set-mark, set-tos, set-log-level.
  void applyConnectionAction(const runtime::Rule& rule, const route::SessionView& v) noexcept;
  // track-sc*, sc-inc-gpc*, sc-set-gpt0.
  void runStickAction(const runtime::Rule& rule, const route::SessionView& v, bool connectionLevel) noexcept;
  balance::ServerState* stuckServer(runtime::Backend& be, const route::SessionView& v, bool quic) const noexcept;
};

}  // namespace sluice::session
