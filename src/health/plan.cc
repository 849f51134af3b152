// SPDX-License-Identifier: Apache-2.0
// Compiles tcp-check / http-check / option httpchk lines into check plans;
// see plan.h.
#include "health/plan.h"

#include "core/strings.h"
#include "health/tls_probe.h"

namespace sluice::health {

namespace {

bool parseHex(const std::string& hex, std::string& out) {
  if (hex.size() % 2) return false;
  out.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto v = core::parseUnsigned("0x" + hex.substr(i, 2));
    if (!v) return false;
    out.push_back(static_cast<char>(*v));
  }
  return true;
}

// "connect [port N] [addr A] [ssl] [sni S] [alpn A] [send-proxy] [linger] [comment C] ..."
bool parseConnect(const std::vector<std::string>& w, CheckStep& step, std::string& error) {
  step.kind = CheckStep::Kind::Connect;
  for (size_t i = 1; i < w.size(); ++i) {
    auto value = [&](std::string& out) {
      if (i + 1 >= w.size()) {
        error = "'" + w[i] + "' needs a value";
        return false;
      }
      out = w[++i];
      return true;
    };
    std::string v;
    if (w[i] == "port") {
      if (!value(v)) return false;
      auto p = core::parseInt(v);
      if (!p || *p < 1 || *p > 65535) {
        error = "invalid port '" + v + "'";
        return false;
      }
      step.port = static_cast<uint16_t>(*p);
    } else if (w[i] == "ssl") {
      step.ssl = true;
    } else if (w[i] == "sni") {
      if (!value(step.sni)) return false;
    } else if (w[i] == "alpn") {
      if (!value(v)) return false;
      for (auto a : core::split(v, ',')) step.alpn.emplace_back(a);
    } else if (w[i] == "send-proxy") {
      step.sendProxy = true;
    } else if (w[i] == "default" || w[i] == "linger") {
    } else if (w[i] == "comment" || w[i] == "addr" || w[i] == "proto") {
      if (!value(v)) return false;
    } else {
      error = "unknown 'connect' option '" + w[i] + "'";
      return false;
    }
  }
  return true;
}

// "expect [min-recv N] [comment C] [...-status S] [!] <match> <pattern> [options]":
// HAProxy takes the options before the pattern and after it alike.
bool parseExpect(const std::vector<std::string>& w, bool http, CheckStep& step, std::string& error) {
  step.kind = CheckStep::Kind::Expect;
  // Reads the option at w[i] (and its value); false when w[i] is none.
  auto option = [&](size_t& i, bool& bad) {
    const std::string& k = w[i];
    if (k != "min-recv" && k != "comment" && k != "ok-status" && k != "error-status" && k != "tout-status" &&
        k != "on-success" && k != "on-error" && k != "status-code") {
      return false;
    }
    if (i + 1 >= w.size()) {
      error = "'" + k + "' needs a value";
      bad = true;
      return true;
    }
    if (k == "min-recv") {
      auto n = core::parseInt(w[i + 1]);
      if (!n || *n < 0) {
        error = "invalid min-recv '" + w[i + 1] + "'";
        bad = true;
        return true;
      }
      step.minRecv = static_cast<size_t>(*n);
      step.minRecvSet = true;
    } else if (k == "comment") {
      step.comment = w[i + 1];
    }
    i += 2;
    return true;
  };
  size_t i = 1;
  bool bad = false;
  while (i < w.size() && option(i, bad)) {
    if (bad) return false;
  }
  if (i < w.size() && w[i] == "!") {
    step.negate = true;
    ++i;
  }
  if (i + 1 >= w.size()) {
    error = "'expect' needs a match kind and a pattern (e.g. 'expect string +OK')";
    return false;
  }
  std::string kind = w[i];
  std::string pattern = w[i + 1];
  if (kind.size() > 1 && kind[0] == '!') {  // "!rstring": the negation written against the match
    step.negate = !step.negate;
    kind.erase(0, 1);
  }
  for (size_t j = i + 2; j < w.size();) {
    if (!option(j, bad)) {
      error = "unexpected '" + w[j] + "' after the expect pattern";
      return false;
    }
    if (bad) return false;
  }
  std::string rerror;
  if (kind == "string" || kind == "string-lf") {
    step.match = CheckStep::Match::String;
    step.pattern = pattern;
  } else if (kind == "rstring") {
    step.match = CheckStep::Match::RString;
    step.regex = route::Regex::compile(pattern, false, rerror);
  } else if (!http && (kind == "binary" || kind == "binary-lf")) {
    step.match = CheckStep::Match::Binary;
    if (!parseHex(pattern, step.pattern)) {
      error = "'" + pattern + "' is not hexadecimal";
      return false;
    }
  } else if (!http && kind == "rbinary") {
    step.match = CheckStep::Match::RBinary;
    step.regex = route::Regex::compile(pattern, false, rerror);
  } else if (http && kind == "status") {
    step.match = CheckStep::Match::Status;
    step.pattern = pattern;
  } else if (http && kind == "rstatus") {
    step.match = CheckStep::Match::RStatus;
    step.regex = route::Regex::compile(pattern, false, rerror);
  } else {
    error = "unsupported expect match '" + kind + "'" +
            (http ? " (use status, rstatus, string or rstring)" : " (use string, rstring, binary or rbinary)");
    return false;
  }
  if (!rerror.empty()) {
    error = rerror;
    return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<const CheckPlan> compilePlan(const config::ProxyConfig& p, core::Diagnostics& diag) {
  auto plan = std::make_shared<CheckPlan>();
  using CK = config::ProxyConfig::CheckKind;
  switch (p.checkKind) {
    case CK::Tcp:
      plan->kind = CheckPlan::Kind::Connect;
      break;
    case CK::SslHello:
      plan->kind = CheckPlan::Kind::SslHello;
      break;
    case CK::Redis: {
      // HAProxy's redis-check: an inline PING, "+PONG" expected; anything
      // else is a wrong status with the server's own first line as info.
      plan->kind = CheckPlan::Kind::Steps;
      CheckStep connect;  // steps start with their connection, as tcp-check's do
      connect.kind = CheckStep::Kind::Connect;
      plan->steps.push_back(std::move(connect));
      CheckStep send;
      send.kind = CheckStep::Kind::Send;
      send.data = "*1\r\n$4\r\nPING\r\n";
      CheckStep expect;
      expect.kind = CheckStep::Kind::Expect;
      expect.match = CheckStep::Match::String;
      expect.pattern = "+PONG\r\n";
      expect.okInfo = "Redis server is ok";
      expect.errorCode = "L7STS";
      expect.infoFromResponse = true;
      plan->steps.push_back(std::move(send));
      plan->steps.push_back(std::move(expect));
      break;
    }
    case CK::TcpCheck: {
      plan->kind = CheckPlan::Kind::Steps;
      for (const config::CheckRuleConfig& r : p.tcpChecks) {
        const std::string& a = r.words[0];
        CheckStep step;
        std::string error;
        if (a == "connect") {
          if (!parseConnect(r.words, step, error)) {
            diag.error(r.where, "in 'tcp-check connect': " + error);
            continue;
          }
        } else if (a == "send" || a == "send-lf") {
          if (r.words.size() < 2) {
            diag.error(r.where, "'tcp-check " + a + "' needs the data to send");
            continue;
          }
          step.kind = CheckStep::Kind::Send;
          step.data = r.words[1];
        } else if (a == "send-binary" || a == "send-binary-lf") {
          step.kind = CheckStep::Kind::Send;
          if (r.words.size() < 2 || !parseHex(r.words[1], step.data)) {
            diag.error(r.where, "'tcp-check " + a + "' needs hexadecimal data");
            continue;
          }
        } else if (a == "expect") {
          if (!parseExpect(r.words, false, step, error)) {
            diag.error(r.where, "in 'tcp-check expect': " + error);
            continue;
          }
        } else if (a == "comment" || a == "set-var" || a == "unset-var" ||
                   core::startsWith(a, "set-var(") || core::startsWith(a, "unset-var(")) {
          continue;
        } else {
          diag.error(r.where, "unknown 'tcp-check " + a + "'",
                     "use connect, send, send-binary, expect or comment");
          continue;
        }
        plan->steps.push_back(std::move(step));
      }
      if (!plan->steps.empty() && plan->steps[0].kind != CheckStep::Kind::Connect) {
        plan->steps.insert(plan->steps.begin(), CheckStep{});  // implicit first connect
      }
      if (plan->steps.empty()) plan->kind = CheckPlan::Kind::Connect;
      break;
    }
    case CK::HttpCheck: {
      plan->kind = CheckPlan::Kind::Http;
      std::string method = "OPTIONS";
      std::string uri = "/";
      std::string version = "HTTP/1.0";
      const auto& a = p.httpchkArgs;
      if (a.size() == 1) {
        uri = a[0];
      } else if (a.size() >= 2) {
        method = a[0];
        uri = a[1];
        if (a.size() >= 3) version = a[2];
      }
      std::vector<std::pair<std::string, std::string>> headers;
      std::string body;
      for (const config::CheckRuleConfig& r : p.httpChecks) {
        const std::string& act = r.words[0];
        std::string error;
        if (act == "send") {
          for (size_t i = 1; i < r.words.size(); ++i) {
            const std::string& k = r.words[i];
            auto next = [&](std::string& out) {
              if (i + 1 >= r.words.size()) {
                error = "'" + k + "' needs a value";
                return false;
              }
              out = r.words[++i];
              return true;
            };
            std::string v;
            if (k == "meth") {
              if (!next(method)) break;
            } else if (k == "uri" || k == "uri-lf") {
              if (!next(uri)) break;
            } else if (k == "ver") {
              if (!next(version)) break;
            } else if (k == "hdr") {
              std::string name;
              if (!next(name) || !next(v)) break;
              headers.emplace_back(name, v);
            } else if (k == "body" || k == "body-lf") {
              if (!next(body)) break;
            } else if (k == "comment") {
              if (!next(v)) break;
            } else {
              error = "unknown 'http-check send' option '" + k + "'";
              break;
            }
          }
          if (!error.empty()) diag.error(r.where, error);
        } else if (act == "expect") {
          CheckStep step;
          if (!parseExpect(r.words, true, step, error)) {
            diag.error(r.where, "in 'http-check expect': " + error);
            continue;
          }
          plan->httpExpect.push_back(std::move(step));
        } else if (act == "connect") {
          CheckStep step;
          if (!parseConnect(r.words, step, error)) {
            diag.error(r.where, "in 'http-check connect': " + error);
            continue;
          }
          plan->steps.push_back(std::move(step));
        } else if (act == "disable-on-404" || act == "send-state" || act == "comment" ||
                   core::startsWith(act, "set-var") || core::startsWith(act, "unset-var")) {
          diag.warnOnce("http-check:" + act, r.where,
                        "'http-check " + act + "' is accepted but ignored");
        } else {
          diag.error(r.where, "unknown 'http-check " + act + "'", "use send, expect or connect");
        }
      }
      std::string req = method + " " + uri + " " + version + "\r\n";
      for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
      if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      req += "\r\n" + body;
      plan->httpRequest = req;
      break;
    }
  }
  return plan;
}

std::optional<ServerCheckSpec> resolveServerCheck(const config::ProxyConfig& p,
                                                  const config::ServerConfig& s,
                                                  std::shared_ptr<const CheckPlan> plan,
                                                  core::Diagnostics& diag) {
  ServerCheckSpec spec;
  spec.address = s.address;
  if (!s.checkAddr.empty()) {
    auto a = core::Address::parse(s.checkAddr.find(':') != std::string::npos && s.checkAddr[0] != '['
                                      ? "[" + s.checkAddr + "]"
                                      : s.checkAddr);
    if (!a) {
      diag.error(s.where, "invalid check address '" + s.checkAddr + "' for server '" + s.name + "'");
      return std::nullopt;
    }
    a->setPort(s.address.port());
    spec.address = *a;
  }
  if (s.checkPort) {
    spec.address.setPort(*s.checkPort);
  } else if (s.portFromClient) {
    diag.error(s.where, "server '" + s.name + "' has no port, so its checks have none either",
               "add 'port <n>' to the server line");
    return std::nullopt;
  }
  spec.inter = s.inter;
  spec.fastinter = s.fastinter.value_or(s.inter);
  spec.downinter = s.downinter.value_or(s.inter);
  spec.rise = s.rise;
  spec.fall = s.fall;
  spec.timeout = p.timeoutCheck.value_or(0);
  spec.connectTimeout = p.timeoutConnect.value_or(0);
  spec.ssl = s.checkSsl;
  spec.sni = s.checkSni;
  spec.alpn = s.checkAlpn;
  spec.verify = s.verify == "required";
  spec.caFile = s.caFile;
  if (s.checkSendProxy) {
    spec.sendProxy = s.sendProxy == config::ProxyProtocolOut::None ? config::ProxyProtocolOut::V1 : s.sendProxy;
  }
  if (plan->kind == CheckPlan::Kind::SslHello) {
    spec.probeHello = makeProbeHello(spec.sni, spec.alpn);
    if (spec.probeHello.empty()) {
      diag.error(s.where, "cannot build the TLS hello for the checks of server '" + s.name + "'");
      return std::nullopt;
    }
  }
  spec.plan = std::move(plan);
  return spec;
}

}  // namespace sluice::health
