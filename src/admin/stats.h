// SPDX-License-Identifier: Apache-2.0
// One snapshot of every counter, taken on the control thread, and the
// renderings that HAProxy's tools already parse: "show stat" CSV (HAProxy's
// columns in HAProxy's order), "show info", "show servers state". The stats
// page and the Prometheus exporter read the same snapshot, so all views agree.
//
//   Snapshot snap = collect(*runtime, process, facts);
//   std::string csv = renderStatCsv(snap, {});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "admin/host.h"
#include "config/server_edit.h"
#include "runtime/runtime.h"
#include "session/worker.h"

namespace sluice::admin {

// HAProxy's "type" column: 0 frontend, 1 backend, 2 server, 3 listener.
enum class RowType : uint8_t { Frontend = 0, Backend = 1, Server = 2, Listener = 3 };

struct StatRow {
  RowType type = RowType::Frontend;
  std::string proxy;        // pxname
  std::string name;         // svname: FRONTEND, BACKEND or the server name
  uint32_t proxyId = 0;     // iid
  uint32_t serverId = 0;    // sid

  uint64_t qcur = 0, qmax = 0, qlimit = 0;
  uint64_t scur = 0, smax = 0, slim = 0, stot = 0;
  uint64_t bin = 0, bout = 0;
  uint64_t dreq = 0, dresp = 0, dcon = 0, ereq = 0, econ = 0, eresp = 0, wretr = 0, wredis = 0;
  std::string status;       // OPEN, STOP, UP, DOWN, MAINT, DRAIN, "no check", "UP 1/3", ...
  std::string state;        // Prometheus state label: UP, DOWN, MAINT, DRAIN, NOLB
  uint64_t weight = 0, uweight = 0, iweight = 0;
  uint64_t act = 0, bck = 0;
  uint64_t chkfail = 0, chkdown = 0, lastchg = 0, downtime = 0;
  int throttle = -1;        // slow start percentage; -1 when not ramping
  uint64_t lbtot = 0;
  uint64_t rate = 0, rateMax = 0, rateLimit = 0;
  bool checked = false;
  std::string checkStatus, checkDesc, lastCheck;
  int checkCode = 0;
  uint64_t checkDuration = 0;
  uint32_t checkRise = 0, checkFall = 0, checkHealth = 0;
  int64_t lastsess = -1;    // seconds since the last session, -1 never
  uint64_t qtime = 0, ctime = 0, ttime = 0, qtimeMax = 0, ctimeMax = 0, ttimeMax = 0;
  uint64_t cliAbrt = 0, srvAbrt = 0;
  std::string address;      // servers: ip:port
  bool quic = false;        // a QUIC server, or a frontend with a QUIC bind
  std::string prefix;       // servers: "quic4@"/"quic6@" as the file names a QUIC server
  std::string algo;         // backends
  uint64_t connRate = 0, connRateMax = 0, connTot = 0;  // frontends
  bool backup = false;
  balance::AdminState admin = balance::AdminState::Ready;
  bool up = true;
  // Frontends: ClientHello reader results (sluice_ metrics).
  uint64_t helloParsed = 0, helloWithSni = 0, helloNotTls = 0, helloMalformed = 0, helloTooLarge = 0,
           helloTimedOut = 0, helloMultiSegment = 0, helloMultiRecord = 0, noServer = 0,
           badProxyHeaders = 0, routeMisses = 0, tlsAlerts = 0;
  // QUIC datagrams dropped, by reason, and flows found again at a new address.
  uint64_t quicNotQuic = 0, quicShortInitial = 0, quicUndecryptable = 0, quicOverLimit = 0,
           quicHeldDropped = 0, quicSendErrors = 0, quicMigrated = 0,
           quicGro = 0, quicGso = 0;
  // QUIC flows not confirmed by their client (a gauge), what became of
  // them, paths opened, datagrams held back by the 3x limit, refused flows
  // forgotten early (issue 22).
  uint64_t quicUnconfirmed = 0, quicConfirmed = 0, quicUnconfirmedExpired = 0, quicUnconfirmedEvicted = 0,
           quicPathsOpened = 0, quicAmplificationDropped = 0, quicDroppingEvicted = 0;
  bool statsProxy = false;  // served by admin/ (mode http)
};

struct ProcessStats {
  ProcessFacts facts;
  std::string version;
  uint64_t now = 0;            // wall-clock seconds at the snapshot
  uint64_t uptime = 0;
  uint64_t maxconn = 0;
  uint64_t currentConnections = 0;
  uint64_t totalConnections = 0;
  uint64_t connectionRate = 0, maxConnectionRate = 0;
  uint64_t acceptErrors = 0;
  uint64_t bytesIn = 0, bytesOut = 0;       // over every frontend
  uint64_t splicedBytes = 0, copiedBytes = 0;
  uint64_t quicUnconfirmed = 0, quicUnconfirmedExpired = 0, quicUnconfirmedEvicted = 0,
           quicAmplificationDropped = 0, quicPathsOpened = 0;   // over every frontend
  uint64_t residentBytes = 0;               // VmRSS
  uint64_t heapBytes = 0;                   // malloc'd and in use
  size_t frontends = 0, backends = 0, servers = 0;
  bool stopping = false;
};

// One stick table, for "haproxy_sticktable_*" metrics.
struct TableRow {
  std::string name;
  std::string type;            // ip, ipv6, integer, string, binary
  uint64_t size = 0;
  uint64_t used = 0;
};

struct Snapshot {
  ProcessStats process;
  std::vector<ResolverRow> resolvers;
  std::vector<StatRow> rows;   // per proxy in file order: FRONTEND, servers, BACKEND
  std::vector<TableRow> tables;
};

Snapshot collect(const runtime::Runtime& rt, const session::ProcessState& ps, const ProcessFacts& facts);

// "show stat [<iid> <type> <sid>] [up] [no-maint]": `typeMask` bits are
// 1 frontend, 2 backend, 4 server (HAProxy's), -1 all.
struct StatFilter {
  int proxyId = -1;
  int typeMask = -1;
  int serverId = -1;
  bool upOnly = false;
  bool noMaint = false;
};
std::string renderStatCsv(const Snapshot& snap, const StatFilter& filter);
// "show stat ... typed": a line per value, "<F|B|S>.<iid>.<sid>.<position>.
// <column>.1:<origin nature scope>:<type>:<value>", as HAProxy's manual
// describes; empty values are left out.
std::string renderStatTyped(const Snapshot& snap, const StatFilter& filter);
const std::vector<std::string>& statColumns();

std::string renderInfo(const Snapshot& snap);
// "show servers state [<backend>]"; empty string and `error` when unknown.
std::string renderServersState(const runtime::Runtime& rt, const std::string& backend, std::string& error,
                               const std::vector<config::ServerEdit>& edits = {});

// Helpers shared by the renderings.
std::string uptimeText(uint64_t seconds);       // "0d 1h02m03s"
std::string csvField(const std::string& s);     // quoted when it holds ',' or '"'

}  // namespace sluice::admin
