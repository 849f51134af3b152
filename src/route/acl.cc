// SPDX-License-Identifier: Apache-2.0
// ACL compilation and three-valued evaluation; see acl.h.
#include "route/acl.h"

#include <cctype>
#include <optional>

#include "core/strings.h"

namespace sluice::route {

namespace {

Tri triAnd(Tri a, Tri b) { return static_cast<Tri>(static_cast<uint8_t>(a) & static_cast<uint8_t>(b)); }
Tri triOr(Tri a, Tri b) { return static_cast<Tri>(static_cast<uint8_t>(a) | static_cast<uint8_t>(b)); }
Tri triNot(Tri a) { return a == Tri::Pass ? Tri::Fail : a == Tri::Fail ? Tri::Pass : Tri::Miss; }

// HAProxy's predefined ACLs that have a meaning in TCP.
const std::map<std::string, std::vector<std::string>>& predefined() {
  static const std::map<std::string, std::vector<std::string>> kPredefined = {
      {"TRUE", {"always_true"}},
      {"FALSE", {"always_false"}},
      {"LOCALHOST", {"src", "127.0.0.1/8", "::1"}},
      {"REQ_CONTENT", {"req.len", "gt", "0"}},
      {"WAIT_END", {"wait_end"}},
      {"RDP_COOKIE", {"req.rdp_cookie_cnt", "gt", "0"}},
  };
  return kPredefined;
}

const std::vector<std::string> kHttpPredefined = {
    "HTTP", "HTTP_1.0", "HTTP_1.1", "HTTP_2.0", "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH",
    "HTTP_URL_STAR", "METH_CONNECT", "METH_DELETE", "METH_GET", "METH_HEAD", "METH_OPTIONS",
    "METH_POST", "METH_PUT", "METH_TRACE", "RDP_COOKIE"};

}  // namespace

Tri AclTerm::evaluate(const SessionView& view) const {
  Tri result = Tri::Fail;
  for (size_t index = 0;; ++index) {
    Sample s;
    bool found = expr->evaluate(view, index, s);
    if (!found) {
      if (s.mayChange) {
        result = triOr(result, Tri::Miss);
      }
      return result;
    }
    bool matched = false;
    if (method == MatchMethod::Found) {
      matched = true;
    } else if (method == MatchMethod::Bool) {
      Sample b = s;
      matched = castSample(b, SampleType::Bool) && b.integer != 0;
    } else {
      Sample cast = s;
      if (castSample(cast, inputTypeOf(method))) {
        for (const auto& live : patterns) {
          if (live->get()->lookup(cast)) {
            matched = true;
            break;
          }
        }
      }
    }
    if (matched) {
      return Tri::Pass;
    }
    if (s.mayChange) {
      result = triOr(result, Tri::Miss);
    }
  }
}

Tri Acl::evaluate(const SessionView& view) const {
  Tri result = Tri::Fail;
  for (const auto& t : terms) {
    result = triOr(result, t->evaluate(view));
    if (result == Tri::Pass) {
      break;
    }
  }
  return result;
}

bool Acl::usesHello() const {
  for (const auto& t : terms) {
    if (t->expr->usesHello()) return true;
  }
  return false;
}

bool Acl::usesPayload() const {
  for (const auto& t : terms) {
    if (t->expr->usesPayload()) return true;
  }
  return false;
}

Tri Condition::evaluate(const SessionView& view) const {
  Tri result = Tri::Fail;
  for (const auto& suite : alternatives_) {
    Tri suiteResult = Tri::Pass;
    for (const Ref& ref : suite) {
      Tri r = ref.acl->evaluate(view);
      if (ref.negate) r = triNot(r);
      suiteResult = triAnd(suiteResult, r);
      if (suiteResult == Tri::Fail) break;
    }
    result = triOr(result, suiteResult);
    if (result == Tri::Pass) break;
  }
  if (unless_ && result != Tri::Miss) {
    result = triNot(result);
  }
  return result;
}

bool Condition::usesHello() const {
  for (const auto& suite : alternatives_) {
    for (const Ref& r : suite) {
      if (r.acl->usesHello()) return true;
    }
  }
  return false;
}

bool Condition::usesPayload() const {
  for (const auto& suite : alternatives_) {
    for (const Ref& r : suite) {
      if (r.acl->usesPayload()) return true;
    }
  }
  return false;
}

std::shared_ptr<const AclTerm> AclScope::compileTerm(const std::vector<std::string>& words,
                                                     std::string& error) {
  if (words.empty()) {
    error = "missing fetch method in ACL";
    return nullptr;
  }
  auto term = std::make_shared<AclTerm>();
  term->expr = SampleExpr::parse(words[0], maps_, error);
  // HAProxy's derived ACL names: "<fetch>_<match>" is "<fetch> -m <match>"
  // (path_beg, hdr_end(host), req_ssl_sni_end, ...).
  std::optional<MatchMethod> derived;
  if (!term->expr && words[0].find(',') == std::string::npos) {
    std::string name = words[0].substr(0, words[0].find('('));
    std::string args = words[0].substr(name.size());
    size_t cut = name.rfind('_');
    MatchMethod m;
    if (cut != std::string::npos && cut > 0 && parseMatchMethod(name.substr(cut + 1), m)) {
      std::string ignored;
      term->expr = SampleExpr::parse(name.substr(0, cut) + args, maps_, ignored);
      if (term->expr) derived = m;
    }
  }
  if (!term->expr) {
    return nullptr;
  }
  const FetchDef& fetch = term->expr->fetch();
  // The default match method follows the expression's output type.
  switch (term->expr->outputType()) {
    case SampleType::Bool: term->method = MatchMethod::Bool; break;
    case SampleType::Int: term->method = MatchMethod::Int; break;
    case SampleType::Ip: term->method = MatchMethod::Ip; break;
    case SampleType::Bin: term->method = MatchMethod::Bin; break;
    default: term->method = MatchMethod::Str; break;
  }
  if (derived) term->method = *derived;
  bool ignoreCase = false;
  std::vector<std::string> files;
  size_t i = 1;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() < 2 || w[0] != '-' || (w[1] >= '0' && w[1] <= '9')) {
      break;  // a pattern (negative numbers are patterns too)
    }
    if (w == "--") {
      ++i;
      break;
    }
    if (w == "-i") {
      ignoreCase = true;
    } else if (w == "-n") {
      // no DNS resolution: patterns are never resolved by sluice anyway
    } else if (w == "-m") {
      if (i + 1 >= words.size()) {
        error = "'-m' needs a match method";
        return nullptr;
      }
      MatchMethod m;
      if (!parseMatchMethod(words[i + 1], m)) {
        error = "unknown match method '" + words[i + 1] +
                "' (use str, beg, end, sub, dom, dir, reg, found, len, int, ip, bin or bool)";
        return nullptr;
      }
      term->method = m;
      ++i;
    } else if (w == "-f") {
      if (i + 1 >= words.size()) {
        error = "'-f' needs a file name";
        return nullptr;
      }
      files.push_back(words[++i]);
    } else if (w == "-u") {
      if (i + 1 >= words.size()) {
        error = "'-u' needs an id";
        return nullptr;
      }
      ++i;
    } else if (w == "-M") {
      // patterns read from a map file: the key column is used, as -f does
    } else {
      error = "unknown ACL flag '" + w + "' (use -i, -f, -m, -n, -M, -u or --)";
      return nullptr;
    }
  }
  bool filesAreMaps = false;
  for (size_t j = 1; j < i && j < words.size(); ++j) {
    if (words[j] == "-M") filesAreMaps = true;
  }
  std::vector<std::string> inlinePatterns;
  std::string pendingOp;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i];
    if ((term->method == MatchMethod::Int || term->method == MatchMethod::Len) &&
        (w == "eq" || w == "ge" || w == "gt" || w == "le" || w == "lt")) {
      pendingOp = w;
      continue;
    }
    std::string pattern = pendingOp.empty() ? w : pendingOp + " " + w;
    pendingOp.clear();
    inlinePatterns.push_back(std::move(pattern));
  }
  if (!pendingOp.empty()) {
    error = "operator '" + pendingOp + "' needs a value after it";
    return nullptr;
  }
  std::string place = "file '" + where_.file + "' line " + std::to_string(where_.line);
  if (!inlinePatterns.empty()) {
    auto live = maps_.inlinePatterns(inlinePatterns, term->method, ignoreCase, fetch.dottedVersions,
                                     "acl '" + words[0] + "' " + place, error);
    if (!live) return nullptr;
    term->patterns.push_back(live);
  }
  for (const std::string& f : files) {
    auto live = maps_.patternFile(f, term->method, ignoreCase, fetch.dottedVersions, filesAreMaps, error,
                                  "acl at " + place);
    if (!live) return nullptr;
    term->patterns.push_back(live);
  }
  term->emptyPatterns = term->patterns.empty();
  if (term->emptyPatterns && term->method != MatchMethod::Found &&
      term->method != MatchMethod::Bool && files.empty()) {
    error = "ACL on '" + words[0] + "' has no pattern to match (add values, '-f <file>', or "
            "'-m found' to test presence)";
    return nullptr;
  }
  return term;
}

