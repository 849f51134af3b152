// SPDX-License-Identifier: Apache-2.0
// The HTTP/1.x request parser of the stats endpoint: a pure function over
// the bytes received so far, with explicit limits, answering "need more",
// "done" (with the request and how many bytes it used) or "error" (with
// the status to answer). Only what a stats page, a CSV export, a form post
// and a Prometheus scrape need: request line, headers, Content-Length body.
// No chunked bodies (a form is small and browsers send Content-Length).
//
//   HttpRequest req;
//   switch (parseHttpRequest(bytes, req)) { case HttpParse::NeedMore: ... }
//
// Fed one byte at a time with `scanned`, the total work stays linear in
// the bytes received (no rescan of what was already searched).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::admin {

struct HttpRequest {
  std::string method;
  std::string path;      // before '?'
  std::string query;     // after '?', without it
  std::string version;   // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  size_t consumed = 0;   // bytes of the input this request used
  int errorStatus = 0;   // with HttpParse::Error: 400, 413, 431, 501
  size_t needed = 0;     // with HttpParse::NeedMore: the input size worth another call
  std::string header(std::string_view name) const;  // first value, case-insensitive; "" if absent
};

enum class HttpParse { NeedMore, Done, Error };

struct HttpLimits {
  size_t maxHead = 16 * 1024;   // request line and headers
  size_t maxBody = 64 * 1024;
  size_t maxHeaders = 100;
};

// `scanned` (optional) makes a caller that feeds the growing input again
// and again linear in it: where the search for the end of the head resumes
// (updated on NeedMore); such a caller waits for `needed` bytes before the
// next call.
HttpParse parseHttpRequest(std::string_view bytes, HttpRequest& out, const HttpLimits& limits = {},
                           size_t* scanned = nullptr);

}  // namespace sluice::admin
