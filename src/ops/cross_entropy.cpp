// cross_entropy and cross_entropy_soft: argument checks, the denominators of MEAN, then rows of one
// chunk in blocks through the table's rows kernel, or longer (or transformed) rows chunk by chunk,
// with the batch loss summed per unit and then in unit order.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "driver/long_rows.hpp"
#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/cross_entropy_common.hpp"
#include "ops/logit_transform.hpp"
#include "parallel.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

// The staged rows' scratch: as many whole rows as transform_piece floats hold.
constexpr std::size_t staged_rows_floats = transform_piece;

// Rows [r0, r0 + n) of m decoded to float, side by side in out (one run when m's rows are packed).
void load_rows(const kernel_table& k, const const_any_matrix& m, std::size_t r0, std::size_t n, float* out) noexcept {
  const std::size_t cols = m.cols, row_bytes = m.stride * size_of(m.dtype);
  const auto* first = static_cast<const unsigned char*>(m.data) + r0 * row_bytes;
  if (m.stride == cols) {
    k.load_chunk(row_load{first, m.dtype, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, n * cols, nullptr}, 0, n * cols, out);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    k.load_chunk(row_load{first + i * row_bytes, m.dtype, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, cols, nullptr}, 0, cols,
                 out + i * cols);
  }
}

// The float rows in (side by side) stored once, rounded, into rows [r0, r0 + n) of m.
void store_rows(const kernel_table& k, const float* in, const any_matrix& m, std::size_t r0, std::size_t n) noexcept {
  const std::size_t cols = m.cols, row_bytes = m.stride * size_of(m.dtype);
  auto* first = static_cast<unsigned char*>(m.data) + r0 * row_bytes;
  if (m.stride == cols) {
    k.store_chunk(in, n * cols, first, m.dtype);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) k.store_chunk(in + i * cols, cols, first + i * row_bytes, m.dtype);
}

// A block of rows of any dtype through the float rows kernel: b's rows [r0, r0 + b.rows) of the
// logits (and of the probabilities, when given and not float) decoded side by side into L1 scratch,
// the gradient computed there in place and stored once, rounded. A frame of its own, so that the
// float path's frames do not carry the scratch.
__attribute__((noinline)) void staged_rows_block(const kernel_table& k, const cross_entropy_block& b,
                                                 const const_any_matrix& logits, const const_any_matrix* probs,
                                                 const any_matrix* grad, std::size_t r0) noexcept {
  alignas(64) float x[staged_rows_floats], p[staged_rows_floats];
  const std::size_t n = b.rows, cols = b.cols;
  cross_entropy_block floats = b;
  load_rows(k, logits, r0, n, x);
  floats.logits = x;
  floats.logits_stride = cols;
  floats.prefetch_end = x + n * cols;
  if (probs != nullptr) {
    if (probs->dtype == dtype::f32) {
      floats.target_probs = static_cast<const float*>(probs->data) + r0 * probs->stride;
      floats.target_stride = probs->stride;
    } else {
      load_rows(k, *probs, r0, n, p);
      floats.target_probs = p;
      floats.target_stride = cols;
    }
  }
  if (grad != nullptr) {
    floats.grad = x;
    floats.grad_stride = cols;
  }
  k.cross_entropy_rows(floats);
  if (grad != nullptr) store_rows(k, x, *grad, r0, n);
}

// No default member initializers: a call keeps max_units of these on the stack and writes the ones it
// uses (value-initialising all of them was a 40 KiB memset per call, most of a 7x13 call's time).
struct loss_partial {
  double loss;  // sum of the rows' losses without z-loss
  double z;     // sum of lse^2 over the counted rows
  // Only where the targets are checked inside the units (see run_cross_entropy):
  std::size_t counted;  // rows that count
  double weight;        // their target weights
  bool invalid;         // a target outside [0, cols) that is not the ignore index
};