void AclScope::define(const std::vector<config::AclConfig>& acls, core::Diagnostics& diag) {
  for (const config::AclConfig& a : acls) {
    std::string error;
    for (char c : a.name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
            c == ':')) {
        diag.error(a.where, "invalid character '" + std::string(1, c) + "' in ACL name '" +
                                a.name + "'",
                   "ACL names use letters, digits, '-', '_', '.' and ':'");
        error = "x";
        break;
      }
    }
    if (!error.empty()) continue;
    where_ = a.where;
    auto term = compileTerm(a.words, error);
    if (!term) {
      diag.error(a.where, "in ACL '" + a.name + "': " + error);
      continue;
    }
    auto& acl = named_[a.name];
    if (!acl) {
      acl = std::make_shared<Acl>();
      acl->name = a.name;
    }
    acl->terms.push_back(term);
  }
}

std::shared_ptr<const Acl> AclScope::lookup(const std::string& name, std::string& error) {
  auto it = named_.find(name);
  if (it != named_.end()) {
    return it->second;
  }
  auto pre = predefined().find(name);
  if (pre != predefined().end()) {
    auto term = compileTerm(pre->second, error);
    if (!term) return nullptr;
    auto acl = std::make_shared<Acl>();
    acl->name = name;
    acl->terms.push_back(term);
    named_[name] = acl;
    return acl;
  }
  for (const std::string& h : kHttpPredefined) {
    if (h == name) {
      error = "predefined ACL '" + name + "' needs HTTP, which sluice does not parse";
      return nullptr;
    }
  }
  std::vector<std::string_view> names;
  for (const auto& [k, v] : named_) names.push_back(k);
  for (const auto& [k, v] : predefined()) names.push_back(k);
  std::string guess = core::closestMatch(name, names);
  error = "unknown ACL '" + name + "'" + (guess.empty() ? std::string() : "; did you mean '" + guess + "'?");
  return nullptr;
}

