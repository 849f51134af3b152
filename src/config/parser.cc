// SPDX-License-Identifier: Apache-2.0
// HAProxy-dialect configuration parser: the sections, and the dispatch of
// each line to the reader its keyword table names (keywords.cc). The readers
// live in a file per kind of section; see parser_impl.h. The keywords and
// how each is treated are listed in docs/configuration.md (kept true by a
// unit test over knownKeywords()).
#include "config/parser.h"

#include <cctype>

#include <algorithm>
#include <cstring>

#include "config/parser_impl.h"
#include "core/strings.h"

namespace sluice::config {
namespace detail {

bool gNameResolution = true;

bool nameResolutionEnabled() { return gNameResolution; }

unsigned sectionBit(const ProxyConfig& p) {
  if (p.kind == "defaults") return kDefaults;
  if (p.kind == "frontend") return kFrontend;
  if (p.kind == "listen") return kListen;
  return kBackend;
}

std::string proxyLabel(const ProxyConfig& p) {
  if (p.kind == "defaults") {
    return p.name.empty() ? "defaults section" : "defaults section '" + p.name + "'";
  }
  return p.kind + " '" + p.name + "'";
}

std::string joinWords(const std::vector<std::string>& w, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < w.size() && i < to; ++i) {
    out += (i > from ? " " : "") + w[i];
  }
  return out;
}

Parser::Parser(core::Diagnostics& diag) : diag_(diag) { defaults_.kind = "defaults"; }

Config Parser::run(const std::vector<ConfigLine>& lines) {
  for (const ConfigLine& line : lines) {
    handleLine(line);
  }
  finishProxy();
  validate();
  return std::move(config_);
}

// -- helpers ------------------------------------------------------------------

// "Did you mean" for the first typos of a file only: beyond that, a file
// is more garbage than typos, and each hint costs a scan of the keywords.
std::string Parser::suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
  if (++suggestions_ > kMaxSuggestions) return {};
  return core::closestMatch(word, candidates);
}

void Parser::error(const ConfigLine& l, std::string msg, std::string hint) {
  diag_.error(l.where, std::move(msg), std::move(hint));
}

bool Parser::needArgs(const ConfigLine& l, size_t count, const std::string& usage) {
  if (l.words.size() < count + 1) {
    error(l, "'" + l.words[0] + "' expects " + usage, "syntax: " + l.words[0] + " " + usage);
    return false;
  }
  return true;
}

bool Parser::durationArg(const ConfigLine& l, size_t index, const std::string& what, uint32_t& out) {
  if (index >= l.words.size()) {
    error(l, what + " expects a time value", "e.g. '5s', '500ms', '1m' (milliseconds by default)");
    return false;
  }
  if (!parseDuration(l.words[index], out)) {
    error(l, "invalid time '" + l.words[index] + "' for " + what,
          "use a number with an optional unit: us, ms, s, m, h, d (e.g. '5s')");
    return false;
  }
  return true;
}

bool Parser::unsignedArg(const ConfigLine& l, size_t index, const std::string& what, uint32_t& out, uint64_t max) {
  if (index >= l.words.size()) {
    error(l, what + " expects a number");
    return false;
  }
  auto v = core::parseInt(l.words[index]);
  if (!v || *v < 0 || static_cast<uint64_t>(*v) > max) {
    error(l, "invalid number '" + l.words[index] + "' for " + what,
          "expected an integer between 0 and " + std::to_string(max));
    return false;
  }
  out = static_cast<uint32_t>(*v);
  return true;
}

// HAProxy's names of proxies and servers: letters, digits and ".-_:"; the
// others would be ambiguous in "backend/server", log lines, CSV, or the
// runtime API's arguments.
bool Parser::checkName(const ConfigLine& l, const std::string& name, const std::string& what) {
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':') continue;
    error(l, "character '" + std::string(1, c) + "' is not permitted in " + what + " '" + name + "'",
          "names may use letters, digits, '.', '-', '_' and ':'");
    return false;
  }
  return true;
}

void Parser::warnKnown(const ConfigLine& l, const std::string& keyword, const Keyword& k, const std::string& context) {
  if (k.treatment == "unsupported") {
    error(l, "'" + keyword + "' is not supported by sluice" + context + ": " + std::string(k.note),
          "remove it, or see docs/configuration.md for what sluice offers instead");
    return;
  }
  if (k.treatment == "supported") {
    return;
  }
  diag_.warnOnce("kw:" + keyword, l.where, "'" + keyword + "' is accepted but ignored: " + std::string(k.note));
}

