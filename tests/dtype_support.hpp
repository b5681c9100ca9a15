// Half-precision helpers of the tests, written from the formats' definitions (not from the library's
// converters): exact decoding, nearest-even encoding by search, matrices stored in any dtype.
#ifndef SOFTXENT_TESTS_DTYPE_SUPPORT_HPP
#define SOFTXENT_TESTS_DTYPE_SUPPORT_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "softxent/softxent.hpp"
#include "test_support.hpp"

namespace sxtest {

inline constexpr softxent::dtype all_dtypes[] = {softxent::dtype::f32, softxent::dtype::f16, softxent::dtype::bf16};
inline const char* dtype_name(softxent::dtype t) {
  return t == softxent::dtype::f16 ? "f16" : (t == softxent::dtype::bf16 ? "bf16" : "f32");
}
inline std::size_t dtype_size(softxent::dtype t) { return t == softxent::dtype::f32 ? 4 : 2; }

// IEEE binary16: sign, 5 exponent bits (bias 15), 10 mantissa bits.
inline double decode_f16(std::uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
  double magnitude;
  if (exponent == 31) magnitude = mantissa ? std::nan("") : INFINITY;
  else if (exponent == 0) magnitude = std::ldexp(mantissa, -24);
  else magnitude = std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
}
// bfloat16: the top 16 bits of a float.
inline double decode_bf16(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// The nearest value of a 16-bit format to v (ties to the even pattern; beyond the largest finite value
// plus half an ulp, infinity), found by bisection over the format's ordered positive patterns.
template <class Decode>
std::uint16_t encode_nearest(double v, Decode decode, std::uint16_t largest_finite, double overflow_at) {
  if (std::isnan(v)) return 0x7e00;  // any NaN: callers check with isnan
  const std::uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const double a = std::fabs(v);
  if (a >= overflow_at) return sign | static_cast<std::uint16_t>(largest_finite + 1);  // the infinity pattern
  std::uint16_t lo = 0, hi = largest_finite;
  while (hi - lo > 1) {
    const auto mid = static_cast<std::uint16_t>((lo + hi) / 2);
    if (decode(mid) <= a) lo = mid; else hi = mid;
  }
  if (decode(hi) <= a) lo = hi;
  if (lo == largest_finite) return sign | lo;
  const double below = decode(lo), above = decode(static_cast<std::uint16_t>(lo + 1));
  const double d_below = a - below, d_above = above - a;
  std::uint16_t pick = lo;
  if (d_above < d_below || (d_above == d_below && (lo & 1))) pick = static_cast<std::uint16_t>(lo + 1);
  return sign | pick;
}
inline std::uint16_t encode_f16(double v) { return encode_nearest(v, decode_f16, 0x7bff, 65520.0); }
inline std::uint16_t encode_bf16(double v) {
  // Half an ulp above the largest finite bfloat16 (0x7f7f: (2 - 2^-7) * 2^127).
  return encode_nearest(v, decode_bf16, 0x7f7f, std::ldexp(2.0 - std::ldexp(1.0, -8), 127));
}

// A matrix stored in a dtype, with sentinel bytes around it (0xa5) to detect stray writes.
struct typed_buffer {
  softxent::dtype type = softxent::dtype::f32;
  std::size_t rows = 0, cols = 0, stride = 0, offset = 0;
  std::vector<unsigned char> bytes;

  typed_buffer() = default;
  typed_buffer(softxent::dtype t, std::size_t rows_, std::size_t cols_, std::size_t extra = 0, std::size_t offset_ = 0)
      : type(t), rows(rows_), cols(cols_), stride(cols_ + extra), offset(offset_) {
    bytes.assign((offset + (rows ? (rows - 1) * stride + cols : 0) + 3) * dtype_size(t), 0xa5);
  }
  void* data() { return bytes.data() + offset * dtype_size(type); }
  const void* data() const { return bytes.data() + offset * dtype_size(type); }
  softxent::any_matrix view() { return {data(), type, rows, cols, stride}; }
  softxent::const_any_matrix cview() const { return {data(), type, rows, cols, stride}; }
  std::size_t index(std::size_t r, std::size_t c) const { return offset + r * stride + c; }
  double get(std::size_t r, std::size_t c) const {
    const unsigned char* p = bytes.data() + index(r, c) * dtype_size(type);
    if (type == softxent::dtype::f32) {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return type == softxent::dtype::f16 ? decode_f16(h) : decode_bf16(h);
  }
  // Stores v rounded to the dtype (nearest even); returns the value stored.
  double set(std::size_t r, std::size_t c, double v) {
    unsigned char* p = bytes.data() + index(r, c) * dtype_size(type);
    if (type == softxent::dtype::f32) {
      const auto f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      return f;
    }
    const std::uint16_t h = type == softxent::dtype::f16 ? encode_f16(v) : encode_bf16(v);
    std::memcpy(p, &h, 2);
    return get(r, c);
  }
  bool outside_untouched() const {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      const std::size_t e = i / dtype_size(type);
      const bool inside = e >= offset && (e - offset) / stride < rows && (e - offset) % stride < cols;
      if (!inside && bytes[i] != 0xa5) return false;
    }
    return true;
  }
};

// Half an ulp of an output type, relative, and the absolute floor of f16's subnormals (SPEC.md).
inline real output_rounding(softxent::dtype t, real exact) {
  if (t == softxent::dtype::f16) return std::fabs(exact) * std::ldexp(real(1), -11) + std::ldexp(real(1), -25);
  if (t == softxent::dtype::bf16) return std::fabs(exact) * std::ldexp(real(1), -8) + real(1e-38);
  return 0;
}

// Checks a decoded output against an exact value: NaN for NaN, an infinity where the exact value
// rounds to one in the output type, else within bound plus the output type's rounding.
inline void expect_output(tally& t, std::size_t r, std::size_t c, softxent::dtype type, double got, real exact,
                          real bound) {
  if (!std::isnan(exact) && std::isfinite(exact) && type == softxent::dtype::f16 && std::fabs(exact) >= 65520) {
    t.expect(r, c, static_cast<float>(got), exact > 0 ? INFINITY : -INFINITY, 0);
    return;
  }
  t.expect(r, c, static_cast<float>(got), exact, bound + output_rounding(type, exact));
}

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_DTYPE_SUPPORT_HPP
