// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: HAProxy's peers protocol wire format (proto/peers.h), as
// a peer that is not trusted would send it. Invariants: no crash or
// sanitizer report; a message read whole is read the same from pieces; a
// definition and an update that parse are written back and read again to
// the same values.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proto/peers.h"

namespace peers = sluice::proto::peers;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> all(data, size);
  peers::Hello hello;
  size_t used = 0;
  (void)peers::parseHello(std::string_view(reinterpret_cast<const char*>(data), size), hello, used);

  // A definition first (what a peer sends before its updates), then messages.
  peers::TableDef def;
  bool defined = false;
  size_t pos = 0;
  for (int n = 0; n < 64 && pos < size; ++n) {
    peers::Message m;
    peers::Status st = peers::parseMessage(all.subspan(pos), m, used, 4096);
    if (st != peers::Status::Done) break;
    // The same message from the first half of its bytes waits for more.
    if (used > 2 && peers::parseMessage(all.subspan(pos, used - 1), m, used, 4096) != peers::Status::NeedMore) {
      // A shorter prefix can only be incomplete.
      abort();
    }
    peers::parseMessage(all.subspan(pos), m, used, 4096);
    if (m.cls == peers::kStickTable && m.type == peers::kDefine) {
      peers::TableDef d;
      if (peers::parseDefine(m.data, d)) {
        def = d;
        defined = true;
        std::string again = peers::encodeDefine(d);
        peers::Message m2;
        size_t u2 = 0;
        peers::TableDef d2;
        if (peers::parseMessage({reinterpret_cast<const uint8_t*>(again.data()), again.size()}, m2, u2, 1 << 20) !=
                peers::Status::Done ||
            !peers::parseDefine(m2.data, d2) || d2.name != d.name || d2.dataTypes != d.dataTypes ||
            d2.params != d.params) {
          abort();
        }
      }
    } else if (m.cls == peers::kStickTable && defined && m.type >= peers::kUpdate && m.type != peers::kDefine &&
               m.type != peers::kSwitch && m.type != peers::kAck && def.keyLength <= 1024) {
      const bool withId = m.type == peers::kUpdate || m.type == peers::kUpdateTimed;
      const bool timed = m.type == peers::kUpdateTimed || m.type == peers::kIncrementalUpdateTimed;
      peers::Update u;
      if (peers::parseUpdate(m.data, def, withId, timed, u)) {
        std::string again = peers::encodeUpdate(def, u);
        peers::Message m2;
        size_t u2 = 0;
        peers::Update back;
        if (peers::parseMessage({reinterpret_cast<const uint8_t*>(again.data()), again.size()}, m2, u2, 1 << 20) !=
                peers::Status::Done ||
            !peers::parseUpdate(m2.data, def, withId, timed, back) || back.key.size() != u.key.size() ||
            back.values.size() != u.values.size()) {
          abort();
        }
      }
    } else if (m.cls == peers::kStickTable && m.type == peers::kAck) {
      uint64_t table = 0;
      uint32_t id = 0;
      (void)peers::parseAck(m.data, table, id);
    }
    pos += used;
  }
  return 0;
}
