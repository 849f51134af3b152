// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the PROXY protocol reader. Invariants: a Done header
// never claims more bytes than given and is re-read identically from exactly
// its own bytes; every strict prefix of a Done header needs more.
#include <cstdint>
#include <cstdlib>

#include "proto/proxy_protocol.h"

using namespace sluice::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> all(data, size);
  ProxyHeader h;
  ProxyError e;
  ProxyStatus st = parseProxyHeader(all, h, e);
  if (st != ProxyStatus::Done) return 0;
  if (h.length == 0 || h.length > size) abort();
  ProxyHeader again;
  if (parseProxyHeader(all.first(h.length), again, e) != ProxyStatus::Done || again.length != h.length) abort();
  if (h.length > 1 && parseProxyHeader(all.first(h.length - 1), again, e) == ProxyStatus::Done) abort();
  if (!h.local) {
    // What was read can be written and read back to the same addresses.
    std::string v2 = encodeProxyV2(h.src, h.dst, ProxyV2Options{});
    ProxyHeader back;
    if (parseProxyHeader({reinterpret_cast<const uint8_t*>(v2.data()), v2.size()}, back, e) != ProxyStatus::Done)
      abort();
    if (!(back.src.unmapped() == h.src.unmapped()) || !(back.dst.unmapped() == h.dst.unmapped())) abort();
  }
  return 0;
}
