// SPEC.md's formulas in long double, and its error bounds (see oracle.hpp).
#include "oracle.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace softxent_reliability {
namespace {

using real = long double;
constexpr real eps = 1.0L / 8388608.0L;  // 2^-23
constexpr real infinity = std::numeric_limits<real>::infinity();
constexpr real not_a_number = std::numeric_limits<real>::quiet_NaN();

expected exactly(real value) { return {value, 0, false}; }

// What one row's forward pass needs, over its z (the logits, or their transform: -inf for a masked
// class): m = max (the sink included), s = sum exp(z_j - m) (the sink's term included), and whether a
// NaN or +inf poisons the row (SPEC: all its forward outputs are NaN).
struct row_summary {
  real max = -infinity;
  real sum = 0;
  bool poisoned = false;
  // The transform's widening 4 eps (|z_j| + max_k |z_k|), when the transform computes z.
  bool widened = false;
  real largest_magnitude = 0;  // max_k |z_k| over the classes that are not masked
  bool all_masked() const { return max == -infinity; }
  real lse() const { return all_masked() ? -infinity : max + std::log(sum); }
  // exp(z - lse) without forming lse: exact even when |lse| is near FLT_MAX.
  real probability(real z) const { return z == -infinity ? 0 : std::exp(z - max) / sum; }
  real log_probability(real z) const { return z == -infinity ? -infinity : (z - max) - std::log(sum); }
  real widening(real z) const {
    return widened && z != -infinity ? 4 * eps * (std::fabs(z) + largest_magnitude) : 0;
  }
};

// The summary of one row's z; sink: nullptr, or the head's sink logit.
row_summary summarize(const std::vector<real>& z, bool poisoned, const float* sink, bool widened) {
  row_summary s;
  s.poisoned = poisoned;
  s.widened = widened;
  for (real v : z) {
    if (v == -infinity) continue;
    s.max = std::fmax(s.max, v);
    s.largest_magnitude = std::fmax(s.largest_magnitude, std::fabs(v));
  }
  if (sink != nullptr) s.max = std::fmax(s.max, static_cast<real>(*sink));
  if (!s.poisoned && !s.all_masked()) {
    for (real v : z)
      if (v != -infinity) s.sum += std::exp(v - s.max);
    if (sink != nullptr) s.sum += std::exp(static_cast<real>(*sink) - s.max);
  }
  return s;
}

// Row r's z under the softmax transform (the identity transform: z = x), and its summary.
row_summary transformed_row(const matrix_in& x, std::size_t r, const softmax_transform& t, std::vector<real>& z) {
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
      continue;
    }
    if (v == -infinity) continue;  // masked whatever the transform
    real value = static_cast<real>(t.scale) * v;
    if (t.softcap != 0) value = t.softcap * std::tanh(value / t.softcap);
    if (mask_row != nullptr) value += slope * mask_row[c];
    value /= t.temperature;
    if (!std::isfinite(value)) poisoned = true;  // a +inf or NaN mask value
    else z[c] = value;
  }
  const float* sink = t.sinks != nullptr ? t.sinks + (t.rows_per_head == 0 ? 0 : r / t.rows_per_head) : nullptr;
  return summarize(z, poisoned, sink, transform_rounds(t));
}

}  // namespace

bool transform_rounds(const softmax_transform& t) noexcept {
  return t.scale != 1 || t.softcap != 0 || t.mask != nullptr || t.temperature != 1;
}

bool transformed_logits(const matrix_in& x, std::size_t r, const softmax_transform& t, std::vector<long double>& z) {
  return !transformed_row(x, r, t, z).poisoned;
}

