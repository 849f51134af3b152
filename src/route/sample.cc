// SPDX-License-Identifier: Apache-2.0
// Sample casts and text forms; see sample.h.
#include "route/sample.h"

#include <arpa/inet.h>

#include "core/strings.h"

namespace sluice::route {

std::string_view toString(SampleType t) {
  switch (t) {
    case SampleType::None: return "none";
    case SampleType::Bool: return "boolean";
    case SampleType::Int: return "integer";
    case SampleType::Str: return "string";
    case SampleType::Bin: return "binary";
    case SampleType::Ip: return "address";
  }
  return "?";
}

bool castSample(Sample& s, SampleType to) {
  if (s.type == to) {
    return true;
  }
  switch (to) {
    case SampleType::Bool:
      if (s.type == SampleType::Int) {
        s.type = SampleType::Bool;
        s.integer = s.integer != 0;
        return true;
      }
      if (s.type == SampleType::Str) {
        auto v = core::parseInt(s.text);
        if (!v) return false;
        s.type = SampleType::Bool;
        s.integer = *v != 0;
        return true;
      }
      return false;
    case SampleType::Int:
      if (s.type == SampleType::Bool) {
        s.type = SampleType::Int;
        return true;
      }
      if (s.type == SampleType::Str) {
        // HAProxy reads the leading digits of a string.
        size_t i = 0;
        bool neg = false;
        if (i < s.text.size() && (s.text[i] == '-' || s.text[i] == '+')) {
          neg = s.text[i] == '-';
          ++i;
        }
        size_t start = i;
        int64_t v = 0;
        while (i < s.text.size() && s.text[i] >= '0' && s.text[i] <= '9' && i - start < 18) {
          v = v * 10 + (s.text[i] - '0');
          ++i;
        }
        if (i == start) return false;
        s.type = SampleType::Int;
        s.integer = neg ? -v : v;
        return true;
      }
      if (s.type == SampleType::Ip && s.ip.isV4()) {
        auto raw = s.ip.rawBytes();
        s.integer = (int64_t{static_cast<uint8_t>(raw[0])} << 24) |
                    (int64_t{static_cast<uint8_t>(raw[1])} << 16) |
                    (int64_t{static_cast<uint8_t>(raw[2])} << 8) | static_cast<uint8_t>(raw[3]);
        s.type = SampleType::Int;
        return true;
      }
      return false;
    case SampleType::Str:
      if (s.type == SampleType::Bin) {
        s.type = SampleType::Str;
        return true;
      }
      if (s.type == SampleType::None) return false;
      s.text = sampleToString(s);
      s.type = SampleType::Str;
      return true;
    case SampleType::Bin:
      if (s.type == SampleType::Str) {
        s.type = SampleType::Bin;
        return true;
      }
      if (s.type == SampleType::Ip) {
        s.text = std::string(s.ip.rawBytes());
        s.type = SampleType::Bin;
        return true;
      }
      if (s.type == SampleType::Int || s.type == SampleType::Bool) {
        std::string b(8, '\0');
        for (int i = 0; i < 8; ++i) b[static_cast<size_t>(7 - i)] = static_cast<char>(s.integer >> (8 * i));
        s.text = b;
        s.type = SampleType::Bin;
        return true;
      }
      return false;
    case SampleType::Ip:
      if (s.type == SampleType::Str) {
        auto a = core::Address::parse(s.text.find(':') != std::string::npos ? "ipv6@" + s.text
                                                                             : s.text);
        if (!a) {
          a = core::Address::parse("[" + s.text + "]");
        }
        if (!a) return false;
        s.ip = a->unmapped();
        s.type = SampleType::Ip;
        return true;
      }
      if (s.type == SampleType::Int) {
        // An integer is an IPv4 address in host order, as HAProxy casts it.
        uint32_t v = static_cast<uint32_t>(s.integer);
        s.ip = core::Address::any(AF_INET, 0);
        sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(s.ip.sockaddrPtr());
        sin->sin_addr.s_addr = htonl(v);
        s.type = SampleType::Ip;
        return true;
      }
      return false;
    case SampleType::None:
      return false;
  }
  return false;
}

std::string sampleToString(const Sample& s) {
  switch (s.type) {
    case SampleType::Bool:
    case SampleType::Int:
      return std::to_string(s.integer);
    case SampleType::Str:
      return s.text;
    case SampleType::Bin:
      return core::hexEncode(s.text);
    case SampleType::Ip:
      return s.ip.ipString();
    case SampleType::None:
      return {};
  }
  return {};
}

}  // namespace sluice::route
