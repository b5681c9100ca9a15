// Cross-entropy of rows whose classes arrive in blocks: the mergeable statistics of one block of a
// row's columns, the loss of a row from its merged statistics, and the gradient of one block of its
// columns. Sharded cross-entropy (a block per process) and the fused linear cross-entropy (a block of
// logits per product) share them.
//
// A row's loss is sum_j y_j (lse - z_j) with y_j = w_j * smoothing / C + [j == t] (1 - smoothing) w_t,
// so with the row's (max, sum_exp) for lse, its target logit z_t and S = sum_j w_j z_j it is
//   (1 - smoothing) w_t (lse - z_t) + (smoothing / C) (W lse - S),   W = sum_j w_j,
// which is why four doubles per row are enough, and label smoothing is exact across blocks.
#ifndef SOFTXENT_SRC_OPS_CROSS_ENTROPY_BLOCKS_HPP
#define SOFTXENT_SRC_OPS_CROSS_ENTROPY_BLOCKS_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/cross_entropy_common.hpp"
#include "softxent/softxent.hpp"

namespace softxent::detail {

constexpr double double_infinity = __builtin_inf();

// The statistics of no columns: the identity of the merge, and an ignored row's.
constexpr shard_stats no_columns{-double_infinity, 0.0, 0.0, 0.0};

inline double shift_of_max(double max) noexcept { return max == -double_infinity ? 0.0 : max; }

// Class weights and targets, checked before anything is read from the logits. Gives the
// denominators of MEAN: the counted rows and their target weights.
struct target_summary {
  status result;
  std::size_t counted;
  double weight_sum;
};

inline target_summary check_targets(std::size_t rows, const std::int64_t* targets, std::size_t total_cols,
                                    const cross_entropy_options& o) noexcept {
  if (!valid_class_weights(o.class_weights, total_cols)) return {status::invalid_option, 0, 0.0};
  std::size_t counted = 0;
  double weight_sum = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int64_t t = targets[r];
    if (t == o.ignore_index) continue;
    if (t < 0 || static_cast<std::uint64_t>(t) >= total_cols) return {status::invalid_target, 0, 0.0};
    ++counted;
    weight_sum += o.class_weights ? static_cast<double>(o.class_weights[static_cast<std::size_t>(t)]) : 1.0;
  }
  return {status::ok, counted, weight_sum};
}

// W = sum_j w_j over the whole row (total_cols when there are no class weights).
inline double class_weight_total(const cross_entropy_options& o, std::size_t total_cols) noexcept {
  if (!o.class_weights) return static_cast<double>(total_cols);
  double total = 0.0;
  for (std::size_t j = 0; j < total_cols; ++j) total += static_cast<double>(o.class_weights[j]);
  return total;
}

// The columns [offset, offset + cols) of a row of total_cols classes.
struct column_block {
  std::size_t offset;
  std::size_t cols;
  std::size_t total_cols;
};

// The statistics of columns x[0, block.cols) of a counted row with the given target.
inline shard_stats block_stats(const kernel_table& k, const float* x, const column_block& block, std::size_t target,
                               const cross_entropy_options& o, const float* x_end) noexcept {
  const std::size_t cols = block.cols;
  const logit_transform transform = transform_of(o);
  const float* weights = o.class_weights ? o.class_weights + block.offset : nullptr;
  const bool smoothing = o.label_smoothing > 0.0f;
  const bool has_target = target >= block.offset && target - block.offset < cols;
  const std::size_t local_target = target - block.offset;
  if (is_reference(&k)) {
    const reference_row_stats s = reference_shard_stats(x, cols, o.logit_scale, o.softcap, weights);
    return {s.max, s.sum_exp,
            has_target ? reference_transformed_logit(x[local_target], o.logit_scale, o.softcap) : 0.0,
            smoothing ? s.weighted_sum : 0.0};
  }
  // y_j = w_j: the chunk kernels' y_sum and y_dot are then W and sum_j w_j (z_j - shift).
  const class_coefficients weighted{weights, nullptr, 0.0f, 1.0f, no_target, 0.0f, nullptr};
  chunk_stats s{};
  if (transform.active()) {
    s = transformed_stats_chunk(k, source_of(x, dtype::f32, cols, o), 0, cols, smoothing ? &weighted : nullptr);
  } else {
    s = smoothing ? k.cross_entropy_stats_chunk(x, cols, weighted, nullptr, x_end)
                  : k.exp_stats_chunk(x, cols, nullptr, x_end);
  }
  double target_logit = 0.0;
  if (has_target) {
    float z = x[local_target];
    if (transform.active()) k.logit_transform_chunk(x + local_target, 1, transform.scale, transform.softcap, &z);
    target_logit = z;
  }
  const double smoothing_sum = smoothing ? s.y_dot + static_cast<double>(s.shift) * s.y_sum : 0.0;
  return {static_cast<double>(s.max), s.sum_exp, target_logit, smoothing_sum};
}

