// SPDX-License-Identifier: Apache-2.0
// Rules of proxy sections: tcp-request, tcp-response, http-request (for the
// proxies sluice serves itself) and stick; and the limits HAProxy puts on
// defaults sections that hold rules.
#include "config/parser_impl.h"
#include "core/strings.h"
#include "proto/tls_alert.h"

namespace sluice::config::detail {

void Parser::proxyHttpRequest(const ConfigLine& l) {
  if (!needArgs(l, 1, "<action> [args] [if|unless <condition>]")) return;
  TcpRuleConfig r;
  splitRule(l, 1, r);
  if (!r.condition.empty() && r.condition.size() < 2) {
    error(l, "missing condition after '" + r.condition[0] + "'");
    return;
  }
  current_.httpRequest.push_back(std::move(r));
}

// A defaults section that holds TCP or HTTP rules (HAProxy 2.5+): remembers
// the first one and which kinds, for the checks of its users.
void Parser::noteDefaultsRule(const ConfigLine& l) {
  ProxyConfig& p = current_;
  const std::string& kw = l.words[0];
  const std::string sub = l.words.size() > 1 ? l.words[1] : "";
  unsigned kind = 0;
  if (kw == "tcp-request" && sub == "connection") kind = DefaultsRules::kFrontendOnly;
  if (kw == "tcp-request" && sub == "session") kind = DefaultsRules::kFrontendOnly;
  if (kw == "tcp-request" && sub == "content") kind = DefaultsRules::kEither;
  if (kw == "tcp-response" && sub == "content") kind = DefaultsRules::kBackendOnly;
  if (kw == "http-request" || kw == "http-response" || kw == "http-after-response") kind = DefaultsRules::kEither;
  if (!kind) return;
  if (!p.defaultsRules.kinds) p.defaultsRules.where = l.where;
  p.defaultsRules.kinds |= kind;
  // A defaults section has neither a stick table nor servers of its own:
  // its rules must name them, as HAProxy requires.
  for (size_t i = 1; i < l.words.size(); ++i) {
    const std::string& w = l.words[i];
    if (w.starts_with("track-sc") && (i + 2 >= l.words.size() || l.words[i + 2] != "table")) {
      error(l, "'" + w + "' in a defaults section needs 'table <name>': the section has no stick table of its own",
            "write '" + w + " <key> table <name>'");
      return;
    }
    for (size_t at = w.find("srv_"); at != std::string::npos; at = w.find("srv_", at + 4)) {
      size_t open = w.find('(', at);
      size_t close = open == std::string::npos ? open : w.find(')', open);
      if (open == std::string::npos || close == std::string::npos) break;
      std::string_view name(w.data() + at, open - at);
      bool plainName = name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos;
      std::string_view arg(w.data() + open + 1, close - open - 1);
      if (plainName && !arg.empty() && arg.find('/') == std::string_view::npos) {
        error(l, "'" + std::string(name) + "(" + std::string(arg) + ")' in a defaults section must name the backend",
              "write '" + std::string(name) + "(<backend>/" + std::string(arg) + ")': the section has no servers");
        return;
      }
    }
  }
}

// HAProxy's limits on defaults sections with rules: such a section must be
// named, and is used by frontends or by backends, never both, never by a
// listen section or another defaults section; connection and session rules
// need a frontend, tcp-response rules a backend.
void Parser::checkDefaultsUse(const ConfigLine& l, const std::string& kw, const ProxyConfig& def) {
  const DefaultsRules& r = def.defaultsRules;
  if (!r.kinds || def.name.empty()) return;  // an unnamed one was refused where it was written
  const std::string from =
      "defaults '" + def.name + "' (with rules at " + r.where.file + ":" + std::to_string(r.where.line) + ")";
  const std::string hint =
      "give this section a defaults section without tcp-request/tcp-response/http rules, "
      "or move the rules into the section itself";
  if (kw == "defaults") {
    error(l, "a defaults section cannot inherit from " + from, hint);
    return;
  }
  if (kw == "listen") {
    error(l, "a listen section cannot inherit from " + from, hint);
    return;
  }
  const bool frontend = kw == "frontend";
  if (frontend && (r.kinds & DefaultsRules::kBackendOnly)) {
    error(l, "frontend cannot inherit the tcp-response rules of " + from, hint);
    return;
  }
  if (!frontend && (r.kinds & DefaultsRules::kFrontendOnly)) {
    error(l, "backend cannot inherit the tcp-request connection/session rules of " + from, hint);
    return;
  }
  unsigned& users = defaultsUsers_[def.name];
  users |= frontend ? 1u : 2u;
  if (users == 3u) {
    error(l, from + " is used by frontends and by backends; HAProxy allows one of them only", hint);
  }
}

// Splits "<action words> [if|unless <cond>]".
void Parser::splitRule(const ConfigLine& l, size_t from, TcpRuleConfig& r) {
  size_t i = from;
  while (i < l.words.size() && l.words[i] != "if" && l.words[i] != "unless") {
    ++i;
  }
  r.where = l.where;
  r.action = from < l.words.size() ? l.words[from] : "";
  for (size_t k = from + 1; k < i; ++k) r.actionArgs.push_back(l.words[k]);
  for (size_t k = i; k < l.words.size(); ++k) r.condition.push_back(l.words[k]);
}

void Parser::warnMisplacedRule(const ConfigLine& l, int kind) {
  const char* after = kind < 1 && rulesSeen_.tcpSession   ? "tcp-request session"
                      : kind < 2 && rulesSeen_.tcpContent ? "tcp-request content"
                      : rulesSeen_.useBackend             ? "use_backend"
                      : rulesSeen_.useServer              ? "use-server"
                                                          : nullptr;
  if (!after) return;
  diag_.warning(l.where, std::string("a 'tcp-request' rule placed after a '") + after +
                             "' rule will still be processed before it",
                "move the line above the first '" + std::string(after) + "' rule, where it takes effect");
}

void Parser::parseTcpRequest(const ConfigLine& l) {
  ProxyConfig& p = current_;
  if (!needArgs(l, 1, "inspect-delay|connection|content|session ...")) return;
  const std::string& sub = l.words[1];
  bool namedDefaults = p.kind == "defaults" && !p.name.empty();
  unsigned mask = namedDefaults ? kAll : (kFe | kBackend);
  if (sub == "inspect-delay") {
    if (!allowed(l, mask, "tcp-request inspect-delay")) return;
    uint32_t v;
    if (durationArg(l, 2, "tcp-request inspect-delay", v)) {
      p.inspectDelay = v;
      p.inspectDelayWhere = l.where;
    }
    return;
  }
  TcpRuleConfig r;
  splitRule(l, 2, r);
  if (r.action.empty()) {
    error(l, "'tcp-request " + sub + "' needs an action", "e.g. 'tcp-request " + sub + " accept'");
    return;
  }
  if (!r.condition.empty() && r.condition.size() < 2) {
    error(l, "missing condition after '" + r.condition[0] + "'");
    return;
  }
  if (sub == "connection") {
    if (!allowed(l, namedDefaults ? kAll : kFe, "tcp-request connection")) return;
    if (!checkAction(l, r,
                     {"accept", "reject", "expect-proxy", "silent-drop", "set-var", "unset-var", "track-sc0",
                      "track-sc1", "track-sc2", "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt0", "set-mark", "set-tos",
                      "set-src", "set-dst", "set-src-port", "set-dst-port"})) {
      return;
    }
    warnMisplacedRule(l, 0);
    p.tcpRequestConnection.push_back(r);
  } else if (sub == "session") {
    if (!allowed(l, namedDefaults ? kAll : kFe, "tcp-request session")) return;
    if (!checkAction(l, r,
                     {"accept", "reject", "expect-proxy", "silent-drop", "set-var", "unset-var", "track-sc0",
                      "track-sc1", "track-sc2", "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt0", "set-mark", "set-tos"})) {
      return;
    }
    warnMisplacedRule(l, 1);
    p.tcpRequestSession.push_back(r);
    rulesSeen_.tcpSession = true;
  } else if (sub == "content") {
    if (!allowed(l, mask, "tcp-request content")) return;
    if (!checkAction(l, r, {"accept",    "reject",        "expect-proxy", "silent-drop", "set-var",     "unset-var",
                            "track-sc0", "track-sc1",     "track-sc2",    "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt0",
                            "capture",   "set-log-level", "set-mark",     "set-tos",     "set-nice",    "set-src",
                            "set-dst",   "set-src-port",  "set-dst-port", "tls-alert"})) {
      return;
    }
    warnMisplacedRule(l, 2);
    p.tcpRequestContent.push_back(r);
    rulesSeen_.tcpContent = true;
  } else {
    error(l, "unknown 'tcp-request " + sub + "'",
          "use 'tcp-request inspect-delay', 'connection', 'session' or 'content'");
  }
}

bool Parser::checkAction(const ConfigLine& l, const TcpRuleConfig& r, const std::vector<std::string_view>& supported) {
  std::string base = r.action.substr(0, r.action.find('('));
  for (std::string_view s : supported) {
    if (base == s) {
      if ((base == "set-var" || base == "unset-var") &&
          (r.action.find('(') == std::string::npos || r.action.back() != ')')) {
        error(l, "'" + r.action + "' needs a variable name, e.g. set-var(txn.sni)");
        return false;
      }
      if (base == "set-var" && r.actionArgs.empty()) {
        error(l, "'" + r.action + "' needs a sample expression, e.g. set-var(txn.sni) req.ssl_sni");
        return false;
      }
      if (core::startsWith(base, "track-sc")) {
        bool ok = r.actionArgs.size() == 1 || (r.actionArgs.size() == 3 && r.actionArgs[1] == "table");
        if (!ok || r.action != base) {
          error(l, "'" + r.action + "' expects '<key> [table <table>]'", "e.g. '" + base + " src'");
          return false;
        }
        return true;
      }
      if (core::startsWith(base, "sc-")) {
        // Without "(<n>)" the counter is sc0, as HAProxy reads it.
        size_t open = r.action.find('(');
        std::string id = open == std::string::npos ? "0" : r.action.substr(open + 1, r.action.size() - open - 2);
        if ((open != std::string::npos && r.action.back() != ')') || (id != "0" && id != "1" && id != "2")) {
          error(l, "'" + r.action + "' needs the tracked counter's number, e.g. " + base + "(0)");
          return false;
        }
        if (base == "sc-set-gpt0" && r.actionArgs.size() != 1) {
          error(l, "'" + r.action + "' needs a value, e.g. " + base + "(0) 1");
          return false;
        }
        if (base != "sc-set-gpt0" && !r.actionArgs.empty()) {
          error(l, "'" + r.action + "' takes no argument");
          return false;
        }
        return true;
      }
      if (base == "tls-alert") {
        // sluice's own: "tls-alert [<alert name>]", unrecognized_name by default.
        if (r.action != base || r.actionArgs.size() > 1) {
          error(l, "'tls-alert' takes at most one alert name", "e.g. 'tcp-request content tls-alert unrecognized_name'");
          return false;
        }
        if (!r.actionArgs.empty() && !proto::tlsAlertCode(r.actionArgs[0])) {
          std::string guess = suggest(r.actionArgs[0], proto::tlsAlertNames());
          error(l, "unknown TLS alert '" + r.actionArgs[0] + "'",
                guess.empty() ? "use one of: " + joinViews(proto::tlsAlertNames()) : "did you mean '" + guess + "'?");
          return false;
        }
        return true;
      }
      if (base == "expect-proxy" && (r.actionArgs.size() != 1 || r.actionArgs[0] != "layer4")) {
        error(l, "'expect-proxy' must be followed by 'layer4'");
        return false;
      }
      return true;
    }
  }
  static const std::set<std::string> kKnownUnsupported = {
      "sc-inc-gpc",          "sc-set-gpt",          "sc-add-gpc",           "do-resolve",
      "use-service",         "switch-mode",         "send-spoe-group",      "set-priority-class",
      "set-priority-offset", "set-bandwidth-limit", "expect-netscaler-cip", "attach-srv",
      "set-fc-mark",         "set-fc-tos",          "set-retries",          "close"};
  if (base == "track-sc0" || base == "track-sc1" || base == "track-sc2") {
    error(l, "rule action '" + base + "' is not allowed here", "supported here: " + joinViews(supported));
    return false;
  }
  if (base == "tls-alert") {
    error(l, "rule action 'tls-alert' is only allowed in 'tcp-request content' rules",
          "the alert answers the client's ClientHello, which content rules wait for");
    return false;
  }
  if (core::startsWith(base, "track-sc")) {
    error(l, "'" + base + "': there are three tracked counters, track-sc0, track-sc1 and track-sc2");
    return false;
  }
  if (kKnownUnsupported.count(base) || core::startsWith(base, "lua.")) {
    error(l, "rule action '" + r.action + "' is not supported by sluice yet",
          "supported here: " + joinViews(supported));
    return false;
  }
  std::string guess = suggest(base, supported);
  error(l, "unknown rule action '" + r.action + "'",
        guess.empty() ? "supported here: " + joinViews(supported) : "did you mean '" + guess + "'?");
  return false;
}

void Parser::parseStick(const ConfigLine& l) {
  ProxyConfig& p = current_;
  if (!allowed(l, kBe, "stick")) return;
  if (!needArgs(l, 2, "on|match|store-request <pattern> [table <table>] [{if|unless} <cond>]")) return;
  const std::string& sub = l.words[1];
  if (sub == "store-response") {
    diag_.warnOnce("stick store-response", l.where,
                   "'stick store-response' is accepted but ignored: server responses are "
                   "forwarded without inspection, so only 'stick match' and 'stick "
                   "store-request' rules keep clients on a server");
    return;
  }
  StickRuleConfig r;
  r.where = l.where;
  if (sub == "on") {
    r.match = r.store = true;
  } else if (sub == "match") {
    r.match = true;
  } else if (sub == "store-request") {
    r.store = true;
  } else {
    error(l, "unknown 'stick " + sub + "'", "use 'stick on', 'stick match' or 'stick store-request'");
    return;
  }
  size_t i = 2;
  r.expr = l.words[i++];
  if (i + 1 < l.words.size() + 1 && i < l.words.size() && l.words[i] == "table") {
    if (i + 1 >= l.words.size()) {
      error(l, "'table' needs a table name");
      return;
    }
    r.table = l.words[i + 1];
    i += 2;
  }
  if (i < l.words.size()) {
    if (l.words[i] != "if" && l.words[i] != "unless") {
      error(l, "unexpected '" + l.words[i] + "' in 'stick " + sub + "'",
            "the form is 'stick " + sub + " <pattern> [table <table>] [{if|unless} <cond>]'");
      return;
    }
    if (i + 1 >= l.words.size()) {
      error(l, "missing condition after '" + l.words[i] + "'");
      return;
    }
    r.condition.assign(l.words.begin() + static_cast<std::ptrdiff_t>(i), l.words.end());
  }
  p.stickRules.push_back(std::move(r));
}

std::string Parser::joinViews(const std::vector<std::string_view>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::string(v[i]);
  return out;
}

void Parser::parseTcpResponse(const ConfigLine& l) {
  ProxyConfig& p = current_;
  if (!needArgs(l, 1, "inspect-delay|content ...")) return;
  bool namedDefaults = p.kind == "defaults" && !p.name.empty();
  if (!allowed(l, namedDefaults ? kAll : kBe, "tcp-response")) return;
  if (l.words[1] == "inspect-delay") {
    uint32_t v;
    if (durationArg(l, 2, "tcp-response inspect-delay", v)) p.tcpResponseInspectDelay = v;
    return;
  }
  if (l.words[1] == "content") {
    TcpRuleConfig r;
    splitRule(l, 2, r);
    if (r.action.empty()) {
      error(l, "'tcp-response content' needs an action", "e.g. 'tcp-response content accept'");
      return;
    }
    if (!checkAction(l, r,
                     {"accept", "reject", "silent-drop", "set-var", "unset-var", "sc-inc-gpc0", "sc-inc-gpc1",
                      "sc-set-gpt0", "set-log-level", "set-mark", "set-tos", "set-nice"})) {
      return;
    }
    p.tcpResponseContent.push_back(r);
    return;
  }
  error(l, "unknown 'tcp-response " + l.words[1] + "'", "use 'tcp-response inspect-delay' or 'tcp-response content'");
}

}  // namespace sluice::config::detail