status run_cross_entropy(const_any_matrix logits_any, const std::int64_t* targets, const_any_matrix probs_any,
                         float* loss, any_matrix grad_any, const cross_entropy_options& o,
                         const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (const status s = check_scalar_options(o); s != status::ok) return s;
  const bool soft = targets == nullptr;
  if (!valid_dtype(logits_any.dtype) || (soft && !valid_dtype(probs_any.dtype)) ||
      (grad_any.data != nullptr && !valid_dtype(grad_any.dtype)))
    return status::unsupported_dtype;
  // Float views for the kernels that read float in place; typed operands go through the load kernel.
  const const_matrix logits(static_cast<const float*>(logits_any.data), logits_any.rows, logits_any.cols,
                            logits_any.stride);
  const const_matrix probs(static_cast<const float*>(probs_any.data), probs_any.rows, probs_any.cols, probs_any.stride);
  const matrix grad(static_cast<float*>(grad_any.data), grad_any.rows, grad_any.cols, grad_any.stride);
  const bool typed = logits_any.dtype != dtype::f32 || (soft && probs_any.dtype != dtype::f32) ||
                     (grad.data != nullptr && grad_any.dtype != dtype::f32);
  const std::size_t rows = logits.rows, cols = logits.cols;
  if (soft && (probs.rows != rows || probs.cols != cols)) return status::invalid_shape;
  if (grad.data != nullptr && (grad.rows != rows || grad.cols != cols)) return status::invalid_shape;
  if (rows == 0) return status::ok;
  if (logits.data == nullptr || loss == nullptr || (soft && probs.data == nullptr)) return status::null_pointer;
  const std::size_t loss_count = o.reduction == reduction::none ? rows : 1;
  buffer buffers[] = {
      any_buffer(logits.data, rows, cols, logits.stride, logits_any.dtype, false),
      soft ? any_buffer(probs.data, rows, cols, probs.stride, probs_any.dtype, false)
           : vector_buffer(targets, rows, sizeof(std::int64_t), false),
      vector_buffer(o.class_weights, cols, sizeof(float), false),
      vector_buffer(loss, loss_count, sizeof(float), true),
      any_buffer(grad.data, rows, cols, grad.stride, grad_any.dtype, true),
  };
  // Only grad (index 4) may be exactly the logits (index 0), and only with the same dtype.
  const bool same_type = grad_any.dtype == logits_any.dtype;
  if (const status s = check_buffers(buffers, [&](std::size_t out, std::size_t in) { return out == 4 && in == 0 && same_type; });
      s != status::ok)
    return s;
  if (!valid_class_weights(o.class_weights, cols)) return status::invalid_option;
  const auto byte_row = [](const auto& m, dtype type, std::size_t r) {
    return static_cast<const unsigned char*>(m.data) + r * m.stride * size_of(type);
  };
  const auto grad_row = [&](std::size_t r) {
    return static_cast<unsigned char*>(grad_any.data) + r * grad_any.stride * size_of(grad_any.dtype);
  };
  const auto source = [&](std::size_t r) {
    return source_of(byte_row(logits_any, logits_any.dtype, r), logits_any.dtype, cols, o,
                     soft ? byte_row(probs_any, probs_any.dtype, r) : nullptr, probs_any.dtype);
  };
  // Targets: valid classes, and the denominators of MEAN (sum of the counted rows' target weights, and
  // the count of counted rows for z-loss) before any gradient is written. A reduced loss without
  // gradient writes nothing before the end, so there the units check their own targets as they go
  // (a serial pass over the targets would cost the second thread a third of its time at 10 classes).
  // Rows of one chunk go through the table's rows kernel in one call, except with a logit transform,
  // which only the reference's rows kernel takes: the other tables then go chunk by chunk.
  // Short rows of any dtype without a transform are decoded, many rows at a time, into an L1 scratch
  // of float rows that the rows kernel then reads (and writes the gradient into, in place).
  const logit_transform transform = transform_of(o);
  const bool staged = transform.active() || typed;
  const bool staged_rows = typed && !transform.active() && cols <= transform_piece && !is_reference(call.table);
  const bool chunked = uses_chunks(call.table, cols) || (staged && !is_reference(call.table) && !staged_rows);
  const bool checked_in_units = !soft && grad.data == nullptr && o.reduction != reduction::none && !chunked &&
                                !is_reference(call.table);
  double weight_sum = 0.0;
  std::size_t counted = rows;
  if (!soft && !checked_in_units) {
    counted = 0;
    double weight_sums[4] = {0.0, 0.0, 0.0, 0.0};  // four chains: one double add per row is latency-bound
    for (std::size_t r = 0; r < rows; ++r) {
      const std::int64_t t = targets[r];
      if (t == o.ignore_index) continue;
      if (t < 0 || static_cast<std::uint64_t>(t) >= cols) return status::invalid_target;
      ++counted;
      if (o.class_weights) weight_sums[r % 4] += static_cast<double>(o.class_weights[static_cast<std::size_t>(t)]);
    }
    weight_sum = o.class_weights ? (weight_sums[0] + weight_sums[1]) + (weight_sums[2] + weight_sums[3])
                                 : static_cast<double>(counted);
  } else {
    weight_sum = static_cast<double>(rows);
  }

  const bool mean = o.reduction == reduction::mean;
  if (mean && !checked_in_units && (counted == 0 || weight_sum == 0.0)) {
    // Nothing counts: loss 0 and gradient 0, whatever the logits hold.
    *loss = 0.0f;
    if (grad.data != nullptr) {
      for (std::size_t r = 0; r < rows; ++r) std::memset(grad_row(r), 0, cols * size_of(grad_any.dtype));
    }
    return status::ok;
  }
  const double grad_scale = mean ? 1.0 / weight_sum : 1.0;
  const double z_grad_scale = mean ? 1.0 / static_cast<double>(counted) : 1.0;

  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = plan_for(call.table, rows, cols);
  const float* const logits_end =  // what the kernels may prefetch (float logits only)
      logits_any.dtype == dtype::f32 ? logits.row(rows - 1) + cols : nullptr;
  loss_partial partials[max_units];
  const auto finish_row = [&](std::size_t r, double row_loss, double row_lse, loss_partial& partial) {
    const bool ignored = !soft && targets[r] == o.ignore_index;
    const double z = ignored || o.z_loss == 0.0f ? 0.0 : static_cast<double>(o.z_loss) * row_lse * row_lse;
    if (o.reduction == reduction::none) loss[r] = narrow_loss(row_loss + z);
    partial.loss += row_loss;
    partial.z += z;
  };

  if (!chunked) {
    for_units(ex, plan, rows, [&](std::size_t unit, std::size_t first, std::size_t end) {
      constexpr std::size_t most_rows = 64;
      const std::size_t block = staged_rows ? std::min(most_rows, transform_piece / cols) : most_rows;
      double row_loss[most_rows], row_lse[most_rows];
      std::int64_t checked[most_rows];
      loss_partial partial{};
      for (std::size_t r0 = first; r0 < end; r0 += block) {
        const std::size_t n = end - r0 < block ? end - r0 : block;
        const std::int64_t* block_targets = soft ? nullptr : targets + r0;
        if (checked_in_units) {
          // An invalid target is flagged and ignored here; the call then fails without writing.
          double weights[4] = {0.0, 0.0, 0.0, 0.0};
          for (std::size_t i = 0; i < n; ++i) {
            std::int64_t t = block_targets[i];
            if (t != o.ignore_index && (t < 0 || static_cast<std::uint64_t>(t) >= cols)) {
              partial.invalid = true;
              t = o.ignore_index;
            }
            checked[i] = t;
            if (t == o.ignore_index) continue;
            ++partial.counted;
            if (o.class_weights) weights[i % 4] += static_cast<double>(o.class_weights[static_cast<std::size_t>(t)]);
          }
          partial.weight += (weights[0] + weights[1]) + (weights[2] + weights[3]);
          block_targets = checked;
        }
        const cross_entropy_block b{n,
                                    cols,
                                    typed ? nullptr : logits.row(r0),
                                    logits.stride,
                                    block_targets,
                                    soft && !typed ? probs.row(r0) : nullptr,
                                    probs.stride,
                                    o.ignore_index,
                                    o.label_smoothing,
                                    o.class_weights,
                                    o.z_loss,
                                    o.logit_scale,
                                    o.softcap,
                                    grad_scale,
                                    z_grad_scale,
                                    grad.data && !typed ? grad.row(r0) : nullptr,
                                    grad.stride,
                                    row_loss,
                                    row_lse,
                                    logits_end};
        if (staged_rows) {
          staged_rows_block(k, b, logits_any, soft ? &probs_any : nullptr, grad.data != nullptr ? &grad_any : nullptr,
                            r0);
        } else if (typed) {
          // The reference (the only table that takes rows of any dtype here) reads the typed operands.
          reference_cross_entropy_rows(b, {byte_row(logits_any, logits_any.dtype, r0), logits_any.dtype, logits.stride},
                                       {soft ? byte_row(probs_any, probs_any.dtype, r0) : nullptr, probs_any.dtype,
                                        probs.stride},
                                       {grad.data ? grad_row(r0) : nullptr, grad_any.dtype, grad.stride});
        } else {
          k.cross_entropy_rows(b);
        }
        if (o.reduction == reduction::none || o.z_loss != 0.0f) {
          for (std::size_t i = 0; i < n; ++i) finish_row(r0 + i, row_loss[i], row_lse[i], partial);
        } else {
          // The same sum without z-loss (ignored rows have loss 0), in four chains instead of one.
          double sums[4] = {0.0, 0.0, 0.0, 0.0};
          for (std::size_t i = 0; i < n; ++i) sums[i % 4] += row_loss[i];
          partial.loss += (sums[0] + sums[1]) + (sums[2] + sums[3]);
        }
      }
      partials[unit] = partial;
    });
  } else {
    for (std::size_t u = 0; u < plan.units; ++u) partials[u] = loss_partial{};
    const float* const probs_end =  // what may be prefetched
        soft && probs_any.dtype == dtype::f32 ? probs.row(rows - 1) + cols : nullptr;
    // The target coefficients of the chunk [c0, c0 + n) of row r.
    const auto coefficients = [&](std::size_t r, std::size_t c0, std::size_t n) {
      if (!soft) return integer_target_coefficients(o, cols, c0, n, static_cast<std::size_t>(targets[r]));
      return class_coefficients{o.class_weights ? o.class_weights + c0 : nullptr,
                                probs_any.dtype == dtype::f32 ? probs.row(r) + c0 : nullptr,
                                1.0f - o.label_smoothing,
                                o.label_smoothing / static_cast<float>(cols),
                                no_target,
                                0.0f,
                                probs_end};
    };
    // The same without the probabilities, which the staged path takes from the row's source.
    const auto typed_coefficients = [&](std::size_t r, std::size_t c0, std::size_t n) {
      class_coefficients y = coefficients(r, c0, n);
      y.probs = nullptr;
      y.probs_end = nullptr;
      return y;
    };
    const auto ignored = [&](std::size_t r) { return !soft && targets[r] == o.ignore_index; };
    float* const g = grad.data;
    for_long_rows(
        ex, plan, rows, cols,
        [&](std::size_t r, std::size_t c0, std::size_t n) {
          if (ignored(r)) {
            if (g) std::memset(grad_row(r) + c0 * size_of(grad_any.dtype), 0, n * size_of(grad_any.dtype));
            return chunk_stats{0.0f, 0.0f, 0.0, 0.0, 0.0};
          }
          if (staged) {
            const class_coefficients y = typed_coefficients(r, c0, n);
            return transformed_stats_chunk(k, source(r), c0, n, &y);
          }
          const class_coefficients y = coefficients(r, c0, n);
          // Stores exp(x_j - chunk shift) into the gradient for phase 2.
          return k.cross_entropy_stats_chunk(logits.row(r) + c0, n, y, g ? grad.row(r) + c0 : nullptr, logits_end);
        },
        [&](std::size_t r, const chunk_stats& m) {
          const double row_lse = ignored(r) ? 0.0 : lse_of(m.shift, m.sum_exp);
          const double row_loss = ignored(r) ? 0.0 : cross_entropy_loss_of(m.sum_exp, m.y_sum, m.y_dot);
          finish_row(r, row_loss, row_lse, partials[r / plan.rows_per_unit]);
        },
        [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats& c, const chunk_stats& m) {
          if (!g || ignored(r)) return;
          const double row_lse = lse_of(m.shift, m.sum_exp);
          const double row_factor =
              cross_entropy_p_factor_of(m.sum_exp, m.y_sum, row_lse, o.z_loss, grad_scale, z_grad_scale);
          if (staged) {
            write_gradient_chunk(k, source(r), c0, n, row_factor, m.shift, static_cast<float>(grad_scale),
                                 typed_coefficients(r, c0, n), grad_row(r) + c0 * size_of(grad_any.dtype),
                                 grad_any.dtype, logits_end);
            return;
          }
          const double p_factor = row_factor * chunk_weight(c, m);
          k.cross_entropy_grad_chunk(grad.row(r) + c0, n, static_cast<float>(p_factor),
                                     static_cast<float>(grad_scale), coefficients(r, c0, n));
        });
  }

  if (o.reduction == reduction::none) return status::ok;
  loss_partial total{};
  for (std::size_t u = 0; u < plan.units; ++u) {
    total.loss += partials[u].loss;
    total.z += partials[u].z;
    total.counted += partials[u].counted;
    total.weight += partials[u].weight;
    total.invalid = total.invalid || partials[u].invalid;
  }
  if (checked_in_units) {
    if (total.invalid) return status::invalid_target;
    counted = total.counted;
    weight_sum = o.class_weights ? total.weight : static_cast<double>(counted);
    if (mean && (counted == 0 || weight_sum == 0.0)) {
      *loss = 0.0f;
      return status::ok;
    }
  }
  *loss = narrow_loss(mean ? total.loss / weight_sum + total.z / static_cast<double>(counted) : total.loss + total.z);
  return status::ok;
}

}  // namespace
}  // namespace detail

