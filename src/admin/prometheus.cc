// SPDX-License-Identifier: Apache-2.0
// Prometheus text exposition; see prometheus.h.
#include "admin/prometheus.h"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace sluice::admin {

namespace {

enum Scope { kFrontend = 1, kBackend = 2, kServer = 4 };

struct RowMetric {
  const char* name;        // after "haproxy_<scope>_"
  const char* type;        // gauge or counter
  const char* help;
  int scopes;
  std::function<double(const StatRow&)> value;
  std::function<bool(const StatRow&)> applies;  // nullptr: always
};

std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<int64_t>(v))) {
    snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v));
  } else {
    snprintf(buf, sizeof(buf), "%.6g", v);
  }
  return buf;
}

std::string labels(const StatRow& r) {
  std::string l = "proxy=\"" + escapeLabel(r.proxy) + "\"";
  if (r.type == RowType::Server) l += ",server=\"" + escapeLabel(r.name) + "\"";
  return l;
}

const char* prefixOf(int scope) {
  return scope == kFrontend ? "haproxy_frontend_" : scope == kBackend ? "haproxy_backend_" : "haproxy_server_";
}

int scopeOf(const StatRow& r) {
  return r.type == RowType::Frontend ? kFrontend : r.type == RowType::Backend ? kBackend : kServer;
}

double ms(uint64_t v) { return static_cast<double>(v) / 1000.0; }

