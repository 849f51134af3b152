// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the incremental ClientHello reader. Invariants checked:
// no crash or sanitizer report; parsing in pieces (sizes taken from the input)
// gives the same status, SNI and ALPN as parsing at once; a Done hello never
// claims more bytes than were given; a final status never changes.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "proto/client_hello.h"

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
  }
  if (whole.parse(all) != st) abort();
  return 0;
}
