// SPDX-License-Identifier: Apache-2.0
// The stats page and its JSON; see stats_page.h.
#include "admin/stats_page.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace sluice::admin {

void History::sample(const Snapshot& snap) {
  const ProcessStats& p = snap.process;
  Point pt;
  pt.time = p.now;
  if (lastTime_ && p.now > lastTime_) {
    double dt = static_cast<double>(p.now - lastTime_);
    pt.connectionsPerSecond = static_cast<double>(p.totalConnections - std::min(p.totalConnections, lastConnections_)) / dt;
    pt.bytesInPerSecond = static_cast<double>(p.bytesIn - std::min(p.bytesIn, lastIn_)) / dt;
    pt.bytesOutPerSecond = static_cast<double>(p.bytesOut - std::min(p.bytesOut, lastOut_)) / dt;
  } else if (lastTime_ == p.now && !points_.empty()) {
    return;  // same second: keep the first sample
  }
  lastTime_ = p.now;
  lastConnections_ = p.totalConnections;
  lastIn_ = p.bytesIn;
  lastOut_ = p.bytesOut;
  points_.push_back(pt);
  while (points_.size() > kPoints) points_.pop_front();
}

std::string htmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string humanBytes(uint64_t v) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double d = static_cast<double>(v);
  int u = 0;
  while (d >= 1024 && u < 5) {
    d /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", d, kUnits[u]);
  return buf;
}