const std::vector<RowMetric>& rowMetrics() {
  using R = const StatRow&;
  static const std::vector<RowMetric> kMetrics = {
      {"current_queue", "gauge", "Connections waiting for a server slot.", kBackend | kServer,
       [](R r) { return double(r.qcur); }, nullptr},
      {"max_queue", "gauge", "Highest number of connections waiting for a server slot.", kBackend | kServer,
       [](R r) { return double(r.qmax); }, nullptr},
      {"current_sessions", "gauge", "Current sessions.", kFrontend | kBackend | kServer,
       [](R r) { return double(r.scur); }, nullptr},
      {"max_sessions", "gauge", "Highest number of simultaneous sessions.", kFrontend | kBackend | kServer,
       [](R r) { return double(r.smax); }, nullptr},
      {"limit_sessions", "gauge", "Session limit: maxconn (frontend, server), fullconn (backend).",
       kFrontend | kBackend | kServer, [](R r) { return double(r.slim); }, nullptr},
      {"sessions_total", "counter", "Sessions since the process started.", kFrontend | kBackend | kServer,
       [](R r) { return double(r.stot); }, nullptr},
      {"limit_session_rate", "gauge", "Limit on new sessions per second (0: none).", kFrontend,
       [](R r) { return double(r.rateLimit); }, nullptr},
      {"max_session_rate", "gauge", "Highest number of new sessions in one second.",
       kFrontend | kBackend | kServer, [](R r) { return double(r.rateMax); }, nullptr},
      {"last_session_seconds", "gauge", "Seconds since the last session was assigned (-1: never).",
       kBackend | kServer, [](R r) { return double(r.lastsess); }, nullptr},
      {"bytes_in_total", "counter", "Bytes from clients.", kFrontend | kBackend | kServer,
       [](R r) { return double(r.bin); }, nullptr},
      {"bytes_out_total", "counter", "Bytes to clients.", kFrontend | kBackend | kServer,
       [](R r) { return double(r.bout); }, nullptr},
      {"requests_denied_total", "counter", "Sessions denied by content rules.", kFrontend | kBackend,
       [](R r) { return double(r.dreq); }, nullptr},
      {"request_errors_total", "counter", "Client-side errors (bad PROXY header, malformed hello, ...).",
       kFrontend, [](R r) { return double(r.ereq); }, nullptr},
      {"denied_connections_total", "counter", "Connections denied by 'tcp-request connection' rules.",
       kFrontend, [](R r) { return double(r.dcon); }, nullptr},
      {"connections_rate_max", "gauge", "Highest number of new connections in one second.", kFrontend,
       [](R r) { return double(r.connRateMax); }, nullptr},
      {"connections_total", "counter", "Connections accepted.", kFrontend,
       [](R r) { return double(r.connTot); }, nullptr},
      {"connection_attempts_total", "counter", "Connection attempts to servers.", kBackend | kServer,
       [](R r) { return double(r.lbtot + r.wretr); }, nullptr},
      {"connection_errors_total", "counter", "Failed connection attempts to servers.", kBackend | kServer,
       [](R r) { return double(r.econ); }, nullptr},
      {"response_errors_total", "counter", "Errors while reading from servers.", kBackend | kServer,
       [](R r) { return double(r.eresp); }, nullptr},
      {"retry_warnings_total", "counter", "Connection retries.", kBackend | kServer,
       [](R r) { return double(r.wretr); }, nullptr},
      {"redispatch_warnings_total", "counter", "Connections redispatched to another server.",
       kBackend | kServer, [](R r) { return double(r.wredis); }, nullptr},
      {"client_aborts_total", "counter", "Transfers aborted by the client.", kBackend | kServer,
       [](R r) { return double(r.cliAbrt); }, nullptr},
      {"server_aborts_total", "counter", "Transfers aborted by the server.", kBackend | kServer,
       [](R r) { return double(r.srvAbrt); }, nullptr},
      {"weight", "gauge", "Effective weight (backend: sum of usable servers').", kBackend | kServer,
       [](R r) { return double(r.weight); }, nullptr},
      {"uweight", "gauge", "Weight set by the user (file or runtime API).", kBackend | kServer,
       [](R r) { return double(r.uweight); }, nullptr},
      {"active_servers", "gauge", "Usable active servers.", kBackend, [](R r) { return double(r.act); },
       nullptr},
      {"backup_servers", "gauge", "Usable backup servers.", kBackend, [](R r) { return double(r.bck); },
       nullptr},
      {"check_failures_total", "counter", "Failed health checks.", kServer,
       [](R r) { return double(r.chkfail); }, [](R r) { return r.checked; }},
      {"check_up_down_total", "counter", "UP to DOWN transitions.", kBackend | kServer,
       [](R r) { return double(r.chkdown); }, nullptr},
      {"check_last_change_seconds", "gauge", "Seconds since the last UP/DOWN transition.",
       kBackend | kServer, [](R r) { return double(r.lastchg); }, nullptr},
      {"downtime_seconds_total", "counter", "Seconds spent DOWN.", kBackend | kServer,
       [](R r) { return double(r.downtime); }, nullptr},
      {"check_code", "gauge", "HTTP status of the last health check (0: none).", kServer,
       [](R r) { return double(r.checkCode); }, [](R r) { return r.checked; }},
      {"check_duration_seconds", "gauge", "Duration of the last health check.", kServer,
       [](R r) { return ms(r.checkDuration); }, [](R r) { return r.checked; }},
      {"queue_limit", "gauge", "Configured maxqueue (0: none).", kServer, [](R r) { return double(r.qlimit); },
       nullptr},
      {"current_throttle", "gauge", "Slow start progress in percent.", kServer,
       [](R r) { return double(r.throttle < 0 ? 0 : r.throttle); }, [](R r) { return r.throttle >= 0; }},
      {"loadbalanced_total", "counter", "Times a server was chosen.", kBackend | kServer,
       [](R r) { return double(r.lbtot); }, nullptr},
      {"queue_time_average_seconds", "gauge", "Average queue time over the last 1024 sessions.",
       kBackend | kServer, [](R r) { return ms(r.qtime); }, nullptr},
      {"connect_time_average_seconds", "gauge", "Average connect time over the last 1024 sessions.",
       kBackend | kServer, [](R r) { return ms(r.ctime); }, nullptr},
      {"total_time_average_seconds", "gauge", "Average session duration over the last 1024 sessions.",
       kBackend | kServer, [](R r) { return ms(r.ttime); }, nullptr},
      {"max_queue_time_seconds", "gauge", "Longest queue time.", kBackend | kServer,
       [](R r) { return ms(r.qtimeMax); }, nullptr},
      {"max_connect_time_seconds", "gauge", "Longest connect time.", kBackend | kServer,
       [](R r) { return ms(r.ctimeMax); }, nullptr},
      {"max_total_time_seconds", "gauge", "Longest session.", kBackend | kServer,
       [](R r) { return ms(r.ttimeMax); }, nullptr},
      {"used_connections_current", "gauge", "Connections to the server in use.", kServer,
       [](R r) { return double(r.scur); }, nullptr},
  };
  return kMetrics;
}

