// SPEC.md's formulas in real, and its error bounds (see oracle.hpp).
#include "oracle.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace softxent_oracle {
namespace {

constexpr real not_a_number = std::numeric_limits<real>::quiet_NaN();

expected exactly(real value) { return {value, 0, false}; }

// A finite |lse| (0 for an all-masked or poisoned row): the bounds' term in it.
real finite_magnitude(real v) { return std::isfinite(v) ? std::fabs(v) : 0; }

}  // namespace

real row_summary::lse() const {
  if (poisoned) return not_a_number;
  return all_masked() ? -infinity : max + std::log(sum);
}
real row_summary::probability(real z) const {
  if (poisoned) return not_a_number;
  return z == -infinity ? 0 : std::exp(z - max) / sum;
}
real row_summary::log_probability(real z) const {
  if (poisoned) return not_a_number;
  return z == -infinity ? -infinity : (z - max) - std::log(sum);
}
real row_summary::widening(real z) const {
  return widened && z != -infinity ? 4 * eps * (std::fabs(z) + largest_magnitude) : 0;
}

row_summary summarize(const real* z, std::size_t n, const float* sink, bool widened) {
  row_summary s;
  s.widened = widened;
  for (std::size_t j = 0; j < n; ++j) {
    const real v = z[j];
    if (std::isnan(v) || v == infinity) s.poisoned = true;
    if (!std::isfinite(v)) continue;
    s.max = std::fmax(s.max, v);
    s.largest_magnitude = std::fmax(s.largest_magnitude, std::fabs(v));
  }
  if (sink != nullptr) s.max = std::fmax(s.max, static_cast<real>(*sink));
  if (!s.poisoned && !s.all_masked()) {
    for (std::size_t j = 0; j < n; ++j)
      if (z[j] != -infinity) s.sum += std::exp(z[j] - s.max);
    if (sink != nullptr) s.sum += std::exp(static_cast<real>(*sink) - s.max);
  }
  return s;
}

row_summary summarize(const float* z, std::size_t n) {
  const std::vector<real> exact(z, z + n);
  return summarize(exact.data(), n);
}

bool transform_rounds(const softmax_transform& t) noexcept {
  return t.scale != 1 || t.softcap != 0 || t.mask != nullptr || t.temperature != 1;
}

bool transformed_logits(const matrix_in& x, std::size_t r, const softmax_transform& t, std::vector<real>& z) {
  const std::size_t head = t.rows_per_head == 0 ? 0 : r / t.rows_per_head;
  const real slope = t.slopes != nullptr ? t.slopes[head] : 1;
  const float* mask_row = t.mask != nullptr ? t.mask + (r % t.mask_rows) * t.mask_stride : nullptr;
  const std::size_t valid = t.valid_cols != nullptr ? static_cast<std::size_t>(t.valid_cols[r]) : x.cols;
  bool poisoned = false;
  z.assign(x.cols, -infinity);
  for (std::size_t c = 0; c < x.cols; ++c) {
    // Masked by valid_cols or a -inf mask value whatever the logit holds (NaN included).
    if (c >= valid || (mask_row != nullptr && mask_row[c] == -infinity)) continue;
    const real v = x.at(r, c);
    if (std::isnan(v) || v == infinity) {
      poisoned = true;
      z[c] = v;
      continue;
    }
    if (v == -infinity) continue;  // masked whatever the transform
    real value = static_cast<real>(t.scale) * v;
    if (t.softcap != 0) value = t.softcap * std::tanh(value / t.softcap);
    if (mask_row != nullptr) value += slope * mask_row[c];
    value /= t.temperature;
    poisoned = poisoned || !std::isfinite(value);  // a +inf or NaN mask value
    z[c] = value;
  }
  return !poisoned;
}

row_summary transformed_summary(const matrix_in& x, std::size_t r, const softmax_transform& t) {
  std::vector<real> z;
  transformed_logits(x, r, t, z);
  const float* sink = t.sinks != nullptr ? t.sinks + (t.rows_per_head == 0 ? 0 : r / t.rows_per_head) : nullptr;
  return summarize(z.data(), z.size(), sink, transform_rounds(t));
}

namespace {

// Row r's z under the softmax transform (the identity transform: z = x), and its summary.
row_summary transformed_row(const matrix_in& x, std::size_t r, const softmax_transform& t, std::vector<real>& z) {
  transformed_logits(x, r, t, z);
  const float* sink = t.sinks != nullptr ? t.sinks + (t.rows_per_head == 0 ? 0 : r / t.rows_per_head) : nullptr;
  return summarize(z.data(), z.size(), sink, transform_rounds(t));
}

}  // namespace

real probability_bound(const row_summary& s, real z, real p) {
  if (z == -infinity) return 0;  // masked classes get exactly 0
  const real bound = ((8 + std::fabs(z - s.max)) * eps + s.widening(z)) * p;
  return p < tiny_value ? std::fmax(bound, tiny_bound) : bound;
}
real log_probability_bound(const row_summary& s, real z) {
  if (z == -infinity) return 0;
  return (8 + std::fabs(z - s.max)) * eps + 8 * eps * finite_magnitude(s.lse()) + s.widening(z);
}
real lse_bound(const row_summary& s) {
  return 8 * eps * (1 + finite_magnitude(s.lse())) + (s.widened ? 8 * eps * s.largest_magnitude : 0);
}

