// What the cross-entropy calls share: option checks, the target coefficients of a row's columns, the
// logit transform done a chunk at a time through the table, and the narrowing of a loss to float.
#ifndef SOFTXENT_SRC_OPS_CROSS_ENTROPY_COMMON_HPP
#define SOFTXENT_SRC_OPS_CROSS_ENTROPY_COMMON_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "softxent/softxent.hpp"

namespace softxent::detail {

inline bool is_valid_reduction(reduction r) noexcept {
  return r == reduction::mean || r == reduction::sum || r == reduction::none;
}

// The options that do not depend on the shape (NaN fails every comparison, so it is rejected too).
inline status check_scalar_options(const cross_entropy_options& o) noexcept {
  if (!is_valid_reduction(o.reduction)) return status::invalid_option;
  if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f)) return status::invalid_option;
  if (!(o.z_loss >= 0.0f && std::isfinite(o.z_loss))) return status::invalid_option;
  if (!(o.logit_scale > 0.0f && std::isfinite(o.logit_scale))) return status::invalid_option;
  if (!(o.softcap >= 0.0f && std::isfinite(o.softcap))) return status::invalid_option;
  return status::ok;
}

// count class weights, each finite and >= 0 (null: none given).
inline bool valid_class_weights(const float* weights, std::size_t count) noexcept {
  if (weights == nullptr) return true;
  for (std::size_t j = 0; j < count; ++j) {
    if (!(weights[j] >= 0.0f && std::isfinite(weights[j]))) return false;
  }
  return true;
}

// A loss as a float. A finite loss within our rounding error of FLT_MAX (2^-20 relative) is FLT_MAX,
// not inf: the exact loss may fit a float while the computed one lands just above the largest float.
// Further out, inf is the right answer.
inline float narrow_loss(double loss) noexcept {
  constexpr double float_max = static_cast<double>(std::numeric_limits<float>::max());
  constexpr double margin = float_max * 0x1p-20;
  if (loss > float_max && loss < float_max + margin) return std::numeric_limits<float>::max();
  if (loss < -float_max && loss > -float_max - margin) return -std::numeric_limits<float>::max();
  return static_cast<float>(loss);
}

// The target coefficients of columns [first, first + n) of a row with integer target t, in a row of
// total_cols classes (see class_coefficients); weights are the whole row's (total_cols values or null).
inline class_coefficients integer_target_coefficients(const cross_entropy_options& o, std::size_t total_cols,
                                                      std::size_t first, std::size_t n, std::size_t t) noexcept {
  class_coefficients y{o.class_weights ? o.class_weights + first : nullptr,
                       nullptr,
                       1.0f - o.label_smoothing,
                       o.label_smoothing / static_cast<float>(total_cols),
                       no_target,
                       0.0f,
                       nullptr};
  if (t >= first && t < first + n) {
    y.target = t - first;
    y.target_coefficient = (1.0f - o.label_smoothing) * (o.class_weights ? o.class_weights[t] : 1.0f);
  }
  return y;
}

// Columns [first, first + n) of coefficients y.
inline class_coefficients slice(const class_coefficients& y, std::size_t first, std::size_t n) noexcept {
  class_coefficients s = y;
  if (s.weights) s.weights += first;
  if (s.probs) s.probs += first;
  s.target = y.target != no_target && y.target >= first && y.target < first + n ? y.target - first : no_target;
  return s;
}

// Cross-entropy's logit transform z = softcap(logit_scale * x).
struct logit_transform {
  float scale;
  float softcap;
  bool active() const noexcept { return scale != 1.0f || softcap != 0.0f; }
};
inline logit_transform transform_of(const cross_entropy_options& o) noexcept { return {o.logit_scale, o.softcap}; }

// Rows that are not float without a transform go through L1 scratch, transform_piece elements at a
// time: 8 KiB per scratch array, so that the staged path's frames stay small on a worker's stack.
constexpr std::size_t transform_piece = 2048;

// Where one cross-entropy row comes from: its logits as the load kernel reads them (any dtype, with
// cross-entropy's transform) and its target probabilities (any dtype; null for integer targets).
struct cross_entropy_source {
  row_load logits;
  const void* probs;
  dtype probs_type;
};
inline cross_entropy_source source_of(const void* logits_row, dtype logits_type, std::size_t cols,
                                      const cross_entropy_options& o, const void* probs_row = nullptr,
                                      dtype probs_type = dtype::f32) noexcept {
  return {{logits_row, logits_type, o.logit_scale, o.softcap, nullptr, dtype::f32, 1.0f, cols, nullptr}, probs_row, probs_type};
}
// Float logits without a transform and float probabilities: the chunk kernels read them in place.
inline bool reads_in_place(const cross_entropy_source& s) noexcept {
  return s.logits.x_type == dtype::f32 && s.logits.scale == 1.0f && s.logits.softcap == 0.0f &&
         (s.probs == nullptr || s.probs_type == dtype::f32);
}

