// An independent oracle for top-k and sampling, in the reference type `real` (long double; double on
// AArch64), written from SPEC.md's words rather than from the library's code: logits of any dtype with
// their exact decoded values (dtype_support.hpp) and the logit transform in `real`; the rules over a
// row's exact z (top-k's order, Philox4x32-10, Hugging Face's filters, the draw and their tolerances)
// are in select_rules.hpp, which the fuzz checker shares.
#ifndef SOFTXENT_TESTS_SELECT_ORACLE_HPP
#define SOFTXENT_TESTS_SELECT_ORACLE_HPP

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "dtype_support.hpp"
#include "select_rules.hpp"
#include "test_support.hpp"

namespace sxtest {

// A logits matrix of one dtype (rows x cols, a row stride), with the exact value of every element.
struct logit_matrix {
  softxent::dtype type;
  std::size_t rows, cols, stride;
  std::vector<float> f32;
  std::vector<std::uint16_t> bits;
  std::vector<real> exact;

  logit_matrix(softxent::dtype type_, std::size_t rows_, std::size_t cols_, std::size_t pad = 0)
      : type(type_), rows(rows_), cols(cols_), stride(cols_ + pad), exact(rows_ * (cols_ + pad), real(0.0)) {
    if (type == softxent::dtype::f32) f32.assign(exact.size(), 0.0f);
    else bits.assign(exact.size(), 0);
  }
  void set(std::size_t r, std::size_t j, float v) {
    const std::size_t at = r * stride + j;
    switch (type) {
      case softxent::dtype::f32: f32[at] = v, exact[at] = v; break;
      case softxent::dtype::f16: bits[at] = encode_f16(v), exact[at] = decode_f16(bits[at]); break;
      case softxent::dtype::bf16: bits[at] = encode_bf16(v), exact[at] = decode_bf16(bits[at]); break;
    }
  }
  real at(std::size_t r, std::size_t j) const { return exact[r * stride + j]; }
  const void* data() const { return type == softxent::dtype::f32 ? static_cast<const void*>(f32.data()) : bits.data(); }
  softxent::const_any_matrix view() const { return {data(), type, rows, cols, stride}; }
  // Row r alone, as a matrix of one row.
  softxent::const_any_matrix row_view(std::size_t r) const {
    const std::size_t size = type == softxent::dtype::f32 ? 4 : 2;
    return {static_cast<const unsigned char*>(data()) + r * stride * size, type, 1, cols, stride};
  }
};

inline void fill_normal(logit_matrix& x, random_source& random, float sigma) {
  for (std::size_t r = 0; r < x.rows; ++r)
    for (std::size_t j = 0; j < x.cols; ++j) x.set(r, j, random.normal(0.0f, sigma));
}

// A batch of rows with a copy of probe's only row at position, among neighbours that are NaN, all
// -inf, +inf, in turn: what batch invariance is tested with.
inline logit_matrix batch_around(const logit_matrix& probe, std::size_t rows, std::size_t position) {
  logit_matrix batch(probe.type, rows, probe.cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < probe.cols; ++j) {
      float v = static_cast<float>(probe.at(0, (j + r) % probe.cols));
      if (r != position && r % 3 == 0 && j == probe.cols / 2) v = nan_f;
      if (r != position && r % 3 == 1) v = -inf;
      if (r != position && r % 3 == 2 && j == 0) v = inf;
      batch.set(r, j, r == position ? static_cast<float>(probe.at(0, j)) : v);
    }
  return batch;
}


// ---------------------------------------------------------------------------------------------
// The transform, exactly: z = scale * x, softcap, + slope(head) * mask (a -inf mask value masks), then
// classes from valid_cols on masked; infinite and NaN logits pass the scale and the cap unchanged.

inline std::vector<real> exact_row(const logit_matrix& x, std::size_t r, const softxent::softmax_options& o) {
  std::vector<real> z(x.cols);
  const std::size_t head = o.rows_per_head == 0 ? 0 : r / o.rows_per_head;
  const real slope = o.slopes ? o.slopes[head] : real(1.0);
  for (std::size_t j = 0; j < x.cols; ++j) {
    real v = x.at(r, j);
    if (std::isfinite(v)) {
      v *= o.scale;
      if (o.softcap != 0.0f) v = o.softcap * std::tanh(v / o.softcap);
    }
    if (o.mask.data != nullptr) {
      const float m = static_cast<const float*>(o.mask.data)[(r % o.mask.rows) * o.mask.stride + j];  // f32 masks only
      v = m == -inf ? -real_inf : v + slope * m;
    }
    if (o.valid_cols != nullptr && static_cast<std::int64_t>(j) >= o.valid_cols[r]) v = -real_inf;
    z[j] = v;
  }
  return z;
}

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_SELECT_ORACLE_HPP
