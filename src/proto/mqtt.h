// SPDX-License-Identifier: Apache-2.0
// MQTT's first packets, for the mqtt_is_valid and mqtt_field_value
// converters: a client's CONNECT and a server's CONNACK, in MQTT 3.1
// ("MQIsdp", level 3), 3.1.1 (level 4) and 5.0 (level 5, with properties).
// Pure functions over the first packet in a buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proto/fix.h"  // Completeness

namespace sluice::proto {

// Is the buffer's first packet a whole, well-formed CONNECT or CONNACK?
Completeness mqttValidate(std::span<const uint8_t> in);

// The packet type argument of mqtt_field_value: "connect" or 1, "connack"
// or 2 (case does not matter); nullopt for any other.
std::optional<uint8_t> mqttPacketType(std::string_view arg);

// A field of the first packet, if it is of `packetType`: a name (flags,
// protocol_name, protocol_version, client_identifier, will_topic,
// will_payload, username, password, keepalive, reason_code) or an MQTT 5.0
// property id as a number. Integers come as decimal text. `needMore` says
// whether the packet is not whole yet.
std::optional<std::string> mqttFieldValue(std::span<const uint8_t> in, uint8_t packetType, std::string_view field,
                                          bool& needMore);

}  // namespace sluice::proto
