// SPDX-License-Identifier: Apache-2.0
// Configuration lexer: words, quotes, escapes, variables, conditional blocks.
#include "config/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "core/files.h"
#include "core/strings.h"

namespace sluice::config {

namespace {

// The HAProxy version whose configuration language sluice reads; answers
// version_atleast() / version_before() in conditional blocks.
constexpr int kCompatMajor = 2;
constexpr int kCompatMinor = 6;

// Features sluice has, as `feature(NAME)` sees them (HAProxy's -vv names).
bool hasFeature(std::string_view name) {
  static const char* kFeatures[] = {"PCRE2", "PCRE2_JIT", "LINUX_SPLICE", "REUSEPORT",
                                    "THREAD", "TPROXY", "LINUX_TPROXY", "GETADDRINFO"};
  for (const char* f : kFeatures) {
    if (name == f) {
      return true;
    }
  }
  return false;
}

bool isVarStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '.'; }
bool isVarChar(char c) { return isVarStart(c) || (c >= '0' && c <= '9'); }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Evaluates the expression of an .if/.elif line (manual §2.4).
class ConditionEvaluator {
 public:
  ConditionEvaluator(std::string_view text, const EnvLookup& env) : s_(text), env_(env) {}

  bool evaluate(bool& result, std::string& error) {
    skipSpaces();
    if (pos_ >= s_.size()) {
      result = false;
      return true;
    }
    if (!parseOr(result)) {
      error = error_.empty() ? "malformed condition" : error_;
      return false;
    }
    skipSpaces();
    if (pos_ != s_.size()) {
      error = "unexpected '" + std::string(s_.substr(pos_)) + "' in condition";
      return false;
    }
    return true;
  }

 private:
  void skipSpaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool parseOr(bool& out) {
    if (!parseAnd(out)) return false;
    while (true) {
      skipSpaces();
      if (s_.substr(pos_, 2) != "||") return true;
      pos_ += 2;
      bool rhs = false;
      if (!parseAnd(rhs)) return false;
      out = out || rhs;
    }
  }

  bool parseAnd(bool& out) {
    if (!parseUnary(out)) return false;
    while (true) {
      skipSpaces();
      if (s_.substr(pos_, 2) != "&&") return true;
      pos_ += 2;
      bool rhs = false;
      if (!parseUnary(rhs)) return false;
      out = out && rhs;
    }
  }

  bool parseUnary(bool& out) {
    skipSpaces();
    if (pos_ < s_.size() && s_[pos_] == '!') {
      ++pos_;
      if (!parseUnary(out)) return false;
      out = !out;
      return true;
    }
    if (pos_ < s_.size() && s_[pos_] == '(') {
      ++pos_;
      if (!parseOr(out)) return false;
      skipSpaces();
      if (pos_ >= s_.size() || s_[pos_] != ')') {
        error_ = "missing ')' in condition";
        return false;
      }
      ++pos_;
      return true;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '(' && s_[pos_] != ')' &&
           s_[pos_] != '&' && s_[pos_] != '|' && s_[pos_] != '\t') {
      ++pos_;
    }
    std::string_view term = s_.substr(start, pos_ - start);
    if (pos_ < s_.size() && s_[pos_] == '(') {
      size_t close = s_.find(')', pos_);
      if (close == std::string_view::npos) {
        error_ = "missing ')' after '" + std::string(term) + "('";
        return false;
      }
      std::string_view arg = s_.substr(pos_ + 1, close - pos_ - 1);
      pos_ = close + 1;
      return predicate(term, arg, out);
    }
    if (term.empty()) {
      error_ = "empty term in condition";
      return false;
    }
    if (auto n = core::parseInt(term)) {
      out = *n != 0;
      return true;
    }
    // A non-numeric word (often an expanded variable): HAProxy treats it as an error.
    error_ = "cannot evaluate '" + std::string(term) + "' as a condition";
    return false;
  }

  static bool parseVersion(std::string_view v, int& major, int& minor) {
    auto parts = core::split(v.substr(0, v.find('-')), '.');
    major = 0;
    minor = 0;
    if (parts.empty()) return false;
    auto ma = core::parseInt(parts[0]);
    if (!ma) return false;
    major = static_cast<int>(*ma);
    if (parts.size() > 1) {
      auto mi = core::parseInt(parts[1]);
      if (!mi) return false;
      minor = static_cast<int>(*mi);
    }
    return true;
  }

