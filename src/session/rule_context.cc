// SPDX-License-Identifier: Apache-2.0
// The rules and choices of one connection, shared by TCP sessions and QUIC
// flows; see rule_context.h.
#include "session/rule_context.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <optional>

#include "proto/rdp.h"

namespace sluice::session {

namespace {

// The key a sample gives in `table`'s type.
std::optional<std::string> stickKey(const stick::Table& table, const route::Sample& s) {
  switch (s.type) {
    case route::SampleType::Ip: return table.keyFromAddress(s.ip);
    case route::SampleType::Int:
    case route::SampleType::Bool: return table.keyFromInt(s.integer);
    case route::SampleType::Str:
    case route::SampleType::Bin: return table.keyFromBytes(s.text);
    case route::SampleType::None: break;
  }
  return std::nullopt;
}

// The key a "stick" rule gives for this connection, if its condition holds.
std::optional<std::string> stickRuleKey(const runtime::StickRule& rule, const route::SessionView& v) {
  route::Tri r = rule.condition ? rule.condition->evaluate(v) : route::Tri::Pass;
  if (r != route::Tri::Pass) return std::nullopt;
  route::Sample s;
  if (!rule.expr->evaluate(v, 0, s)) return std::nullopt;
  return stickKey(*rule.table, s);
}

}  // namespace

RuleVerdict RuleContext::connectionRules(const std::vector<runtime::Rule>& rules, const ViewMaker& view,
                                         bool& expectProxy) noexcept {
  return run(rules, view, /*final=*/true, /*connectionLevel=*/true, &expectProxy);
}

RuleVerdict RuleContext::contentRules(const std::vector<runtime::Rule>& rules, const ViewMaker& view,
                                      bool final) noexcept {
  return run(rules, view, final, /*connectionLevel=*/false, nullptr);
}

RuleVerdict RuleContext::run(const std::vector<runtime::Rule>& rules, const ViewMaker& view, bool final,
                             bool connectionLevel, bool* expectProxy) noexcept {
  if (rules.empty()) return RuleVerdict::Continue;
  route::SessionView v = view();
  for (const runtime::Rule& rule : rules) {
    route::Tri r = rule.condition ? rule.condition->evaluate(v) : route::Tri::Pass;
    if (r == route::Tri::Miss) {
      if (!final) return RuleVerdict::Wait;
      r = route::Tri::Fail;
    }
    if (r != route::Tri::Pass) continue;
    switch (rule.action) {
      case runtime::Rule::Action::Accept:
        return RuleVerdict::Continue;
      case runtime::Rule::Action::Reject:
        return RuleVerdict::Reject;
      case runtime::Rule::Action::SilentDrop:
        return RuleVerdict::SilentDrop;
      case runtime::Rule::Action::TlsAlert:
        tlsAlert = static_cast<uint8_t>(rule.value);
        return RuleVerdict::TlsAlert;
      case runtime::Rule::Action::SetVar: {
        route::Sample s;
        if (rule.expr->evaluate(v, 0, s)) vars.set(rule.variable, s);
        break;
      }
      case runtime::Rule::Action::UnsetVar:
        vars.unset(rule.variable);
        break;
      case runtime::Rule::Action::TrackSc:
      case runtime::Rule::Action::IncGpc0:
      case runtime::Rule::Action::IncGpc1:
      case runtime::Rule::Action::SetGpt0:
        runStickAction(rule, v, connectionLevel);
        v.tracking = tracking.get();
        break;
      case runtime::Rule::Action::Capture:
      case runtime::Rule::Action::SetSrc:
      case runtime::Rule::Action::SetDst:
      case runtime::Rule::Action::SetSrcPort:
      case runtime::Rule::Action::SetDstPort:
      case runtime::Rule::Action::SetMark:
      case runtime::Rule::Action::SetTos:
      case runtime::Rule::Action::SetLogLevel:
        applyConnectionAction(rule, v);
        v = view();  // the addresses may have changed
        break;
      case runtime::Rule::Action::ExpectProxy:  // connection rules only
        if (expectProxy) *expectProxy = true;
        break;
      case runtime::Rule::Action::NoOp:
        break;
    }
  }
  return RuleVerdict::Continue;
}

void RuleContext::applyConnectionAction(const runtime::Rule& rule, const route::SessionView& v) noexcept {
  using A = runtime::Rule::Action;
  route::Sample smp;
  switch (rule.action) {
    case A::Capture: {
      if (captures.size() <= rule.counter) captures.resize(rule.counter + 1u);
      if (rule.expr->evaluate(v, 0, smp) && route::castSample(smp, route::SampleType::Str)) {
        captures[rule.counter] = smp.text.substr(0, rule.value);
      }
      return;
    }
    case A::SetSrc:
    case A::SetDst: {
      core::Address& a = rule.action == A::SetSrc ? src : dst;
      if (!rule.expr->evaluate(v, 0, smp) || !route::castSample(smp, route::SampleType::Ip)) return;
      core::Address next = smp.ip;
      // The port stays when the family does, as HAProxy keeps it.
      next.setPort(next.family() == a.unmapped().family() ? a.port() : 0);
      a = next;
      return;
    }
    case A::SetSrcPort:
    case A::SetDstPort: {
      core::Address& a = rule.action == A::SetSrcPort ? src : dst;
      if (rule.expr->evaluate(v, 0, smp) && route::castSample(smp, route::SampleType::Int) && smp.integer >= 0 &&
          smp.integer <= 65535 && a.valid()) {
        a.setPort(static_cast<uint16_t>(smp.integer));
      }
      return;
    }
    case A::SetMark: {
      int mark = static_cast<int>(rule.value);
      if (clientFd >= 0) setsockopt(clientFd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
      return;
    }
    case A::SetTos: {
      int tos = static_cast<int>(rule.value);
      if (clientFd < 0) return;
      if (src.unmapped().isV4() && !src.isV6()) {
        setsockopt(clientFd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
      } else {
        setsockopt(clientFd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
        setsockopt(clientFd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));  // an IPv4-mapped client
      }
      return;
    }
    case A::SetLogLevel:
      logLevel = rule.logLevel;
      return;
    default:
      return;
  }
}

void RuleContext::runStickAction(const runtime::Rule& rule, const route::SessionView& v,
                                 bool connectionLevel) noexcept {
  uint64_t nowMs = stick::monotonicMs();
  if (rule.action == runtime::Rule::Action::TrackSc) {
    // The first rule that tracks counter N wins; later ones are skipped.
    if (tracking && tracking->sc[rule.counter].entry) return;
    route::Sample s;
    if (!rule.expr->evaluate(v, 0, s)) return;
    auto key = stickKey(*rule.table, s);
    if (!key) return;
    stick::Entry* e = rule.table->acquire(*key, nowMs);
    if (!e) return;  // full of entries in use: not tracked, as HAProxy
    if (!tracking) tracking = std::make_unique<stick::Tracking>();
    tracking->sc[rule.counter] = {rule.table, e, connectionLevel};
    rule.table->countConnection(e, nowMs);
    if (!connectionLevel) rule.table->countSession(e, nowMs);
    return;
  }
  if (!tracking) return;
  const stick::Tracked& t = tracking->sc[rule.counter];
  if (!t.entry) return;
  switch (rule.action) {
    case runtime::Rule::Action::IncGpc0:
    case runtime::Rule::Action::IncGpc1: {
      auto counter = rule.action == runtime::Rule::Action::IncGpc0 ? stick::DataType::Gpc0 : stick::DataType::Gpc1;
      t.table->withEntry(t.entry, [&](stick::Entry& e) { t.table->incrementGpcLocked(e, counter, nowMs); });
      break;
    }
    case runtime::Rule::Action::SetGpt0: {
      route::Sample s;
      if (rule.expr->evaluate(v, 0, s) && route::castSample(s, route::SampleType::Int)) {
        t.table->set(t.entry, stick::DataType::Gpt0, s.integer, nowMs);
      }
      break;
    }
    default:
      break;
  }
}

void RuleContext::countSession() noexcept {
  if (!tracking) return;
  uint64_t nowMs = stick::monotonicMs();
  for (stick::Tracked& t : tracking->sc) {
    if (t.entry) t.table->countSession(t.entry, nowMs);
  }
}

void RuleContext::untrack() noexcept {
  if (!tracking) return;
  uint64_t nowMs = stick::monotonicMs();
  for (stick::Tracked& t : tracking->sc) {
    if (!t.entry) continue;
    t.table->connectionEnded(t.entry);
    t.table->release(t.entry, nowMs);
    t.entry = nullptr;
  }
}

runtime::Backend* RuleContext::chooseBackend(const runtime::Runtime& rt, runtime::Frontend& fe,
                                             const route::SessionView& v) const noexcept {
  for (const runtime::SwitchRule& rule : fe.switchRules) {
    route::Tri r = rule.condition ? rule.condition->evaluate(v) : route::Tri::Pass;
    if (r != route::Tri::Pass) continue;
    if (rule.backend) return rule.backend;
    // A dynamic name that names no backend ends the search: default_backend.
    std::string name = rule.dynamic->renderSamples(v);
    runtime::Backend* b = rt.findBackend(name);
    if (b) return b;
    break;
  }
  // No rule chose: with switching rules present this is a routing miss (an
  // SNI no map or ACL knows), worth a metric of its own.
  if (!fe.switchRules.empty()) fe.counters->routeMisses.fetch_add(1, std::memory_order_relaxed);
  return fe.defaultBackend;
}

// "stick match": the server a key was stuck to, if it can take the connection.
balance::ServerState* RuleContext::stuckServer(runtime::Backend& be, const route::SessionView& v,
                                               bool quic) const noexcept {
  uint64_t nowMs = stick::monotonicMs();
  for (const runtime::StickRule& rule : be.stickRules) {
    if (!rule.match) continue;
    auto key = stickRuleKey(rule, v);
    if (!key) continue;
    auto id = rule.table->stuckServer(*key, nowMs);
    if (!id) continue;
    balance::ServerState* server = be.findServerById(*id);
    if (server && server->quic == quic && server->usable() && !be.serverConfigs[server->position]->nonStick) {
      return server;
    }
  }
  return nullptr;
}

void RuleContext::storeStickiness(runtime::Backend& be, const balance::ServerState& server,
                                  const route::SessionView& v) const noexcept {
  if (be.stickRules.empty() || be.serverConfigs[server.position]->nonStick) return;
  uint64_t nowMs = stick::monotonicMs();
  std::vector<const stick::Table*> done;
  for (const runtime::StickRule& rule : be.stickRules) {
    if (!rule.store) continue;
    if (std::find(done.begin(), done.end(), rule.table) != done.end()) continue;
    auto key = stickRuleKey(rule, v);
    if (!key) continue;
    rule.table->stick(*key, server.id, nowMs);
    done.push_back(rule.table);
  }
}

balance::ServerState* RuleContext::pickServer(runtime::Backend& be, const route::SessionView& v,
                                              std::span<balance::ServerState* const> tried, bool redispatched,
                                              bool quic, bool& allFull) const noexcept {
  allFull = false;
  if (!redispatched) {
    for (const runtime::ServerRule& rule : be.serverRules) {
      route::Tri r = rule.condition ? rule.condition->evaluate(v) : route::Tri::Pass;
      if (r != route::Tri::Pass) continue;
      balance::ServerState* s = rule.server;
      if (!s && rule.dynamic) s = be.findServer(rule.dynamic->renderSamples(v));
      if (s && s->quic == quic && s->usable()) return s;
    }
    if (be.persistExpr && !quic) {
      // "persist rdp-cookie": the routing token names the server's address.
      route::Sample token;
      if (be.persistExpr->evaluate(v, 0, token)) {
        if (auto a = proto::decodeRdpRoutingToken(token.text)) {
          for (const auto& s : be.servers) {
            if (s->currentAddress() == *a && !s->quic && s->usable()) return s.get();
          }
        }
      }
    }
    if (!be.stickRules.empty()) {
      if (balance::ServerState* s = stuckServer(be, v, quic)) return s;
    }
  }
  balance::Backend* lb = quic ? be.quicBalancer.get() : be.balancer.get();
  if (!lb) return nullptr;
  balance::PickContext ctx;
  if (be.hashOnSource) {
    ctx.hash = balance::hashBytes(be.hashFunction, src.unmapped().rawBytes(), be.hashAvalanche);
    ctx.hasHash = true;
  } else if (be.hashExpr) {
    route::Sample s;
    if (be.hashExpr->evaluate(v, 0, s)) {
      std::string key = route::sampleToString(s);
      ctx.hash = balance::hashBytes(be.hashFunction, key, be.hashAvalanche);
      ctx.hasHash = true;
    }
  }
  ctx.exclude = tried;
  balance::ServerState* chosen = lb->pick(ctx);
  if (!chosen && !tried.empty()) {
    // Every server was tried already: any usable one will do.
    ctx.exclude = {};
    chosen = lb->pick(ctx);
  }
  allFull = !chosen && ctx.allFull;
  return chosen;
}

bool RuleContext::logWanted(const runtime::Frontend& fe, bool cleanEnd) const noexcept {
  if (fe.logger.empty() || logLevel == -2) return false;  // set-log-level silent
  if (!fe.tcplog && !fe.logFormat) return false;          // the "Connect from" line was sent at accept
  return !(cleanEnd && fe.dontlogNormal);
}

void RuleContext::log(runtime::Frontend& fe, const runtime::Backend* be, const balance::ServerState* server,
                      int actconn, observe::LogRecord& r, bool error) const noexcept {
  r.client = src;  // as the rules report it (set-src)
  r.frontendAddress = dst;
  if (server) r.serverAddress = server->currentAddress();
  r.frontend = fe.name;
  r.backend = be ? std::string_view(be->name) : std::string_view(fe.name);
  r.server = server ? std::string_view(server->name) : std::string_view("<NOSRV>");
  r.actconn = actconn;
  r.feconn = fe.counters->current.load(std::memory_order_relaxed);
  // HAProxy writes a connection's last line once it has left its backend
  // and its server, but not yet its frontend or the process: %bc and %sc
  // leave it out, %fc and %ac count it (a logasap line counts it in all).
  const int32_t self = r.early ? 0 : 1;
  r.beconn = be ? std::max<int32_t>(0, be->counters->current.load(std::memory_order_relaxed) - self) : 0;
  r.srvconn = server ? std::max<int32_t>(0, server->currentConnections.load(std::memory_order_relaxed) - self) : 0;
  r.captures = &captures;
  std::string line = fe.logFormat ? observe::formatCustomLog(*fe.logFormat, r) : observe::formatTcpLog(r);
  int level = error && fe.logSeparateErrors ? observe::kErr : observe::kInfo;
  if (logLevel >= 0) level = logLevel;  // set-log-level
  fe.logger.log(level, line);
}

}  // namespace sluice::session
