// The top-k and sampling tests' side of the oracle: logits of any dtype with their exact decoded values,
// and each row's exact z under the logit transform (oracle/oracle.hpp's transformed_logits), over which
// the oracle's rules (top-k's order, Philox4x32-10, Hugging Face's filters, the draw and their
// tolerances) decide.
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
#include "test_support.hpp"

namespace sxtest {

// The oracle's top-k and sampling rules.
using softxent_oracle::draw_of;
using softxent_oracle::expected_sample;
using softxent_oracle::expected_top_k;
using softxent_oracle::facts_of;
using softxent_oracle::log_prob_bound;
using softxent_oracle::philox;
using softxent_oracle::ranked;
using softxent_oracle::rounding_width;
using softxent_oracle::row_facts;
using softxent_oracle::sample_expectation;
using softxent_oracle::top_k_place_allowed;
constexpr real real_inf = softxent_oracle::infinity;

// A logits matrix of one dtype (rows x cols, a row stride), with the exact value of every element.
struct logit_matrix {
  softxent::dtype type;
  std::size_t rows, cols, stride;
  std::vector<float> f32;
  std::vector<std::uint16_t> bits;
  std::vector<float> decoded;  // every element's exact value (16-bit values are floats exactly)

  logit_matrix(softxent::dtype type_, std::size_t rows_, std::size_t cols_, std::size_t pad = 0)
      : type(type_), rows(rows_), cols(cols_), stride(cols_ + pad), decoded(rows_ * (cols_ + pad), 0.0f) {
    if (type == softxent::dtype::f32) f32.assign(decoded.size(), 0.0f);
    else bits.assign(decoded.size(), 0);
  }
  void set(std::size_t r, std::size_t j, float v) {
    const std::size_t at = r * stride + j;
    switch (type) {
      case softxent::dtype::f32: f32[at] = v, decoded[at] = v; break;
      case softxent::dtype::f16: bits[at] = encode_f16(v), decoded[at] = static_cast<float>(decode_f16(bits[at])); break;
      case softxent::dtype::bf16: bits[at] = encode_bf16(v), decoded[at] = static_cast<float>(decode_bf16(bits[at])); break;
    }
  }
  real at(std::size_t r, std::size_t j) const { return decoded[r * stride + j]; }
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


// Row r's exact z under the transform (the oracle's transformed_logits; the sinks are the rules'
// concern): -inf for a masked class, NaN or +inf where such a logit poisons the row.
inline std::vector<real> exact_row(const logit_matrix& x, std::size_t r, const softxent::softmax_options& o) {
  std::vector<float> mask;
  softxent_oracle::softmax_transform t = oracle_transform(o, x.cols, mask);
  t.sinks = nullptr;
  std::vector<real> z;
  softxent_oracle::transformed_logits({x.decoded.data(), x.rows, x.cols, x.stride}, r, t, z);
  return z;
}

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_SELECT_ORACLE_HPP