namespace {

// The backward operations follow their formulas in IEEE arithmetic: where the exact result is
// infinite, float evaluation may give inf or NaN depending on the order of operations (inf - inf,
// 0 * inf after an underflow): any non-finite value is accepted there. A NaN propagates through any
// order: an exact NaN must be NaN.
expected backward_expectation(real value, real tolerance) {
  if (std::isinf(value)) return {value, 0, false, true};
  return {value, tolerance, false};
}

}  // namespace

bool acceptable(float got, const expected& e) noexcept { return acceptable(got, e, SOFTXENT_F32); }

bool valid_dtype(int dtype) noexcept { return dtype == SOFTXENT_F32 || dtype == SOFTXENT_F16 || dtype == SOFTXENT_BF16; }
std::size_t dtype_size(int dtype) noexcept { return dtype == SOFTXENT_F16 || dtype == SOFTXENT_BF16 ? 2 : 4; }
const char* dtype_name(int dtype) noexcept {
  switch (dtype) {
    case SOFTXENT_F32: return "f32";
    case SOFTXENT_F16: return "f16";
    case SOFTXENT_BF16: return "bf16";
    default: return "invalid";
  }
}

// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits; exponent 0 holds zero and the
// subnormals fraction * 2^-24, exponent 31 the infinities (fraction 0) and NaNs.
real decode_f16(std::uint16_t bits) noexcept {
  const unsigned exponent = (bits >> 10) & 0x1fu, fraction = bits & 0x3ffu;
  real magnitude = 0;
  if (exponent == 0x1f) magnitude = fraction != 0 ? not_a_number : infinity;
  else if (exponent == 0) magnitude = std::ldexp(static_cast<real>(fraction), -24);
  else magnitude = std::ldexp(static_cast<real>(fraction + 1024), static_cast<int>(exponent) - 25);
  return (bits & 0x8000u) ? -magnitude : magnitude;
}
// bfloat16: the upper half of a binary32.
real decode_bf16(std::uint16_t bits) noexcept {
  const std::uint32_t word = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof value);
  return value;
}

namespace {

// A 16-bit format with `fraction_bits` stored fraction bits, smallest normal exponent `min_exponent`:
// |value| rounded to a multiple of its ulp, ties to even (the default rounding of rint), and the
// bit pattern of the result built by decode's inverse. value must be finite and below the overflow
// threshold.
struct half_format {
  int fraction_bits;
  int min_exponent;
  int bias;
};
std::uint16_t encode_half(real value, const half_format& f) {
  const std::uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const real magnitude = std::fabs(value);
  const int exponent = magnitude < std::ldexp(real(1), f.min_exponent) ? f.min_exponent : std::ilogb(magnitude);
  const real ulp = std::ldexp(real(1), exponent - f.fraction_bits);
  const real rounded = std::rint(magnitude / ulp) * ulp;
  if (rounded < std::ldexp(real(1), f.min_exponent))  // zero or subnormal: a multiple of the smallest ulp
    return sign | static_cast<std::uint16_t>(std::ldexp(rounded, f.fraction_bits - f.min_exponent));
  const int e = std::ilogb(rounded);
  const auto fraction = static_cast<std::uint32_t>(std::ldexp(rounded, f.fraction_bits - e)) - (1u << f.fraction_bits);
  return sign | static_cast<std::uint16_t>((static_cast<std::uint32_t>(e + f.bias) << f.fraction_bits) | fraction);
}

constexpr half_format f16_format{10, -14, 15};
constexpr half_format bf16_format{7, -126, 127};
// Half an ulp above the largest finite value: from there on the nearest value is an infinity.
const real f16_overflow = real(65520);
const real bf16_overflow = std::ldexp(real(2) - std::ldexp(real(1), -8), 127);
const real f32_overflow = std::ldexp(real(2) - std::ldexp(real(1), -24), 127);

}  // namespace

real overflow_threshold(int dtype) noexcept {
  return dtype == SOFTXENT_F16 ? f16_overflow : dtype == SOFTXENT_BF16 ? bf16_overflow : f32_overflow;
}
real output_rounding(int dtype, real exact) noexcept {
  if (dtype == SOFTXENT_F16) return std::fabs(exact) * std::ldexp(real(1), -11) + std::ldexp(real(1), -25);
  if (dtype == SOFTXENT_BF16) return std::fabs(exact) * std::ldexp(real(1), -8) + std::ldexp(real(1), -134);
  return 0;
}

std::uint16_t encode_f16(real value) noexcept {
  if (std::isnan(value)) return 0x7e00;
  if (std::fabs(value) >= f16_overflow) return std::signbit(value) ? 0xfc00 : 0x7c00;
  return encode_half(value, f16_format);
}
std::uint16_t encode_bf16(real value) noexcept {
  if (std::isnan(value)) return 0x7fc0;
  if (std::fabs(value) >= bf16_overflow) return std::signbit(value) ? 0xff80 : 0x7f80;
  return encode_half(value, bf16_format);
}

real load_element(const void* data, int dtype, std::size_t index) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(data) + index * dtype_size(dtype);
  if (dtype == SOFTXENT_F16 || dtype == SOFTXENT_BF16) {
    std::uint16_t bits;
    std::memcpy(&bits, bytes, sizeof bits);
    return dtype == SOFTXENT_F16 ? decode_f16(bits) : decode_bf16(bits);
  }
  float value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

