// SPDX-License-Identifier: Apache-2.0
// Small string helpers; see strings.h.
#include "core/strings.h"

#include <algorithm>
#include <charconv>

namespace sluice::core {

std::optional<int64_t> parseInt(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return std::nullopt;
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > uint64_t{INT64_MAX}) {
    return std::nullopt;
  }
  return negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

std::optional<uint64_t> parseUnsigned(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return std::nullopt;
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Optimal string alignment distance: insertions, deletions, substitutions
// and swaps of two neighbouring letters (the commonest typo) cost one each.
// Three rolling rows, so a long word costs no allocation per cell.
size_t editDistance(std::string_view a, std::string_view b) {
  const size_t m = b.size();
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = asciiLower(a[i - 1]) == asciiLower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && asciiLower(a[i - 1]) == asciiLower(b[j - 2]) &&
          asciiLower(a[i - 2]) == asciiLower(b[j - 1])) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

namespace {

// editDistance limited to `limit`: cells farther than `limit` from the
// diagonal cannot lead to a result within it, and a row whose best cell is
// beyond it ends the search. Returns limit + 1 when the words are farther.
size_t boundedDistance(std::string_view a, std::string_view b, size_t limit) {
  const size_t n = a.size();
  const size_t m = b.size();
  const size_t big = limit + 1;
  std::vector<size_t> prev2(m + 1, big), prev(m + 1, big), cur(m + 1, big);
  for (size_t j = 0; j <= m && j <= limit; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    std::fill(cur.begin(), cur.end(), big);
    if (i <= limit) cur[0] = i;
    size_t lo = i > limit ? i - limit : 1;
    size_t hi = std::min(m, i + limit);
    size_t rowBest = cur[0];
    for (size_t j = lo; j <= hi; ++j) {
      size_t cost = asciiLower(a[i - 1]) == asciiLower(b[j - 1]) ? 0 : 1;
      size_t v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && asciiLower(a[i - 1]) == asciiLower(b[j - 2]) &&
          asciiLower(a[i - 2]) == asciiLower(b[j - 1])) {
        v = std::min(v, prev2[j - 2] + 1);
      }
      cur[j] = std::min(v, big);
      rowBest = std::min(rowBest, cur[j]);
    }
    if (rowBest > limit) return big;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return std::min(prev[m], big);
}

}  // namespace

std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates) {
  // Allow about one typo per four letters, at least one, at most three.
  size_t allowed = std::min<size_t>(3, std::max<size_t>(1, word.size() / 4));
  size_t best = SIZE_MAX;
  std::string_view bestWord;
  for (std::string_view c : candidates) {
    size_t lengthGap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (lengthGap > allowed) continue;  // cannot be close enough
    size_t d = boundedDistance(word, c, allowed);
    if (d < best) {
      best = d;
      bestWord = c;
    }
  }
  if (best <= allowed && best < word.size()) {
    return std::string(bestWord);
  }
  return {};
}

std::string hexEncode(std::string_view bytes) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string escapeForLog(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '#' || c == ' ') {
      out.push_back('#');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace sluice::core
