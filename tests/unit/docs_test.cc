// SPDX-License-Identifier: Apache-2.0
// Keeps docs/configuration.md true: every keyword in the parser's tables
// (knownKeywords(), the same data that dispatches and suggests) has a row in
// the part of the document for its kind of section, stating the same
// treatment. A row may spell its keyword with a syntax ("`log <target> ...`")
// and may list several ("`user`, `group`").
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/parser.h"

namespace sluice::config {
namespace {

// The rows of the document's tables: (kind of section, keyword) -> treatments.
std::map<std::pair<std::string, std::string>, std::set<std::string>> documentedRows(const std::string& doc) {
  std::map<std::pair<std::string, std::string>, std::set<std::string>> rows;
  std::istringstream in(doc);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.starts_with("## ")) {
      section = line == "## global"                       ? "global"
                : line.starts_with("## Proxy keywords")        ? "proxy"
                : line.starts_with("## DNS service discovery") ? "resolvers"
                : line.starts_with("## Sharing stick tables")  ? "peers"
                                                               : "";
      continue;
    }
    if (line.starts_with("### ")) {
      if (line == "### Options") section = "option";
      if (line == "### server parameters") section = "server";
      if (line == "### bind parameters") section = "bind";
      continue;
    }
    if (!line.starts_with("| `")) continue;
    // Cells are separated by '|' that is not escaped ("\|" inside a cell).
    std::vector<std::string> cells(1);
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        cells.emplace_back();
      } else {
        cells.back() += line[i];
      }
    }
    if (cells.size() < 2) continue;
    std::string treatment = cells[1];
    treatment.erase(0, treatment.find_first_not_of(' '));
    treatment.erase(treatment.find_last_not_of(' ') + 1);
    const std::string& names = cells[0];
    for (size_t open = names.find('`'); open != std::string::npos; open = names.find('`', open)) {
      size_t close = names.find('`', open + 1);
      if (close == std::string::npos) break;
      std::string spelled = names.substr(open + 1, close - open - 1);
      rows[{section, spelled.substr(0, spelled.find(' '))}].insert(treatment);
      open = close + 1;
    }
  }
  return rows;
}

TEST(Docs, EveryKnownKeywordIsDocumentedWithItsTreatment) {
  std::ifstream in(std::string(SLUICE_TEST_DATA_DIR) + "/../../docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const auto rows = documentedRows(ss.str());
  size_t checked = 0;
  for (const KeywordInfo& k : knownKeywords()) {
    ++checked;
    auto it = rows.find({k.section, k.name});
    if (it == rows.end()) {
      ADD_FAILURE() << "docs/configuration.md has no row for the " << k.section << " keyword `" << k.name
                    << "` (" << k.treatment << ")";
      continue;
    }
    EXPECT_TRUE(it->second.count(k.treatment))
        << "docs/configuration.md's row for the " << k.section << " keyword `" << k.name << "` does not say \""
        << k.treatment << "\"";
  }
  EXPECT_GT(checked, 300u);  // the tables are read, not empty
}

}  // namespace
}  // namespace sluice::config
