// Cross-entropy over classes sharded across processes: the statistics of a shard's columns, their
// merge, and the loss and gradient of a shard's columns from the merged statistics of whole rows.
//
// A row's loss is sum_j y_j (lse - z_j) with y_j = w_j * smoothing / C + [j == t] (1 - smoothing) w_t,
// so with the row's (max, sum_exp) for lse, its target logit z_t and S = sum_j w_j z_j it is
//   (1 - smoothing) w_t (lse - z_t) + (smoothing / C) (W lse - S),   W = sum_j w_j,
// which is why four doubles per row are enough, and label smoothing is exact across shards.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/cross_entropy_common.hpp"
#include "parallel.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

constexpr double infinity = __builtin_inf();

// The statistics of no columns: the identity of the merge, and an ignored row's.
constexpr shard_stats no_columns{-infinity, 0.0, 0.0, 0.0};

double shift_of_max(double max) noexcept { return max == -infinity ? 0.0 : max; }

bool valid_shard(std::size_t shard_cols, const class_shard& shard) noexcept {
  return shard.total_cols != 0 && shard_cols != 0 && shard.offset <= shard.total_cols &&
         shard_cols <= shard.total_cols - shard.offset;
}

// The checks shared by both calls, before anything is read from the logits: options, the shard,
// class weights and targets. Gives the denominators of MEAN: the counted rows and their target weights.
struct target_summary {
  status result;
  std::size_t counted;
  double weight_sum;
};

