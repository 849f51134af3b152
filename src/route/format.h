// SPDX-License-Identifier: Apache-2.0
// Format strings in HAProxy's log-format syntax (manual §8.2.6): literal
// text, "%[sample expression]", and "%X" / "%{+Q}X" variables such as %ci or
// %Tt. Used by dynamic "use_backend %[...]" names and by log-format lines;
// the variables are resolved by whoever renders the string (observe/).
//
//   auto fmt = FormatString::parse("bk_%[req.ssl_sni,lower]", maps, error);
//   std::string name = fmt->renderSamples(view);   // "bk_app.example.com"
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "route/expression.h"

namespace sluice::route {

class FormatString {
 public:
  struct Segment {
    enum class Kind { Literal, Sample, Variable } kind = Kind::Literal;
    std::string text;                      // literal text, or the variable name ("ci", "Tt")
    std::shared_ptr<const SampleExpr> expr;
    bool quote = false;                    // %{+Q}
  };

  // `allowVariables` is false where only samples make sense (use_backend).
  static std::unique_ptr<FormatString> parse(std::string_view text, MapRegistry& maps,
                                             bool allowVariables, std::string& error);

  const std::vector<Segment>& segments() const { return segments_; }
  bool usesHello() const;
  bool isConstant() const;

  // Renders literal text and samples; a missing sample renders as empty.
  // Variables render as empty (callers that support them render themselves).
  std::string renderSamples(const SessionView& view) const;

 private:
  std::vector<Segment> segments_;
};

}  // namespace sluice::route