void Parser::unknownKeyword(const ConfigLine& l, const std::string& where,
                            const std::vector<std::string_view>& candidates) {
  std::string guess = suggest(l.words[0], candidates);
  // Keywords that take a sub-keyword: suggest the whole thing.
  static const std::set<std::string> kTakesSub = {"option", "timeout",    "tcp-request", "tcp-response",
                                                  "stats",  "http-check", "tcp-check",   "no"};
  if (!guess.empty() && kTakesSub.count(guess) && l.words.size() > 1) {
    guess += " " + l.words[1];
  }
  error(l, "unknown keyword '" + l.words[0] + "' in " + where,
        guess.empty() ? "see docs/configuration.md for the keywords sluice accepts" : "did you mean '" + guess + "'?");
}

bool Parser::allowed(const ConfigLine& l, unsigned mask, const std::string& keyword) {
  unsigned bit = sectionBit(current_);
  if (mask & bit) {
    return true;
  }
  std::string where;
  if (mask & kDefaults) where += " defaults";
  if (mask & kFrontend) where += " frontend";
  if (mask & kListen) where += " listen";
  if (mask & kBackend) where += " backend";
  if (bit == kDefaults && keyword.rfind("tcp-request", 0) == 0) {
    error(l, "'" + keyword + "' is only allowed in named defaults sections, or" + where,
          "give the defaults section a name, or move the rule into the proxy");
    return false;
  }
  // HAProxy refuses in defaults what has no default, servers where no
  // backend is, connection and session rules where no frontend is, and
  // response rules where no backend is; anything else out of its place in
  // a proxy it ignores with a warning, and so does sluice: a file HAProxy
  // runs, sluice runs.
  const bool refused = bit == kDefaults || keyword == "server" || keyword == "default-server" ||
                       keyword == "server-template" || keyword == "tcp-request connection" ||
                       keyword == "tcp-request session" || keyword.starts_with("tcp-response");
  if (refused) {
    error(l, "'" + keyword + "' is not allowed in a " + current_.kind + " section (" + proxyLabel(current_) + ")",
          "it is allowed in:" + where);
    return false;
  }
  const bool wantsFrontend = (mask & (kFrontend | kListen)) && !(mask & kBackend);
  diag_.warning(l.where,
                "'" + keyword + "' is ignored: " + proxyLabel(current_) + " has no " +
                    (wantsFrontend ? "frontend" : "backend") + " capability",
                "it is allowed in:" + where);
  return false;
}

// -- dispatch -----------------------------------------------------------------

void Parser::dispatch(const KeywordTable& table, const ConfigLine& l, const std::string& where,
                      const std::string& context) {
  const std::string& kw = l.words[0];
  const Keyword* k = table.find(kw);
  if (!k) {
    unknownKeyword(l, where, table.suggestions());
    return;
  }
  if (k->removed) {
    error(l, "'" + kw + "' was removed from HAProxy and is not supported",
          "use '" + std::string(k->note) + "' instead");
    return;
  }
  if (k->prefix) {
    // A family HAProxy has more of than sluice reads ("tune.", "ssl-"): a
    // near miss of one sluice does read is most likely a typo, so say so.
    std::string guess = suggest(kw, table.suggestions());
    diag_.warnOnce("kw:" + kw, l.where, "'" + kw + "' is accepted but ignored: " + std::string(k->note),
                   guess.starts_with(k->name) ? "did you mean '" + guess + "'?" : std::string());
    return;
  }
  if (!k->read) {
    warnKnown(l, kw, *k, context);
    return;
  }
  if (k->where != kAll && !allowed(l, k->where, kw)) return;
  (this->*k->read)(l);
}

