// SPDX-License-Identifier: Apache-2.0
// Log line formats; see tcplog.h.
#include "observe/tcplog.h"

#include <unistd.h>

#include "core/strings.h"
#include "observe/log_sink.h"

namespace sluice::observe {

namespace {

std::string ip(const core::Address& a) { return a.valid() ? a.unmapped().ipString() : "-"; }
std::string port(const core::Address& a) { return a.valid() ? std::to_string(a.port()) : "-"; }

std::string retriesField(const LogRecord& r) {
  return (r.redispatched ? "+" : "") + std::to_string(r.retries);
}

std::string variable(const std::string& name, const LogRecord& r) {
  if (name == "ci") return ip(r.client);
  if (name == "cp") return port(r.client);
  if (name == "fi") return ip(r.frontendAddress);
  if (name == "fp") return port(r.frontendAddress);
  if (name == "bi") return ip(r.backendSource);
  if (name == "bp") return port(r.backendSource);
  if (name == "si") return ip(r.serverAddress);
  if (name == "sp") return port(r.serverAddress);
  if (name == "t" || name == "tr" || name == "Tl" || name == "T") return formatAcceptDate(r.acceptWallMicros);
  if (name == "Ts") return std::to_string(r.acceptWallMicros / 1'000'000);
  if (name == "ms") {
    char buf[8];
    snprintf(buf, sizeof(buf), "%03d", static_cast<int>((r.acceptWallMicros / 1000) % 1000));
    return buf;
  }
  if (name == "ft" || name == "f" || name == "fn") return std::string(r.frontend);
  if (name == "b" || name == "bn") return std::string(r.backend);
  if (name == "s") return std::string(r.server);
  if (name == "Tw") return std::to_string(r.tw);
  if (name == "Tc") return std::to_string(r.tc);
  if (name == "Tt" || name == "Ta") return (r.early ? "+" : "") + std::to_string(r.tt);
  if (name == "Td") {
    if (r.tc < 0) return "-1";
    int64_t d = r.tt - (r.tw < 0 ? 0 : r.tw) - r.tc;
    return std::to_string(d < 0 ? 0 : d);
  }
  if (name == "Th" || name == "Ti" || name == "TR") return "0";
  if (name == "B") return (r.early ? "+" : "") + std::to_string(r.bytesOut);
  if (name == "U") return (r.early ? "+" : "") + std::to_string(r.bytesIn);
  if (name == "ts" || name == "tsc") return std::string(r.term, 2);
  if (name == "ac") return std::to_string(r.actconn);
  if (name == "fc") return std::to_string(r.feconn);
  if (name == "bc") return std::to_string(r.beconn);
  if (name == "sc") return std::to_string(r.srvconn);
  if (name == "rc") return retriesField(r);
  if (name == "sq") return std::to_string(r.srvQueue);
  if (name == "bq") return std::to_string(r.beQueue);
  if (name == "pid") return std::to_string(getpid());
  if (name == "H") {
    char buf[256] = {0};
    gethostname(buf, sizeof(buf) - 1);
    return buf;
  }
  if (name == "hr" || name == "hrl") {  // "capture" slots: {a|b}, or "a b"
    if (!r.captures || r.captures->empty()) return "-";
    std::string out = name == "hr" ? "{" : "";
    for (size_t i = 0; i < r.captures->size(); ++i) {
      if (i) out += name == "hr" ? "|" : " ";
      out += (*r.captures)[i];
    }
    return name == "hr" ? out + "}" : out;
  }
  // HTTP-only and TLS-termination variables have no value in passthrough.
  return "-";
}

}  // namespace

std::string formatTcpLog(const LogRecord& r) {
  std::string out;
  out.reserve(200);
  out += ip(r.client) + ":" + port(r.client);
  out += " [" + formatAcceptDate(r.acceptWallMicros) + "] ";
  out += std::string(r.frontend) + " ";
  out += std::string(r.backend) + "/" + std::string(r.server) + " ";
  out += std::to_string(r.tw) + "/" + std::to_string(r.tc) + "/" + (r.early ? "+" : "") +
         std::to_string(r.tt) + " ";
  out += (r.early ? "+" : "") + std::to_string(r.bytesOut) + " ";
  out += std::string(r.term, 2) + " ";
  out += std::to_string(r.actconn) + "/" + std::to_string(r.feconn) + "/" +
         std::to_string(r.beconn) + "/" + std::to_string(r.srvconn) + "/" + retriesField(r) + " ";
  out += std::to_string(r.srvQueue) + "/" + std::to_string(r.beQueue);
  return out;
}

std::string formatEmbryonicLog(const LogRecord& r, std::string_view listener, std::string_view what) {
  return ip(r.client) + ":" + port(r.client) + " [" + formatAcceptDate(r.acceptWallMicros) + "] " +
         std::string(r.frontend) + "/" + std::string(listener) + ": " + std::string(what);
}

std::string formatConnectLog(const LogRecord& r) {
  return "Connect from " + ip(r.client) + ":" + port(r.client) + " to " + ip(r.frontendAddress) +
         ":" + port(r.frontendAddress) + " (" + std::string(r.frontend) + "/TCP)";
}

std::string formatCustomLog(const route::FormatString& fmt, const LogRecord& r) {
  std::string out;
  for (const auto& seg : fmt.segments()) {
    using Kind = route::FormatString::Segment::Kind;
    std::string piece;
    if (seg.kind == Kind::Literal) {
      out += seg.text;
      continue;
    }
    if (seg.kind == Kind::Variable) {
      piece = variable(seg.text, r);
    } else {
      route::Sample s;
      if (r.view && seg.expr->evaluate(*r.view, 0, s)) {
        piece = core::escapeForLog(route::sampleToString(s));
      } else {
        piece = "-";
      }
    }
    out += seg.quote ? "\"" + piece + "\"" : piece;
  }
  return out;
}

}  // namespace sluice::observe