void store_element(void* data, int dtype, std::size_t index, real value) noexcept {
  auto* bytes = static_cast<unsigned char*>(data) + index * dtype_size(dtype);
  if (dtype == SOFTXENT_F16 || dtype == SOFTXENT_BF16) {
    const std::uint16_t bits = dtype == SOFTXENT_F16 ? encode_f16(value) : encode_bf16(value);
    std::memcpy(bytes, &bits, sizeof bits);
    return;
  }
  const auto f = static_cast<float>(value);
  std::memcpy(bytes, &f, sizeof f);
}

real round_to(int dtype, real value) noexcept {
  if (dtype == SOFTXENT_F16) return decode_f16(encode_f16(value));
  if (dtype == SOFTXENT_BF16) return decode_bf16(encode_bf16(value));
  return static_cast<float>(value);
}

bool acceptable(real got, const expected& e, int dtype) noexcept {
  if (e.any_value) return true;
  if (e.any_non_finite) return !std::isfinite(got);
  if (std::isnan(e.value)) return std::isnan(got);
  if (std::isnan(got)) return false;
  if (got == round_to(dtype, e.value)) return true;
  if (std::isinf(e.value)) return false;
  const real allowed = e.tolerance + output_rounding(dtype, e.value);
  if (std::isinf(got)) {
    // A half output may round up to an infinity where the bound reaches past its overflow threshold
    // (float outputs must not overflow where the exact value fits: SPEC).
    return dtype != SOFTXENT_F32 && std::signbit(got) == std::signbit(e.value) &&
           std::fabs(e.value) + allowed >= overflow_threshold(dtype);
  }
  return std::fabs(got - e.value) <= allowed;
}

std::vector<expected> expect_logsumexp(const matrix_in& x) { return expect_logsumexp(x, softmax_transform{}); }
std::vector<expected> expect_softmax(const matrix_in& x) { return expect_softmax(x, softmax_transform{}); }
std::vector<expected> expect_log_softmax(const matrix_in& x) { return expect_log_softmax(x, softmax_transform{}); }

std::vector<expected> expect_logsumexp(const matrix_in& x, const softmax_transform& t) {
  std::vector<expected> out(x.rows);
  std::vector<real> z;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const row_summary s = transformed_row(x, r, t, z);
    if (s.poisoned) out[r] = exactly(not_a_number);
    else if (s.all_masked()) out[r] = exactly(-infinity);  // all masked and no sink
    else out[r] = {s.lse(), lse_bound(s), false};
  }
  return out;
}

namespace {

// One expected element per class: NaN in a poisoned row, all_masked in a row whose classes are all
// masked, else element(s, z_c).
template <class Element>
std::vector<expected> per_class(const matrix_in& x, const softmax_transform& t, real all_masked, const Element& element) {
  std::vector<expected> out(x.rows * x.cols);
  std::vector<real> z;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const row_summary s = transformed_row(x, r, t, z);
    for (std::size_t c = 0; c < x.cols; ++c) {
      expected& e = out[r * x.cols + c];
      if (s.poisoned) e = exactly(not_a_number);
      else if (s.all_masked()) e = exactly(all_masked);
      else e = element(s, z[c]);
    }
  }
  return out;
}

}  // namespace

std::vector<expected> expect_softmax(const matrix_in& x, const softmax_transform& t) {
  return per_class(x, t, 0, [](const row_summary& s, real z) -> expected {
    const real p = s.probability(z);
    return {p, probability_bound(s, z, p), false};
  });
}

std::vector<expected> expect_log_softmax(const matrix_in& x, const softmax_transform& t) {
  return per_class(x, t, -infinity, [](const row_summary& s, real z) -> expected {
    return {s.log_probability(z), log_probability_bound(s, z), false};
  });
}

std::vector<expected> expect_softmax_backward(const matrix_in& y, const matrix_in& dy) {
  std::vector<expected> out(y.rows * y.cols);
  for (std::size_t r = 0; r < y.rows; ++r) {
    real dot = 0, dot_magnitude = 0;
    for (std::size_t c = 0; c < y.cols; ++c) {
      const real term = static_cast<real>(dy.at(r, c)) * y.at(r, c);
      dot += term;
      dot_magnitude += std::fabs(term);
    }
    for (std::size_t c = 0; c < y.cols; ++c) {
      const real yj = y.at(r, c), dyj = dy.at(r, c);
      const real value = yj * (dyj - dot);
      out[r * y.cols + c] = backward_expectation(value, 8 * eps * std::fabs(yj) * (std::fabs(dyj) + dot_magnitude) + tiny_bound);
    }
  }
  return out;
}

std::vector<expected> expect_log_softmax_backward(const matrix_in& y, const matrix_in& dy) {
  std::vector<expected> out(y.rows * y.cols);
  for (std::size_t r = 0; r < y.rows; ++r) {
    real sum = 0, sum_magnitude = 0;
    for (std::size_t c = 0; c < y.cols; ++c) {
      sum += dy.at(r, c);
      sum_magnitude += std::fabs(static_cast<real>(dy.at(r, c)));
    }
    for (std::size_t c = 0; c < y.cols; ++c) {
      const real yj = y.at(r, c), dyj = dy.at(r, c);
      expected& e = out[r * y.cols + c];
      if (yj == -infinity) {
        // SPEC: a masked class gets dx = dy. With a non-finite sum IEEE gives 0 * inf = NaN: either is
        // a reading of the contract.
        e = std::isfinite(sum) ? exactly(dyj) : expected{0, 0, true};
        continue;
      }
      const real p = std::exp(yj);
      e = backward_expectation(dyj - p * sum, 8 * eps * (std::fabs(dyj) + p * sum_magnitude) + tiny_bound);
    }
  }
  return out;
}

