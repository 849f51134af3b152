// SPDX-License-Identifier: Apache-2.0
// Compiles tcp-check / http-check / option httpchk lines into check plans;
// see plan.h.
#include "health/plan.h"

#include "core/strings.h"
#include "health/protocols.h"
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

// "connect [default] [port N] [addr A] [send-proxy] [via-socks4] [ssl] [sni S]
// [alpn A] [linger] [proto P] [comment C]"
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
        error = "invalid port '" + v + "' (sluice takes a number here, not a sample expression)";
        return false;
      }
      step.port = static_cast<uint16_t>(*p);
    } else if (w[i] == "addr") {
      if (!value(v)) return false;
      auto a = core::Address::parse(v.find(':') != std::string::npos && v[0] != '[' ? "[" + v + "]:0" : v + ":0");
      if (!a) {
        error = "invalid address '" + v + "'";
        return false;
      }
      step.addr = *a;
    } else if (w[i] == "default") {
      step.useServerSettings = true;
    } else if (w[i] == "ssl") {
      step.ssl = true;
    } else if (w[i] == "sni") {
      if (!value(step.sni)) return false;
    } else if (w[i] == "alpn") {
      if (!value(v)) return false;
      for (auto a : core::split(v, ',')) step.alpn.emplace_back(a);
    } else if (w[i] == "send-proxy") {
      step.sendProxy = true;
    } else if (w[i] == "via-socks4") {
      step.viaSocks4 = true;
    } else if (w[i] == "linger") {
      // Check connections always end with a reset: no TIME_WAIT left on
      // either side, which is what "linger" would trade for a FIN.
    } else if (w[i] == "comment") {
      if (!value(step.comment)) return false;
    } else if (w[i] == "proto") {
      if (!value(v)) return false;
      if (v != "h1" && v != "none") {
        error = "'proto " + v + "' is not supported: sluice's checks speak HTTP/1 or raw TCP";
        return false;
      }
    } else {
      error = "unknown 'connect' option '" + w[i] + "'";
      return false;
    }
  }
  return true;
}

bool validStatus(const std::string& k, const std::string& v) {
  if (k == "ok-status") return v == "L7OK" || v == "L7OKC" || v == "L6OK" || v == "L4OK";
  if (k == "error-status") return v == "L7RSP" || v == "L7STS" || v == "L6RSP" || v == "L4CON";
  return v == "L7TOUT" || v == "L6TOUT" || v == "L4TOUT";  // tout-status
}

