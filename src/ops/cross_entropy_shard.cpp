// Cross-entropy over classes sharded across processes: the statistics of a shard's columns, their
// merge, and the loss and gradient of a shard's columns from the merged statistics of whole rows
// (the per-row pieces are in cross_entropy_blocks.hpp, shared with the fused linear cross-entropy).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/cross_entropy_blocks.hpp"
#include "ops/cross_entropy_common.hpp"
#include "parallel.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

bool valid_shard(std::size_t shard_cols, const class_shard& shard) noexcept {
  return shard.total_cols != 0 && shard_cols != 0 && shard.offset <= shard.total_cols &&
         shard_cols <= shard.total_cols - shard.offset;
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
                     : block_stats(k, logits.row(r), {shard.offset, cols, shard.total_cols},
                                   static_cast<std::size_t>(targets[r]), o, x_end);
    }
  });
  return status::ok;
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
  const gradient_scales scales = scales_of(o, summary);
  const double weight_total = class_weight_total(o, shard.total_cols);

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
        block_gradient(k, logits.row(r), {shard.offset, cols, shard.total_cols}, static_cast<std::size_t>(targets[r]),
                       merged[r], weight_total, scales, o, grad.row(r), x_end);
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
    const double z = z_term(o, row);
    if (none) loss[r] = narrow_loss(row.loss + z);
    total += row.loss;
    z_total += z;
  }
  if (!none) *loss = reduced_loss(o, summary, total, z_total);
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