namespace {

// z of a logit x known exactly (a float, or the fused linear call's exact product).
real exact_cross_entropy_logit(real x, float logit_scale, float softcap) {
  if (!std::isfinite(x)) return x;  // -inf stays masked; NaN and +inf poison the row
  const real scaled = static_cast<real>(logit_scale) * x;
  if (softcap != 0) return softcap * std::tanh(scaled / softcap);
  const real largest = std::numeric_limits<float>::max();
  return std::fmax(-largest, std::fmin(largest, scaled));
}

// dz/dx of cross-entropy's transform at x: the scale, times 1 - tanh^2 under a softcap.
real cross_entropy_logit_derivative(real x, float logit_scale, float softcap) {
  if (softcap == 0 || !std::isfinite(x)) return logit_scale;
  const real t = std::tanh(static_cast<real>(logit_scale) * x / softcap);
  return logit_scale * (1 - t * t);
}

}  // namespace

real cross_entropy_logit(float x, float logit_scale, float softcap) noexcept {
  return exact_cross_entropy_logit(x, logit_scale, softcap);
}

namespace {

// The rounding of a loss to float: eps relative, with 1e-37 absolute for tiny values (or 8 eps
// relative where that is tighter).
real float_rounding(real value) {
  return std::fmin(8 * eps * std::fabs(value), eps * std::fabs(value) + tiny_bound);
}

// Cross-entropy of rows x cols logits logit(r, c) (exact values; see expect_cross_entropy).
// probability(r, c): the probability targets, read only when targets is nullptr.
template <class Logit, class Probability>
cross_entropy_expectation expect_cross_entropy_of(std::size_t rows, std::size_t cols, const Logit& logit_at,
                                                  const std::int64_t* targets, const Probability& probability,
                                                  const softxent_cross_entropy_options* options) {
  softxent_cross_entropy_options o;
  softxent_cross_entropy_options_init(&o);
  if (options != nullptr) o = *options;
  const real smoothing = o.label_smoothing, z = o.z_loss;
  const bool transformed = o.logit_scale != 1 || o.softcap != 0;
  auto weight = [&](std::size_t c) -> real { return o.class_weights ? o.class_weights[c] : 1; };

  struct row_result {
    bool counted = false;
    real denominator_weight = 0;  // this row's share of MEAN's denominator
    real loss = 0, loss_tolerance = 0;
    real z_term = 0, z_tolerance = 0;
    row_summary summary;
    std::vector<real> logit;        // z_j: the logits after the transform
    std::vector<real> coefficient;  // y_j
    real coefficient_sum = 0;       // Y = sum_j y_j
  };
  std::vector<row_result> results(rows);
  real denominator = 0;
  std::size_t counted_rows = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    row_result& row = results[r];
    std::size_t target = 0;
    if (targets != nullptr) {
      if (targets[r] == o.ignore_index) continue;
      target = static_cast<std::size_t>(targets[r]);
      row.denominator_weight = weight(target);
    } else {
      row.denominator_weight = 1;
    }
    row.counted = true;
    ++counted_rows;
    denominator += row.denominator_weight;
    row.logit.resize(cols);
    bool poisoned = false;
    for (std::size_t c = 0; c < cols; ++c) {
      const real x = logit_at(r, c);
      poisoned = poisoned || std::isnan(x) || x == infinity;
      row.logit[c] = std::isnan(x) ? -infinity : exact_cross_entropy_logit(x, o.logit_scale, o.softcap);
      if (row.logit[c] == infinity) row.logit[c] = -infinity;  // poisons the row; out of the summary
    }
    row.summary = summarize(row.logit.data(), cols, nullptr, transformed);
    row.summary.poisoned = poisoned;
    row.coefficient.assign(cols, 0);
    for (std::size_t c = 0; c < cols; ++c) {
      real y = 0;
      if (targets != nullptr) {
        y = smoothing / static_cast<real>(cols) * weight(c);
        if (c == target) y += (1 - smoothing) * weight(c);
      } else {
        y = weight(c) * ((1 - smoothing) * probability(r, c) + smoothing / static_cast<real>(cols));
      }
      row.coefficient[c] = y;
      row.coefficient_sum += y;
    }
    const row_summary& s = row.summary;
    if (s.poisoned) {
      row.loss = not_a_number;
      row.z_term = z > 0 ? not_a_number : 0;
      continue;
    }
    // loss = -sum_j y_j log p_j; a zero coefficient contributes 0 even on a masked class.
    for (std::size_t c = 0; c < cols; ++c) {
      const real y = row.coefficient[c];
      if (y == 0) continue;
      const real zc = row.logit[c];
      const real log_p = s.all_masked() ? -infinity : s.log_probability(zc);
      row.loss -= y * log_p;
      if (zc != -infinity && !s.all_masked()) row.loss_tolerance += std::fabs(y) * log_probability_bound(s, zc);
    }
    if (z > 0) {
      const real lse = s.lse();
      row.z_term = z * lse * lse;
      row.z_tolerance = z * (2 * std::fabs(lse) * lse_bound(s) + lse * lse * 4 * eps);
    }
  }

