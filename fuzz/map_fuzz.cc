// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: map files. The first byte picks a match method and case
// handling; the rest is the file's text. Every entry the index accepts is
// then looked up by its own key, and the answer must be consistent with the
// method: str finds an entry with that very key, beg/end an entry that is a
// prefix/suffix of it, and no lookup may crash or loop.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "route/pattern.h"
#include "route/sample.h"

using sluice::route::MatchMethod;

namespace {

constexpr MatchMethod kMethods[] = {MatchMethod::Str, MatchMethod::Beg, MatchMethod::End, MatchMethod::Sub,
                                    MatchMethod::Dom, MatchMethod::Dir, MatchMethod::Reg, MatchMethod::Int,
                                    MatchMethod::Ip};

bool sameText(const std::string& a, const std::string& b, bool icase) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (icase) {
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  MatchMethod method = kMethods[data[0] % (sizeof kMethods / sizeof kMethods[0])];
  bool icase = (data[0] & 0x80) != 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::pair<std::string, std::string>> entries;
  sluice::route::parseMapText(text, entries);
  sluice::route::PatternIndex index(method, icase);
  std::vector<std::string> accepted;
  for (const auto& [key, value] : entries) {
    std::string error;
    if (index.add(key, value, error)) accepted.push_back(key);
  }
  sluice::route::SampleType input = sluice::route::inputTypeOf(method);
  for (const std::string& key : accepted) {
    sluice::route::Sample s = sluice::route::Sample::ofStr(key);
    if (!sluice::route::castSample(s, input)) continue;
    const sluice::route::PatternEntry* e = index.lookup(s);
    if (method == MatchMethod::Str && (!e || !sameText(e->key, key, icase))) abort();
    if (method == MatchMethod::Beg && e && !sameText(key.substr(0, e->key.size()), e->key, icase)) abort();
    if (method == MatchMethod::End && e &&
        (e->key.size() > key.size() || !sameText(key.substr(key.size() - e->key.size()), e->key, icase))) {
      abort();
    }
  }
  return 0;
}