  bool predicate(std::string_view name, std::string_view arg, bool& out) {
    auto args = core::split(arg, ',');
    if (name == "defined") {
      out = env_(core::trim(arg)).has_value();
      return true;
    }
    if (name == "feature") {
      out = hasFeature(core::trim(arg));
      return true;
    }
    if (name == "streq" || name == "strneq") {
      if (args.size() != 2) {
        error_ = std::string(name) + "() takes two arguments";
        return false;
      }
      out = (args[0] == args[1]) == (name == "streq");
      return true;
    }
    if (name == "version_atleast" || name == "version_before") {
      int major = 0;
      int minor = 0;
      if (!parseVersion(core::trim(arg), major, minor)) {
        error_ = "bad version '" + std::string(arg) + "'";
        return false;
      }
      bool atLeast = kCompatMajor > major || (kCompatMajor == major && kCompatMinor >= minor);
      out = name == "version_atleast" ? atLeast : !atLeast;
      return true;
    }
    error_ = "unknown predicate '" + std::string(name) + "'";
    return false;
  }

  std::string_view s_;
  const EnvLookup& env_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

EnvLookup processEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    std::string key(name);
    const char* v = std::getenv(key.c_str());
    if (!v) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

bool tokenizeLine(std::string_view line, const EnvLookup& env, std::vector<std::string>& words,
                  std::string& error) {
  words.clear();
  std::string cur;
  bool inWord = false;
  enum class Quote { None, Weak, Strong } quote = Quote::None;
  size_t i = 0;
  auto endWord = [&] {
    if (inWord) {
      words.push_back(std::move(cur));
      cur.clear();
      inWord = false;
    }
  };
  while (i < line.size()) {
    char c = line[i];
    if (quote == Quote::Strong) {
      if (c == '\'') {
        quote = Quote::None;
      } else {
        cur.push_back(c);
      }
      ++i;
      continue;
    }
    if (quote == Quote::None) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        endWord();
        ++i;
        continue;
      }
      if (c == '#') {
        break;
      }
      if (c == '\'') {
        quote = Quote::Strong;
        inWord = true;
        ++i;
        continue;
      }
      if (c == '"') {
        quote = Quote::Weak;
        inWord = true;
        ++i;
        continue;
      }
    } else if (c == '"') {  // closing weak quote
      quote = Quote::None;
      ++i;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= line.size()) {
        error = "backslash at end of line (sluice, like HAProxy, has no line continuation)";
        return false;
      }
      char n = line[i + 1];
      inWord = true;
      switch (n) {
        case ' ': case '\t': case '#': case '\\': case '\'': case '"': case '$':
          cur.push_back(n);
          i += 2;
          continue;
        case 'n': cur.push_back('\n'); i += 2; continue;
        case 'r': cur.push_back('\r'); i += 2; continue;
        case 't': cur.push_back('\t'); i += 2; continue;
        case 'x': {
          if (i + 3 >= line.size() || hexValue(line[i + 2]) < 0 || hexValue(line[i + 3]) < 0) {
            error = "malformed \\x escape (expects two hex digits, e.g. \\x20)";
            return false;
          }
          cur.push_back(static_cast<char>(hexValue(line[i + 2]) * 16 + hexValue(line[i + 3])));
          i += 4;
          continue;
        }
        default:
          // Unknown escapes are kept as written, so regexes like \. survive.
          cur.push_back('\\');
          cur.push_back(n);
          i += 2;
          continue;
      }
    }
    if (c == '$' && quote == Quote::Weak) {
      // $NAME or ${NAME}, ${NAME-default}, ${NAME[*]}
      size_t j = i + 1;
      std::string name;
      std::optional<std::string> fallback;
      bool splitWords = false;
      if (j < line.size() && line[j] == '{') {
        size_t close = line.find('}', j);
        if (close == std::string_view::npos) {
          error = "missing '}' after '${'";
          return false;
        }
        std::string_view inner = line.substr(j + 1, close - j - 1);
        size_t dash = inner.find('-');
        if (dash != std::string_view::npos) {
          fallback = std::string(inner.substr(dash + 1));
          inner = inner.substr(0, dash);
        }
        if (core::endsWith(inner, "[*]")) {
          splitWords = true;
          inner.remove_suffix(3);
        }
        name = std::string(inner);
        j = close + 1;
      } else {
        while (j < line.size() && isVarChar(line[j])) {
          ++j;
        }
        name = std::string(line.substr(i + 1, j - i - 1));
      }
      if (name.empty() || !isVarStart(name[0])) {
        error = "malformed variable name after '$' (escape a literal dollar as \\$)";
        return false;
      }
      std::optional<std::string> value = env(name);
      std::string text = value ? *value : (fallback ? *fallback : std::string());
      inWord = true;
      if (splitWords) {
        std::istringstream ss(text);
        std::string part;
        bool first = true;
        while (ss >> part) {
          if (!first) {
            words.push_back(std::move(cur));
            cur.clear();
          }
          cur += part;
          first = false;
        }
      } else {
        cur += text;
      }
      i = j;
      continue;
    }
    cur.push_back(c);
    inWord = true;
    ++i;
  }
  if (quote != Quote::None) {
    error = quote == Quote::Weak ? "unterminated double quote" : "unterminated single quote";
    return false;
  }
  endWord();
  return true;
}

