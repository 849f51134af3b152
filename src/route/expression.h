// SPDX-License-Identifier: Apache-2.0
// Sample expressions: a fetch followed by converters, as HAProxy writes them
// ("req.ssl_sni,lower,map(/etc/haproxy/sni.map,bk_default)"). Parsed once
// when the configuration is loaded; evaluated per connection without I/O.
//
//   MapRegistry maps;
//   std::string error;
//   auto expr = SampleExpr::parse("req.ssl_sni,lower", maps, error);
//   Sample s;
//   if (expr->evaluate(view, 0, s)) use(s.text);
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "route/pattern.h"
#include "route/pattern_ref.h"
#include "route/sample.h"

namespace sluice::route {

// Loads map and pattern files once and shares them between every rule that
// names them (a map used by ten rules is read once, indexed once per match
// method). Every pattern list it hands out is a PatternRef that the runtime
// API can edit; refs are numbered in creation order ("#0", "#1", ...), as in
// "show map" and "show acl".
class MapRegistry {
 public:
  explicit MapRegistry(std::string basePath = {}) : basePath_(std::move(basePath)) {}

  // A map file indexed for `method`; nullptr and `error` when unreadable.
  std::shared_ptr<const LiveIndex> map(const std::string& path, MatchMethod method, bool ignoreCase,
                                       std::string& error, const std::string& usedBy = {});
  // The patterns of an ACL "-f" file (keys only when `asMap`, for "-M").
  std::shared_ptr<const LiveIndex> patternFile(const std::string& path, MatchMethod method,
                                               bool ignoreCase, bool dottedVersions, bool asMap,
                                               std::string& error, const std::string& usedBy = {});
  // The inline patterns of one ACL line.
  std::shared_ptr<const LiveIndex> inlinePatterns(const std::vector<std::string>& patterns,
                                                  MatchMethod method, bool ignoreCase,
                                                  bool dottedVersions, const std::string& description,
                                                  std::string& error);

  std::string resolve(const std::string& path) const;
  // Fuzzers forbid file access so that no input can name /dev/zero.
  void setFileAccess(bool allowed) { fileAccess_ = allowed; }
  const std::vector<std::string>& filesRead() const { return files_; }

  // For the runtime API: every ref, and lookup by path or "#<id>".
  const std::vector<std::shared_ptr<PatternRef>>& refs() const { return refs_; }
  std::shared_ptr<PatternRef> findRef(const std::string& nameOrId, bool maps) const;

  // The stick tables the configuration declares, so that fetches naming a
  // table ("src_conn_rate(st_src)") are checked when parsed. Unset: no check.
  void setTableNames(std::vector<std::string> names) {
    tableNames_ = std::move(names);
    checkTables_ = true;
  }
  // Whether the proxy whose expressions are being parsed declares a table
  // (src_* fetches without a table argument read it).
  void setOwnTable(bool has) { ownTable_ = has; }
  bool hasOwnTable() const { return !checkTables_ || ownTable_; }
  // The proxies the configuration declares (backends with their servers,
  // frontends), so that "srv_is_up(db/s1)" and "be_conn(db)" are checked
  // when parsed; and the proxy whose expressions are being parsed (its
  // servers for "srv_is_up(s1)"). Unset: no check.
  void setProxyNames(std::map<std::string, std::vector<std::string>> backends, std::set<std::string> frontends) {
    backends_ = std::move(backends);
    frontends_ = std::move(frontends);
    checkProxies_ = true;
  }
  void setCurrentProxy(std::string name) { currentProxy_ = std::move(name); }
  // Empty when `arg` names what `kind` asks for, else what is wrong.
  std::string checkProxyArg(char kind, const std::string& arg) const;
  bool knowsTable(const std::string& name) const {
    if (!checkTables_) return true;
    for (const auto& n : tableNames_) {
      if (n == name) return true;
    }
    return false;
  }