std::string humanDuration(uint64_t s) {
  char buf[32];
  if (s < 60) snprintf(buf, sizeof(buf), "%llus", static_cast<unsigned long long>(s));
  else if (s < 3600) snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(s / 60),
                              static_cast<unsigned long long>(s % 60));
  else if (s < 86400) snprintf(buf, sizeof(buf), "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                               static_cast<unsigned long long>((s / 60) % 60));
  else snprintf(buf, sizeof(buf), "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                static_cast<unsigned long long>((s / 3600) % 24));
  return buf;
}

void applyScope(Snapshot& snap, const std::vector<std::string>& scopes) {
  if (scopes.empty()) return;
  snap.rows.erase(std::remove_if(snap.rows.begin(), snap.rows.end(),
                                 [&](const StatRow& r) {
                                   return std::find(scopes.begin(), scopes.end(), r.proxy) == scopes.end();
                                 }),
                  snap.rows.end());
}

namespace {

std::string num(uint64_t v) { return std::to_string(v); }

// The CSS class of a status: its colour on the page.
std::string statusClass(const StatRow& r) {
  if (r.type == RowType::Frontend) return r.status == "OPEN" ? "up" : "down";
  if (r.status == "MAINT") return "maint";
  if (r.status == "DRAIN") return "drain";
  if (r.status.rfind("UP ", 0) == 0) return "going-down";
  if (r.status.rfind("DOWN ", 0) == 0) return "going-up";
  if (r.status == "no check") return "nocheck";
  if (r.status == "UP") return "up";
  return "down";
}

std::string cell(const std::string& field, const std::string& text, const std::string& cls = "",
                 const std::string& title = "") {
  std::string out = "<td data-field=\"" + field + "\"";
  if (!cls.empty()) out += " class=\"" + cls + "\"";
  if (!title.empty()) out += " title=\"" + htmlEscape(title) + "\"";
  return out + ">" + text + "</td>";
}

std::string pair(uint64_t a, uint64_t b) { return num(a) + " / " + num(b); }

std::string row(const StatRow& r, bool admin) {
  std::string kind = r.type == RowType::Frontend ? "frontend" : r.type == RowType::Backend ? "backend" : "server";
  std::string out = "<tr class=\"" + kind + (r.backup ? " backup" : "") + "\" data-proxy=\"" +
                    htmlEscape(r.proxy) + "\" data-name=\"" + htmlEscape(r.name) + "\" data-status=\"" +
                    htmlEscape(r.status) + "\">";
  if (admin) {
    out += r.type == RowType::Server
               ? "<td><input type=\"checkbox\" name=\"s\" value=\"" + htmlEscape(r.name) + "\"></td>"
               : "<td></td>";
  }
  std::string label = r.type == RowType::Server ? htmlEscape(r.name) : "<b>" + htmlEscape(r.name) + "</b>";
  if (r.type == RowType::Server && !r.address.empty()) {
    // QUIC servers as the file names them: the same address may also be a
    // TCP server of the backend.
    label += " <span class=\"addr\">" + htmlEscape(r.prefix + r.address) + "</span>";
  }
  if (r.type == RowType::Frontend && r.quic) label += " <span class=\"tag\">QUIC</span>";
  out += cell("name", label, "name");
  out += cell("status", htmlEscape(r.status), "status " + statusClass(r));
  bool hasLb = r.type != RowType::Frontend;
  out += cell("lastchg", hasLb ? humanDuration(r.lastchg) : "");
  std::string check;
  if (r.type == RowType::Server && r.checked) {
    check = htmlEscape(r.checkStatus);
    if (r.checkStatus != "INI") check += " in " + num(r.checkDuration) + "ms";
  }
  out += cell("check", check, "", r.lastCheck.empty() ? r.checkDesc : r.checkDesc + ": " + r.lastCheck);
  out += cell("weight", hasLb ? num(r.weight) + (r.type == RowType::Server && r.weight != r.iweight
                                                     ? " <span class=\"dim\">(" + num(r.iweight) + ")</span>"
                                                     : "")
                              : "");
  out += cell("actbck", r.type == RowType::Backend ? pair(r.act, r.bck)
                        : r.type == RowType::Server ? (r.backup ? "backup" : "active")
                                                    : "");
  out += cell("queue", hasLb ? pair(r.qcur, r.qmax) : "");
  out += cell("sessions", pair(r.scur, r.smax));
  out += cell("limit", r.slim ? num(r.slim) : "-");
  out += cell("rate", pair(r.rate, r.rateMax));
  out += cell("total", num(r.stot));
  out += cell("bin", humanBytes(r.bin), "", num(r.bin) + " bytes");
  out += cell("bout", humanBytes(r.bout), "", num(r.bout) + " bytes");
  // A QUIC frontend's dropped datagrams are no request errors (nothing was
  // answered); the cell's title tells them.
  std::string quicDrops;
  if (r.type == RowType::Frontend && r.quic) {
    quicDrops = "QUIC datagrams dropped: " + num(r.quicNotQuic) + " not QUIC, " + num(r.quicShortInitial) +
                " short Initials, " + num(r.quicUndecryptable) + " undecryptable, " + num(r.quicOverLimit) +
                " over maxconn, " + num(r.quicHeldDropped) + " beyond what a flow holds, " + num(r.quicSendErrors) +
                " not sent, " + num(r.quicAmplificationDropped) + " held back by the 3x limit; " +
                num(r.quicMigrated) + " found at a new address (" + num(r.quicPathsOpened) + " new paths); " +
                num(r.quicUnconfirmed) + " flows unconfirmed now, " + num(r.quicUnconfirmedExpired) + " expired, " +
                num(r.quicUnconfirmedEvicted) + " evicted; " + num(r.quicGro) + " received and " + num(r.quicGso) +
                " sent coalesced";
  }
  out += cell("errors", r.type == RowType::Frontend ? num(r.ereq) : pair(r.econ, r.eresp), "", quicDrops);
  out += cell("warnings", hasLb ? pair(r.wretr, r.wredis) : "");
  out += cell("downtime", hasLb && (r.type == RowType::Backend || r.checked) ? humanDuration(r.downtime) : "");
  out += cell("throttle", r.throttle >= 0 ? num(static_cast<uint64_t>(r.throttle)) + "%" : "");
  return out + "</tr>\n";
}

std::string tables(const Snapshot& snap, const PageOptions& o) {
  std::string out;
  size_t i = 0;
  while (i < snap.rows.size()) {
    const std::string proxy = snap.rows[i].proxy;
    size_t end = i;
    while (end < snap.rows.size() && snap.rows[end].proxy == proxy) ++end;
    bool hasServers = false;
    std::string algo;
    for (size_t k = i; k < end; ++k) {
      if (snap.rows[k].type == RowType::Server) hasServers = true;
      if (snap.rows[k].type == RowType::Backend) algo = snap.rows[k].algo;
    }
    bool admin = o.admin && hasServers;
    out += "<section class=\"proxy\" data-proxy=\"" + htmlEscape(proxy) + "\"><h2>" + htmlEscape(proxy);
    if (!algo.empty()) out += " <span class=\"dim\">" + htmlEscape(algo) + "</span>";
    out += "</h2>\n";
    if (admin) {
      out += "<form method=\"post\" action=\"" + htmlEscape(o.uri) + "\"><input type=\"hidden\" name=\"b\" value=\"" +
             htmlEscape(proxy) + "\">\n";
    }
    out += "<table><thead><tr>";
    if (admin) out += "<th></th>";
    for (const char* h : {"Name", "Status", "Last change", "Check", "Weight", "Act/Bck", "Queue cur/max",
                          "Sessions cur/max", "Limit", "Rate cur/max", "Total", "Bytes in", "Bytes out",
                          "Errors", "Retries/Redisp.", "Downtime", "Throttle"}) {
      out += std::string("<th>") + h + "</th>";
    }
    out += "</tr></thead><tbody>\n";
    for (size_t k = i; k < end; ++k) out += row(snap.rows[k], admin);
    out += "</tbody></table>\n";
    if (admin) {
      out += "<div class=\"actions\">Selected servers: <select name=\"action\">"
             "<option value=\"\">Choose an action</option>"
             "<option value=\"ready\">Set state to READY</option>"
             "<option value=\"drain\">Set state to DRAIN</option>"
             "<option value=\"maint\">Set state to MAINT</option>"
             "<option value=\"hrunn\">Health: force UP</option>"
             "<option value=\"hdown\">Health: force DOWN</option>"
             "<option value=\"shutdown\">Kill sessions</option>"
             "</select> <button type=\"submit\">Apply</button></div></form>\n";
    }
    out += "</section>\n";
    i = end;
  }
  return out;
}

std::string infoLine(const Snapshot& snap, const PageOptions& o) {
  const ProcessStats& p = snap.process;
  const config::StatsConfig* c = o.config;
  std::string out = "<div class=\"info\" id=\"info\">";
  auto item = [&](const std::string& k, const std::string& v) {
    out += "<span><b>" + k + "</b> " + v + "</span>";
  };
  if (!c || !c->hideVersion) item("version", htmlEscape(p.version));
  if (c && c->showNode) item("node", htmlEscape(c->nodeName.empty() ? p.facts.node : c->nodeName));
  item("pid", num(p.facts.pid));
  item("uptime", htmlEscape(uptimeText(p.uptime)));
  item("threads", num(p.facts.threads));
  item("connections", num(p.currentConnections) + " / " + num(p.maxconn));
  item("conn. rate", num(p.connectionRate) + "/s (max " + num(p.maxConnectionRate) + ")");
  item("total", num(p.totalConnections));
  item("spliced", humanBytes(p.splicedBytes));
  item("copied", humanBytes(p.copiedBytes));
  item("memory", humanBytes(p.residentBytes));
  item("reloads", num(p.facts.reloads));
  if (p.stopping) item("state", "stopping");
  return out + "</div>";
}

std::string historyJson(const History& h) {
  std::string out = "[";
  bool first = true;
  for (const History::Point& p : h.points()) {
    if (!first) out += ",";
    first = false;
    char buf[160];
    snprintf(buf, sizeof(buf), "[%llu,%.1f,%.0f,%.0f]", static_cast<unsigned long long>(p.time),
             p.connectionsPerSecond, p.bytesInPerSecond, p.bytesOutPerSecond);
    out += buf;
  }
  return out + "]";
}

const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d232b}
header{background:#18324d;color:#fff;padding:10px 18px;display:flex;align-items:baseline;gap:18px}
header h1{font-size:18px;margin:0}
header a{color:#bcd4ee;font-size:13px}
.info{display:flex;flex-wrap:wrap;gap:6px 18px;padding:8px 18px;font-size:13px;background:#fff;border-bottom:1px solid #dde1e6}
.info b{color:#5b6775;font-weight:600}
.chart{background:#fff;margin:12px 18px;padding:10px;border:1px solid #dde1e6;border-radius:6px}
.chart canvas{width:100%;height:170px}
.legend{font-size:12px;color:#5b6775}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}
.proxy{margin:12px 18px;background:#fff;border:1px solid #dde1e6;border-radius:6px;overflow-x:auto}
.proxy h2{font-size:15px;margin:0;padding:8px 12px;background:#e9eef4;border-bottom:1px solid #dde1e6}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th{font-weight:600;text-align:left;padding:5px 8px;color:#5b6775;border-bottom:1px solid #dde1e6;white-space:nowrap}
td{padding:4px 8px;border-bottom:1px solid #eef0f3;white-space:nowrap;font-variant-numeric:tabular-nums}
tr.frontend td,tr.backend td{background:#f8fafc}
tr.backup .name{font-style:italic}
.addr,.dim{color:#7a8694;font-size:11.5px}
.tag{font-size:10.5px;font-weight:600;color:#5b21b6;background:#ede9fe;border-radius:3px;padding:0 4px}
.status{font-weight:600;border-radius:3px}
.status.up{color:#116329;background:#dcf5e3}
.status.down{color:#a1120d;background:#fde2e1}
.status.going-down{color:#7a4d00;background:#fff1c2}
.status.going-up{color:#7a4d00;background:#ffe3b0}
.status.maint{color:#4c3a30;background:#e8dcd3}
.status.drain{color:#0b4a8b;background:#dbeafe}
.status.nocheck{color:#5b6775;background:#eef0f3}
.actions{padding:8px 12px;font-size:13px}
.notice{margin:12px 18px;padding:8px 12px;border-radius:6px;background:#dbeafe;color:#0b4a8b}
)css";

const char* kScript = R"js(
(function(){
  var cfg=JSON.parse(document.getElementById('cfg').textContent);
  var canvas=document.getElementById('chart');
  function fmt(v,bytes){var u=bytes?['B/s','KiB/s','MiB/s','GiB/s']:['/s','k/s','M/s','G/s'];var i=0;
    while(v>=(bytes?1024:1000)&&i<3){v/=(bytes?1024:1000);i++}return (i?v.toFixed(1):Math.round(v))+' '+u[i]}
  function draw(h){
    var dpr=window.devicePixelRatio||1,w=canvas.clientWidth,ht=canvas.clientHeight,pad=56;
    canvas.width=w*dpr;canvas.height=ht*dpr;var g=canvas.getContext('2d');g.scale(dpr,dpr);
    g.clearRect(0,0,w,ht);var n=h.length;if(!n)return;
    var maxC=1,maxB=1;h.forEach(function(p){maxC=Math.max(maxC,p[1]);maxB=Math.max(maxB,p[2]+p[3])});
    g.strokeStyle='#e3e7ec';g.lineWidth=1;for(var k=0;k<=4;k++){var y=8+(ht-24)*k/4;g.beginPath();g.moveTo(pad,y);g.lineTo(w-pad,y);g.stroke()}
    g.fillStyle='#5b6775';g.font='11px system-ui';g.textAlign='left';g.fillText(fmt(maxC,false),2,14);g.textAlign='right';g.fillText(fmt(maxB,true),w-2,14);g.textAlign='left';
    var slots=Math.max(n,cfg.points);
    function line(idx,max,color){g.strokeStyle=color;g.lineWidth=2;g.beginPath();
      h.forEach(function(p,i){var x=pad+(w-2*pad)*(slots-n+i)/(slots-1);var v=idx<2?p[idx]:p[2]+p[3];
        var y=8+(ht-24)*(1-v/max);if(i)g.lineTo(x,y);else g.moveTo(x,y)});g.stroke()}
    line(1,maxC,'#2563eb');line(3,maxB,'#ea7a12');
    var last=h[n-1];document.getElementById('cur-conn').textContent=fmt(last[1],false);
    document.getElementById('cur-bytes').textContent=fmt(last[2]+last[3],true);
  }
  function busy(){return document.querySelector('input[type=checkbox]:checked')||document.activeElement&&document.activeElement.tagName==='SELECT'}
  var lastTables=0;
  function poll(){
    fetch(cfg.json,{cache:'no-store',credentials:'same-origin'}).then(function(r){return r.json()}).then(function(d){
      draw(d.history);
      var now=Date.now();
      if(cfg.refresh>0&&now-lastTables>=cfg.refresh&&!busy()){
        lastTables=now;document.getElementById('tables').innerHTML=d.tables;document.getElementById('info').outerHTML=d.info;
      }
    }).catch(function(){}).then(function(){setTimeout(poll,1000)});
  }
  draw(cfg.history);if(cfg.live)setTimeout(poll,1000);
})();
)js";

}  // namespace

std::string renderStatsPage(const Snapshot& snap, const History& history, const PageOptions& o) {
  const config::StatsConfig* c = o.config;
  uint64_t refreshMs = c && c->refresh ? *c->refresh : 0;
  bool live = o.uri.find(";norefresh") == std::string::npos;
  std::string base = o.uri.substr(0, o.uri.find(';'));
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<link rel=\"icon\" href=\"data:,\"><title>Statistics Report for sluice</title>";
  if (refreshMs && live) {
    out += "<noscript><meta http-equiv=\"refresh\" content=\"" + num(std::max<uint64_t>(1, refreshMs / 1000)) +
           "\"></noscript>";
  }
  out += "<style>" + std::string(kStyle) + "</style></head><body>\n<header><h1>sluice statistics</h1>";
  if (c && c->showDesc && !c->description.empty()) out += "<span>" + htmlEscape(c->description) + "</span>";
  out += "<a href=\"" + htmlEscape(base) + ";csv\">CSV export</a><a href=\"" + htmlEscape(base) +
         ";json\">JSON</a>";
  out += live ? "<a href=\"" + htmlEscape(base) + ";norefresh\">Stop refreshing</a>"
              : "<a href=\"" + htmlEscape(base) + "\">Refresh live</a>";
  out += "</header>\n" + infoLine(snap, o) + "\n";
  if (!o.notice.empty()) out += "<div class=\"notice\" id=\"notice\">" + htmlEscape(o.notice) + "</div>\n";
  out += "<div class=\"chart\"><div class=\"legend\"><i style=\"background:#2563eb\"></i>connections "
         "<b id=\"cur-conn\">-</b><i style=\"background:#ea7a12\"></i>bytes in+out <b id=\"cur-bytes\">-</b>"
         " <span class=\"dim\">(last 5 minutes)</span></div><canvas id=\"chart\"></canvas></div>\n";
  out += "<div id=\"tables\">\n" + tables(snap, o) + "</div>\n";
  if (c && c->showLegends) {
    out += "<p class=\"dim\" style=\"margin:12px 18px\">UP: usable; DOWN: failed its checks; \"UP 1/3\": "
           "failing, still up; \"DOWN 1/2\": passing, still down; DRAIN: no new sessions; MAINT: "
           "disabled; no check: not checked.</p>";
  }
  // Live updates: the chart every second, the tables at "stats refresh"
  // (every second when the file sets none).
  out += "<script id=\"cfg\" type=\"application/json\">{\"json\":\"" + jsonEscape(base + ";json") +
         "\",\"refresh\":" + num(refreshMs ? refreshMs : 1000) + ",\"live\":" + (live ? "true" : "false") +
         ",\"points\":" + num(History::kPoints) + ",\"history\":" + historyJson(history) + "}</script>\n";
  out += "<script>" + std::string(kScript) + "</script>\n</body></html>\n";
  return out;
}

std::string renderStatsJson(const Snapshot& snap, const History& history, const PageOptions& o) {
  const ProcessStats& p = snap.process;
  std::string out = "{\"process\":{";
  out += "\"version\":\"" + jsonEscape(o.config && o.config->hideVersion ? "" : p.version) + "\"";
  out += ",\"pid\":" + num(p.facts.pid) + ",\"uptime\":" + num(p.uptime) + ",\"threads\":" + num(p.facts.threads);
  out += ",\"current_connections\":" + num(p.currentConnections) + ",\"maxconn\":" + num(p.maxconn);
  out += ",\"connections_total\":" + num(p.totalConnections) + ",\"connection_rate\":" + num(p.connectionRate);
  out += ",\"bytes_in\":" + num(p.bytesIn) + ",\"bytes_out\":" + num(p.bytesOut);
  out += ",\"spliced_bytes\":" + num(p.splicedBytes) + ",\"copied_bytes\":" + num(p.copiedBytes);
  out += ",\"resident_bytes\":" + num(p.residentBytes) + ",\"reloads\":" + num(p.facts.reloads);
  out += std::string(",\"stopping\":") + (p.stopping ? "true" : "false") + "}";
  out += ",\"rows\":[";
  bool first = true;
  for (const StatRow& r : snap.rows) {
    if (!first) out += ",";
    first = false;
    out += "{\"proxy\":\"" + jsonEscape(r.proxy) + "\",\"name\":\"" + jsonEscape(r.name) + "\",\"type\":" +
           num(static_cast<uint64_t>(r.type)) + ",\"status\":\"" + jsonEscape(r.status) + "\",\"scur\":" +
           num(r.scur) + ",\"smax\":" + num(r.smax) + ",\"stot\":" + num(r.stot) + ",\"rate\":" + num(r.rate) +
           ",\"bin\":" + num(r.bin) + ",\"bout\":" + num(r.bout) + ",\"weight\":" + num(r.weight) +
           ",\"check_status\":\"" + jsonEscape(r.checkStatus) + "\",\"lastchg\":" + num(r.lastchg) +
           ",\"quic\":" + (r.quic ? "true" : "false") + "}";
  }
  out += "],\"history\":" + historyJson(history);
  out += ",\"info\":\"" + jsonEscape(infoLine(snap, o)) + "\"";
  out += ",\"tables\":\"" + jsonEscape(tables(snap, o)) + "\"}";
  return out;
}

}  // namespace sluice::admin