status cross_entropy(const_any_matrix logits, const std::int64_t* targets, float* loss, any_matrix grad,
                     const cross_entropy_options& options, const exec_options& exec) noexcept {
  if (targets == nullptr && logits.rows > 0) {
    // Check the options first, as for any call, then report the missing targets.
    const detail::call_setup call = detail::setup(exec);
    if (call.result != status::ok) return call.result;
    if (const status s = detail::check_scalar_options(options); s != status::ok) return s;
    return status::null_pointer;
  }
  static const std::int64_t no_targets = 0;  // rows == 0: never read
  return detail::run_cross_entropy(logits, targets ? targets : &no_targets, const_any_matrix{}, loss, grad, options,
                                   exec);
}

status cross_entropy_soft(const_any_matrix logits, const_any_matrix target_probs, float* loss, any_matrix grad,
                          const cross_entropy_options& options, const exec_options& exec) noexcept {
  return detail::run_cross_entropy(logits, nullptr, target_probs, loss, grad, options, exec);
}

status cross_entropy(const_matrix logits, const std::int64_t* targets, float* loss, matrix grad,
                     const cross_entropy_options& options, const exec_options& exec) noexcept {
  return cross_entropy(const_any_matrix(logits), targets, loss, any_matrix(grad), options, exec);
}

status cross_entropy_soft(const_matrix logits, const_matrix target_probs, float* loss, matrix grad,
                          const cross_entropy_options& options, const exec_options& exec) noexcept {
  return cross_entropy_soft(const_any_matrix(logits), const_any_matrix(target_probs), loss, any_matrix(grad), options,
                            exec);
}

}  // namespace softxent