  cross_entropy_expectation out;
  real loss_scale = 1, z_scale = 1;
  bool all_zero = false;
  if (o.reduction == SOFTXENT_REDUCTION_MEAN) {
    if (counted_rows == 0 || denominator == 0) all_zero = true;
    else {
      loss_scale = 1 / denominator;
      z_scale = 1 / static_cast<real>(counted_rows);
    }
  }

  // Loss.
  if (o.reduction == SOFTXENT_REDUCTION_NONE) {
    out.loss.resize(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const row_result& row = results[r];
      const real value = row.loss + row.z_term;
      out.loss[r] = {value, row.loss_tolerance + row.z_tolerance + float_rounding(value), false};
    }
  } else if (all_zero) {
    out.loss.push_back(exactly(0));
  } else {
    real total = 0, tolerance = 0, magnitude = 0;
    for (const row_result& row : results) {
      total += loss_scale * row.loss + z_scale * row.z_term;
      tolerance += loss_scale * row.loss_tolerance + z_scale * row.z_tolerance;
      magnitude += std::fabs(loss_scale * row.loss) + std::fabs(z_scale * row.z_term);
    }
    // SPEC: the batch reduction adds at most 8 eps relative error; then one float rounding.
    out.loss.push_back({total, tolerance + 8 * eps * magnitude + float_rounding(total), false});
  }

  // Gradient with respect to z: s * (Y p_j - y_j) + z_s * 2 z lse p_j; zero rows for ignored rows.
  // Then carried to x by dz/dx.
  out.grad.assign(rows * cols, exactly(0));
  if (all_zero) return out;
  for (std::size_t r = 0; r < rows; ++r) {
    const row_result& row = results[r];
    if (!row.counted) continue;
    const row_summary& s = row.summary;
    const real lse = s.lse();
    for (std::size_t c = 0; c < cols; ++c) {
      expected& e = out.grad[r * cols + c];
      if (s.poisoned) {
        e = exactly(not_a_number);
        continue;
      }
      const real zc = row.logit[c];
      const real p = s.all_masked() ? 0 : s.probability(zc);
      const real y = row.coefficient[c], sum_y = row.coefficient_sum;
      const real p_bound = s.all_masked() ? 0 : probability_bound(s, zc, p);
      real value = loss_scale * (sum_y * p - y);
      real tolerance = std::fabs(loss_scale) * (std::fabs(sum_y) * p_bound + 8 * eps * (std::fabs(sum_y) * p + std::fabs(y)));
      if (z > 0 && p != 0) {
        // The z-loss term's own error (SPEC leaves it open): that of its inputs, and of its float
        // evaluation and addition, 8 eps of the term or 4 eps of it and eps of the sum, the tighter.
        const real z_gradient = z_scale * 2 * z * lse * p;
        value += z_gradient;
        tolerance += z_scale * 2 * z * (std::fabs(lse) * p_bound + p * lse_bound(s)) +
                     std::fmin(8 * eps * std::fabs(z_gradient), 4 * eps * std::fabs(z_gradient) + eps * std::fabs(value));
      }
      if (transformed) {
        const real x = logit_at(r, c);
        const real derivative = cross_entropy_logit_derivative(x, o.logit_scale, o.softcap);
        tolerance = tolerance * derivative + std::fabs(value) * (o.softcap != 0 ? 8 * eps * o.logit_scale : 0);
        if (x == -infinity && o.softcap != 0) {
          // dz/dx of a masked class under a softcap: its limit 0, or the scale that keeps the chain rule
          // of an unbounded logit; the contract names neither, so anything between the two is right
          // (and the scaled one rounded to a half output: 2^-8 of it covers both types' half ulp).
          tolerance += std::fabs(value * derivative) * (real(0.5) + std::ldexp(real(1), -8));
          value *= derivative / 2;
        } else {
          value *= derivative;
        }
      }
      // SPEC's bound is that of the gradient with respect to z as computed; carrying it through dz/dx
      // rounds once more.
      const real rounding = transformed ? eps * std::fabs(value) : 0;
      e = {value, tolerance + rounding + tiny_bound, false};
    }
  }
  return out;
}

}  // namespace

cross_entropy_expectation expect_cross_entropy(const matrix_in& logits, const std::int64_t* targets,
                                               const matrix_in* probs,
                                               const softxent_cross_entropy_options* options) {
  return expect_cross_entropy_of(
      logits.rows, logits.cols, [&](std::size_t r, std::size_t c) -> real { return logits.at(r, c); }, targets,
      [&](std::size_t r, std::size_t c) -> real { return probs->at(r, c); }, options);
}

cross_entropy_expectation expect_cross_entropy(std::size_t rows, std::size_t cols, const real* logits,
                                               const std::int64_t* targets, const real* probs,
                                               const softxent_cross_entropy_options* options) {
  return expect_cross_entropy_of(
      rows, cols, [&](std::size_t r, std::size_t c) { return logits[r * cols + c]; }, targets,
      [&](std::size_t r, std::size_t c) { return probs[r * cols + c]; }, options);
}

softxent_cross_entropy_options c_options(const softxent::cross_entropy_options& options) noexcept {
  softxent_cross_entropy_options o;
  softxent_cross_entropy_options_init(&o);
  o.reduction = options.reduction == softxent::reduction::sum    ? SOFTXENT_REDUCTION_SUM
                : options.reduction == softxent::reduction::none ? SOFTXENT_REDUCTION_NONE
                                                                 : SOFTXENT_REDUCTION_MEAN;
  o.ignore_index = options.ignore_index;
  o.label_smoothing = options.label_smoothing;
  o.class_weights = options.class_weights;
  o.z_loss = options.z_loss;
  o.logit_scale = options.logit_scale;
  o.softcap = options.softcap;
  return o;
}

