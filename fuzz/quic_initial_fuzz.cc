// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the QUIC Initial reader. The input's first byte picks
// the mode: raw datagrams (length-prefixed), or frames sealed into real
// Initial packets (so that mutations reach the frame walker and the CRYPTO
// reassembly behind the AEAD), one packet a datagram or all of them
// coalesced into one datagram of up to 64 KiB. Invariants: no crash or
// overread; a final status stays final; Done always comes with a
// ClientHello; the work done stays linear in the input (operation counts,
// so a slow input fails at once, not only at libFuzzer's time limit).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "proto/quic_initial.h"

using namespace sluice::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  QuicHelloReader r;
  const bool sealed = data[0] & 1;
  const bool coalesced = sealed && (data[0] & 4);
  std::vector<uint8_t> joined;
  const uint32_t version = (data[0] & 2) ? kQuicV2 : kQuicV1;
  static const uint8_t kDcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  size_t at = 1;
  QuicStatus last = QuicStatus::NeedMore;
  uint32_t pn = 0;
  while (at < size) {
    // Each chunk: a 2-byte length, then its bytes.
    size_t len = at + 2 <= size ? (size_t{data[at]} << 8 | data[at + 1]) : 0;
    at += 2;
    len = std::min(len, size > at ? size - at : 0);
    std::vector<uint8_t> chunk(data + at, data + at + len);
    at += len;
    std::vector<uint8_t> datagram =
        sealed ? sealClientInitial(version, std::span<const uint8_t>(kDcid, 8), pn++, chunk) : chunk;
    if (coalesced) {
      if (joined.size() + datagram.size() <= 65527) joined.insert(joined.end(), datagram.begin(), datagram.end());
      if (len != 0 && at < size) continue;
      datagram = std::move(joined);
    }
    if (sealed && datagram.size() < kQuicMinInitialDatagram) datagram.resize(kQuicMinInitialDatagram, 0);
    QuicStatus s = r.addDatagram(datagram);
    if (last != QuicStatus::NeedMore && s != last) abort();  // final stays final
    last = s;
    if (s == QuicStatus::Done && r.info().handshakeType != 1) abort();
    if (len == 0) break;
  }
  // Linear work: each frame a binary search over at most 64 ranges.
  const QuicHelloReader::Work& w = r.work();
  if (w.comparisons > 8 * w.frames + 8) abort();
  if (w.merged > w.frames) abort();
  if (w.moved > kQuicMaxCryptoRanges * w.frames) abort();
  if (w.packetsOpened > kQuicMaxPacketsPerDatagram * r.datagrams()) abort();
  return 0;
}