bool evaluateCondition(std::string_view text, const EnvLookup& env, bool& result, std::string& error) {
  // The text is read as the words of an .if line: quotes and variables
  // first (streq("$X","1"), 'foo bar'), then the expression.
  std::vector<std::string> words;
  if (!tokenizeLine(text, env, words, error)) return false;
  std::string cond;
  for (size_t k = 0; k < words.size(); ++k) cond += (k ? " " : "") + words[k];
  ConditionEvaluator ev(cond, env);
  return ev.evaluate(result, error);
}

std::string expandUnquotedVariables(std::string_view word, const EnvLookup& env) {
  std::string out;
  for (size_t i = 0; i < word.size();) {
    if (word[i] != '$' || i + 1 >= word.size()) {
      out.push_back(word[i++]);
      continue;
    }
    size_t j = i + 1;
    std::string name;
    std::optional<std::string> fallback;
    if (word[j] == '{') {
      size_t close = word.find('}', j);
      if (close == std::string_view::npos) {
        out.push_back(word[i++]);
        continue;
      }
      std::string_view inner = word.substr(j + 1, close - j - 1);
      size_t dash = inner.find('-');
      if (dash != std::string_view::npos) {
        fallback = std::string(inner.substr(dash + 1));
        inner = inner.substr(0, dash);
      }
      name = std::string(inner);
      j = close + 1;
    } else {
      while (j < word.size() && isVarChar(word[j])) ++j;
      name = std::string(word.substr(i + 1, j - i - 1));
    }
    if (name.empty() || !isVarStart(name[0])) {
      out.push_back(word[i++]);
      continue;
    }
    std::optional<std::string> value = env(name);
    out += value ? *value : (fallback ? *fallback : std::string());
    i = j;
  }
  return out;
}

void expandAddressVariables(std::vector<std::string>& words, const EnvLookup& env) {
  if (words.empty()) return;
  const std::string& k = words[0];
  auto expand = [&](size_t i) {
    if (i < words.size() && words[i].find('$') != std::string::npos) {
      words[i] = expandUnquotedVariables(words[i], env);
    }
  };
  if (k == "bind" || k == "source" || k == "dispatch" || (k == "log" && words.size() > 1 && words[1] != "global")) {
    expand(1);
  } else if (k == "server" || k == "peer" || k == "nameserver" || (k == "stats" && words.size() > 1 && words[1] == "socket")) {
    expand(2);
  }
  // Addresses given as an argument: "usesrc <addr>", "addr <addr>" (checks).
  for (size_t i = 1; i + 1 < words.size(); ++i) {
    if (words[i] == "usesrc" || words[i] == "addr") expand(i + 1);
  }
}