 private:
  std::string basePath_;
  std::map<std::string, std::shared_ptr<PatternRef>> byFile_;  // "map:" or "acl:" + path
  std::vector<std::shared_ptr<PatternRef>> refs_;
  std::vector<std::string> files_;
  std::vector<std::string> tableNames_;
  bool checkTables_ = false;
  std::map<std::string, std::vector<std::string>> backends_;
  std::set<std::string> frontends_;
  std::string currentProxy_;
  bool checkProxies_ = false;
  bool ownTable_ = false;
  bool fileAccess_ = true;
};

struct FetchDef;
struct ConverterCall;

struct ConverterDef {
  std::string_view name;
  SampleType input;
  SampleType output;
  int minArgs;
  int maxArgs;
  bool (*fn)(const ConverterCall&, Sample&);
  // Converters that read the session's context (the table_* converters
  // look keys up in stick tables) use this instead of `fn`.
  bool (*withView)(const ConverterCall&, const SessionView&, Sample&) = nullptr;
  uint16_t tag = 0;
  // A converter that judges a whole message (fix_is_valid...) may say its
  // answer will not change although its input still may; others keep the
  // input's "may change".
  bool settles = false;
};

struct Arg {
  std::string text;
  int64_t integer = 0;
  bool isInt = false;
};

struct ConverterCall {
  const ConverterDef* def = nullptr;
  std::vector<Arg> args;
  std::shared_ptr<const LiveIndex> map;  // map_* converters
  SampleType mapInput = SampleType::Str;
  SampleType mapOutput = SampleType::Str;
  bool hasDefault = false;
  std::string defaultValue;
};

class SampleExpr {
 public:
  // Parses "fetch[(args)][,converter[(args)]]...". nullptr and `error` on failure.
  static std::unique_ptr<SampleExpr> parse(std::string_view text, MapRegistry& maps,
                                           std::string& error);

  // Evaluates value number `index` (fetches like req.ssl_alpn return several).
  // Returns false when there is no such value; out.mayChange then says
  // whether one may still come.
  bool evaluate(const SessionView& view, size_t index, Sample& out) const;

  SampleType outputType() const { return outputType_; }
  const FetchDef& fetch() const { return *fetch_; }
  bool usesHello() const;
  bool usesPayload() const;
  const std::string& text() const { return text_; }

 private:
  const FetchDef* fetch_ = nullptr;
  std::vector<Arg> fetchArgs_;
  std::vector<ConverterCall> converters_;
  SampleType outputType_ = SampleType::None;
  std::string text_;
};

struct FetchDef {
  std::string_view name;
  SampleType type;
  int minArgs;
  int maxArgs;
  bool usesHello;
  bool usesPayload;
  bool dottedVersions;  // ACL patterns are MAJOR.MINOR (req.ssl_ver)
  bool (*fn)(const SessionView&, const std::vector<Arg>&, size_t index, Sample& out);
  // Families of fetches that share one function (the stick counters:
  // sc0_conn_rate, src_get_gpc0, ...) use `tagged` with their tag instead.
  bool (*tagged)(uint16_t tag, const SessionView&, const std::vector<Arg>&, size_t index,
                 Sample& out) = nullptr;
  uint16_t tag = 0;
  int tableArg = -1;    // the argument that names a stick table, if any
  // The argument that names a backend ('B'), a frontend ('F') or a server
  // as "<backend>/<server>" or "<server>" of the proxy ('S'): checked when
  // parsed, as HAProxy does.
  char proxyArg = 0;
  int counterArg = -1;  // the argument that numbers a tracked counter (sc_*)
  bool ownTable = false;  // without a table argument, reads the proxy's own table
};

// The backend and server a server argument names: "<backend>/<server>",
// or "<server>" of `current` (the proxy whose rules run).
inline std::pair<std::string_view, std::string_view> serverRef(std::string_view arg, std::string_view current) {
  const size_t slash = arg.find('/');
  if (slash == std::string_view::npos) return {current, arg};
  return {arg.substr(0, slash), arg.substr(slash + 1)};
}

const FetchDef* findFetch(std::string_view name);
// The stick counter fetches and table_* converters (route/stick_fetch.cc).
const std::vector<FetchDef>& stickFetches();
const std::vector<ConverterDef>& stickConverters();
// The fetches of proxy and server state (route/state_fetch.cc).
const std::vector<FetchDef>& stateFetches();
std::vector<std::string_view> fetchNames();

// Splits "name(a,b)" into name and raw argument strings (quotes and escapes
// of the second level resolved). False and `error` on unbalanced syntax.
bool splitCall(std::string_view text, std::string& name, std::vector<std::string>& args,
               std::string& error);

}  // namespace sluice::route