// The coefficients y of the piece [first, first + n) of a row (sliced from the row chunk's, which
// start at chunk_first), with the source's target probabilities decoded into q when they are not float.
inline class_coefficients piece_coefficients(const kernel_table& k, const cross_entropy_source& src,
                                             const class_coefficients& y, std::size_t chunk_first, std::size_t first,
                                             std::size_t n, float* q) noexcept {
  class_coefficients piece = slice(y, first - chunk_first, n);
  if (src.probs != nullptr) {
    if (src.probs_type == dtype::f32) {
      piece.probs = static_cast<const float*>(src.probs) + first;
    } else {
      k.load_chunk(row_load{src.probs, src.probs_type, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, first + n, nullptr}, first, n, q);
      piece.probs = q;
    }
    piece.probs_end = piece.probs + n;
  }
  return piece;
}

// Statistics of the chunk [first, first + n) of a row, loaded piece by piece and merged in order.
// y (the chunk's coefficients, without probabilities: they come from the source) null: max and
// sum_exp only.
// Not inlined: its scratch would otherwise sit in the frames of callers that take the direct path.
__attribute__((noinline)) inline chunk_stats transformed_stats_chunk(const kernel_table& k, const cross_entropy_source& src, std::size_t first,
                                           std::size_t n, const class_coefficients* y) noexcept {
  alignas(64) float z[transform_piece];
  alignas(64) float q[transform_piece];
  chunk_stats stats{};
  for (std::size_t p0 = first; p0 < first + n; p0 += transform_piece) {
    const std::size_t m = first + n - p0 < transform_piece ? first + n - p0 : transform_piece;
    k.load_chunk(src.logits, p0, m, z);
    const chunk_stats piece = y ? k.cross_entropy_stats_chunk(z, m, piece_coefficients(k, src, *y, first, p0, m, q),
                                                              nullptr, z + m)
                                : k.exp_stats_chunk(z, m, nullptr, z + m);
    stats = p0 == first ? piece : merge_stats(stats, piece);
  }
  return stats;
}

// The gradient of the chunk [first, first + n) of a row, written once to grad (the chunk's first
// element, of grad_type; it may be the logits themselves):
//   grad_j = (p_factor * exp(z_j - row_shift) - y_scale * y_j) * dz_j/dx_j
// p_factor as cross_entropy_p_factor_of gives it; y: the chunk's coefficients (probabilities from
// the source). x_end: the end of the caller's logits (what may be prefetched).
__attribute__((noinline)) inline void write_gradient_chunk(const kernel_table& k, const cross_entropy_source& src, std::size_t first,
                                 std::size_t n, double p_factor, double row_shift, float y_scale,
                                 const class_coefficients& y, void* grad, dtype grad_type,
                                 const float* x_end) noexcept {
  const auto factor = [&](const chunk_stats& piece) {
    if (std::isnan(p_factor)) return static_cast<float>(p_factor);  // one NaN payload (see chunk_weight)
    const double weight =
        piece.sum_exp == 0.0 ? 0.0 : std::exp(static_cast<double>(piece.shift) - row_shift);
    return static_cast<float>(p_factor * weight);
  };
  if (reads_in_place(src) && grad_type == dtype::f32) {
    // exp(x_j - chunk shift) into grad, then turned into the gradient in place.
    auto* g = static_cast<float*>(grad);
    const chunk_stats piece = k.exp_stats_chunk(static_cast<const float*>(src.logits.x) + first, n, g, x_end);
    k.cross_entropy_grad_chunk(g, n, factor(piece), y_scale,
                               src.probs ? piece_coefficients(k, src, y, first, first, n, nullptr) : y);
    return;
  }
  alignas(64) float z[transform_piece];
  alignas(64) float g[transform_piece];
  alignas(64) float q[transform_piece];
  const bool chain = src.logits.scale != 1.0f || src.logits.softcap != 0.0f;
  auto* out = static_cast<unsigned char*>(grad);
  for (std::size_t p0 = first; p0 < first + n; p0 += transform_piece) {
    const std::size_t m = first + n - p0 < transform_piece ? first + n - p0 : transform_piece;
    k.load_chunk(src.logits, p0, m, z);
    const chunk_stats piece = k.exp_stats_chunk(z, m, g, z + m);
    k.cross_entropy_grad_chunk(g, m, factor(piece), y_scale, piece_coefficients(k, src, y, first, p0, m, q));
    if (chain) k.logit_chain_chunk(g, z, m, src.logits.scale, src.logits.softcap, g);
    k.store_chunk(g, m, out + (p0 - first) * (grad_type == dtype::f32 ? 4 : 2), grad_type);
  }
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_OPS_CROSS_ENTROPY_COMMON_HPP