std::vector<ConfigLine> readConfigText(std::string_view text, const std::string& fileName,
                                       const EnvLookup& env, core::Diagnostics& diag) {
  std::vector<ConfigLine> out;
  // setenv/presetenv/unsetenv/resetenv in the global section change what
  // later lines expand, so they are applied here, as the lines are read.
  std::map<std::string, std::optional<std::string>> overlay;
  bool resetAll = false;
  std::set<std::string> keptOnReset;
  EnvLookup layered = [&](std::string_view name) -> std::optional<std::string> {
    auto it = overlay.find(std::string(name));
    if (it != overlay.end()) {
      return it->second;
    }
    if (resetAll && !keptOnReset.count(std::string(name))) {
      return std::nullopt;
    }
    return env(name);
  };
  // One entry per open .if: whether the current branch is active, whether
  // any branch already ran, and whether the enclosing level is active.
  struct Level {
    bool active;
    bool taken;
    bool parentActive;
    bool sawElse;
    core::SourceLocation where;
  };
  std::vector<Level> levels;
  auto active = [&] { return levels.empty() || levels.back().active; };

  size_t start = 0;
  int lineNo = 0;
  std::vector<std::string> words;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    ++lineNo;
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    core::SourceLocation where{fileName, lineNo};

    std::string error;
    // Inactive blocks are skipped without expanding variables, but their
    // directives still nest.
    if (!tokenizeLine(line, layered, words, error)) {
      if (active()) {
        diag.error(where, error);
      }
      continue;
    }
    if (words.empty()) {
      continue;
    }
    const std::string& w0 = words[0];
    if (w0 == ".if" || w0 == ".elif") {
      std::string cond;
      for (size_t k = 1; k < words.size(); ++k) {
        cond += (k > 1 ? " " : "") + words[k];
      }
      bool value = false;
      bool evaluate = w0 == ".if" ? active() : (!levels.empty() && levels.back().parentActive &&
                                                !levels.back().taken);
      if (evaluate) {
        ConditionEvaluator ev(cond, layered);
        if (!ev.evaluate(value, error)) {
          diag.error(where, error + " in '" + w0 + "'",
                     "supported: defined(), feature(), streq(), strneq(), version_atleast(), "
                     "version_before(), integers, !, &&, ||, ( )");
          value = false;
        }
      }
      if (w0 == ".if") {
        bool parent = active();
        levels.push_back({parent && value, parent && value, parent, false, where});
      } else {
        if (levels.empty() || levels.back().sawElse) {
          diag.error(where, "'.elif' without a matching '.if'");
          continue;
        }
        Level& l = levels.back();
        l.active = l.parentActive && !l.taken && value;
        l.taken = l.taken || l.active;
      }
      continue;
    }
    if (w0 == ".else") {
      if (levels.empty() || levels.back().sawElse) {
        diag.error(where, "'.else' without a matching '.if'");
        continue;
      }
      Level& l = levels.back();
      l.active = l.parentActive && !l.taken;
      l.taken = true;
      l.sawElse = true;
      continue;
    }
    if (w0 == ".endif") {
      if (levels.empty()) {
        diag.error(where, "'.endif' without a matching '.if'");
        continue;
      }
      levels.pop_back();
      continue;
    }
    if (!active()) {
      continue;
    }
    if (w0 == ".diag" || w0 == ".notice" || w0 == ".warning" || w0 == ".alert") {
      std::string msg;
      for (size_t k = 1; k < words.size(); ++k) {
        msg += (k > 1 ? " " : "") + words[k];
      }
      if (w0 == ".alert") {
        diag.error(where, msg);
      } else if (w0 == ".warning") {
        diag.warning(where, msg);
      }
      continue;
    }
    if (w0 == "setenv" || w0 == "presetenv") {
      if (words.size() != 3) {
        diag.error(where, "'" + w0 + "' expects a name and a value",
                   "syntax: " + w0 + " <name> <value>");
      } else if (w0 == "setenv" || !layered(words[1])) {
        overlay[words[1]] = words[2];
      }
    } else if (w0 == "unsetenv") {
      for (size_t k = 1; k < words.size(); ++k) {
        overlay[words[k]] = std::nullopt;
      }
    } else if (w0 == "resetenv") {
      std::map<std::string, std::optional<std::string>> kept;
      for (size_t k = 1; k < words.size(); ++k) {
        keptOnReset.insert(words[k]);
        auto it = overlay.find(words[k]);
        if (it != overlay.end()) {
          kept.insert(*it);
        }
      }
      overlay = std::move(kept);
      resetAll = true;
    }
    expandAddressVariables(words, layered);
    out.push_back({where, words});
  }
  for (const Level& l : levels) {
    diag.error(l.where, "'.if' is never closed by '.endif'");
  }
  return out;
}

std::vector<ConfigLine> readConfigFiles(const std::vector<std::string>& paths, const EnvLookup& env,
                                        core::Diagnostics& diag, std::vector<std::string>* loaded) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    if (core::isDirectory(p)) {
      for (const std::string& f : core::listDirectory(p)) {
        std::string name = f.substr(f.rfind('/') + 1);
        if (!name.empty() && name[0] != '.' && core::endsWith(name, ".cfg")) files.push_back(f);
      }
    } else {
      files.push_back(p);
    }
  }
  std::vector<ConfigLine> out;
  for (const std::string& f : files) {
    std::string text, error;
    if (!core::readFile(f, text, error)) {
      diag.error({f, 0}, "cannot open configuration file: " + error.substr(error.rfind(": ") + 2),
                 "check the path given to -f");
      continue;
    }
    std::vector<ConfigLine> lines = readConfigText(text, f, env, diag);
    out.insert(out.end(), std::make_move_iterator(lines.begin()),
               std::make_move_iterator(lines.end()));
    if (loaded) {
      loaded->push_back(f);
    }
  }
  return out;
}

}  // namespace sluice::config
