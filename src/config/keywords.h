// SPDX-License-Identifier: Apache-2.0
// The keyword tables of the configuration parser: for each kind of section,
// every keyword sluice knows, the sections it is allowed in, how it is
// treated, and the Parser member that reads it. Dispatch, "did you mean"
// and knownKeywords() (the documentation test) all read these tables.
#pragma once

#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/lexer.h"
#include "config/model.h"

namespace sluice::config::detail {

class Parser;

// The proxy sections a keyword is allowed in.
enum : unsigned {
  kDefaults = 1,
  kFrontend = 2,
  kListen = 4,
  kBackend = 8,
  kFe = kFrontend | kListen,
  kBe = kBackend | kListen,
  kAll = kDefaults | kFrontend | kListen | kBackend,
  kDfFe = kDefaults | kFe,
  kDfBe = kDefaults | kBe,
};

struct Keyword {
  std::string_view name;
  unsigned where;              // proxy sections it is allowed in (kAll in the global section)
  std::string_view treatment;  // supported, parsed, ignored, unsupported, "sluice's own"
  std::string_view note;       // why ignored or unsupported; for a removed keyword, what replaces it
  void (Parser::*read)(const ConfigLine&) = nullptr;  // none: the treatment says everything
  bool prefix = false;                                // stands for every keyword that starts with `name` ("tune.")
  bool removed = false;                               // removed from HAProxy: an error naming `note` instead
};

class KeywordTable {
 public:
  explicit KeywordTable(std::vector<Keyword> entries);
  // The entry of `word`: its own, else the longest prefix entry, else null.
  const Keyword* find(std::string_view word) const;
  // What "did you mean" may propose: no prefix entries, no removed keywords.
  const std::vector<std::string_view>& suggestions() const { return suggestions_; }
  const std::vector<Keyword>& entries() const { return entries_; }

 private:
  std::vector<Keyword> entries_;
  std::unordered_map<std::string_view, size_t> byName_;
  std::vector<size_t> prefixes_;
  std::vector<std::string_view> suggestions_;
};

const KeywordTable& globalKeywordTable();
const KeywordTable& proxyKeywordTable();
const KeywordTable& resolversKeywordTable();
const KeywordTable& peersKeywordTable();

// Options and HAProxy keywords with nothing to read: a name and a treatment.
struct Known {
  std::string_view name;
  std::string_view treatment;  // "supported", "ignored" or "unsupported"
  std::string_view note;
};

// Server and bind parameters. Those of listeners sluice cannot serve (TLS
// terminating ones) are known by name only.
struct ParamSpec {
  std::string_view name;
  int args;                    // number of arguments the parameter takes
  std::string_view treatment;  // supported, parsed, ignored, unsupported
  std::string_view note;
};

struct ServerParamRead;
struct BindParamRead;

struct ServerParam {
  std::string_view name;
  int args;
  std::string_view treatment;
  std::string_view note;
  bool (*read)(ServerParamRead&) = nullptr;  // false: stop reading the line (after an error)
};

struct BindParam {
  std::string_view name;
  int args;
  std::string_view treatment;
  std::string_view note;
  bool (*read)(BindParamRead&) = nullptr;
};

extern const std::vector<std::string_view> kSupportedOptions;
extern const std::vector<Known> kHttpOptions;
extern const std::vector<ServerParam> kServerParams;  // server.cc
extern const std::vector<BindParam> kBindParams;      // bind.cc
// Bind parameters that only make sense when the proxy terminates TLS. Their
// presence means this listener is a TLS-terminating one.
extern const std::vector<ParamSpec> kBindTlsParams;

const Known* findKnown(const std::vector<Known>& list, std::string_view name);

template <class Param>
const Param* findParam(const std::vector<Param>& list, std::string_view name) {
  for (const Param& p : list) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

template <class Param>
std::vector<std::string_view> paramNames(const std::vector<Param>& list) {
  std::vector<std::string_view> out;
  for (const Param& p : list) out.push_back(p.name);
  return out;
}

// The check an "option" selects, or nullopt when it selects none.
std::optional<ProxyConfig::CheckKind> checkOption(std::string_view name);

}  // namespace sluice::config::detail
