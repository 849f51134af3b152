// SPDX-License-Identifier: Apache-2.0
// PCRE2-backed regular expressions; see regex.h.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "route/regex.h"

#include <pcre2.h>

namespace sluice::route {

namespace {

// One match-data block per thread: matching only needs to know whether the
// pattern matched, so a single ovector pair is enough.
pcre2_match_data* threadMatchData() {
  thread_local std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
  return data.get();
}

}  // namespace

std::shared_ptr<const Regex> Regex::compile(std::string_view pattern, bool caseless,
                                            std::string& error) {
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  uint32_t options = caseless ? PCRE2_CASELESS : 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &errorCode, &errorOffset, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(errorCode, buf, sizeof(buf));
    error = "invalid regex '" + std::string(pattern) + "' at offset " +
            std::to_string(errorOffset) + ": " + reinterpret_cast<const char*>(buf);
    return nullptr;
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort; interpreted otherwise
  std::shared_ptr<Regex> re(new Regex());
  re->code_ = code;
  re->pattern_ = std::string(pattern);
  return re;
}

Regex::~Regex() {
  if (code_) {
    pcre2_code_free(static_cast<pcre2_code*>(code_));
  }
}

bool Regex::matches(std::string_view subject) const {
  int rc = pcre2_match(static_cast<pcre2_code*>(code_),
                       reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0,
                       threadMatchData(), nullptr);
  return rc >= 0;
}

std::string Regex::libraryVersion() {
  char version[64] = {};
  pcre2_config(PCRE2_CONFIG_VERSION, version);
  return version;
}

}  // namespace sluice::route
