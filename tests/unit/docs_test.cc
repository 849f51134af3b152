// SPDX-License-Identifier: Apache-2.0
// Keeps docs/configuration.md true: every keyword the parser knows appears
// there, in a table row that states the same treatment.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/parser.h"

namespace sluice::config {
namespace {

TEST(Docs, EveryKnownKeywordIsDocumentedWithItsTreatment) {
  std::ifstream in(std::string(SLUICE_TEST_DATA_DIR) + "/../../docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (const KeywordInfo& k : knownKeywords()) {
    std::string row = "| `" + k.name + "` | " + k.treatment + " |";
    EXPECT_NE(doc.find(row), std::string::npos)
        << "docs/configuration.md has no row \"" << row << "\" (" << k.section << " keyword)";
  }
}

}  // namespace
}  // namespace sluice::config