target_summary check_targets(std::size_t rows, const std::int64_t* targets, std::size_t total_cols,
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

// The statistics of row r's shard (not ignored).
shard_stats row_stats(const kernel_table& k, const float* x, std::size_t cols, const class_shard& shard,
                      std::size_t target, const cross_entropy_options& o, const float* x_end) noexcept {
  const logit_transform transform = transform_of(o);
  const float* weights = o.class_weights ? o.class_weights + shard.offset : nullptr;
  const bool smoothing = o.label_smoothing > 0.0f;
  const bool has_target = target >= shard.offset && target - shard.offset < cols;
  const std::size_t local_target = target - shard.offset;
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

status run_shard_stats(const_matrix logits, const class_shard& shard, const std::int64_t* targets, shard_stats* stats,
                       const cross_entropy_options& o, const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (const status s = check_scalar_options(o); s != status::ok) return s;
  const std::size_t rows = logits.rows, cols = logits.cols;
  if (rows == 0) return status::ok;
  if (!valid_shard(cols, shard)) return status::invalid_shape;
  if (logits.data == nullptr || targets == nullptr || stats == nullptr) return status::null_pointer;
  buffer buffers[] = {matrix_buffer(logits.data, rows, cols, logits.stride, false),
                      vector_buffer(targets, rows, sizeof(std::int64_t), false),
                      vector_buffer(o.class_weights, shard.total_cols, sizeof(float), false),
                      vector_buffer(stats, rows, sizeof(shard_stats), true)};
  if (const status s = check_buffers(buffers, [](std::size_t, std::size_t) { return false; }); s != status::ok) return s;
  if (const target_summary t = check_targets(rows, targets, shard.total_cols, o); t.result != status::ok) return t.result;

  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const float* const x_end = logits.row(rows - 1) + cols;  // what the kernels may prefetch
  for_units(ex, plan_for(call.table, rows, cols), rows, [&](std::size_t, std::size_t first, std::size_t end) {
    for (std::size_t r = first; r < end; ++r) {
      stats[r] = targets[r] == o.ignore_index
                     ? no_columns
                     : row_stats(k, logits.row(r), cols, shard, static_cast<std::size_t>(targets[r]), o, x_end);
    }
  });
  return status::ok;
}

// What finish needs of a counted row: its lse, the sum of its coefficients y_sum and its loss.
struct row_result {
  double lse;
  double y_sum;
  double loss;  // without z-loss
};

row_result finish_row(const shard_stats& m, std::size_t target, std::size_t total_cols, double weight_total,
                      const cross_entropy_options& o) noexcept {
  const double target_weight = o.class_weights ? static_cast<double>(o.class_weights[target]) : 1.0;
  const double target_coefficient = (1.0 - static_cast<double>(o.label_smoothing)) * target_weight;
  const double smooth = static_cast<double>(o.label_smoothing) / static_cast<double>(total_cols);
  const double y_sum = target_coefficient + smooth * weight_total;
  if (std::isnan(m.sum_exp)) return {m.sum_exp, y_sum, m.sum_exp};  // NaN or +inf in the row
  if (m.sum_exp == 0.0) return {-infinity, y_sum, y_sum > 0.0 ? infinity : 0.0};  // all masked
  const double lse = shift_of_max(m.max) + std::log(m.sum_exp);
  // Terms with a zero coefficient are skipped: a masked class that gets no weight costs nothing.
  double loss = 0.0;
  if (target_coefficient != 0.0) loss += target_coefficient * (lse - m.target_logit);
  if (smooth != 0.0) loss += smooth * (weight_total * lse - m.smoothing_sum);
  return {lse, y_sum, loss};
}

status run_shard_finish(const_matrix logits, const class_shard& shard, const std::int64_t* targets,
                        const shard_stats* merged, float* loss, matrix grad, const cross_entropy_options& o,
                        const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (const status s = check_scalar_options(o); s != status::ok) return s;
  const std::size_t rows = logits.rows, cols = logits.cols;
  if (grad.data != nullptr && (grad.rows != rows || grad.cols != cols)) return status::invalid_shape;
  if (rows == 0) return status::ok;
  if (!valid_shard(cols, shard)) return status::invalid_shape;
  if (targets == nullptr || merged == nullptr || loss == nullptr) return status::null_pointer;
  if (grad.data != nullptr && logits.data == nullptr) return status::null_pointer;
  const bool none = o.reduction == reduction::none;
  buffer buffers[] = {matrix_buffer(logits.data, rows, cols, logits.stride, false),
                      vector_buffer(targets, rows, sizeof(std::int64_t), false),
                      vector_buffer(o.class_weights, shard.total_cols, sizeof(float), false),
                      vector_buffer(merged, rows, sizeof(shard_stats), false),
                      vector_buffer(loss, none ? rows : 1, sizeof(float), true),
                      matrix_buffer(grad.data, rows, cols, grad.stride, true)};
  // Only grad (index 5) may be exactly the logits (index 0).
  if (const status s = check_buffers(buffers, [](std::size_t out, std::size_t in) { return out == 5 && in == 0; });
      s != status::ok)
    return s;
  const target_summary summary = check_targets(rows, targets, shard.total_cols, o);
  if (summary.result != status::ok) return summary.result;

  const bool mean = o.reduction == reduction::mean;
  if (mean && (summary.counted == 0 || summary.weight_sum == 0.0)) {
    // Nothing counts: loss 0 and gradient 0, whatever the logits hold.
    *loss = 0.0f;
    if (grad.data != nullptr) {
      for (std::size_t r = 0; r < rows; ++r) std::memset(grad.row(r), 0, cols * sizeof(float));
    }
    return status::ok;
  }
  const double grad_scale = mean ? 1.0 / summary.weight_sum : 1.0;
  const double z_grad_scale = mean ? 1.0 / static_cast<double>(summary.counted) : 1.0;
  double weight_total = static_cast<double>(shard.total_cols);
  if (o.class_weights) {
    weight_total = 0.0;
    for (std::size_t j = 0; j < shard.total_cols; ++j) weight_total += static_cast<double>(o.class_weights[j]);
  }

  // This shard's columns of the gradient, row by row: each row's bits depend on its own data alone.
  if (grad.data != nullptr) {
    const kernel_table& k = *call.table;
    executor ex(exec, is_reference(call.table));
    const float* const x_end = logits.row(rows - 1) + cols;  // what the kernels may prefetch
    for_units(ex, plan_for(call.table, rows, cols), rows, [&](std::size_t, std::size_t first, std::size_t end) {
      for (std::size_t r = first; r < end; ++r) {
        if (targets[r] == o.ignore_index) {
          std::memset(grad.row(r), 0, cols * sizeof(float));
          continue;
        }
        const auto t = static_cast<std::size_t>(targets[r]);
        const row_result row = finish_row(merged[r], t, shard.total_cols, weight_total, o);
        const double p_factor = cross_entropy_p_factor_of(merged[r].sum_exp, row.y_sum, row.lse, o.z_loss, grad_scale,
                                                          z_grad_scale);
        const double shift = shift_of_max(merged[r].max);
        if (is_reference(call.table)) {
          const bool has_target = t >= shard.offset && t - shard.offset < cols;
          reference_shard_gradient(logits.row(r), cols, o.logit_scale, o.softcap, p_factor, shift, grad_scale,
                                   o.class_weights ? o.class_weights + shard.offset : nullptr,
                                   static_cast<double>(o.label_smoothing) / static_cast<double>(shard.total_cols),
                                   has_target ? t - shard.offset : no_target,
                                   (1.0 - static_cast<double>(o.label_smoothing)) *
                                       (o.class_weights ? static_cast<double>(o.class_weights[t]) : 1.0),
                                   grad.row(r));
          continue;
        }
        write_gradient_chunk(k, source_of(logits.row(r), dtype::f32, cols, o), 0, cols, p_factor, shift,
                             static_cast<float>(grad_scale),
                             integer_target_coefficients(o, shard.total_cols, shard.offset, cols, t), grad.row(r),
                             dtype::f32, x_end);
      }
    });
  }

  // The loss, on the calling thread in row order: its bits depend on the merged statistics, targets
  // and options alone, which every process holds alike, never on this process's shard.
  double total = 0.0, z_total = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    if (targets[r] == o.ignore_index) {
      if (none) loss[r] = 0.0f;
      continue;
    }
    const row_result row =
        finish_row(merged[r], static_cast<std::size_t>(targets[r]), shard.total_cols, weight_total, o);
    const double z = o.z_loss == 0.0f ? 0.0 : static_cast<double>(o.z_loss) * row.lse * row.lse;
    if (none) loss[r] = narrow_loss(row.loss + z);
    total += row.loss;
    z_total += z;
  }
  if (!none) {
    *loss = narrow_loss(mean ? total / summary.weight_sum + z_total / static_cast<double>(summary.counted)
                             : total + z_total);
  }
  return status::ok;
}

}  // namespace
}  // namespace detail

