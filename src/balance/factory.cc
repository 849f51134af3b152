// SPDX-License-Identifier: Apache-2.0
// The registry of algorithms, and the hash functions of "hash-type".
#include <array>

#include "balance/balancer.h"

namespace sluice::balance {

std::unique_ptr<Algorithm> makeRoundRobin(bool dynamicWeights);
std::unique_ptr<Algorithm> makeLeastConn();
std::unique_ptr<Algorithm> makeFirst();
std::unique_ptr<Algorithm> makeRandom(uint32_t draws);
std::unique_ptr<Algorithm> makeHash(bool consistent, bool maglev);

std::unique_ptr<Algorithm> makeAlgorithm(const BalanceSpec& spec) {
  const std::string& a = spec.algorithm;
  if (a == "static-rr") return makeRoundRobin(false);
  if (a == "leastconn") return makeLeastConn();
  if (a == "first") return makeFirst();
  if (a == "random") return makeRandom(spec.randomDraws);
  if (a == "source" || a == "hash") return makeHash(spec.consistent, spec.maglev);
  return makeRoundRobin(true);
}

namespace {

uint32_t crc32(std::string_view bytes) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : bytes) c = table[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// A strong 32-bit finalizer (from MurmurHash3), used for "avalanche" and to
// spread consistent-hash points.
uint32_t mix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

}  // namespace

uint32_t hashBytes(std::string_view function, std::string_view bytes, bool avalanche) {
  uint32_t h = 0;
  if (function == "djb2") {
    h = 5381;
    for (char c : bytes) h = h * 33 + static_cast<uint8_t>(c);
  } else if (function == "crc32") {
    h = crc32(bytes);
  } else if (function == "none") {
    for (size_t i = 0; i < bytes.size() && i < 4; ++i) h = (h << 8) | static_cast<uint8_t>(bytes[i]);
  } else {  // sdbm, and wt6 (approximated by sdbm)
    for (char c : bytes) h = static_cast<uint8_t>(c) + (h << 6) + (h << 16) - h;
  }
  return avalanche ? mix(h) : h;
}

}  // namespace sluice::balance
