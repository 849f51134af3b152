// SPDX-License-Identifier: Apache-2.0
// Regex: a PCRE2 pattern compiled once (with JIT where available) for -m reg
// and map_reg. PCRE2 is what HAProxy uses, so patterns written for HAProxy
// mean the same here; unlike std::regex it does not recurse on the stack per
// input byte, so a hostile SNI cannot exhaust the stack.
//
//   auto re = Regex::compile("^www\\.", /*caseless=*/true, error);
//   if (re && re->matches("WWW.example.com")) ...
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace sluice::route {

class Regex {
 public:
  static std::shared_ptr<const Regex> compile(std::string_view pattern, bool caseless,
                                              std::string& error);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  bool matches(std::string_view subject) const;
  const std::string& pattern() const { return pattern_; }
  static std::string libraryVersion();  // PCRE2's, for -vv

 private:
  Regex() = default;
  void* code_ = nullptr;  // pcre2_code_8*
  std::string pattern_;
};

}  // namespace sluice::route