status cross_entropy_shard_stats(const_matrix logits, class_shard shard, const std::int64_t* targets,
                                 shard_stats* stats, const cross_entropy_options& options,
                                 const exec_options& exec) noexcept {
  return detail::run_shard_stats(logits, shard, targets, stats, options, exec);
}

void shard_stats_merge(std::size_t rows, const shard_stats* in, shard_stats* inout) noexcept {
  for (std::size_t r = 0; r < rows; ++r) {
    const shard_stats a = inout[r], b = in[r];
    const double max = a.max >= b.max ? a.max : (b.max > a.max ? b.max : a.max + b.max);  // NaN if either is
    const double shift = detail::shift_of_max(max);
    const auto rebased = [&](const shard_stats& s) {
      return s.sum_exp == 0.0 ? 0.0 : s.sum_exp * std::exp(detail::shift_of_max(s.max) - shift);
    };
    inout[r] = {max, rebased(a) + rebased(b), a.target_logit + b.target_logit, a.smoothing_sum + b.smoothing_sum};
  }
}

status cross_entropy_shard_finish(const_matrix logits, class_shard shard, const std::int64_t* targets,
                                  const shard_stats* merged, float* loss, matrix grad,
                                  const cross_entropy_options& options, const exec_options& exec) noexcept {
  return detail::run_shard_finish(logits, shard, targets, merged, loss, grad, options, exec);
}

}  // namespace softxent
