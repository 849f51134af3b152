// SPDX-License-Identifier: Apache-2.0
// Fuzzes what the control thread reads from strangers: HTTP requests to a
// stats proxy (parseHttpRequest, every prefix, as bytes arrive) and runtime
// API lines (command and word splitting, form decoding).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "admin/cli.h"
#include "admin/endpoints.h"
#include "admin/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  sluice::admin::HttpLimits limits;
  limits.maxHead = 2048;
  limits.maxBody = 1024;
  // The request as it would arrive in pieces: a verdict at each prefix, and
  // once "done", the same answer for every longer prefix.
  bool done = false;
  size_t consumed = 0;
  for (size_t n = 0; n <= size; n += 1 + n / 8) {
    sluice::admin::HttpRequest req;
    auto r = sluice::admin::parseHttpRequest(bytes.substr(0, n), req, limits);
    if (r == sluice::admin::HttpParse::Done) {
      if (req.consumed > n) __builtin_trap();
      if (done && req.consumed != consumed) __builtin_trap();
      done = true;
      consumed = req.consumed;
    }
    if (r == sluice::admin::HttpParse::Error && (req.errorStatus < 400 || req.errorStatus > 599)) __builtin_trap();
  }
  for (const std::string& command : sluice::admin::Cli::splitCommands(bytes)) {
    for (const std::string& word : sluice::admin::Cli::splitWords(command)) {
      if (word.empty() && bytes.find('\\') == std::string_view::npos) __builtin_trap();
    }
  }
  (void)sluice::admin::urlDecode(bytes);
  return 0;
}
