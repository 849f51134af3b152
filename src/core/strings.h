// SPDX-License-Identifier: Apache-2.0
// Small string helpers shared by the configuration reader, the rule compiler
// and the log writer: strict number parsing, case folding, edit distance for
// "did you mean" hints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

inline char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline char asciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

// The value of one hexadecimal digit, or -1.
inline int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = asciiLower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

inline std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = asciiLower(c);
  }
  return out;
}

inline std::string toUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = asciiUpper(c);
  }
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) {
      return false;
    }
  }
  return true;
}

inline bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

inline bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

inline std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    return {};
  }
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Parses a whole string as a decimal integer (optional sign); nothing else may follow.
std::optional<int64_t> parseInt(std::string_view s);
// Parses a whole string as an unsigned decimal, hexadecimal (0x) or octal (0) integer.
std::optional<uint64_t> parseUnsigned(std::string_view s);

std::vector<std::string_view> split(std::string_view s, char sep);

// Levenshtein distance, for "did you mean" suggestions.
size_t editDistance(std::string_view a, std::string_view b);

// The closest candidate within a small distance of `word`, or empty.
std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates);

// Upper-case hexadecimal of every byte ("AB01"), the form HAProxy prints binary samples in.
std::string hexEncode(std::string_view bytes);

// Escapes bytes that must not reach a log line raw (HAProxy writes them as #XX).
std::string escapeForLog(std::string_view s);

}  // namespace sluice::core
