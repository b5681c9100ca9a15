// Exact conversions between float and the 16-bit storage types, one value at a time: IEEE binary16
// (f16) and bfloat16 (bf16), rounding to nearest even with overflow to infinity, NaN kept a NaN. The
// scalar path of every table, the reference, and the tails of the vector paths use these.
//
// Internal linkage (static) throughout: this header is compiled into objects with different -m flags.
#ifndef SOFTXENT_SRC_KERNELS_CONVERT_HPP
#define SOFTXENT_SRC_KERNELS_CONVERT_HPP

#include <cstdint>
#include <cstring>

namespace softxent::detail {

static inline std::uint32_t bits_of_float(float f) noexcept {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
static inline float float_of_bits(std::uint32_t b) noexcept {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

static inline float f16_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return float_of_bits(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return float_of_bits(sign | bits_of_float(magnitude));
  }
  return float_of_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

static inline std::uint16_t float_to_f16(float f) noexcept {
  const std::uint32_t b = bits_of_float(f);
  const auto sign = static_cast<std::uint16_t>((b >> 16) & 0x8000u);
  const std::uint32_t magnitude = b & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (magnitude < 0x38800000u) {
    // Below the smallest normal 2^-14: a multiple of 2^-24, rounded to nearest even by rint (the
    // default rounding mode); 1024 is the smallest normal's encoding.
    const float units = float_of_bits(magnitude) * 0x1p24f;
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(__builtin_rintf(units)));
  }
  const std::uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | ((rounded - (112u << 23)) >> 13));
}

static inline float bf16_to_float(std::uint16_t h) noexcept { return float_of_bits(static_cast<std::uint32_t>(h) << 16); }

static inline std::uint16_t float_to_bf16(float f) noexcept {
  const std::uint32_t b = bits_of_float(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((b >> 16) | 0x40u);  // quiet NaN
  return static_cast<std::uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_CONVERT_HPP
