// SPDX-License-Identifier: Apache-2.0
// Pattern matching as HAProxy's ACLs and maps define it (manual §7.1): the
// match methods str, beg, end, sub, dom, dir, reg, int, ip, len, bin, bool
// and found, with "-i". One PatternIndex holds the patterns of an ACL, of an
// "-f" file, or of a map file (each pattern with its value).
//
// Which entry wins when several match, as in HAProxy: str and ip are trees
// (the finest match: exact string, longest prefix), beg is a prefix tree
// (longest prefix), the others are lists (the first in file order). Lookups
// in large files stay fast: str/beg/end/dom/dir are hashed and probed by the
// sample's own prefixes, suffixes or labels instead of scanning every entry.
//
//   PatternIndex idx(MatchMethod::End, /*ignoreCase=*/true);
//   idx.add(".example.com", "", error);
//   idx.lookup(Sample::ofStr("www.Example.com"));   // the entry, or nullptr
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "route/regex.h"
#include "route/sample.h"

namespace sluice::route {

enum class MatchMethod : uint8_t { Found, Bool, Int, Ip, Bin, Len, Str, Sub, Reg, Beg, End, Dom, Dir };

bool parseMatchMethod(std::string_view name, MatchMethod& out);
std::string_view toString(MatchMethod m);

// The sample type a method matches against (samples are cast to it first).
SampleType inputTypeOf(MatchMethod m);

struct PatternEntry {
  std::string key;     // as written
  std::string value;   // map value; empty for ACL patterns
  size_t order = 0;    // position in the file, 0-based
  int64_t low = 0;     // Int/Len: inclusive range
  int64_t high = 0;
  std::string bytes;   // Ip: network bytes; Bin: raw bytes
  int prefixLength = 0;
  std::shared_ptr<const Regex> regex;
};

class PatternIndex {
 public:
  PatternIndex(MatchMethod method, bool ignoreCase, bool dottedVersions = false)
      : method_(method), ignoreCase_(ignoreCase), dottedVersions_(dottedVersions) {}

  MatchMethod method() const { return method_; }
  bool ignoreCase() const { return ignoreCase_; }
  size_t size() const { return entries_.size(); }
  const std::vector<PatternEntry>& entries() const { return entries_; }

  // Adds a pattern (with its map value). False and `error` on a bad pattern.
  bool add(std::string_view pattern, std::string_view value, std::string& error);

  // The winning entry for a sample already cast to inputTypeOf(method()),
  // or nullptr. Found/Bool never hold entries: use matchesWithoutPatterns.
  const PatternEntry* lookup(const Sample& sample) const;

 private:
  std::string normalize(std::string_view s) const;
  const PatternEntry* byIndex(size_t i) const { return &entries_[i]; }

  MatchMethod method_;
  bool ignoreCase_;
  bool dottedVersions_;
  std::vector<PatternEntry> entries_;
  // Hashed forms: key (normalized) -> first entry index holding it.
  std::unordered_map<std::string, size_t> hashed_;
  std::vector<size_t> lengths_;  // distinct key lengths for beg/end, longest first
};

// Reads an "-f" pattern file: one pattern per line, '#' comments, blank lines
// skipped, leading and trailing blanks stripped. False and `error` on failure.
bool readPatternFile(const std::string& path, std::vector<std::string>& patterns,
                     std::string& error);

// Reads a map file: "key value..." per line (HAProxy manual, map converter).
bool readMapFile(const std::string& path, std::vector<std::pair<std::string, std::string>>& entries,
                 std::string& error);
// The same from text: '#' comments and blank lines skipped, the key is the
// first word, the value the rest of the line with blanks trimmed.
void parseMapText(std::string_view text, std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace sluice::route