std::unique_ptr<Condition> AclScope::compileCondition(const std::vector<std::string>& words,
                                                      std::string& error) {
  if (words.empty()) {
    return nullptr;
  }
  auto cond = std::make_unique<Condition>();
  if (words[0] != "if" && words[0] != "unless") {
    error = "a condition starts with 'if' or 'unless', not '" + words[0] + "'";
    return nullptr;
  }
  cond->unless_ = words[0] == "unless";
  cond->alternatives_.emplace_back();
  bool negateNext = false;
  size_t i = 1;
  if (i >= words.size()) {
    error = "missing condition after '" + words[0] + "'";
    return nullptr;
  }
  while (i < words.size()) {
    std::string w = words[i];
    if (w == "||" || w == "or") {
      if (cond->alternatives_.back().empty() || negateNext) {
        error = "'" + w + "' must come between two ACLs";
        return nullptr;
      }
      cond->alternatives_.emplace_back();
      ++i;
      continue;
    }
    while (!w.empty() && w[0] == '!') {
      negateNext = !negateNext;
      w.erase(0, 1);
    }
    if (w.empty()) {
      ++i;
      continue;
    }
    Condition::Ref ref;
    ref.negate = negateNext;
    negateNext = false;
    if (w == "{") {
      size_t close = i + 1;
      while (close < words.size() && words[close] != "}") ++close;
      if (close >= words.size()) {
        error = "missing '}' to close the anonymous ACL";
        return nullptr;
      }
      std::vector<std::string> body(words.begin() + static_cast<std::ptrdiff_t>(i + 1),
                                    words.begin() + static_cast<std::ptrdiff_t>(close));
      if (body.empty()) {
        error = "empty anonymous ACL '{ }'";
        return nullptr;
      }
      auto term = compileTerm(body, error);
      if (!term) return nullptr;
      auto acl = std::make_shared<Acl>();
      acl->name = "{...}";
      acl->terms.push_back(term);
      ref.acl = acl;
      i = close + 1;
    } else if (w == "}") {
      error = "unexpected '}' without a matching '{'";
      return nullptr;
    } else {
      ref.acl = lookup(w, error);
      if (!ref.acl) return nullptr;
      ++i;
    }
    cond->alternatives_.back().push_back(ref);
  }
  if (cond->alternatives_.back().empty()) {
    error = "condition ends with an operator";
    return nullptr;
  }
  return cond;
}

}  // namespace sluice::route
