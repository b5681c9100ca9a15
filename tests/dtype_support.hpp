// Half-precision helpers of the tests: matrices stored in any dtype, with the oracle's codecs.
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
inline const char* dtype_name(softxent::dtype t) { return softxent_oracle::dtype_name(static_cast<int>(t)); }
inline std::size_t dtype_size(softxent::dtype t) { return softxent_oracle::dtype_size(static_cast<int>(t)); }

// The oracle's exact f16 and bf16 codecs (nearest even, overflow to infinity, NaN kept).
using softxent_oracle::decode_bf16;
using softxent_oracle::decode_f16;
using softxent_oracle::encode_bf16;
using softxent_oracle::encode_f16;

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
  real get(std::size_t r, std::size_t c) const {
    return softxent_oracle::load_element(data(), static_cast<int>(type), r * stride + c);
  }
  // Stores v rounded to the dtype (nearest even); returns the value stored.
  real set(std::size_t r, std::size_t c, real v) {
    softxent_oracle::store_element(data(), static_cast<int>(type), r * stride + c, v);
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

// Checks a decoded output against an exact value: NaN for NaN, an infinity where the exact value
// rounds to one in the output type, else within bound plus the output type's rounding.
inline void expect_output(tally& t, std::size_t r, std::size_t c, softxent::dtype type, real got, real exact,
                          real bound) {
  if (!std::isnan(exact) && std::isfinite(exact) && type == softxent::dtype::f16 &&
      std::fabs(exact) >= softxent_oracle::overflow_threshold(SOFTXENT_F16)) {
    t.expect(r, c, static_cast<float>(got), exact > 0 ? INFINITY : -INFINITY, 0);
    return;
  }
  t.expect(r, c, static_cast<float>(got), exact, bound + softxent_oracle::output_rounding(static_cast<int>(type), exact));
}

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_DTYPE_SUPPORT_HPP
