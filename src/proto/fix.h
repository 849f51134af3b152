// SPDX-License-Identifier: Apache-2.0
// FIX (Financial Information eXchange) messages, for the fix_is_valid and
// fix_tag_value converters: "tag=value" fields separated by SOH (0x01),
// BeginString (8) first, BodyLength (9) second, MsgType (35) third, and
// CheckSum (10) last, the byte sum of everything before it modulo 256.
// Pure functions over the first message in a buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sluice::proto {

enum class Completeness { Valid, Invalid, NeedMore };

Completeness fixValidate(std::span<const uint8_t> in);

// The value of the first field with this tag (a number, or one of the names
// BeginString, BodyLength, MsgType, SenderCompID, TargetCompID, CheckSum,
// MsgSeqNum, SendingTime). Null when absent; `needMore` says whether it may
// still come (the message is not whole yet).
std::optional<std::string> fixTagValue(std::span<const uint8_t> in, std::string_view tag, bool& needMore);

// The tag number of a tag argument, or nullopt if it is neither a number
// nor a known name.
std::optional<unsigned> fixTagNumber(std::string_view tag);

}  // namespace sluice::proto
