// SPDX-License-Identifier: Apache-2.0
// The fetches of proxy and server state, HAProxy's nbsrv, srv_is_up,
// srv_conn, srv_queue, srv_sess_rate, srv_conn_free, srv_*weight, be_conn,
// be_conn_free, be_sess_rate, queue, avg_queue, connslots, fe_conn and
// fe_sess_rate: what the balancer and the health checks know now, read
// through SessionView::proxies (the runtime). Routing on them is how files
// send writes to the one node the checks call master, or spill over to
// another backend when one is full.
#include <string>
#include <vector>

#include "route/expression.h"

namespace sluice::route {

namespace {

enum class What : uint16_t {
  NbSrv, SrvIsUp, SrvConn, SrvQueue, SrvSessRate, SrvConnFree, SrvWeight, SrvIWeight, SrvUWeight,
  BeConn, BeConnFree, BeSessRate, Queue, AvgQueue, ConnSlots, FeConn, FeSessRate,
};

// The proxy an argument names, or by default the one whose rules run (a
// frontend's rules read the backend chosen so far, else its own listen).
std::string_view proxyOf(const SessionView& v, const std::vector<Arg>& a, bool frontend) {
  if (!a.empty() && !a[0].text.empty()) return a[0].text;
  if (frontend || v.backendName.empty()) return v.frontendName;
  return v.backendName;
}

bool stateFetch(uint16_t tag, const SessionView& v, const std::vector<Arg>& a, size_t index, Sample& out) {
  if (index > 0 || !v.proxies) return false;
  const auto what = static_cast<What>(tag);
  auto give = [&out](int64_t n) {
    out.type = SampleType::Int;
    out.integer = n;
    return true;
  };
  switch (what) {
    case What::SrvIsUp: case What::SrvConn: case What::SrvQueue: case What::SrvSessRate:
    case What::SrvConnFree: case What::SrvWeight: case What::SrvIWeight: case What::SrvUWeight: {
      if (a.empty()) return false;
      const auto [backend, server] = serverRef(a[0].text, proxyOf(v, {}, false));
      ServerStateView s;
      if (!v.proxies->serverState(backend, server, s)) return false;
      switch (what) {
        case What::SrvIsUp: out = Sample::ofBool(s.up); return true;
        case What::SrvConn: return give(s.connections);
        case What::SrvQueue: return give(s.queued);
        case What::SrvSessRate: return give(s.sessionRate);
        case What::SrvConnFree: return give(s.freeSlots);
        case What::SrvWeight: return give(s.weight);
        case What::SrvIWeight: return give(s.initialWeight);
        default: return give(s.userWeight);
      }
    }
    case What::FeConn: case What::FeSessRate: {
      ProxyStateView p;
      if (!v.proxies->frontendState(proxyOf(v, a, true), p)) return false;
      return give(what == What::FeConn ? p.connections : p.sessionRate);
    }
    default: {
      ProxyStateView p;
      if (!v.proxies->backendState(proxyOf(v, a, false), p)) return false;
      switch (what) {
        case What::NbSrv: return give(p.usableServers);
        case What::BeConn: return give(p.connections);
        case What::BeConnFree: return give(p.freeSlots);
        case What::BeSessRate: return give(p.sessionRate);
        case What::Queue: return give(p.queued);
        case What::AvgQueue:
          return give(p.usableServers > 0 ? (p.queued + p.usableServers - 1) / p.usableServers : p.queued);
        default: return give(p.freeSlots < 0 || p.queueRoom < 0 ? -1 : p.freeSlots + p.queueRoom);
      }
    }
  }
}

FetchDef stateDef(std::string_view name, What what, SampleType type, int minArgs, char proxyArg) {
  FetchDef d{name, type, minArgs, 1, false, false, false, nullptr};
  d.tagged = stateFetch;
  d.tag = static_cast<uint16_t>(what);
  d.proxyArg = proxyArg;
  return d;
}

}  // namespace

const std::vector<FetchDef>& stateFetches() {
  static const std::vector<FetchDef> defs = {
      stateDef("nbsrv", What::NbSrv, SampleType::Int, 0, 'B'),
      stateDef("srv_is_up", What::SrvIsUp, SampleType::Bool, 1, 'S'),
      stateDef("srv_conn", What::SrvConn, SampleType::Int, 1, 'S'),
      stateDef("srv_queue", What::SrvQueue, SampleType::Int, 1, 'S'),
      stateDef("srv_sess_rate", What::SrvSessRate, SampleType::Int, 1, 'S'),
      stateDef("srv_conn_free", What::SrvConnFree, SampleType::Int, 1, 'S'),
      stateDef("srv_weight", What::SrvWeight, SampleType::Int, 1, 'S'),
      stateDef("srv_iweight", What::SrvIWeight, SampleType::Int, 1, 'S'),
      stateDef("srv_uweight", What::SrvUWeight, SampleType::Int, 1, 'S'),
      stateDef("be_conn", What::BeConn, SampleType::Int, 0, 'B'),
      stateDef("be_conn_free", What::BeConnFree, SampleType::Int, 0, 'B'),
      stateDef("be_sess_rate", What::BeSessRate, SampleType::Int, 0, 'B'),
      stateDef("queue", What::Queue, SampleType::Int, 0, 'B'),
      stateDef("avg_queue", What::AvgQueue, SampleType::Int, 0, 'B'),
      stateDef("connslots", What::ConnSlots, SampleType::Int, 0, 'B'),
      stateDef("fe_conn", What::FeConn, SampleType::Int, 0, 'F'),
      stateDef("fe_sess_rate", What::FeSessRate, SampleType::Int, 0, 'F'),
  };
  return defs;
}

}  // namespace sluice::route
