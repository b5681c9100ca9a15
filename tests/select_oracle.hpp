// An independent oracle for top-k and sampling, in the reference type `real` (long double; double on
// AArch64), written from SPEC.md's words (sort the row, walk it) rather than from the library's code:
// logits of any dtype with their exact decoded values (dtype_support.hpp), the logit transform in `real`, Philox4x32-10, top-k, Hugging Face's filters and the
// inverse-CDF draw, with the tolerances that decide when rounding may change an answer.
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

constexpr real real_inf = std::numeric_limits<real>::infinity();

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

// What rounding may change: 8 eps (|z_j| + max |z|) (the transform's widening, doubled for float z).
struct row_facts {
  bool poisoned = false;
  real max = -real_inf;      // over the row
  real magnitude = real(0.0);     // max |z_j| over finite z_j
  real lse = -real_inf;      // log(sum exp(z) + exp(sink))
  std::size_t unmasked = 0;
};
inline row_facts facts_of(const std::vector<real>& z, const float* sink = nullptr) {
  row_facts f;
  for (real v : z) {
    if (std::isnan(v) || v == real_inf) f.poisoned = true;
    if (v > f.max) f.max = v;
    if (std::isfinite(v)) f.magnitude = std::max(f.magnitude, std::fabs(v));
    if (v > -real_inf) ++f.unmasked;
  }
  if (f.poisoned) {
    f.lse = std::numeric_limits<real>::quiet_NaN();
    return f;
  }
  real shift = f.max;
  if (sink) shift = std::max(shift, static_cast<real>(*sink));
  if (shift == -real_inf) return f;
  real sum = sink ? std::exp(*sink - shift) : real(0.0);
  for (real v : z) sum += std::exp(v - shift);
  f.lse = shift + std::log(sum);
  return f;
}
inline real rounding_width(real v, const row_facts& f) { return 8 * eps * (std::fabs(v) + f.magnitude); }
// log_softmax's bound (SPEC.md), widened by the transform: z_j - lse.
inline real log_prob_bound(real zj, const row_facts& f) {
  return (8 + std::fabs(zj - f.max)) * eps + 8 * eps * std::fabs(f.lse) + rounding_width(zj, f);
}

// The unmasked classes of a row, by descending z, ties by ascending index.
inline std::vector<std::size_t> ranked(const std::vector<real>& z) {
  std::vector<std::size_t> order;
  for (std::size_t j = 0; j < z.size(); ++j)
    if (z[j] > -real_inf) order.push_back(j);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  return order;
}

// ---------------------------------------------------------------------------------------------
// Philox4x32-10, from the paper's round function and Random123's constants.