namespace {

// SPEC: softmax relative error (8 + |z_j - m|) * eps (plus the transform's widening); below 1e-30 at
// least 1e-37 absolute.
real probability_bound(const row_summary& s, real z, real p) {
  if (z == -infinity) return 0;  // masked classes get exactly 0
  const real bound = ((8 + std::fabs(z - s.max)) * eps + s.widening(z)) * p;
  return p < 1e-30L ? std::fmax(bound, 1e-37L) : bound;
}
// SPEC: log_softmax absolute error (8 + |z_j - m|) * eps + 8 * eps * |lse| (plus the widening).
real log_probability_bound(const row_summary& s, real z) {
  if (z == -infinity) return 0;
  return (8 + std::fabs(z - s.max)) * eps + 8 * eps * std::fabs(s.lse()) + s.widening(z);
}
real lse_bound(const row_summary& s) {
  return 8 * eps * (1 + std::fabs(s.lse())) + (s.widened ? 8 * eps * s.largest_magnitude : 0);
}

// The backward operations follow their formulas in IEEE arithmetic: where the exact result is not
// finite (an infinity or NaN among the inputs), float evaluation may give inf or NaN depending on the
// order of operations (inf - inf, 0 * inf after an underflow): any non-finite value is accepted there.
expected backward_expectation(real value, real tolerance) {
  if (!std::isfinite(value)) return {value, 0, false, true};
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
long double decode_f16(std::uint16_t bits) noexcept {
  const unsigned exponent = (bits >> 10) & 0x1fu, fraction = bits & 0x3ffu;
  real magnitude = 0;
  if (exponent == 0x1f) magnitude = fraction != 0 ? not_a_number : infinity;
  else if (exponent == 0) magnitude = std::ldexp(static_cast<real>(fraction), -24);
  else magnitude = std::ldexp(static_cast<real>(fraction + 1024), static_cast<int>(exponent) - 25);
  return (bits & 0x8000u) ? -magnitude : magnitude;
}
// bfloat16: the upper half of a binary32.
long double decode_bf16(std::uint16_t bits) noexcept {
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
  const int exponent = magnitude < std::ldexp(1.0L, f.min_exponent) ? f.min_exponent : std::ilogb(magnitude);
  const real ulp = std::ldexp(1.0L, exponent - f.fraction_bits);
  const real rounded = std::rint(magnitude / ulp) * ulp;
  if (rounded < std::ldexp(1.0L, f.min_exponent))  // zero or subnormal: a multiple of the smallest ulp
    return sign | static_cast<std::uint16_t>(std::ldexp(rounded, f.fraction_bits - f.min_exponent));
  const int e = std::ilogb(rounded);
  const auto fraction = static_cast<std::uint32_t>(std::ldexp(rounded, f.fraction_bits - e)) - (1u << f.fraction_bits);
  return sign | static_cast<std::uint16_t>((static_cast<std::uint32_t>(e + f.bias) << f.fraction_bits) | fraction);
}

constexpr half_format f16_format{10, -14, 15};
constexpr half_format bf16_format{7, -126, 127};
// Half an ulp above the largest finite value: from there on the nearest value is an infinity.
const real f16_overflow = 65520.0L;
const real bf16_overflow = std::ldexp(2.0L - std::ldexp(1.0L, -8), 127);
const real f32_overflow = std::ldexp(2.0L - std::ldexp(1.0L, -24), 127);

real overflow_threshold(int dtype) {
  return dtype == SOFTXENT_F16 ? f16_overflow : dtype == SOFTXENT_BF16 ? bf16_overflow : f32_overflow;
}
// Half an ulp of the output type (SPEC.md: relative 2^-11 for F16 plus 2^-25 absolute, 2^-8 for BF16,
// whose subnormals are float's and add at most 2^-134).
real output_rounding(int dtype, real exact) {
  if (dtype == SOFTXENT_F16) return std::fabs(exact) * std::ldexp(1.0L, -11) + std::ldexp(1.0L, -25);
  if (dtype == SOFTXENT_BF16) return std::fabs(exact) * std::ldexp(1.0L, -8) + std::ldexp(1.0L, -134);
  return 0;
}

}  // namespace

std::uint16_t encode_f16(long double value) noexcept {
  if (std::isnan(value)) return 0x7e00;
  if (std::fabs(value) >= f16_overflow) return std::signbit(value) ? 0xfc00 : 0x7c00;
  return encode_half(value, f16_format);
}
std::uint16_t encode_bf16(long double value) noexcept {
  if (std::isnan(value)) return 0x7fc0;
  if (std::fabs(value) >= bf16_overflow) return std::signbit(value) ? 0xff80 : 0x7f80;
  return encode_half(value, bf16_format);
}

long double load_element(const void* data, int dtype, std::size_t index) noexcept {
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

void store_element(void* data, int dtype, std::size_t index, long double value) noexcept {
  auto* bytes = static_cast<unsigned char*>(data) + index * dtype_size(dtype);
  if (dtype == SOFTXENT_F16 || dtype == SOFTXENT_BF16) {
    const std::uint16_t bits = dtype == SOFTXENT_F16 ? encode_f16(value) : encode_bf16(value);
    std::memcpy(bytes, &bits, sizeof bits);
    return;
  }
  const auto f = static_cast<float>(value);
  std::memcpy(bytes, &f, sizeof f);
}

long double round_to(int dtype, long double value) noexcept {
  if (dtype == SOFTXENT_F16) return decode_f16(encode_f16(value));
  if (dtype == SOFTXENT_BF16) return decode_bf16(encode_bf16(value));
  return static_cast<float>(value);
}

bool acceptable(long double got, const expected& e, int dtype) noexcept {
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

std::vector<expected> expect_softmax(const matrix_in& x, const softmax_transform& t) {
  std::vector<expected> out(x.rows * x.cols);
  std::vector<real> z;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const row_summary s = transformed_row(x, r, t, z);
    for (std::size_t c = 0; c < x.cols; ++c) {
      expected& e = out[r * x.cols + c];
      if (s.poisoned) e = exactly(not_a_number);
      else if (s.all_masked()) e = exactly(0);
      else {
        const real p = s.probability(z[c]);
        e = {p, probability_bound(s, z[c], p), false};
      }
    }
  }
  return out;
}

std::vector<expected> expect_log_softmax(const matrix_in& x, const softmax_transform& t) {
  std::vector<expected> out(x.rows * x.cols);
  std::vector<real> z;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const row_summary s = transformed_row(x, r, t, z);
    for (std::size_t c = 0; c < x.cols; ++c) {
      expected& e = out[r * x.cols + c];
      if (s.poisoned) e = exactly(not_a_number);
      else if (s.all_masked()) e = exactly(-infinity);
      else e = {s.log_probability(z[c]), log_probability_bound(s, z[c]), false};
    }
  }
  return out;
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
      out[r * y.cols + c] = backward_expectation(value, 8 * eps * std::fabs(yj) * (std::fabs(dyj) + dot_magnitude) + 1e-37L);
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
      e = backward_expectation(dyj - p * sum, 8 * eps * (std::fabs(dyj) + p * sum_magnitude) + 1e-37L);
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

long double cross_entropy_logit(float x, float logit_scale, float softcap) noexcept {
  return exact_cross_entropy_logit(x, logit_scale, softcap);
}

namespace {

// Cross-entropy of rows x cols logits logit(r, c) (exact values; see expect_cross_entropy).
template <class Logit>
cross_entropy_expectation expect_cross_entropy_of(std::size_t rows, std::size_t cols, const Logit& logit_at,
                                                  const std::int64_t* targets, const matrix_in* probs,
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
    row.summary = summarize(row.logit, poisoned, nullptr, transformed);
    row.coefficient.assign(cols, 0);
    for (std::size_t c = 0; c < cols; ++c) {
      real y = 0;
      if (targets != nullptr) {
        y = smoothing / static_cast<real>(cols) * weight(c);
        if (c == target) y += (1 - smoothing) * weight(c);
      } else {
        y = weight(c) * ((1 - smoothing) * static_cast<real>(probs->at(r, c)) + smoothing / static_cast<real>(cols));
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
      out.loss[r] = {value, row.loss_tolerance + row.z_tolerance + eps * std::fabs(value) + 1e-37L, false};
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
    out.loss.push_back({total, tolerance + 8 * eps * magnitude + eps * std::fabs(total) + 1e-37L, false});
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
        value += z_scale * 2 * z * lse * p;
        tolerance += z_scale * 2 * z * (std::fabs(lse) * (p_bound + 4 * eps * p) + p * lse_bound(s));
      }
      if (transformed) {
        const real x = logit_at(r, c);
        const real derivative = cross_entropy_logit_derivative(x, o.logit_scale, o.softcap);
        tolerance = tolerance * derivative + std::fabs(value) * (o.softcap != 0 ? 8 * eps * o.logit_scale : 0);
        if (x == -infinity && o.softcap != 0) {
          // dz/dx of a masked class under a softcap: its limit 0, or the scale that keeps the chain rule
          // of an unbounded logit; the contract names neither, so anything between the two is right
          // (and the scaled one rounded to a half output: 2^-8 of it covers both types' half ulp).
          tolerance += std::fabs(value * derivative) * (0.5L + std::ldexp(1.0L, -8));
          value *= derivative / 2;
        } else {
          value *= derivative;
        }
      }
      e = {value, tolerance + eps * std::fabs(value) + 1e-37L, false};
    }
  }
  return out;
}

}  // namespace

cross_entropy_expectation expect_cross_entropy(const matrix_in& logits, const std::int64_t* targets,
                                               const matrix_in* probs,
                                               const softxent_cross_entropy_options* options) {
  return expect_cross_entropy_of(
      logits.rows, logits.cols, [&](std::size_t r, std::size_t c) -> real { return logits.at(r, c); }, targets, probs,
      options);
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
      R, C, [&](std::size_t r, std::size_t j) { return logits[r * C + j]; }, targets, nullptr, &o);

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
      e.grad_inputs[r * H + k] = {sum, carried + static_cast<real>(C + 2) * eps * magnitude + 1e-37L, false};
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
            carried + static_cast<real>(R + 2) * eps * magnitude + eps * (std::fabs(value) + std::fabs(initial)) + 1e-37L,
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

}  // namespace softxent_reliability
