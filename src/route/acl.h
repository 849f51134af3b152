// SPDX-License-Identifier: Apache-2.0
// ACLs and conditions (HAProxy manual §7): "acl NAME FETCH [flags] PATTERNS",
// conditions made of named or inline "{ ... }" ACLs joined by implicit AND,
// "||"/"or", and "!", after "if" or "unless".
//
// Evaluation is three-valued, as in HAProxy: Pass, Fail, or Miss ("not yet:
// the data this depends on may still arrive"). A rule whose condition is a
// Miss waits for more data until the inspection window closes.
//
//   AclScope scope(maps);
//   scope.define(aclConfigs, diag);                 // the proxy's acl lines
//   auto cond = scope.compileCondition({"if", "{", "req.ssl_sni", "-i", "a.com", "}"}, error);
//   if (cond->evaluate(view) == Tri::Pass) ...
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "core/diagnostics.h"
#include "route/expression.h"
#include "route/pattern.h"

namespace sluice::route {

// Values chosen so that AND is bitwise & and OR is bitwise | (as HAProxy).
enum class Tri : uint8_t { Fail = 0, Miss = 1, Pass = 3 };

// One "acl" line (or inline ACL): an expression, a match method, patterns.
struct AclTerm {
  std::unique_ptr<SampleExpr> expr;
  MatchMethod method = MatchMethod::Str;
  std::vector<std::shared_ptr<const LiveIndex>> patterns;  // inline patterns and -f files
  bool emptyPatterns = true;  // no pattern at all: never matches (except found/bool)
  Tri evaluate(const SessionView& view) const;
};

// A named ACL: the OR of every "acl" line with that name.
struct Acl {
  std::string name;
  std::vector<std::shared_ptr<const AclTerm>> terms;
  Tri evaluate(const SessionView& view) const;
  bool usesHello() const;
  bool usesPayload() const;
};

class Condition {
 public:
  struct Ref {
    bool negate = false;
    std::shared_ptr<const Acl> acl;
  };

  // Pass/Fail/Miss with "unless" already applied (a Miss stays a Miss).
  Tri evaluate(const SessionView& view) const;
  bool usesHello() const;
  bool usesPayload() const;
  bool isUnless() const { return unless_; }

 private:
  friend class AclScope;
  bool unless_ = false;
  std::vector<std::vector<Ref>> alternatives_;  // OR of ANDs
};

class AclScope {
 public:
  explicit AclScope(MapRegistry& maps) : maps_(maps) {}

  // Where the next compiled terms come from, for "show acl" descriptions.
  void at(const core::SourceLocation& where) { where_ = where; }

  // Compiles the proxy's "acl" lines; errors go to `diag` with their file:line.
  void define(const std::vector<config::AclConfig>& acls, core::Diagnostics& diag);

  // Compiles "if|unless <terms>"; an empty word list yields nullptr without
  // error (an unconditional rule).
  std::unique_ptr<Condition> compileCondition(const std::vector<std::string>& words,
                                              std::string& error);

  // Compiles one ACL body: "<fetch> [flags] [patterns]".
  std::shared_ptr<const AclTerm> compileTerm(const std::vector<std::string>& words,
                                             std::string& error);

 private:
  std::shared_ptr<const Acl> lookup(const std::string& name, std::string& error);

  MapRegistry& maps_;
  core::SourceLocation where_;
  std::map<std::string, std::shared_ptr<Acl>> named_;
};

}  // namespace sluice::route