class Writer {
 public:
  void family(const std::string& name, const char* type, const char* help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, double v) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + number(v) + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

bool wanted(const std::vector<std::string>& scopes, const char* s) {
  return scopes.empty() || std::find(scopes.begin(), scopes.end(), s) != scopes.end();
}

void processMetrics(const ProcessStats& p, Writer& w) {
  auto g = [&](const char* name, const char* type, const char* help, double v) {
    std::string full = std::string("haproxy_process_") + name;
    w.family(full, type, help);
    w.sample(full, "", v);
  };
  g("nbthread", "gauge", "Worker threads.", p.facts.threads);
  g("nbproc", "gauge", "Processes (always 1).", 1);
  g("relative_process_id", "gauge", "Process number (always 1).", 1);
  g("uptime_seconds", "gauge", "Seconds since the process started.", double(p.uptime));
  g("start_time_seconds", "gauge", "Start time, in seconds since the epoch.", double(p.facts.startedAt));
  g("max_memory_bytes", "gauge", "Memory limit (0: none).", 0);
  g("pool_allocated_bytes", "gauge", "Heap memory allocated.", double(p.heapBytes));
  g("pool_used_bytes", "gauge", "Heap memory in use.", double(p.heapBytes));
  g("max_fds", "gauge", "Descriptor limit.", double(p.facts.fdLimit));
  g("max_sockets", "gauge", "Descriptor limit.", double(p.facts.fdLimit));
  g("max_connections", "gauge", "maxconn.", double(p.maxconn));
  g("hard_max_connections", "gauge", "maxconn.", double(p.maxconn));
  g("current_connections", "gauge", "Connections open now.", double(p.currentConnections));
  g("connections_total", "counter", "Connections accepted since start.", double(p.totalConnections));
  g("current_connection_rate", "gauge", "Connections accepted during the last second.",
    double(p.connectionRate));
  g("max_connection_rate", "gauge", "Highest connections per second.", double(p.maxConnectionRate));
  g("current_session_rate", "gauge", "Sessions started during the last second.", double(p.connectionRate));
  g("max_session_rate", "gauge", "Highest sessions per second.", double(p.maxConnectionRate));
  g("bytes_out_total", "counter", "Bytes sent to clients.", double(p.bytesOut));
  g("spliced_bytes_out_total", "counter", "Bytes forwarded with splice().", double(p.splicedBytes));
  g("stopping", "gauge", "1 while soft-stopping.", p.stopping ? 1 : 0);
  g("jobs", "gauge", "Connections and listeners.", double(p.currentConnections + p.facts.listeningSockets));
  g("listeners", "gauge", "Listening sockets.", double(p.facts.listeningSockets));
  w.family("haproxy_process_build_info", "gauge", "Build information.");
  w.sample("haproxy_process_build_info", "version=\"" + escapeLabel(p.version) + "\"", 1);
}

void rowMetricsOf(const Snapshot& snap, int scope, Writer& w) {
  for (const RowMetric& m : rowMetrics()) {
    if (!(m.scopes & scope)) continue;
    std::string name = std::string(prefixOf(scope)) + m.name;
    bool any = false;
    for (const StatRow& r : snap.rows) {
      if (scopeOf(r) != scope || (m.applies && !m.applies(r))) continue;
      if (!any) w.family(name, m.type, m.help);
      any = true;
      w.sample(name, labels(r), m.value(r));
    }
  }
  // States, one sample per possible value, as HAProxy's exporter does.
  static const char* kProxyStates[] = {"DOWN", "UP"};
  static const char* kServerStates[] = {"DOWN", "UP", "MAINT", "DRAIN", "NOLB"};
  std::string status = std::string(prefixOf(scope)) + "status";
  bool any = false;
  for (const StatRow& r : snap.rows) {
    if (scopeOf(r) != scope) continue;
    if (!any) w.family(status, "gauge", "Current status, one sample per state label value.");
    any = true;
    if (scope == kServer) {
      for (const char* s : kServerStates) w.sample(status, labels(r) + ",state=\"" + s + "\"", r.state == s);
    } else {
      std::string st = r.status == "DOWN" || r.status == "STOP" ? "DOWN" : "UP";
      for (const char* s : kProxyStates) w.sample(status, labels(r) + ",state=\"" + s + "\"", st == s);
    }
  }
  if (scope == kServer) {
    static const char* kChecks[] = {"HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP",
                                    "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT",
                                    "PROCOK"};
    std::string name = "haproxy_server_check_status";
    bool first = true;
    for (const StatRow& r : snap.rows) {
      if (r.type != RowType::Server || !r.checked) continue;
      if (first) w.family(name, "gauge", "Last health check result, one sample per state label value.");
      first = false;
      for (const char* c : kChecks) w.sample(name, labels(r) + ",state=\"" + c + "\"", r.checkStatus == c);
    }
  }
  if (scope == kBackend) {
    // How many servers of each backend are in each state.
    std::string name = "haproxy_backend_agg_server_status";
    bool first = true;
    for (const StatRow& b : snap.rows) {
      if (b.type != RowType::Backend) continue;
      if (first) w.family(name, "gauge", "Servers of the backend per state label value.");
      first = false;
      for (const char* s : kServerStates) {
        int count = 0;
        for (const StatRow& r : snap.rows) {
          if (r.type == RowType::Server && r.proxy == b.proxy && r.state == s) ++count;
        }
        w.sample(name, labels(b) + ",state=\"" + s + "\"", count);
      }
    }
  }
}

void sluiceMetrics(const Snapshot& snap, Writer& w) {
  const ProcessStats& p = snap.process;
  auto g = [&](const char* name, const char* type, const char* help, double v) {
    w.family(name, type, help);
    w.sample(name, "", v);
  };
  g("sluice_process_spliced_bytes_total", "counter", "Bytes forwarded with splice(), never copied.",
    double(p.splicedBytes));
  g("sluice_process_copied_bytes_total", "counter", "Bytes forwarded through a user-space buffer.",
    double(p.copiedBytes));
  g("sluice_process_bytes_in_total", "counter", "Bytes received from clients.", double(p.bytesIn));
  g("sluice_process_resident_memory_bytes", "gauge", "Resident memory.", double(p.residentBytes));
  g("sluice_process_accept_errors_total", "counter", "accept() failures (descriptors, memory).",
    double(p.acceptErrors));
  g("sluice_process_reloads_total", "counter", "Configuration reloads applied.", double(p.facts.reloads));

  // A family with one sample per frontend and per value of one more label.
  using Field = uint64_t StatRow::*;
  auto perFrontend = [&](const std::string& name, const char* type, const char* help,
                         std::initializer_list<std::pair<const char*, Field>> values) {
    w.family(name, type, help);
    for (const StatRow& r : snap.rows) {
      if (r.type != RowType::Frontend || r.statsProxy) continue;
      const std::string l = labels(r);
      for (const auto& [label, field] : values) w.sample(name, *label ? l + "," + label : l, double(r.*field));
    }
  };
  perFrontend("sluice_frontend_client_hello_total", "counter", "ClientHellos read, by result.",
              {{"result=\"parsed\"", &StatRow::helloParsed},
               {"result=\"not_tls\"", &StatRow::helloNotTls},
               {"result=\"malformed\"", &StatRow::helloMalformed},
               {"result=\"too_large\"", &StatRow::helloTooLarge},
               {"result=\"timed_out\"", &StatRow::helloTimedOut}});
  perFrontend("sluice_frontend_quic_dropped_datagrams_total", "counter",
              "QUIC datagrams dropped without a reply, by reason.",
              {{"reason=\"not_quic\"", &StatRow::quicNotQuic},
               {"reason=\"short_initial\"", &StatRow::quicShortInitial},
               {"reason=\"undecryptable\"", &StatRow::quicUndecryptable},
               {"reason=\"over_limit\"", &StatRow::quicOverLimit},
               {"reason=\"held_overflow\"", &StatRow::quicHeldDropped},
               {"reason=\"send_error\"", &StatRow::quicSendErrors},
               {"reason=\"amplification_limit\"", &StatRow::quicAmplificationDropped}});
  perFrontend("sluice_frontend_quic_unconfirmed_flows", "gauge",
              "QUIC flows whose client has not confirmed its address yet (no slot taken).",
              {{"", &StatRow::quicUnconfirmed}});
  perFrontend("sluice_frontend_quic_unconfirmed_flows_total", "counter",
              "QUIC flows that left the unconfirmed state, by outcome (confirmed; expired, or evicted for a "
              "newer one).",
              {{"outcome=\"confirmed\"", &StatRow::quicConfirmed},
               {"outcome=\"expired\"", &StatRow::quicUnconfirmedExpired},
               {"outcome=\"evicted\"", &StatRow::quicUnconfirmedEvicted}});
  perFrontend("sluice_frontend_quic_offloaded_datagrams_total", "counter",
              "QUIC datagrams received coalesced (way=gro) or sent coalesced (way=gso).",
              {{"way=\"gro\"", &StatRow::quicGro}, {"way=\"gso\"", &StatRow::quicGso}});
  struct Per {
    const char* name;
    const char* help;
    uint64_t StatRow::*field;
  };
  static const Per kPer[] = {
      {"sluice_frontend_client_hello_sni_total", "ClientHellos that carried an SNI.", &StatRow::helloWithSni},
      {"sluice_frontend_client_hello_multi_segment_total", "ClientHellos that took several reads.",
       &StatRow::helloMultiSegment},
      {"sluice_frontend_client_hello_multi_record_total", "ClientHellos spread over several TLS records.",
       &StatRow::helloMultiRecord},
      {"sluice_frontend_route_misses_total", "Sessions no use_backend rule chose (SNI misses).",
       &StatRow::routeMisses},
      {"sluice_frontend_no_server_total", "Sessions that found no usable server.", &StatRow::noServer},
      {"sluice_frontend_bad_proxy_header_total", "Invalid PROXY protocol headers.", &StatRow::badProxyHeaders},
      {"sluice_frontend_tls_alerts_total", "Connections refused with a TLS alert (tls-alert rules).",
       &StatRow::tlsAlerts},
      {"sluice_frontend_quic_migrated_total", "QUIC datagrams from a new client address matched to their flow "
       "by connection ID (or by the client's IP for an ID sluice never saw).", &StatRow::quicMigrated},
      {"sluice_frontend_quic_paths_opened_total", "QUIC client addresses after a flow's first, each given a "
       "server socket of its own.", &StatRow::quicPathsOpened},
      {"sluice_frontend_quic_refused_flows_forgotten_total", "Refused QUIC flows forgotten before their time "
       "because the table of refused flows was full.", &StatRow::quicDroppingEvicted},
  };
  for (const Per& m : kPer) perFrontend(m.name, "counter", m.help, {{"", m.field}});
  // DNS service discovery, name server by name server.
  if (!snap.resolvers.empty()) {
    const std::string sent = "sluice_resolver_queries_sent_total";
    const std::string answers = "sluice_resolver_answers_total";
    const std::string updates = "sluice_resolver_updates_total";
    auto resolverLabels = [](const ResolverRow& r) {
      return "resolvers=\"" + escapeLabel(r.section) + "\",nameserver=\"" + escapeLabel(r.nameserver) + "\"";
    };
    w.family(sent, "counter", "DNS queries sent to the name server.");
    for (const ResolverRow& r : snap.resolvers) w.sample(sent, resolverLabels(r), double(r.sent));
    w.family(answers, "counter", "DNS answers from the name server, by result (invalid: unreadable; outdated: "
                                 "another name server answered first).");
    for (const ResolverRow& r : snap.resolvers) {
      const std::string l = resolverLabels(r) + ",result=\"";
      w.sample(answers, l + "valid\"", double(r.valid));
      w.sample(answers, l + "nx\"", double(r.nx));
      w.sample(answers, l + "timeout\"", double(r.timeout));
      w.sample(answers, l + "refused\"", double(r.refused));
      w.sample(answers, l + "other\"", double(r.other));
      w.sample(answers, l + "invalid\"", double(r.invalid));
      w.sample(answers, l + "outdated\"", double(r.outdated));
    }
    w.family(updates, "counter", "Answers of the name server that changed a server's address.");
    for (const ResolverRow& r : snap.resolvers) w.sample(updates, resolverLabels(r), double(r.update));
  }
}

}  // namespace

std::string renderPrometheus(const Snapshot& snap, const std::vector<std::string>& scopes) {
  Writer w;
  if (wanted(scopes, "global")) processMetrics(snap.process, w);
  if (wanted(scopes, "frontend")) rowMetricsOf(snap, kFrontend, w);
  if (wanted(scopes, "backend")) rowMetricsOf(snap, kBackend, w);
  if (wanted(scopes, "server")) rowMetricsOf(snap, kServer, w);
  if (wanted(scopes, "sticktable") && !snap.tables.empty()) {
    w.family("haproxy_sticktable_size", "gauge", "Stick table size.");
    for (const TableRow& t : snap.tables) {
      w.sample("haproxy_sticktable_size", "name=\"" + escapeLabel(t.name) + "\",type=\"" + t.type + "\"",
               double(t.size));
    }
    w.family("haproxy_sticktable_used", "gauge", "Number of entries used in this stick table.");
    for (const TableRow& t : snap.tables) {
      w.sample("haproxy_sticktable_used", "name=\"" + escapeLabel(t.name) + "\",type=\"" + t.type + "\"",
               double(t.used));
    }
  }
  if (wanted(scopes, "sluice")) sluiceMetrics(snap, w);
  return w.take();
}

}  // namespace sluice::admin
