// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the configuration lexer and parser on arbitrary text.
// No crash, no hang, and every diagnostic names a line that exists.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/lexer.h"
#include "config/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = [] {
    sluice::config::setNameResolution(false);
    return true;
  }();
  (void)init;
  std::string text(reinterpret_cast<const char*>(data), size);
  sluice::core::Diagnostics diag;
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "PORT") return std::string("8443");
    return std::nullopt;
  };
  auto lines = sluice::config::readConfigText(text, "fuzz.cfg", env, diag);
  sluice::config::Config cfg = sluice::config::parseConfig(lines, diag);
  size_t lineCount = 1;
  for (char c : text) lineCount += c == '\n';
  for (const auto& d : diag.items()) {
    if (d.where.file == "fuzz.cfg" && (d.where.line < 0 || static_cast<size_t>(d.where.line) > lineCount)) {
      abort();
    }
  }
  (void)diag.render();
  return 0;
}