// "expect [min-recv N] [comment C] [ok-status S] [error-status S] [tout-status S]
// [on-success FMT] [on-error FMT] [status-code EXPR] [!] <match> <pattern>":
// HAProxy takes the options before the pattern and after it alike.
bool parseExpect(const std::vector<std::string>& w, bool http, route::MapRegistry& maps, CheckStep& step,
                 std::string& error) {
  step.kind = CheckStep::Kind::Expect;
  // Reads the option at w[i] (and its value); false when w[i] is none.
  auto option = [&](size_t& i, bool& bad) {
    const std::string& k = w[i];
    if (k != "min-recv" && k != "comment" && k != "ok-status" && k != "error-status" && k != "tout-status" &&
        k != "on-success" && k != "on-error" && k != "status-code") {
      return false;
    }
    bad = true;
    if (i + 1 >= w.size()) {
      error = "'" + k + "' needs a value";
      return true;
    }
    const std::string& v = w[i + 1];
    if (k == "min-recv") {
      auto n = core::parseInt(v);
      if (!n || *n < -1) {
        error = "invalid min-recv '" + v + "'";
        return true;
      }
      step.minRecv = *n < 0 ? 0 : static_cast<size_t>(*n);
      step.minRecvSet = *n >= 0;
    } else if (k == "comment") {
      step.comment = v;
    } else if (k == "ok-status" || k == "error-status" || k == "tout-status") {
      if (!validStatus(k, v)) {
        error = "invalid " + k + " '" + v + "'";
        return true;
      }
      (k == "ok-status" ? step.okStatus : k == "error-status" ? step.errorStatus : step.timeoutStatus) = v;
    } else if (k == "on-success" || k == "on-error") {
      std::string ferror;
      std::shared_ptr<const route::FormatString> f = route::FormatString::parse(v, maps, false, ferror);
      if (!f) {
        error = "in '" + k + "': " + ferror;
        return true;
      }
      (k == "on-success" ? step.onSuccess : step.onError) = std::move(f);
    } else {
      std::string eerror;
      std::shared_ptr<const route::SampleExpr> e = route::SampleExpr::parse(v, maps, eerror);
      if (!e) {
        error = "in 'status-code': " + eerror;
        return true;
      }
      step.statusCode = std::move(e);
    }
    bad = false;
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
  if (kind == "string-lf" || kind == "binary-lf") {
    // Log-format patterns: sluice has no check-time variables, so only a
    // pattern without "%" (one that is its own value) can be honoured.
    if (pattern.find('%') != std::string::npos) {
      error = "'" + kind + "' with a log-format pattern is not supported; write the constant with '" +
              kind.substr(0, kind.size() - 3) + "'";
      return false;
    }
    kind.resize(kind.size() - 3);
  }
  std::string rerror;
  if (kind == "string") {
    step.match = CheckStep::Match::String;
    step.pattern = pattern;
  } else if (kind == "rstring") {
    step.match = CheckStep::Match::RString;
    step.pattern = pattern;
    step.regex = route::Regex::compile(pattern, false, rerror);
  } else if (!http && kind == "binary") {
    step.match = CheckStep::Match::Binary;
    if (!parseHex(pattern, step.pattern)) {
      error = "'" + pattern + "' is not hexadecimal";
      return false;
    }
  } else if (!http && kind == "rbinary") {
    step.match = CheckStep::Match::RBinary;
    step.pattern = pattern;
    step.regex = route::Regex::compile(pattern, false, rerror);
  } else if (http && kind == "status") {
    step.match = CheckStep::Match::Status;
    step.pattern = pattern;
  } else if (http && kind == "rstatus") {
    step.match = CheckStep::Match::RStatus;
    step.pattern = pattern;
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

// One tcp-check line into a step; false (and an error) when it is wrong.
// `skip` is set for lines that are no step ("comment").
bool compileTcpRule(const config::CheckRuleConfig& r, route::MapRegistry& maps, CheckStep& step, bool& skip,
                    core::Diagnostics& diag) {
  const std::string& a = r.words[0];
  std::string error;
  skip = false;
  if (a == "connect") {
    if (!parseConnect(r.words, step, error)) {
      diag.error(r.where, "in 'tcp-check connect': " + error);
      return false;
    }
  } else if (a == "send" || a == "send-lf" || a == "send-binary" || a == "send-binary-lf") {
    const bool binary = a.starts_with("send-binary");
    size_t i = 1;
    if (i >= r.words.size()) {
      diag.error(r.where, "'tcp-check " + a + "' needs the data to send");
      return false;
    }
    std::string data = r.words[i++];
    if (a.ends_with("-lf") && data.find('%') != std::string::npos) {
      diag.error(r.where, "'tcp-check " + a + "' with a log-format string is not supported",
                 "write the constant data with 'tcp-check " + a.substr(0, a.size() - 3) + "'");
      return false;
    }
    step.kind = CheckStep::Kind::Send;
    if (binary) {
      if (!parseHex(data, step.data)) {
        diag.error(r.where, "'tcp-check " + a + "' needs hexadecimal data");
        return false;
      }
    } else {
      step.data = data;
    }
    while (i < r.words.size()) {
      if (r.words[i] == "comment" && i + 1 < r.words.size()) {
        step.comment = r.words[i + 1];
        i += 2;
        continue;
      }
      diag.error(r.where, "unexpected '" + r.words[i] + "' in 'tcp-check " + a + "'");
      return false;
    }
  } else if (a == "expect") {
    if (!parseExpect(r.words, false, maps, step, error)) {
      diag.error(r.where, "in 'tcp-check expect': " + error);
      return false;
    }
  } else if (a == "comment") {
    skip = true;
  } else if (a == "set-var" || a == "unset-var" || a.starts_with("set-var(") || a.starts_with("unset-var(")) {
    diag.error(r.where, "'tcp-check " + a + "' is not supported: sluice's checks keep no variables");
    return false;
  } else {
    diag.error(r.where, "unknown 'tcp-check " + a + "'", "use connect, send, send-binary, expect or comment");
    return false;
  }
  return true;
}

// A protocol check (option redis-check, smtpchk, ...) written as the
// tcp-check lines it stands for, compiled by the same code as the user's.
std::vector<CheckStep> builtinSteps(const std::vector<std::vector<std::string>>& lines,
                                    const config::SourceLocation& where, route::MapRegistry& maps,
                                    core::Diagnostics& diag) {
  std::vector<CheckStep> steps;
  for (const auto& words : lines) {
    config::CheckRuleConfig r{where, words};
    CheckStep step;
    bool skip = false;
    if (compileTcpRule(r, maps, step, skip, diag) && !skip) steps.push_back(std::move(step));
  }
  return steps;
}

CheckStep customExpect(CheckStep::Custom custom) {
  CheckStep step;
  step.kind = CheckStep::Kind::Expect;
  step.match = CheckStep::Match::Custom;
  step.custom = custom;
  return step;
}

void protocolPlan(const config::ProxyConfig& p, route::MapRegistry& maps, core::Diagnostics& diag,
                  CheckPlan& plan) {
  using CK = config::ProxyConfig::CheckKind;
  const auto& args = p.checkArgs;
  const config::SourceLocation& at = p.checkKindWhere;
  std::vector<std::vector<std::string>> lines = {{"connect", "default"}};
  switch (p.checkKind) {
    case CK::Redis:
      lines.push_back({"send", "*1\r\n$4\r\nPING\r\n"});
      lines.push_back({"expect", "string", "+PONG", "error-status", "L7STS", "on-error",
                       "%[res.payload(0,0),cut_crlf]", "on-success", "Redis server is ok"});
      break;
    case CK::Smtp: {
      std::string hello = "HELO localhost";
      if (args.size() >= 2) hello = args[0] + " " + args[1];
      // The greeting, the answer to HELO/EHLO, then QUIT so that the server
      // logs a clean session: its answer gives the result (HAProxy 2.6.12),
      // but a server that closes without one still passes (HAProxy 2.6.0).
      lines.push_back({"expect", "rstring", "^[0-9]{3}[ \r]", "min-recv", "4", "error-status", "L7RSP",
                       "on-error", "%[res.payload(0,0),cut_crlf]"});
      lines.push_back({"expect", "rstring", "^2[0-9]{2}[ \r]", "error-status", "L7STS", "on-error",
                       "%[res.payload(4,0),ltrim(' '),cut_crlf]", "status-code", "res.payload(0,3)"});
      lines.push_back({"send", hello + "\r\n"});
      lines.push_back({"expect", "rstring", "^[0-9]{3}[- \r]", "min-recv", "4", "error-status", "L7RSP",
                       "on-error", "%[res.payload(4,0),ltrim(' '),cut_crlf]", "status-code", "res.payload(0,3)"});
      lines.push_back({"expect", "rstring", "^2[0-9]{2}[- \r]", "error-status", "L7STS", "on-error",
                       "%[res.payload(4,0),ltrim(' '),cut_crlf]", "on-success",
                       "%[res.payload(4,0),ltrim(' '),cut_crlf]", "status-code", "res.payload(0,3)"});
      lines.push_back({"send", "QUIT\r\n"});
      lines.push_back({"expect", "rstring", "^2[0-9]{2}[- \r]", "error-status", "L7STS", "on-error",
                       "%[res.payload(4,0),ltrim(' '),cut_crlf]", "on-success",
                       "%[res.payload(4,0),ltrim(' '),cut_crlf]", "status-code", "res.payload(0,3)"});
      break;
    }
    case CK::Pgsql: {
      std::string user = args.size() >= 2 ? args[1] : "";
      std::string startup;
      uint32_t len = static_cast<uint32_t>(4 + 4 + 5 + user.size() + 1 + 1);
      for (int i = 3; i >= 0; --i) startup.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
      startup += std::string("\x00\x03\x00\x00", 4);  // protocol 3.0
      startup += std::string("user\0", 5) + user + std::string("\0\0", 2);
      lines.push_back({"send-binary", core::hexEncode(startup)});
      lines.push_back({"expect", "!rstring", "^E", "min-recv", "5", "error-status", "L7RSP", "on-error",
                       "%[res.payload(6,0)]"});
      // 'R' with an authentication request the server may make of anyone.
      lines.push_back({"expect", "rbinary", "^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)",
                       "min-recv", "9", "error-status", "L7STS", "on-success", "PostgreSQL server is ok",
                       "on-error", "PostgreSQL unknown error"});
      break;
    }
    case CK::Mysql:
    case CK::Ldap:
    case CK::Spop:
      break;
    default:
      return;
  }
  plan.steps = builtinSteps(lines, at, maps, diag);
  if (p.checkKind == CK::Smtp && !plan.steps.empty()) {
    for (CheckStep& s : plan.steps) {
      if (s.kind == CheckStep::Kind::Expect) s.framing = CheckStep::Framing::SmtpReply;
    }
    plan.steps.back().farewell = true;
  }
  if (p.checkKind == CK::Redis && !plan.steps.empty()) plan.steps.back().framing = CheckStep::Framing::Line;
  if (p.checkKind == CK::Mysql) {
    // The login goes out at once, as HAProxy's does, without waiting for the
    // handshake: MySQL reads it after greeting, and a proxy in front that
    // waits for the client's first bytes (inspect-delay) gets them. Both
    // answers then sit in one buffer.
    if (args.size() >= 2) {
      CheckStep send;
      send.kind = CheckStep::Kind::Send;
      send.data = mysqlLoginPackets(args[1], !(args.size() >= 3 && args[2] == "pre-41"));  // post-41 by default
      plan.steps.push_back(std::move(send));
    }
    plan.steps.push_back(customExpect(CheckStep::Custom::MysqlHandshake));
    if (args.size() >= 2) plan.steps.push_back(customExpect(CheckStep::Custom::MysqlLogin));
  } else if (p.checkKind == CK::Ldap) {
    CheckStep send;
    send.kind = CheckStep::Kind::Send;
    send.data = ldapBindRequest();
    plan.steps.push_back(std::move(send));
    plan.steps.push_back(customExpect(CheckStep::Custom::LdapBind));
  } else if (p.checkKind == CK::Spop) {
    CheckStep send;
    send.kind = CheckStep::Kind::Send;
    send.data = spopHelloFrame();
    plan.steps.push_back(std::move(send));
    plan.steps.push_back(customExpect(CheckStep::Custom::SpopHello));
  }
}

}  // namespace

std::string CheckStep::describe() const {
  std::string d;
  switch (kind) {
    case Kind::Connect:
      d = "connect";
      if (port) d += " port " + std::to_string(*port);
      break;
    case Kind::Send:
      d = "send";
      break;
    case Kind::Expect:
      d = "expect ";
      if (negate) d += "! ";
      switch (match) {
        case Match::String:
          d += "string '" + pattern + "'";
          break;
        case Match::Binary:
          d += "binary '" + core::hexEncode(pattern) + "'";
          break;
        case Match::RString:
          d += "rstring '" + pattern + "'";
          break;
        case Match::RBinary:
          d += "rbinary '" + pattern + "'";
          break;
        case Match::Status:
          d += "status '" + pattern + "'";
          break;
        case Match::RStatus:
          d += "rstatus '" + pattern + "'";
          break;
        case Match::Custom:
          d += "custom function";
          break;
      }
      break;
  }
  if (!comment.empty()) d += " comment '" + comment + "'";
  return d;
}

std::shared_ptr<const CheckPlan> compilePlan(const config::ProxyConfig& p, route::MapRegistry& maps,
                                             core::Diagnostics& diag) {
  auto plan = std::make_shared<CheckPlan>();
  using CK = config::ProxyConfig::CheckKind;
  switch (p.checkKind) {
    case CK::Tcp:
      plan->kind = CheckPlan::Kind::Connect;
      break;
    case CK::SslHello:
      plan->kind = CheckPlan::Kind::SslHello;
      break;
    case CK::Redis:
    case CK::Smtp:
    case CK::Pgsql:
    case CK::Mysql:
    case CK::Ldap:
    case CK::Spop:
      plan->kind = CheckPlan::Kind::Steps;
      protocolPlan(p, maps, diag, *plan);
      break;
    case CK::External:
      plan->kind = CheckPlan::Kind::External;
      plan->command = p.externalCheckCommand;
      plan->path = p.externalCheckPath.empty() ? "/usr/bin:/bin" : p.externalCheckPath;
      for (const config::BindConfig& b : p.binds) {
        if (!b.addresses.empty()) {
          plan->proxyAddress = b.addresses[0].ipString();
          plan->proxyPort = std::to_string(b.addresses[0].port());
          break;
        }
      }
      break;
    case CK::TcpCheck: {
      plan->kind = CheckPlan::Kind::Steps;
      plan->userRules = true;
      for (const config::CheckRuleConfig& r : p.tcpChecks) {
        CheckStep step;
        bool skip = false;
        if (!compileTcpRule(r, maps, step, skip, diag) || skip) continue;
        plan->steps.push_back(std::move(step));
      }
      if (!plan->steps.empty() && plan->steps[0].kind != CheckStep::Kind::Connect) {
        CheckStep connect;  // the implicit first connect uses the server's check settings
        connect.useServerSettings = true;
        plan->steps.insert(plan->steps.begin(), std::move(connect));
      }
      if (plan->steps.empty()) plan->kind = CheckPlan::Kind::Connect;
      break;
    }
    case CK::HttpCheck: {
      plan->kind = CheckPlan::Kind::Http;
      std::string method = "OPTIONS";
      std::string uri = "/";
      std::string version = "HTTP/1.0";
      const auto& a = p.checkArgs;
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
          if (!parseExpect(r.words, true, maps, step, error)) {
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
        } else if (act == "comment") {
        } else if (act == "send-state") {
          diag.warnOnce("http-check:send-state", r.where,
                        "'http-check send-state' is accepted but ignored: the checks carry no state header");
        } else if (act == "disable-on-404" || core::startsWith(act, "set-var") || core::startsWith(act, "unset-var")) {
          diag.error(r.where, "'http-check " + act + "' is not supported by sluice");
        } else {
          diag.error(r.where, "unknown 'http-check " + act + "'", "use send, expect or connect");
        }
      }
      if (plan->steps.empty()) {
        CheckStep connect;
        connect.useServerSettings = true;
        plan->steps.push_back(std::move(connect));
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

std::optional<ServerCheckSpec> resolveServerCheck(const config::GlobalConfig& global,
                                                  const config::ProxyConfig& p,
                                                  const config::ServerConfig& s,
                                                  std::shared_ptr<const CheckPlan> plan,
                                                  core::Diagnostics& diag) {
  ServerCheckSpec spec;
  spec.address = s.address;
  spec.followsServer = s.checkAddr.empty();
  spec.explicitPort = s.checkPort.has_value();
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
  // A first "tcp-check connect port N" gives checks their port, as in
  // HAProxy (a database pool written "server db1 10.0.0.1 check").
  const bool firstConnectHasPort = plan && plan->kind == CheckPlan::Kind::Steps && !plan->steps.empty() &&
                                   plan->steps.front().kind == CheckStep::Kind::Connect &&
                                   plan->steps.front().port.has_value();
  if (s.checkPort) {
    spec.address.setPort(*s.checkPort);
  } else if (s.portFromClient && !firstConnectHasPort && !(s.addressFromClient && s.checkAddr.empty())) {
    // (A server at the client's destination has nothing fixed to check;
    // HAProxy accepts it, and its checks fail at 0.0.0.0:0.)
    diag.error(s.where, "server '" + s.name + "' has no port, so its checks have none either",
               "add 'port <n>' to the server line, or begin the checks with 'tcp-check connect port <n>'");
    return std::nullopt;
  }
  spec.inter = s.inter;
  spec.fastinter = s.fastinter.value_or(s.inter);
  spec.downinter = s.downinter.value_or(s.inter);
  spec.rise = s.rise;
  spec.fall = s.fall;
  spec.initState = s.initState;
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
  if (s.checkViaSocks4) spec.socks4 = core::Address::parse(s.socks4);
  spec.proxyV2Local = !global.pp2NeverSendLocal;
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
