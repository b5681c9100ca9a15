// Scalar arithmetic that turns a row's merged statistics into its results. Shared by the kernels
// (rows of one chunk) and the driver (merged chunks of long rows).
//
// Every function here has internal linkage (static), and infinity is __builtin_inf() rather than
// std::numeric_limits' inline function: this header is compiled into objects built with different -m
// flags, and an inline function with external linkage could be merged by the linker into one copy
// using instructions an older CPU lacks.
#ifndef SOFTXENT_SRC_KERNELS_ROW_MATH_HPP
#define SOFTXENT_SRC_KERNELS_ROW_MATH_HPP

#include <cmath>
#include <limits>

#include "kernel_table.hpp"

namespace softxent::detail {

// Infinity with internal linkage, for every kernel (see above).
constexpr float float_infinity = __builtin_inff();
constexpr float float_min_normal = 1.17549435e-38f;  // FLT_MIN

// The shift that makes x - shift safe: the max, or 0 when the max is -inf (an all-masked row), so
// that no -inf - -inf appears. A NaN max stays NaN.
static inline float shift_of(float max) noexcept {
  return max == -float_infinity ? 0.0f : max;
}

// log(sum_j exp(x_j - shift)): -inf for an all-masked row, NaN when the row held NaN or +inf.
static inline double log_sum_of(double sum_exp) noexcept { return std::log(sum_exp); }

// lse = shift + log(sum_exp); -inf for an all-masked row (sum_exp == 0), NaN propagates.
static inline double lse_of(float shift, double sum_exp) noexcept {
  return static_cast<double>(shift) + log_sum_of(sum_exp);
}

// softmax_j = exp(x_j - shift) * factor. An all-masked row gets factor 0 (probabilities 0, not NaN).
static inline double softmax_factor_of(double sum_exp) noexcept { return sum_exp == 0.0 ? 0.0 : 1.0 / sum_exp; }

// log_softmax_j = (x_j - shift) - offset. An all-masked row gets offset +inf so that -inf - inf = -inf.
static inline double log_softmax_offset_of(double sum_exp) noexcept {
  return sum_exp == 0.0 ? __builtin_inf() : log_sum_of(sum_exp);
}

// A row's cross-entropy without z-loss, sum_j y_j * (lse - x_j) = y_sum * log(sum_exp) - y_dot, with
// y_dot taken relative to the same shift as sum_exp. An all-masked row costs +inf when any y_j > 0.
static inline double cross_entropy_loss_of(double sum_exp, double log_sum, double y_sum, double y_dot) noexcept {
  if (sum_exp == 0.0) return y_sum > 0.0 ? __builtin_inf() : 0.0;
  return y_sum * log_sum - y_dot;
}
static inline double cross_entropy_loss_of(double sum_exp, double y_sum, double y_dot) noexcept {
  return cross_entropy_loss_of(sum_exp, log_sum_of(sum_exp), y_sum, y_dot);
}

// The gradient of a cross-entropy row is g_j = p_factor * exp(x_j - shift) - grad_scale * y_j, with
// p_factor = (grad_scale * y_sum + z_grad_scale * 2 * z_loss * lse) / sum_exp.
static inline double cross_entropy_p_factor_of(double sum_exp, double y_sum, double lse, float z_loss,
                                               double grad_scale, double z_grad_scale) noexcept {
  if (sum_exp == 0.0) return 0.0;  // all masked: p = 0, whatever lse is
  double weight = grad_scale * y_sum;
  if (z_loss != 0.0f) weight += z_grad_scale * 2.0 * static_cast<double>(z_loss) * lse;
  return weight / sum_exp;
}

// Merge chunk statistics b into a, in chunk order (a first). NaN in either propagates to sum_exp.
static inline chunk_stats merge_stats(const chunk_stats& a, const chunk_stats& b) noexcept {
  chunk_stats merged;
  merged.max = a.max >= b.max ? a.max : (b.max > a.max ? b.max : a.max + b.max);  // NaN if either is
  merged.shift = shift_of(merged.max);
  // Re-express each side relative to the merged shift. shift <= merged.shift unless a NaN is about.
  const auto rescale = [&](const chunk_stats& s, double& sum_exp, double& y_dot) {
    const double delta = static_cast<double>(s.shift) - static_cast<double>(merged.shift);
    sum_exp += s.sum_exp == 0.0 ? 0.0 : s.sum_exp * std::exp(delta);
    y_dot += s.y_sum == 0.0 ? s.y_dot : s.y_dot + s.y_sum * delta;
  };
  merged.sum_exp = 0.0;
  merged.y_dot = 0.0;
  rescale(a, merged.sum_exp, merged.y_dot);
  rescale(b, merged.sum_exp, merged.y_dot);
  merged.y_sum = a.y_sum + b.y_sum;
  return merged;
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_ROW_MATH_HPP
