// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the incremental ClientHello reader. Invariants checked:
// no crash or sanitizer report; parsing in pieces (sizes taken from the input)
// gives the same status, SNI and ALPN as parsing at once; a Done hello never
// claims more bytes than were given; a final status never changes; the JA3
// and JA4 fingerprints of a parsed hello are the same either way and keep
// their shape (JA4: 36 characters, JA3: 32 hex digits).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "proto/client_hello.h"
#include "proto/fingerprint.h"

using sluice::proto::ClientHelloParser;
using sluice::proto::HelloStatus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> all(data, size);
  ClientHelloParser whole;
  HelloStatus st = whole.parse(all);
  if (st == HelloStatus::Done && whole.info().wireLength > size) abort();

  // The same bytes in pieces whose sizes come from the data itself.
  ClientHelloParser pieces;
  HelloStatus ps = HelloStatus::NeedMore;
  size_t have = 0;
  size_t i = 0;
  while (have < size) {
    size_t step = 1 + (data[i++ % size] % 97);
    have = std::min(size, have + step);
    ps = pieces.parse(all.first(have));
    if (ps != HelloStatus::NeedMore) break;
  }
  if (ps != st) abort();
  if (st == HelloStatus::Done) {
    if (pieces.info().sni != whole.info().sni || pieces.info().alpn != whole.info().alpn ||
        pieces.info().wireLength != whole.info().wireLength) {
      abort();
    }
    const auto& h = whole.info();
    if (!h.sslv2) {
      const std::string ja4 = sluice::proto::ja4(h, sluice::proto::Ja4Form::Hashed);
      if (ja4.size() != 36 || ja4 != sluice::proto::ja4(pieces.info(), sluice::proto::Ja4Form::Hashed)) abort();
      if (sluice::proto::ja3Hash(h).size() != 32) abort();
      sluice::proto::ja4(h, sluice::proto::Ja4Form::RawOriginal);
    }
  }
  if (whole.parse(all) != st) abort();
  return 0;
}
