// SPDX-License-Identifier: Apache-2.0
// ByteReader: a bounds-checked cursor over untrusted bytes. Every read either
// succeeds or fails and leaves the position where it was, so parsers never
// index past the end of what they were given.
//
//   ByteReader r(bytes);
//   uint16_t version;
//   ByteReader body;
//   if (!r.readU16(version) || !r.readU16Prefixed(body)) return Error;
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sluice::core {

// The big-endian 32-bit number at d[at..at+3]; the caller has checked the size.
inline uint32_t loadU32(std::span<const uint8_t> d, size_t at) {
  return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) | d[at + 3];
}

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const uint8_t> bytes) : data_(bytes) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  std::span<const uint8_t> rest() const { return data_.subspan(pos_); }

  bool readU8(uint8_t& out) {
    if (remaining() < 1) {
      return false;
    }
    out = data_[pos_];
    pos_ += 1;
    return true;
  }

  bool readU16(uint16_t& out) {
    if (remaining() < 2) {
      return false;
    }
    out = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }

  bool readU24(uint32_t& out) {
    if (remaining() < 3) {
      return false;
    }
    out = (uint32_t{data_[pos_]} << 16) | (uint32_t{data_[pos_ + 1]} << 8) | data_[pos_ + 2];
    pos_ += 3;
    return true;
  }

  bool readU32(uint32_t& out) {
    if (remaining() < 4) {
      return false;
    }
    out = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) |
          (uint32_t{data_[pos_ + 2]} << 8) | data_[pos_ + 3];
    pos_ += 4;
    return true;
  }

  bool readBytes(size_t n, std::span<const uint8_t>& out) {
    if (n > remaining()) {
      return false;
    }
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

  bool skip(size_t n) {
    if (n > remaining()) {
      return false;
    }
    pos_ += n;
    return true;
  }

  // Reads a length-prefixed block into a sub-reader confined to that block.
  bool readU8Prefixed(ByteReader& out) {
    size_t saved = pos_;
    uint8_t len = 0;
    std::span<const uint8_t> block;
    if (!readU8(len) || !readBytes(len, block)) {
      pos_ = saved;
      return false;
    }
    out = ByteReader(block);
    return true;
  }

  bool readU16Prefixed(ByteReader& out) {
    size_t saved = pos_;
    uint16_t len = 0;
    std::span<const uint8_t> block;
    if (!readU16(len) || !readBytes(len, block)) {
      pos_ = saved;
      return false;
    }
    out = ByteReader(block);
    return true;
  }

  static std::string_view asString(std::span<const uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

}  // namespace sluice::core