// What a counted row's merged statistics give: its lse, the sum of its coefficients y_sum and its loss.
struct row_result {
  double lse;
  double y_sum;
  double loss;  // without z-loss
};

inline row_result finish_row(const shard_stats& m, std::size_t target, std::size_t total_cols, double weight_total,
                             const cross_entropy_options& o) noexcept {
  const double target_weight = o.class_weights ? static_cast<double>(o.class_weights[target]) : 1.0;
  const double target_coefficient = (1.0 - static_cast<double>(o.label_smoothing)) * target_weight;
  const double smooth = static_cast<double>(o.label_smoothing) / static_cast<double>(total_cols);
  const double y_sum = target_coefficient + smooth * weight_total;
  if (std::isnan(m.sum_exp)) return {m.sum_exp, y_sum, m.sum_exp};  // NaN or +inf in the row
  if (m.sum_exp == 0.0) return {-double_infinity, y_sum, y_sum > 0.0 ? double_infinity : 0.0};  // all masked
  const double lse = shift_of_max(m.max) + std::log(m.sum_exp);
  // Terms with a zero coefficient are skipped: a masked class that gets no weight costs nothing.
  double loss = 0.0;
  if (target_coefficient != 0.0) loss += target_coefficient * (lse - m.target_logit);
  if (smooth != 0.0) loss += smooth * (weight_total * lse - m.smoothing_sum);
  return {lse, y_sum, loss};
}

// A counted row's loss including z-loss (what NONE reports and the batch reductions add up).
inline double z_term(const cross_entropy_options& o, const row_result& row) noexcept {
  return o.z_loss == 0.0f ? 0.0 : static_cast<double>(o.z_loss) * row.lse * row.lse;
}

// The scales of a call's gradient: s of p_j - y_j, and that of the z-loss term.
struct gradient_scales {
  double grad_scale;
  double z_grad_scale;
};
inline gradient_scales scales_of(const cross_entropy_options& o, const target_summary& t) noexcept {
  const bool mean = o.reduction == reduction::mean;
  return {mean ? 1.0 / t.weight_sum : 1.0, mean ? 1.0 / static_cast<double>(t.counted) : 1.0};
}

// The gradient of columns x[0, block.cols) of a counted row with merged statistics m, into grad
// (which may be x itself).
inline void block_gradient(const kernel_table& k, const float* x, const column_block& block, std::size_t target,
                           const shard_stats& m, double weight_total, const gradient_scales& s,
                           const cross_entropy_options& o, float* grad, const float* x_end) noexcept {
  const row_result row = finish_row(m, target, block.total_cols, weight_total, o);
  const double p_factor =
      cross_entropy_p_factor_of(m.sum_exp, row.y_sum, row.lse, o.z_loss, s.grad_scale, s.z_grad_scale);
  const double shift = shift_of_max(m.max);
  if (is_reference(&k)) {
    const bool has_target = target >= block.offset && target - block.offset < block.cols;
    reference_shard_gradient(x, block.cols, o.logit_scale, o.softcap, p_factor, shift, s.grad_scale,
                             o.class_weights ? o.class_weights + block.offset : nullptr,
                             static_cast<double>(o.label_smoothing) / static_cast<double>(block.total_cols),
                             has_target ? target - block.offset : no_target,
                             (1.0 - static_cast<double>(o.label_smoothing)) *
                                 (o.class_weights ? static_cast<double>(o.class_weights[target]) : 1.0),
                             grad);
    return;
  }
  write_gradient_chunk(k, source_of(x, dtype::f32, block.cols, o), 0, block.cols, p_factor, shift,
                       static_cast<float>(s.grad_scale),
                       integer_target_coefficients(o, block.total_cols, block.offset, block.cols, target), grad,
                       dtype::f32, x_end);
}

// The batch loss from the counted rows' summed losses (without z-loss) and summed z-loss terms.
inline float reduced_loss(const cross_entropy_options& o, const target_summary& t, double total,
                          double z_total) noexcept {
  return narrow_loss(o.reduction == reduction::mean
                         ? total / t.weight_sum + z_total / static_cast<double>(t.counted)
                         : total + z_total);
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_OPS_CROSS_ENTROPY_BLOCKS_HPP