inline std::array<std::uint32_t, 4> philox(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t a = 0xD2511F53ull * c[0], b = 0xCD9E8D57ull * c[2];
    c = {static_cast<std::uint32_t>(b >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(b),
         static_cast<std::uint32_t>(a >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(a)};
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  return c;
}
inline real draw_of(std::uint64_t seed, std::uint64_t offset) {
  const auto out = philox({static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(offset >> 32), 0, 0},
                          {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
  return std::ldexp(static_cast<real>(out[0] >> 8), -24);
}

// ---------------------------------------------------------------------------------------------
// Sampling, as Hugging Face's warpers and SPEC.md's draw define it.

struct sample_expectation {
  std::int64_t token = -1;       // -1: NaN/+inf or all masked
  bool ambiguous = false;        // rounding within the tolerances could change the token
  std::vector<std::size_t> kept; // the kept classes, ascending index
  std::vector<real> probability; // over kept (renormalized), same order
};

// z: the row's exact transformed logits; options as given to the library; u: the row's draw.
// Rounding may flip whether a class near a threshold is kept (an uncertain class): the token is
// ambiguous when it is uncertain itself, or when u * total lies closer to an end of the token's
// stretch of the cumulative sum than the uncertain classes' mass plus the float sums' error.
inline sample_expectation expected_sample(const std::vector<real>& z, const softxent::sampling_options& o, real u) {
  sample_expectation e;
  const row_facts f = facts_of(z);
  if (f.poisoned || f.unmasked == 0) return e;
  // Relative to a total: float sums of long rows (exponentials within a few ulps, folded into double
  // every few dozen terms) stay well inside it.
  const real closeness = real(1e-6);
  if (o.temperature == 0.0f) {
    const std::vector<std::size_t> order = ranked(z);
    e.token = static_cast<std::int64_t>(order[0]);
    e.ambiguous = order.size() > 1 && z[order[1]] < z[order[0]] && z[order[0]] - z[order[1]] <= rounding_width(z[order[0]], f);
    e.kept = {order[0]};
    e.probability = {real(1.0)};
    return e;
  }
  std::vector<real> zt(z.size());
  for (std::size_t j = 0; j < z.size(); ++j) zt[j] = z[j] / o.temperature;
  const row_facts ft = facts_of(zt);
  std::vector<std::size_t> order = ranked(zt);
  std::vector<real> mass(zt.size(), real(0.0));
  for (std::size_t j = 0; j < zt.size(); ++j) mass[j] = std::exp(zt[j] - ft.max);
  std::vector<bool> uncertain(zt.size(), false);
  real uncertain_mass = real(0.0);
  const auto mark = [&](std::size_t j) {
    if (!uncertain[j]) uncertain[j] = true, uncertain_mass += mass[j];
  };
  const auto width = [&](std::size_t j) { return rounding_width(zt[j], ft) + 4 * eps * std::fabs(zt[j]); };
  // Classes within rounding of a boundary value (exact ties at it are ordered by index, exactly).
  const auto mark_near = [&](real boundary, const std::vector<std::size_t>& among) {
    for (std::size_t j : among)
      if (zt[j] != boundary && std::fabs(zt[j] - boundary) <= width(j)) mark(j);
  };
  real all_mass = real(0.0);
  for (std::size_t j : order) all_mass += mass[j];
  // top_k
  if (o.top_k != 0 && o.top_k < order.size()) {
    mark_near(zt[order[o.top_k - 1]], order);
    mark_near(zt[order[o.top_k]], order);
    order.resize(o.top_k);
  }
  // top_p over what is left, renormalized: keep while the mass before a class is short of top_p.
  if (o.top_p < 1.0f) {
    real total = real(0.0);
    for (std::size_t j : order) total += mass[j];
    const real target = o.top_p * total, doubt = closeness * all_mass + uncertain_mass;
    real before = real(0.0);
    std::size_t keep = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (std::fabs(before - target) <= doubt) mark(order[i]);
      if (before < target) keep = i + 1;
      before += mass[order[i]];
    }
    if (keep < order.size()) mark_near(zt[order[keep - 1]], order);
    order.resize(keep);
  }
  // min_p: p >= min_p * max p, that is z' >= max + log(min_p).
  if (o.min_p > 0.0f) {
    const real floor = ft.max + std::log(static_cast<real>(o.min_p));
    std::vector<std::size_t> kept;
    for (std::size_t j : order) {
      if (std::fabs(zt[j] - floor) <= width(j)) mark(j);
      if (zt[j] >= floor) kept.push_back(j);
    }
    order = kept;
  }
  std::sort(order.begin(), order.end());
  real total = real(0.0);
  for (std::size_t j : order) total += mass[j];
  const real target = u * total, doubt = closeness * all_mass + uncertain_mass;
  real cumulative = real(0.0);
  for (std::size_t j : order) {
    const real before = cumulative;
    cumulative += mass[j];
    e.kept.push_back(j);
    e.probability.push_back(mass[j] / total);
    if (e.token < 0 && cumulative > target) {
      e.token = static_cast<std::int64_t>(j);
      if (uncertain[j] || target - before <= doubt || cumulative - target <= doubt) e.ambiguous = true;
    }
  }
  if (e.token < 0) e.token = static_cast<std::int64_t>(order.back()), e.ambiguous = true;
  return e;
}

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_SELECT_ORACLE_HPP