void Parser::handleLine(const ConfigLine& l) {
  const std::string& kw = l.words[0];
  if (kw == "global" || kw == "defaults" || kw == "frontend" || kw == "backend" || kw == "listen") {
    startSection(l);
    return;
  }
  if (kw == "mailers") {
    finishProxy();
    section_ = Section::Mailers;
    if (l.words.size() != 2) error(l, "'mailers' needs a name and nothing else", "syntax: mailers <name>");
    MailersConfig m;
    m.where = l.where;
    m.name = l.words.size() > 1 ? l.words[1] : "<unnamed>";
    for (const MailersConfig& other : config_.mailers) {
      if (other.name == m.name) error(l, "mailers section '" + m.name + "' is defined twice");
    }
    config_.mailers.push_back(m);
    return;
  }
  if (kw == "program") {
    finishProxy();
    section_ = Section::Program;
    if (l.words.size() != 2) {
      error(l, "'program' needs a name and nothing else", "syntax: program <name>");
    }
    ProgramConfig prog;
    prog.where = l.where;
    prog.name = l.words.size() > 1 ? l.words[1] : "<unnamed>";
    for (const ProgramConfig& other : config_.programs) {
      if (other.name == prog.name) error(l, "program '" + prog.name + "' is defined twice");
    }
    config_.programs.push_back(prog);
    return;
  }
  if (kw == "resolvers") {
    finishProxy();
    section_ = Section::Resolvers;
    if (l.words.size() != 2) error(l, "'resolvers' needs a name and nothing else", "syntax: resolvers <name>");
    ResolversConfig r;
    r.where = l.where;
    r.name = l.words.size() > 1 ? l.words[1] : "<unnamed>";
    for (const ResolversConfig& other : config_.resolvers) {
      if (other.name == r.name) error(l, "resolvers section '" + r.name + "' is defined twice");
    }
    config_.resolvers.push_back(r);
    return;
  }
  if (kw == "peers") {
    finishProxy();
    section_ = Section::Peers;
    if (l.words.size() != 2) error(l, "'peers' needs a name and nothing else", "syntax: peers <name>");
    PeersConfig p;
    p.where = l.where;
    p.name = l.words.size() > 1 ? l.words[1] : "<unnamed>";
    for (const PeersConfig& other : config_.peers) {
      if (other.name == p.name) error(l, "peers section '" + p.name + "' is defined twice");
    }
    config_.peers.push_back(p);
    return;
  }
  static const std::set<std::string> kOtherSections = {"userlist", "http-errors",
                                                       "ring",     "cache",      "fcgi-app",  "crt-store",
                                                       "traces",   "log-forward"};
  if (kOtherSections.count(kw)) {
    finishProxy();
    section_ = Section::Skipped;
    diag_.warnOnce("section:" + kw, l.where, "'" + kw + "' sections are accepted but not used by sluice");
    return;
  }
  switch (section_) {
    case Section::None:
      error(l, "'" + kw + "' appears before any section",
            "start with 'global', 'defaults', 'frontend', 'backend' or 'listen'");
      return;
    case Section::Skipped:
      return;
    case Section::Program:
      programLine(l);
      return;
    case Section::Mailers:
      mailersLine(l);
      return;
    case Section::Peers:
      dispatch(peersKeywordTable(), l, "peers section '" + config_.peers.back().name + "'", " in a peers section");
      return;
    case Section::Resolvers:
      dispatch(resolversKeywordTable(), l, "resolvers section '" + config_.resolvers.back().name + "'",
               " in a resolvers section");
      return;
    case Section::Global:
      dispatch(globalKeywordTable(), l, "global section", " in the global section");
      return;
    case Section::Proxy:
      if (current_.kind == "defaults") noteDefaultsRule(l);
      dispatch(proxyKeywordTable(), l, proxyLabel(current_), " in " + proxyLabel(current_));
      return;
  }
}

void Parser::startSection(const ConfigLine& l) {
  finishProxy();
  const std::string& kw = l.words[0];
  if (kw == "global") {
    section_ = Section::Global;
    config_.global.where = l.where;
    if (l.words.size() > 1) {
      error(l, "'global' takes no argument");
    }
    return;
  }
  section_ = Section::Proxy;
  ProxyConfig p;
  std::string name = l.words.size() > 1 ? l.words[1] : "";
  std::string from;
  size_t next = 2;
  if (kw == "defaults" && name == "from") {
    name.clear();
    next = 1;
  }
  if (next < l.words.size()) {
    if (l.words[next] == "from" && next + 1 < l.words.size()) {
      from = l.words[next + 1];
      if (next + 2 < l.words.size()) {
        error(l, "unexpected '" + l.words[next + 2] + "' after 'from " + from + "'");
      }
    } else {
      error(l, "unexpected '" + l.words[next] + "' after the " + kw + " name",
            "syntax: " + kw + " <name> [from <defaults>]");
    }
  }
  if (kw != "defaults" && name.empty()) {
    error(l, "'" + kw + "' needs a name", "syntax: " + kw + " <name>");
    name = "<unnamed>";
  }
  if (!from.empty()) {
    auto it = namedDefaults_.find(from);
    if (it == namedDefaults_.end()) {
      error(l, "'from " + from + "': no defaults section named '" + from + "' before this line");
      p = defaults_;
    } else {
      p = it->second;
    }
  } else if (kw == "defaults") {
    p = ProxyConfig{};  // a new defaults section starts from the built-in values
  } else {
    p = defaults_;
  }
  if (kw != "defaults" || !from.empty()) checkDefaultsUse(l, kw, p);
  p.defaultsRules = DefaultsRules{};
  // What a section never inherits.
  p.binds.clear();
  p.servers.clear();
  p.useBackends.clear();
  p.useServers.clear();
  p.id = 0;
  p.description.clear();
  p.disabled = false;
  p.kind = kw;
  p.name = name;
  p.where = l.where;
  p.isFrontend = kw == "frontend" || kw == "listen";
  p.isBackend = kw == "backend" || kw == "listen";
  if (!name.empty()) checkName(l, name, "'" + kw + "' name");
  current_ = std::move(p);
  serverNames_.clear();
  rulesSeen_ = {};
  inProxy_ = true;
}

