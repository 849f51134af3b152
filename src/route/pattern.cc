// SPDX-License-Identifier: Apache-2.0
// Pattern matching for ACLs and maps; see pattern.h.
#include "route/pattern.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/files.h"
#include "core/strings.h"

namespace sluice::route {

namespace {

bool isDomDelimiter(char c) { return c == '/' || c == '?' || c == '.' || c == ':'; }

bool parseIntRange(std::string_view text, bool dotted, int64_t& low, int64_t& high,
                   std::string& error) {
  auto one = [&](std::string_view s, int64_t& out) -> bool {
    if (dotted) {
      size_t dot = s.find('.');
      auto major = core::parseInt(s.substr(0, dot));
      int64_t minor = 0;
      if (dot != std::string_view::npos) {
        auto m = core::parseInt(s.substr(dot + 1));
        if (!m) return false;
        minor = *m;
      }
      if (!major || *major < 0 || minor < 0 || minor > 65535) return false;
      out = (*major << 16) | minor;
      return true;
    }
    auto v = core::parseInt(s);
    if (!v) return false;
    out = *v;
    return true;
  };
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    if (!one(text, low)) {
      error = "'" + std::string(text) + "' is not " + (dotted ? "a version like 3.1" : "an integer");
      return false;
    }
    high = low;
    return true;
  }
  std::string_view a = text.substr(0, colon);
  std::string_view b = text.substr(colon + 1);
  low = INT64_MIN;
  high = INT64_MAX;
  if ((!a.empty() && !one(a, low)) || (!b.empty() && !one(b, high)) || (a.empty() && b.empty())) {
    error = "'" + std::string(text) + "' is not a valid range (use N, N:M, :M or N:)";
    return false;
  }
  return true;
}

bool parseNetwork(std::string_view text, PatternEntry& e, std::string& error) {
  std::string_view addr = text;
  int prefix = -1;
  size_t slash = text.find('/');
  std::string maskText;
  if (slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    maskText = std::string(text.substr(slash + 1));
  }
  std::string a(addr);
  auto parsed = core::Address::parse(a.find(':') != std::string::npos ? "[" + a + "]" : a);
  if (!parsed) {
    error = "'" + std::string(text) + "' is not an IPv4 or IPv6 address or network";
    return false;
  }
  core::Address unm = parsed->unmapped();
  e.bytes = std::string(unm.rawBytes());
  int maxBits = static_cast<int>(e.bytes.size() * 8);
  if (!maskText.empty()) {
    if (auto n = core::parseInt(maskText)) {
      prefix = static_cast<int>(*n);
    } else if (auto m = core::Address::parse(maskText); m && m->isV4() && e.bytes.size() == 4) {
      // Dotted netmask: count its leading ones.
      auto raw = m->rawBytes();
      uint32_t v = (uint32_t{static_cast<uint8_t>(raw[0])} << 24) |
                   (uint32_t{static_cast<uint8_t>(raw[1])} << 16) |
                   (uint32_t{static_cast<uint8_t>(raw[2])} << 8) | static_cast<uint8_t>(raw[3]);
      prefix = 0;
      while (prefix < 32 && (v & (0x80000000u >> prefix))) ++prefix;
    } else {
      error = "invalid netmask in '" + std::string(text) + "'";
      return false;
    }
    if (prefix < 0 || prefix > maxBits) {
      error = "prefix length out of range in '" + std::string(text) + "'";
      return false;
    }
  } else {
    prefix = maxBits;
  }
  e.prefixLength = prefix;
  return true;
}

bool prefixMatches(std::string_view addr, const std::string& net, int bits) {
  if (addr.size() != net.size()) return false;
  int full = bits / 8;
  if (std::memcmp(addr.data(), net.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (static_cast<uint8_t>(addr[static_cast<size_t>(full)]) & mask) ==
         (static_cast<uint8_t>(net[static_cast<size_t>(full)]) & mask);
}

bool parseHex(std::string_view text, std::string& out) {
  if (text.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = core::hexDigit(text[i]);
    int lo = core::hexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

}  // namespace

bool parseMatchMethod(std::string_view name, MatchMethod& out) {
  static const std::pair<std::string_view, MatchMethod> kNames[] = {
      {"found", MatchMethod::Found}, {"bool", MatchMethod::Bool}, {"int", MatchMethod::Int},
      {"ip", MatchMethod::Ip},       {"bin", MatchMethod::Bin},   {"len", MatchMethod::Len},
      {"str", MatchMethod::Str},     {"sub", MatchMethod::Sub},   {"reg", MatchMethod::Reg},
      {"beg", MatchMethod::Beg},     {"end", MatchMethod::End},   {"dom", MatchMethod::Dom},
      {"dir", MatchMethod::Dir}};
  for (const auto& [n, m] : kNames) {
    if (n == name) {
      out = m;
      return true;
    }
  }
  return false;
}

std::string_view toString(MatchMethod m) {
  switch (m) {
    case MatchMethod::Found: return "found";
    case MatchMethod::Bool: return "bool";
    case MatchMethod::Int: return "int";
    case MatchMethod::Ip: return "ip";
    case MatchMethod::Bin: return "bin";
    case MatchMethod::Len: return "len";
    case MatchMethod::Str: return "str";
    case MatchMethod::Sub: return "sub";
    case MatchMethod::Reg: return "reg";
    case MatchMethod::Beg: return "beg";
    case MatchMethod::End: return "end";
    case MatchMethod::Dom: return "dom";
    case MatchMethod::Dir: return "dir";
  }
  return "?";
}

SampleType inputTypeOf(MatchMethod m) {
  switch (m) {
    case MatchMethod::Found: return SampleType::None;
    case MatchMethod::Bool: return SampleType::Bool;
    case MatchMethod::Int: return SampleType::Int;
    case MatchMethod::Ip: return SampleType::Ip;
    case MatchMethod::Bin: return SampleType::Bin;
    default: return SampleType::Str;
  }
}

std::string PatternIndex::normalize(std::string_view s) const {
  return ignoreCase_ ? core::toLower(s) : std::string(s);
}

bool PatternIndex::add(std::string_view pattern, std::string_view value, std::string& error) {
  PatternEntry e;
  e.key = std::string(pattern);
  e.value = std::string(value);
  e.order = entries_.size();
  switch (method_) {
    case MatchMethod::Found:
    case MatchMethod::Bool:
      error = "'-m " + std::string(toString(method_)) + "' takes no pattern, found '" +
              std::string(pattern) + "'";
      return false;
    case MatchMethod::Int:
    case MatchMethod::Len: {
      // "gt 5" style comes in as one pattern from the ACL compiler.
      std::string_view p = pattern;
      std::string op;
      size_t sp = p.find(' ');
      if (sp != std::string_view::npos) {
        op = std::string(p.substr(0, sp));
        p = core::trim(p.substr(sp + 1));
      }
      int64_t low = 0;
      int64_t high = 0;
      if (!parseIntRange(p, dottedVersions_, low, high, error)) return false;
      if (!op.empty()) {
        if (low != high) {
          error = "operator '" + op + "' needs a single value, not a range";
          return false;
        }
        if (op == "eq") {
        } else if (op == "ge") {
          high = INT64_MAX;
        } else if (op == "gt") {
          low = low + 1;
          high = INT64_MAX;
        } else if (op == "le") {
          low = INT64_MIN;
        } else if (op == "lt") {
          high = low - 1;
          low = INT64_MIN;
        } else {
          error = "unknown operator '" + op + "' (use eq, ge, gt, le or lt)";
          return false;
        }
      }
      e.low = low;
      e.high = high;
      break;
    }
    case MatchMethod::Ip:
      if (!parseNetwork(pattern, e, error)) return false;
      break;
    case MatchMethod::Bin:
      if (!parseHex(pattern, e.bytes)) {
        error = "'" + std::string(pattern) + "' is not hexadecimal (binary patterns are written in hex)";
        return false;
      }
      break;
    case MatchMethod::Reg:
      e.regex = Regex::compile(pattern, ignoreCase_, error);
      if (!e.regex) return false;
      break;
    case MatchMethod::Str:
    case MatchMethod::Beg:
    case MatchMethod::End: {
      std::string k = normalize(pattern);
      if (hashed_.find(k) == hashed_.end()) {
        hashed_[k] = entries_.size();
        if (method_ != MatchMethod::Str &&
            std::find(lengths_.begin(), lengths_.end(), k.size()) == lengths_.end()) {
          lengths_.push_back(k.size());
          std::sort(lengths_.rbegin(), lengths_.rend());
        }
      }
      break;
    }
    case MatchMethod::Dom:
    case MatchMethod::Dir: {
      // Delimiters at the ends of the pattern are ignored (manual §7.1.3).
      auto isDelim = [this](char c) { return method_ == MatchMethod::Dir ? c == '/' : isDomDelimiter(c); };
      std::string_view p = pattern;
      while (!p.empty() && isDelim(p.front())) p.remove_prefix(1);
      while (!p.empty() && isDelim(p.back())) p.remove_suffix(1);
      std::string k = normalize(p);
      if (!k.empty() && hashed_.find(k) == hashed_.end()) {
        hashed_[k] = entries_.size();
      }
      break;
    }
    case MatchMethod::Sub:
      e.bytes = normalize(pattern);
      break;
  }
  entries_.push_back(std::move(e));
  return true;
}

const PatternEntry* PatternIndex::lookup(const Sample& sample) const {
  switch (method_) {
    case MatchMethod::Found:
    case MatchMethod::Bool:
      return nullptr;
    case MatchMethod::Int:
    case MatchMethod::Len: {
      int64_t v = method_ == MatchMethod::Len ? static_cast<int64_t>(sample.text.size())
                                              : sample.integer;
      for (const PatternEntry& e : entries_) {
        if (v >= e.low && v <= e.high) return &e;
      }
      return nullptr;
    }
    case MatchMethod::Ip: {
      std::string_view addr = sample.ip.rawBytes();
      std::string mapped;
      const PatternEntry* best = nullptr;
      for (const PatternEntry& e : entries_) {
        std::string_view a = addr;
        if (e.bytes.size() == 16 && addr.size() == 4) {
          mapped = std::string(10, '\0') + std::string("\xff\xff", 2) + std::string(addr);
          a = mapped;
        }
        if (prefixMatches(a, e.bytes, e.prefixLength) &&
            (!best || e.prefixLength > best->prefixLength)) {
          best = &e;
        }
      }
      return best;
    }
    case MatchMethod::Bin:
      for (const PatternEntry& e : entries_) {
        if (e.bytes == sample.text) return &e;
      }
      return nullptr;
    case MatchMethod::Reg:
      for (const PatternEntry& e : entries_) {
        if (e.regex->matches(sample.text)) return &e;
      }
      return nullptr;
    case MatchMethod::Sub: {
      std::string s = normalize(sample.text);
      for (const PatternEntry& e : entries_) {
        if (s.find(e.bytes) != std::string::npos) return &e;
      }
      return nullptr;
    }
    case MatchMethod::Str: {
      auto it = hashed_.find(normalize(sample.text));
      return it == hashed_.end() ? nullptr : byIndex(it->second);
    }
    case MatchMethod::Beg: {
      std::string s = normalize(sample.text);
      const PatternEntry* first = nullptr;
      for (size_t len : lengths_) {  // longest first
        if (len > s.size()) continue;
        auto it = hashed_.find(s.substr(0, len));
        if (it == hashed_.end()) continue;
        if (!ignoreCase_) return byIndex(it->second);  // prefix tree: longest wins
        if (!first || it->second < first->order) first = byIndex(it->second);
      }
      return first;
    }
    case MatchMethod::End: {
      std::string s = normalize(sample.text);
      const PatternEntry* first = nullptr;
      for (size_t len : lengths_) {
        if (len > s.size()) continue;
        auto it = hashed_.find(s.substr(s.size() - len));
        if (it != hashed_.end() && (!first || it->second < first->order)) {
          first = byIndex(it->second);
        }
      }
      return first;
    }
    case MatchMethod::Dom:
    case MatchMethod::Dir: {
      std::string s = normalize(sample.text);
      auto isDelim = [this](char c) { return method_ == MatchMethod::Dir ? c == '/' : isDomDelimiter(c); };
      // Label boundaries: starts (0 and after each delimiter), ends (before
      // each delimiter and the end). Every start/end pair is a candidate.
      std::vector<size_t> starts{0};
      std::vector<size_t> ends;
      for (size_t i = 0; i < s.size(); ++i) {
        if (isDelim(s[i])) {
          ends.push_back(i);
          starts.push_back(i + 1);
        }
      }
      ends.push_back(s.size());
      if (starts.size() > 64) {
        // A sample with an absurd number of labels: fall back to scanning.
        starts.resize(64);
      }
      const PatternEntry* first = nullptr;
      for (size_t b : starts) {
        for (size_t e : ends) {
          if (e <= b) continue;
          auto it = hashed_.find(s.substr(b, e - b));
          if (it != hashed_.end() && (!first || it->second < first->order)) {
            first = byIndex(it->second);
          }
        }
      }
      return first;
    }
  }
  return nullptr;
}

bool readPatternFile(const std::string& path, std::vector<std::string>& patterns,
                     std::string& error) {
  std::string text;
  if (!core::readFile(path, text, error)) {
    error = "cannot open pattern file '" + path + "': " + error.substr(error.rfind(": ") + 2);
    return false;
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t = core::trim(line);
    if (t.empty() || t[0] == '#') continue;
    patterns.emplace_back(t);
  }
  return true;
}

bool readMapFile(const std::string& path, std::vector<std::pair<std::string, std::string>>& entries,
                 std::string& error) {
  std::string text;
  if (!core::readFile(path, text, error)) {
    error = "cannot open map file '" + path + "': " + error.substr(error.rfind(": ") + 2);
    return false;
  }
  parseMapText(text, entries);
  return true;
}

void parseMapText(std::string_view text, std::vector<std::pair<std::string, std::string>>& entries) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    std::string_view t = core::trim(line);
    if (t.empty() || t[0] == '#') continue;
    size_t sp = t.find_first_of(" \t");
    std::string_view key = t.substr(0, sp);
    std::string_view value = sp == std::string_view::npos ? std::string_view() : core::trim(t.substr(sp));
    entries.emplace_back(key, value);
  }
}

}  // namespace sluice::route
