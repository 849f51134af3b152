// SPDX-License-Identifier: Apache-2.0
// HTTP/1.x request parsing for the stats endpoint; see http_request.h.
#include "admin/http_request.h"

#include "core/strings.h"

namespace sluice::admin {

namespace {

bool isToken(char c) {
  static const std::string_view kSeparators = "()<>@,;:\\\"/[]?={} \t";
  return c > 32 && c < 127 && kSeparators.find(c) == std::string_view::npos;
}

HttpParse fail(HttpRequest& out, int status) {
  out.errorStatus = status;
  return HttpParse::Error;
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (core::iequals(k, name)) return v;
  }
  return {};
}

HttpParse parseHttpRequest(std::string_view bytes, HttpRequest& out, const HttpLimits& limits, size_t* scanned) {
  out = HttpRequest{};
  const size_t from = scanned && *scanned > 3 ? *scanned - 3 : 0;
  size_t headEnd = bytes.find("\r\n\r\n", from);
  if (headEnd == std::string_view::npos) {
    if (scanned) *scanned = bytes.size();
    out.needed = bytes.size() + 1;
    return bytes.size() > limits.maxHead ? fail(out, 431) : HttpParse::NeedMore;
  }
  if (scanned) *scanned = headEnd;
  if (headEnd > limits.maxHead) return fail(out, 431);
  std::string_view head = bytes.substr(0, headEnd);

  // Request line: METHOD SP TARGET SP HTTP/1.x
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(out, 400);
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!isToken(c)) return fail(out, 400);
  }
  if (target.empty() || target[0] != '/') return fail(out, 400);
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 32 || c == 127) return fail(out, 400);
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(out, version.rfind("HTTP/", 0) == 0 ? 505 : 400);
  out.method = std::string(method);
  size_t q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
  out.version = std::string(version);

  // Headers: NAME ":" OWS VALUE OWS, no folding.
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(out, 400);
    for (char c : h.substr(0, colon)) {
      if (!isToken(c)) return fail(out, 400);
    }
    if (out.headers.size() >= limits.maxHeaders) return fail(out, 431);
    out.headers.emplace_back(std::string(h.substr(0, colon)), std::string(core::trim(h.substr(colon + 1))));
    if (e == std::string_view::npos) break;
    rest.remove_prefix(e + 2);
  }

  if (!out.header("Transfer-Encoding").empty()) return fail(out, 501);
  size_t bodyLength = 0;
  std::string length = out.header("Content-Length");
  if (!length.empty()) {
    for (char c : length) {
      if (c < '0' || c > '9') return fail(out, 400);
    }
    if (length.size() > 9) return fail(out, 413);
    bodyLength = static_cast<size_t>(std::stoul(length));
    if (bodyLength > limits.maxBody) return fail(out, 413);
  }
  size_t total = headEnd + 4 + bodyLength;
  if (bytes.size() < total) {
    out.needed = total;
    return HttpParse::NeedMore;
  }
  out.body = std::string(bytes.substr(headEnd + 4, bodyLength));
  out.consumed = total;
  return HttpParse::Done;
}

}  // namespace sluice::admin