void Parser::finishProxy() {
  if (!inProxy_) {
    return;
  }
  // "dispatch <address>": the backend's one destination when it has no
  // server line (HAProxy ignores it otherwise), kept as a server named
  // "dispatch" so that it is balanced, logged and counted like one.
  if (!current_.dispatch.empty() && current_.kind != "defaults") {
    if (current_.servers.empty()) {
      parseServer(ConfigLine{current_.dispatchWhere, {"server", "dispatch", current_.dispatch}}, false);
    } else {
      diag_.warning(current_.dispatchWhere, "'dispatch' is ignored: " + current_.kind + " '" + current_.name +
                                                "' has server lines, as HAProxy ignores it then");
    }
  }
  inProxy_ = false;
  ProxyConfig p = std::move(current_);
  if (p.kind == "defaults") {
    if (p.name.empty() && p.defaultsRules.kinds) {
      diag_.error(p.defaultsRules.where,
                  "an anonymous defaults section cannot hold tcp-request, tcp-response or "
                  "http rules (HAProxy 2.5 and later refuse it too)",
                  "name it ('defaults NAME') and use it with 'from NAME' in frontends or in backends");
    }
    defaults_ = p;
    if (!p.name.empty()) {
      namedDefaults_[p.name] = p;
    }
    return;
  }
  // Settings whose meaning HAProxy narrows by capability.
  if (!p.isBackend) {
    p.servers.clear();
  }
  config_.proxies.push_back(std::move(p));
}

}  // namespace detail

bool parseDuration(std::string_view text, uint32_t& millis) {
  if (text.empty()) return false;
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return false;
  auto n = core::parseInt(text.substr(0, i));
  if (!n) return false;
  std::string_view unit = text.substr(i);
  uint64_t v = static_cast<uint64_t>(*n);
  uint64_t ms;
  if (unit.empty() || unit == "ms") {
    ms = v;
  } else if (unit == "us") {
    ms = (v + 999) / 1000;
  } else if (unit == "s") {
    ms = v * 1000;
  } else if (unit == "m") {
    ms = v * 60'000;
  } else if (unit == "h") {
    ms = v * 3'600'000;
  } else if (unit == "d") {
    ms = v * 86'400'000;
  } else {
    return false;
  }
  if (ms > INT32_MAX) return false;  // HAProxy caps timers at 2^31-1 ms (24.8 days)
  millis = static_cast<uint32_t>(ms);
  return true;
}

bool parseSize(std::string_view text, uint64_t& bytes) {
  if (text.empty()) return false;
  uint64_t mult = 1;
  char last = core::asciiLower(text.back());
  if (last == 'k' || last == 'm' || last == 'g') {
    mult = last == 'k' ? 1024 : last == 'm' ? 1024 * 1024 : 1024ull * 1024 * 1024;
    text.remove_suffix(1);
  }
  auto n = core::parseInt(text);
  if (!n || *n < 0) return false;
  bytes = static_cast<uint64_t>(*n) * mult;
  return true;
}

Config parseConfig(const std::vector<ConfigLine>& lines, core::Diagnostics& diag) {
  detail::Parser parser(diag);
  return parser.run(lines);
}

Config loadConfig(const std::vector<std::string>& paths, core::Diagnostics& diag, const EnvLookup& env) {
  std::vector<std::string> loaded;
  std::vector<ConfigLine> lines = readConfigFiles(paths, env, diag, &loaded);
  Config cfg = parseConfig(lines, diag);
  cfg.files = loaded;
  return cfg;
}

void setNameResolution(bool enabled) { detail::gNameResolution = enabled; }
std::vector<KeywordInfo> knownKeywords() {
  std::vector<KeywordInfo> out;
  auto table = [&](const char* section, const detail::KeywordTable& t) {
    for (const detail::Keyword& k : t.entries()) {
      if (k.prefix) continue;  // "tune.", "ssl-": documented as families
      out.push_back({section, std::string(k.name), std::string(k.treatment), std::string(k.note)});
    }
  };
  table("global", detail::globalKeywordTable());
  table("resolvers", detail::resolversKeywordTable());
  table("peers", detail::peersKeywordTable());
  table("proxy", detail::proxyKeywordTable());
  for (std::string_view o : detail::kSupportedOptions) {
    out.push_back({"option", std::string(o), "supported", ""});
  }
  for (const detail::Known& k : detail::kHttpOptions) {
    out.push_back({"option", std::string(k.name), std::string(k.treatment), std::string(k.note)});
  }
  for (const auto& p : detail::kServerParams) {
    out.push_back({"server", std::string(p.name), std::string(p.treatment), std::string(p.note)});
  }
  for (const auto& p : detail::kBindParams) {
    out.push_back({"bind", std::string(p.name), std::string(p.treatment), std::string(p.note)});
  }
  return out;
}

}  // namespace sluice::config
