// SPDX-License-Identifier: Apache-2.0
// log-format style strings; see format.h.
#include "route/format.h"

#include <cctype>

namespace sluice::route {

std::unique_ptr<FormatString> FormatString::parse(std::string_view text, MapRegistry& maps,
                                                  bool allowVariables, std::string& error) {
  auto fmt = std::make_unique<FormatString>();
  std::string literal;
  auto flushLiteral = [&] {
    if (!literal.empty()) {
      Segment s;
      s.text = literal;
      fmt->segments_.push_back(std::move(s));
      literal.clear();
    }
  };
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '%') {
      literal.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) {
      error = "'%' at the end of the format string (write '%%' for a percent sign)";
      return nullptr;
    }
    if (text[i + 1] == '%') {
      literal.push_back('%');
      i += 2;
      continue;
    }
    bool quote = false;
    size_t j = i + 1;
    if (text[j] == '{') {
      size_t close = text.find('}', j);
      if (close == std::string_view::npos) {
        error = "missing '}' after '%{'";
        return nullptr;
      }
      std::string_view flags = text.substr(j + 1, close - j - 1);
      quote = flags.find("+Q") != std::string_view::npos;
      j = close + 1;
    }
    if (j < text.size() && text[j] == '[') {
      // Find the matching ']' (expressions may contain brackets in quotes).
      int depth = 0;
      size_t k = j;
      char q = 0;
      for (; k < text.size(); ++k) {
        char ch = text[k];
        if (q) {
          if (ch == q) q = 0;
          continue;
        }
        if (ch == '"' || ch == '\'') q = ch;
        if (ch == '[') ++depth;
        if (ch == ']' && --depth == 0) break;
      }
      if (k >= text.size()) {
        error = "missing ']' after '%['";
        return nullptr;
      }
      flushLiteral();
      Segment s;
      s.kind = Segment::Kind::Sample;
      s.quote = quote;
      auto expr = SampleExpr::parse(text.substr(j + 1, k - j - 1), maps, error);
      if (!expr) return nullptr;
      s.expr = std::move(expr);
      fmt->segments_.push_back(std::move(s));
      i = k + 1;
      continue;
    }
    size_t k = j;
    while (k < text.size() && (std::isalnum(static_cast<unsigned char>(text[k])) || text[k] == '_')) {
      ++k;
    }
    if (k == j) {
      error = "'%' must be followed by a variable, '[' or '%'";
      return nullptr;
    }
    if (!allowVariables) {
      error = "log variables like '%" + std::string(text.substr(j, k - j)) +
              "' are not allowed here; use %[<sample>]";
      return nullptr;
    }
    flushLiteral();
    Segment s;
    s.kind = Segment::Kind::Variable;
    s.text = std::string(text.substr(j, k - j));
    s.quote = quote;
    fmt->segments_.push_back(std::move(s));
    i = k;
  }
  flushLiteral();
  return fmt;
}

bool FormatString::usesHello() const {
  for (const Segment& s : segments_) {
    if (s.kind == Segment::Kind::Sample && s.expr->usesHello()) return true;
  }
  return false;
}

bool FormatString::isConstant() const {
  for (const Segment& s : segments_) {
    if (s.kind != Segment::Kind::Literal) return false;
  }
  return true;
}

std::string FormatString::renderSamples(const SessionView& view) const {
  std::string out;
  for (const Segment& s : segments_) {
    if (s.kind == Segment::Kind::Literal) {
      out += s.text;
    } else if (s.kind == Segment::Kind::Sample) {
      Sample v;
      if (s.expr->evaluate(view, 0, v)) {
        out += sampleToString(v);
      }
    }
  }
  return out;
}

}  // namespace sluice::route