linear_cross_entropy_expectation expect_linear_cross_entropy(const matrix_in& inputs, const matrix_in& weight,
                                                             const float* bias, const std::int64_t* targets,
                                                             const softxent_cross_entropy_options* options,
                                                             const matrix_in& grad_weight_start,
                                                             const float* grad_bias_start) {
  softxent_cross_entropy_options o;
  softxent_cross_entropy_options_init(&o);
  if (options != nullptr) o = *options;
  const std::size_t R = inputs.rows, H = inputs.cols, C = weight.rows;
  // The exact logits, and the products' float error delta per logit.
  std::vector<real> logits(R * C), delta(R * C);
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t j = 0; j < C; ++j) {
      real sum = bias ? bias[j] : 0, magnitude = bias ? std::fabs(static_cast<real>(bias[j])) : 0;
      for (std::size_t k = 0; k < H; ++k) {
        const real term = static_cast<real>(inputs.at(r, k)) * weight.at(j, k);
        sum += term;
        magnitude += std::fabs(term);
      }
      logits[r * C + j] = sum;
      delta[r * C + j] = static_cast<real>(H + 2) * eps * magnitude;
    }
  const cross_entropy_expectation exact = expect_cross_entropy_of(
      R, C, [&](std::size_t r, std::size_t j) { return logits[r * C + j]; }, targets,
      [](std::size_t, std::size_t) -> real { return 0; }, &o);

  // The logits' errors carried to the loss by the gradient, and to the logits' gradient G by the
  // softmax's and the transform's derivatives (twice the first-order terms, for the second-order ones).
  const auto class_weight = [&](std::size_t j) -> real { return o.class_weights ? o.class_weights[j] : 1; };
  real weight_sum = 0, weight_total = 0;
  std::size_t counted = 0;
  for (std::size_t r = 0; r < R; ++r) {
    if (targets[r] == o.ignore_index) continue;
    ++counted;
    weight_sum += class_weight(static_cast<std::size_t>(targets[r]));
  }
  for (std::size_t j = 0; j < C; ++j) weight_total += class_weight(j);
  const bool mean = o.reduction == SOFTXENT_REDUCTION_MEAN, nothing = mean && (counted == 0 || weight_sum == 0);
  const real s = mean && !nothing ? 1 / weight_sum : 1, z_scale = mean && !nothing ? 1 / static_cast<real>(counted) : 1;
  const real scale = o.logit_scale, cap = o.softcap;
  std::vector<real> g(R * C), g_bound(R * C), loss_widening(R, 0);
  for (std::size_t i = 0; i < R * C; ++i) {
    g[i] = exact.grad[i].value;
    g_bound[i] = exact.grad[i].tolerance;
  }
  std::vector<real> z(C), dz(C), p(C);
  for (std::size_t r = 0; r < R && !nothing; ++r) {
    if (targets[r] == o.ignore_index) continue;
    const auto t = static_cast<std::size_t>(targets[r]);
    real largest = -infinity;
    for (std::size_t j = 0; j < C; ++j) {
      const real v = scale * logits[r * C + j];
      const real th = cap == 0 ? 0 : std::tanh(v / cap);
      z[j] = exact_cross_entropy_logit(logits[r * C + j], o.logit_scale, o.softcap);
      dz[j] = cap == 0 ? scale : scale * (1 - th * th);
      largest = std::max(largest, z[j]);
    }
    real sum = 0;
    for (std::size_t j = 0; j < C; ++j) sum += std::exp(z[j] - largest);
    const real lse = largest + std::log(sum);
    real dz_delta_mean = 0;
    for (std::size_t j = 0; j < C; ++j) {
      p[j] = std::exp(z[j] - lse);
      dz_delta_mean += p[j] * dz[j] * delta[r * C + j];
      loss_widening[r] += 2 * std::fabs(g[r * C + j]) * delta[r * C + j];
    }
    const real y_sum = (1 - o.label_smoothing) * class_weight(t) + o.label_smoothing / static_cast<real>(C) * weight_total;
    const real p_weight = s * y_sum + z_scale * 2 * o.z_loss * (std::fabs(lse) + scale);
    for (std::size_t j = 0; j < C; ++j) {
      const real dj = delta[r * C + j];
      real widen = 2 * p_weight * p[j] * dz[j] * (dz[j] * dj + dz_delta_mean);
      if (cap != 0 && dz[j] != 0) widen += 2 * std::fabs(g[r * C + j]) / dz[j] * 2 * scale * scale * dj / cap;
      g_bound[r * C + j] += widen;
    }
  }

  linear_cross_entropy_expectation e;
  e.loss = exact.loss;
  for (std::size_t r = 0; r < R; ++r) e.loss[o.reduction == SOFTXENT_REDUCTION_NONE ? r : 0].tolerance += loss_widening[r];
  // The two products (and the bias's column sums), each float sum within (terms + 2) eps of its
  // magnitude; grad_weight and grad_bias added to their start values (one more rounding).
  e.grad_inputs.resize(R * H);
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t k = 0; k < H; ++k) {
      real sum = 0, magnitude = 0, carried = 0;
      for (std::size_t j = 0; j < C; ++j) {
        const real w = weight.at(j, k);
        sum += g[r * C + j] * w;
        magnitude += std::fabs(g[r * C + j] * w);
        carried += g_bound[r * C + j] * std::fabs(w);
      }
      e.grad_inputs[r * H + k] = {sum, carried + static_cast<real>(C + 2) * eps * magnitude + tiny_bound, false};
    }
  const auto accumulated = [&](std::size_t j, real initial, const auto& factor) -> expected {
    real sum = 0, magnitude = 0, carried = 0;
    for (std::size_t r = 0; r < R; ++r) {
      const real f = factor(r);
      sum += g[r * C + j] * f;
      magnitude += std::fabs(g[r * C + j] * f);
      carried += g_bound[r * C + j] * std::fabs(f);
    }
    const real value = initial + sum;
    return {value,
            carried + static_cast<real>(R + 2) * eps * magnitude + eps * (std::fabs(value) + std::fabs(initial)) + tiny_bound,
            false};
  };
  e.grad_weight.resize(C * H);
  e.grad_bias.resize(C);
  for (std::size_t j = 0; j < C; ++j) {
    for (std::size_t k = 0; k < H; ++k)
      e.grad_weight[j * H + k] =
          accumulated(j, grad_weight_start.data ? grad_weight_start.at(j, k) : 0,
                      [&](std::size_t r) -> real { return inputs.at(r, k); });
    e.grad_bias[j] = accumulated(j, grad_bias_start ? grad_bias_start[j] : 0, [](std::size_t) -> real { return 1; });
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Top-k and sampling

row_facts facts_of(const std::vector<real>& z, const float* sink) {
  row_facts f;
  for (real v : z) {
    if (v > f.max) f.max = v;
    if (std::isfinite(v)) f.magnitude = std::max(f.magnitude, std::fabs(v));
    if (v > -infinity) ++f.unmasked;
  }
  const row_summary s = summarize(z.data(), z.size(), sink);
  f.poisoned = s.poisoned;
  f.lse = s.lse();
  return f;
}
real rounding_width(real v, const row_facts& f) {
  return 8 * eps * (std::fabs(v) + f.magnitude) + std::ldexp(real(1.0), -149);
}
// log_softmax's bound (SPEC.md), widened by the transform: z_j - lse.
real log_prob_bound(real zj, const row_facts& f) {
  return (8 + std::fabs(zj - f.max)) * eps + 8 * eps * std::fabs(f.lse) + rounding_width(zj, f);
}

// The unmasked classes of a row, by descending z, ties by ascending index.
std::vector<std::size_t> ranked(const std::vector<real>& z) {
  std::vector<std::size_t> order;
  for (std::size_t j = 0; j < z.size(); ++j)
    if (z[j] > -infinity) order.push_back(j);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  return order;
}

// ---------------------------------------------------------------------------------------------
// Top-k of a row that no NaN or +inf poisons.

// The k classes top-k returns: the unmasked ones by descending z (ties by lower index), then the
// masked ones by ascending index (k <= z.size()).
std::vector<std::size_t> expected_top_k(const std::vector<real>& z, std::size_t k) {
  std::vector<std::size_t> expected = ranked(z);
  for (std::size_t j = 0; j < z.size() && expected.size() < k; ++j)
    if (!(z[j] > -infinity)) expected.push_back(j);
  expected.resize(k);
  return expected;
}

// Whether class got may stand where the exact order puts class want: the same class, or, where the
// transform rounds z (exact_order false), an unmasked class whose z is within want's rounding width.
bool top_k_place_allowed(const std::vector<real>& z, const row_facts& f, std::size_t got, std::size_t want,
                                bool exact_order) {
  if (got == want) return true;
  const real zg = z[got], ze = z[want];
  return !exact_order && zg > -infinity && ze > -infinity && std::fabs(zg - ze) <= rounding_width(ze, f);
}

// ---------------------------------------------------------------------------------------------
// Philox4x32-10, from the paper's round function and Random123's constants.

std::array<std::uint32_t, 4> philox(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t a = 0xD2511F53ull * c[0], b = 0xCD9E8D57ull * c[2];
    c = {static_cast<std::uint32_t>(b >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(b),
         static_cast<std::uint32_t>(a >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(a)};
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  return c;
}
real draw_of(std::uint64_t seed, std::uint64_t offset) {
  const auto out = philox({static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(offset >> 32), 0, 0},
                          {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
  return std::ldexp(static_cast<real>(out[0] >> 8), -24);
}

// ---------------------------------------------------------------------------------------------
// Sampling, as Hugging Face's warpers and SPEC.md's draw define it.


// z: the row's exact transformed logits; options as given to the library; u: the row's draw.
// rounded: z is the float result of a transform that rounds (scale, softcap, mask), so that classes
// whose exact z tie may order either way and each class's mass is known to within its rounding width
// (exp of twice the width of z', relative); without it z is exact (the logits, decoded) and masses
// err only by the float sums'.
// Rounding may flip whether a class near a threshold is kept (an uncertain class): the token is
// ambiguous when it is uncertain itself, or when u * total lies closer to an end of the token's
// stretch of the cumulative sum than the uncertain classes' mass plus the sums' error. An ambiguous
// token may be any class that some kept set between the certain classes and the certain plus the
// uncertain ones puts at u times its total (allowed).
bool sample_expectation::allows(std::int64_t got) const {
  return got >= 0 && std::binary_search(allowed.begin(), allowed.end(), static_cast<std::size_t>(got));
}

sample_expectation expected_sample(const std::vector<real>& z, const softxent::sampling_options& o, real u,
                                          bool rounded) {
  sample_expectation e;
  const row_facts f = facts_of(z);
  if (f.poisoned || f.unmasked == 0) return e;
  // Relative to a total: float sums of long rows (exponentials within a few ulps, folded into double
  // every few dozen terms) stay well inside it.
  const real closeness = real(1e-6);
  if (o.temperature == 0.0f) {
    const std::vector<std::size_t> order = ranked(z);
    const std::size_t best = order[0];
    e.token = static_cast<std::int64_t>(best);
    for (std::size_t j : order)  // the classes rounding may put level with or above the argmax
      if (j == best || ((rounded || z[j] < z[best]) && z[best] - z[j] <= rounding_width(z[best], f))) e.allowed.push_back(j);
    std::sort(e.allowed.begin(), e.allowed.end());
    e.ambiguous = e.allowed.size() > 1;
    e.kept = {best};
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
  // Classes within rounding of a boundary value (exact ties at it are ordered by index, exactly,
  // unless the transform rounds).
  const auto mark_near = [&](real boundary, const std::vector<std::size_t>& among) {
    for (std::size_t j : among)
      if ((rounded || zt[j] != boundary) && std::fabs(zt[j] - boundary) <= width(j)) mark(j);
  };
  real all_mass = real(0.0), mass_doubt = real(0.0);
  for (std::size_t j : order) {
    all_mass += mass[j];
    if (rounded && mass[j] > 0) mass_doubt += mass[j] * std::expm1(std::min(2 * width(j), real(64.0)));
  }
  const real sums_doubt = closeness * all_mass + mass_doubt;
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
    const real target = o.top_p * total, doubt = sums_doubt + uncertain_mass;
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
  const real target = u * total, doubt = sums_doubt + uncertain_mass;
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
  e.allowed = {static_cast<std::size_t>(e.token)};
  if (!e.ambiguous) return e;
  // The kept set lies between the certain kept classes and those plus every uncertain class: class j
  // can be drawn only if the least mass before it can be reached by u times the largest total, and
  // u times the least total falls short of the most mass up to its end.
  std::vector<bool> kept(zt.size(), false);
  for (std::size_t j : order) kept[j] = true;
  real least_total = real(0.0), most_total = real(0.0);
  for (std::size_t j = 0; j < zt.size(); ++j) {
    if (kept[j] && !uncertain[j]) least_total += mass[j];
    if (kept[j] || uncertain[j]) most_total += mass[j];
  }
  real least_before = real(0.0), most_before = real(0.0);
  for (std::size_t j = 0; j < zt.size(); ++j) {
    if (!(kept[j] || uncertain[j]) || !(zt[j] > -infinity)) continue;
    if (least_before <= u * most_total + sums_doubt && u * least_total < most_before + mass[j] + sums_doubt &&
        j != static_cast<std::size_t>(e.token))
      e.allowed.push_back(j);
    if (!uncertain[j]) least_before += mass[j];
    most_before += mass[j];
  }
  std::sort(e.allowed.begin(), e.allowed.end());
  return e;
}

namespace {

// The first few elements of got(r, c) that are not acceptable in the output type, described.
template <class Get>
std::string compare_elements(const char* what, std::size_t rows, std::size_t cols, int dtype, const Get& got,
                             const std::vector<expected>& want) {
  std::ostringstream message;
  message.precision(9);
  int shown = 0;
  std::size_t bad = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const real g = got(r, c);
      const expected& e = want[r * cols + c];
      if (acceptable(g, e, dtype)) continue;
      ++bad;
      if (shown++ < 4) {
        message << what << "[" << r << "][" << c << "]: got " << static_cast<double>(g);
        if (dtype != SOFTXENT_F32) message << " (" << dtype_name(dtype) << ")";
        message << ", exact " << static_cast<double>(e.value) << " (tolerance " << static_cast<double>(e.tolerance)
                << ", off by " << static_cast<double>(std::fabs(g - e.value)) << ")\n";
      }
    }
  }
  if (bad > 0) message << what << ": " << bad << " of " << rows * cols << " elements outside the bound\n";
  return message.str();
}

}  // namespace

std::string compare(const char* what, const float* got, std::size_t rows, std::size_t cols, std::size_t stride,
                    const std::vector<expected>& want) {
  return compare_elements(what, rows, cols, SOFTXENT_F32,
                          [&](std::size_t r, std::size_t c) -> real { return got[r * stride + c]; }, want);
}

std::string compare(const char* what, const void* got, int dtype, std::size_t rows, std::size_t cols,
                    std::size_t stride, const std::vector<expected>& want) {
  return compare_elements(what, rows, cols, dtype,
                          [&](std::size_t r, std::size_t c) { return load_element(got, dtype, r * stride + c); }, want);
}

std::string compare_bits(const char* what, const float* a, const float* b, std::size_t rows, std::size_t cols,
                         std::size_t stride) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      if (std::memcmp(&a[r * stride + c], &b[r * stride + c], sizeof(float)) != 0) {
        std::ostringstream message;
        message.precision(9);
        message << what << "[" << r << "][" << c << "] differs: " << a[r * stride + c] << " vs " << b[r * stride + c]
                << "\n";
        return message.str();
      }
    }
  }
  return "";
}

}  // namespace softxent_oracle
