// logsumexp, softmax and log_softmax: argument checks, then float rows without a transform straight
// through the kernels (rows of one chunk in one kernel call per unit of rows, longer rows in chunks
// merged in order: driver/long_rows.hpp), and any other dtype or a transform through the load
// kernel's L1 scratch.
#include <algorithm>
#include <cstddef>
#include <cstdint>

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

enum class forward_op { logsumexp, softmax, log_softmax };

// Arguments of one forward call, checked.
struct forward_call {
  forward_op op;
  const kernel_table* table;
  const_any_matrix x;
  void* out;            // lse (float, rows values) or y
  dtype out_type;
  std::size_t out_stride;
};

// Float in and out, no transform: the kernels read x and write the output directly.
void run_plain(const forward_call& call, const exec_options& exec) noexcept {
  const forward_op op = call.op;
  const const_matrix x(static_cast<const float*>(call.x.data), call.x.rows, call.x.cols, call.x.stride);
  float* const out = static_cast<float*>(call.out);
  const std::size_t out_stride = call.out_stride;
  const std::size_t rows = x.rows, cols = x.cols;
  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = plan_for(call.table, rows, cols);
  const std::size_t xs = x.stride;
  const float* const x_end = x.row(rows - 1) + cols;  // what the kernels may prefetch
  if (!uses_chunks(call.table, cols)) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      const float* xr = x.data + first * xs;
      switch (op) {
        case forward_op::logsumexp: k.logsumexp_rows(end - first, cols, xr, xs, out + first, x_end); break;
        case forward_op::softmax:
          k.softmax_rows(end - first, cols, xr, xs, out + first * out_stride, out_stride, x_end);
          break;
        case forward_op::log_softmax:
          k.log_softmax_rows(end - first, cols, xr, xs, out + first * out_stride, out_stride, x_end);
          break;
      }
    });
    return;
  }

  switch (op) {
    case forward_op::logsumexp:
      for_long_rows(
          ex, plan, rows, cols,
          [&](std::size_t r, std::size_t c0, std::size_t n) { return k.exp_stats_chunk(x.row(r) + c0, n, nullptr, x_end); },
          [&](std::size_t r, const chunk_stats& m) { out[r] = static_cast<float>(lse_of(m.shift, m.sum_exp)); },
          no_phase2{});
      break;
    case forward_op::softmax:
      // Phase 1 stores exp(x - chunk shift) into y; phase 2 rescales it to the row's probabilities.
      for_long_rows(
          ex, plan, rows, cols,
          [&](std::size_t r, std::size_t c0, std::size_t n) {
            return k.exp_stats_chunk(x.row(r) + c0, n, out + r * out_stride + c0, x_end);
          },
          [](std::size_t, const chunk_stats&) {},
          [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats& c, const chunk_stats& m) {
            const double factor = chunk_weight(c, m) * softmax_factor_of(m.sum_exp);
            k.scale_chunk(out + r * out_stride + c0, n, static_cast<float>(factor));
          });
      break;
    case forward_op::log_softmax:
      for_long_rows(
          ex, plan, rows, cols,
          [&](std::size_t r, std::size_t c0, std::size_t n) { return k.exp_stats_chunk(x.row(r) + c0, n, nullptr, x_end); },
          [](std::size_t, const chunk_stats&) {},
          [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats&, const chunk_stats& m) {
            k.log_softmax_chunk(x.row(r) + c0, n, m.shift, static_cast<float>(log_softmax_offset_of(m.sum_exp)),
                                out + r * out_stride + c0);
          });
      break;
  }
}


// Any dtype or a transform: each row goes through the load kernel into an L1 scratch, a piece of
// transform_piece elements at a time; the float kernels work there, and the output is stored once,
// rounded from float. Rows of one piece are loaded once (softmax keeps their exponentials in the
// scratch); longer rows twice (statistics, then output).
void run_staged(const forward_call& call, const softmax_options& t, const exec_options& exec) noexcept {
  const std::size_t rows = call.x.rows, cols = call.x.cols;
  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = plan_for(call.table, rows, cols);
  const bool log_space = call.op == forward_op::log_softmax;
  const auto out_row = [&](std::size_t r) {
    return static_cast<unsigned char*>(call.out) + r * call.out_stride * size_of(call.out_type);
  };
  const bool float_output = call.out_type == dtype::f32 && call.op != forward_op::logsumexp;
  const auto float_out_row = [&](std::size_t r) { return reinterpret_cast<float*>(out_row(r)); };
  // Classes of row r the kernels see: up to its valid length (the masked rest of its output is the
  // output's formula at z = -inf: 0 or -inf, or NaN in a NaN row, as SPEC.md has it), but all of an
  // all-masked row, as any other row.
  const auto classes_of = [&](std::size_t r) {
    const std::size_t valid = t.valid_cols == nullptr ? cols : static_cast<std::size_t>(t.valid_cols[r]);
    return valid == 0 ? cols : valid;
  };
  const auto with_sink = [&](std::size_t r, const chunk_stats& s) {
    const float* sink = sink_of(r, t);
    if (sink == nullptr) return s;
    return merge_stats(s, chunk_stats{*sink, *sink, 1.0, 0.0, 0.0});
  };

  if (is_reference(call.table)) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      for (std::size_t r = first; r < end; ++r) {
        const bool lse_only = call.op == forward_op::logsumexp;
        reference_forward_row(row_load_of(call.x, r, t), cols, sink_of(r, t), log_space,
                              lse_only ? static_cast<float*>(call.out) + r : nullptr, lse_only ? nullptr : out_row(r),
                              call.out_type);
      }
    });
    return;
  }
  // Rows of up to a piece go a row at a time (below) when that saves sweeps: rows with a sink or a
  // valid length, and softmax or log_softmax rows of at least per_row_classes into a 16-bit output,
  // which the block path would store in a sweep of its own. Measured (bf16, 1 thread): 10% faster
  // at 1000 classes, 20% at 2048; at 256 classes the per-row costs (calls, double arithmetic,
  // tails) made it 10 to 20% slower, and float outputs, which the block path's kernels write
  // directly, gained nothing.
  constexpr std::size_t per_row_classes = 512;
  const bool per_row = t.sinks != nullptr || t.valid_cols != nullptr ||
                       (cols >= per_row_classes && call.op != forward_op::logsumexp && !float_output);
  if (cols <= transform_piece && !per_row) {
    // As many whole rows as the scratch holds, loaded side by side, then the float rows kernels over
    // them in place (short rows' tiles, per-row costs shared) and each row stored once.
    // Rows packed without padding and a transform that is the same for every row (no mask row, no
    // valid length) load as one run of elements; packed outputs store as one run.
    float* const lse = call.op == forward_op::logsumexp ? static_cast<float*>(call.out) : nullptr;
    const bool dense_in = call.x.stride == cols && t.mask.data == nullptr && t.valid_cols == nullptr;
    const bool dense_out = call.out_stride == cols;
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      alignas(64) float z[transform_piece];
      const std::size_t block = transform_piece / cols;
      for (std::size_t r0 = first; r0 < end; r0 += block) {
        const std::size_t n = end - r0 < block ? end - r0 : block;
        if (dense_in) {
          row_load block_load = row_load_of(call.x, r0, t);
          block_load.valid_cols = n * cols;
          k.load_chunk(block_load, 0, n * cols, z);
        } else {
          for (std::size_t i = 0; i < n; ++i) k.load_chunk(row_load_of(call.x, r0 + i, t), 0, cols, z + i * cols);
        }
        const float* const z_end = z + n * cols;
        // The float kernels write a float output themselves; any other is made in place, then stored.
        float* const y = float_output ? float_out_row(r0) : z;
        const std::size_t y_stride = float_output ? call.out_stride : cols;
        switch (call.op) {
          case forward_op::logsumexp: k.logsumexp_rows(n, cols, z, cols, lse + r0, z_end); continue;
          case forward_op::softmax: k.softmax_rows(n, cols, z, cols, y, y_stride, z_end); break;
          case forward_op::log_softmax: k.log_softmax_rows(n, cols, z, cols, y, y_stride, z_end); break;
        }
        if (float_output) continue;
        if (dense_out) {
          k.store_chunk(z, n * cols, out_row(r0), call.out_type);
        } else {
          for (std::size_t i = 0; i < n; ++i) k.store_chunk(z + i * cols, cols, out_row(r0 + i), call.out_type);
        }
      }
    });
    return;
  }
  if (cols <= transform_piece) {
    // A row at a time through the scratch, over its valid classes only (causal rows: half the
    // exponentials): loaded with its max in one sweep, the exponentials summed (and kept, for
    // softmax) in a second, the head's sink merged into the normalizer, then the output written in
    // a third, the masked rest of it with the same formula.
    float* const lse = call.op == forward_op::logsumexp ? static_cast<float*>(call.out) : nullptr;
    const unsigned char* const out_end = lse != nullptr ? nullptr : out_row(rows - 1) + cols * size_of(call.out_type);
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      alignas(64) float z[transform_piece];
      for (std::size_t r = first; r < end; ++r) {
        const std::size_t len = classes_of(r);
        const chunk_stats piece = k.load_exp_stats_chunk(row_load_of(call.x, r, t), 0, len, z, !log_space && lse == nullptr);
        const chunk_stats m = with_sink(r, piece);
        if (lse != nullptr) {
          lse[r] = static_cast<float>(lse_of(m.shift, m.sum_exp));
          continue;
        }
        double factor = log_space ? log_softmax_offset_of(m.sum_exp) : softmax_factor_of(m.sum_exp);
        if (!log_space && sink_of(r, t) != nullptr) factor *= chunk_weight(piece, m);
        k.store_softmax_chunk(z, len, cols - len, m.shift, static_cast<float>(factor), log_space, out_row(r),
                              call.out_type, out_end);
      }
    });
    return;
  }
  // Longer rows: the driver's chunks (spread over threads when rows are few). A float output holds
  // the chunk's z itself (exact in float, so nothing is rounded twice), then, as on the direct path,
  // softmax's exp(z - chunk shift) for phase 2 to rescale: the row is decoded, masked and transformed
  // (softcap's tanh) once, with one exponential per class. Other outputs take the statistics from
  // the row in place (load_stats_chunk; softcapped rows a piece at a time through the L1 scratch, so
  // that each tanh is computed once there), then read it again and write in registers.
  const auto pieces = [&](std::size_t c0, std::size_t n, const auto& per_piece) {
    for (std::size_t p0 = c0; p0 < c0 + n; p0 += transform_piece) {
      per_piece(p0, c0 + n - p0 < transform_piece ? c0 + n - p0 : transform_piece);
    }
  };
  float* const lse = call.op == forward_op::logsumexp ? static_cast<float*>(call.out) : nullptr;
  const bool z_in_output = lse == nullptr && call.out_type == dtype::f32;
  const auto float_out = [&](std::size_t r, std::size_t c0) { return reinterpret_cast<float*>(out_row(r)) + c0; };
  for_long_rows(
      ex, plan, rows, cols,
      [&](std::size_t r, std::size_t c0, std::size_t n) {
        const row_load row = row_load_of(call.x, r, t);
        if (z_in_output) {
          // As the direct path: softmax keeps exp(z - chunk shift) there, rescaled in phase 2.
          float* const z = float_out(r, c0);
          k.load_chunk(row, c0, n, z);
          return k.exp_stats_chunk(z, n, log_space ? nullptr : z, z + n);
        }
        if (t.softcap == 0.0f) return k.load_stats_chunk(row, c0, n);
        alignas(64) float scratch[transform_piece];
        chunk_stats stats{};
        pieces(c0, n, [&](std::size_t p0, std::size_t m) {
          k.load_chunk(row, p0, m, scratch);
          const chunk_stats piece = k.exp_stats_chunk(scratch, m, nullptr, scratch + m);
          stats = p0 == c0 ? piece : merge_stats(stats, piece);
        });
        return stats;
      },
      [&](std::size_t r, chunk_stats& m) {
        m = with_sink(r, m);
        if (lse != nullptr) lse[r] = static_cast<float>(lse_of(m.shift, m.sum_exp));
      },
      [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats& c, const chunk_stats& m) {
        if (lse != nullptr) return;
        if (z_in_output) {
          float* const z = float_out(r, c0);
          if (log_space) {
            k.log_softmax_chunk(z, n, m.shift, static_cast<float>(log_softmax_offset_of(m.sum_exp)), z);
          } else {
            k.scale_chunk(z, n, static_cast<float>(chunk_weight(c, m) * softmax_factor_of(m.sum_exp)));
          }
          return;
        }
        const double factor = log_space ? log_softmax_offset_of(m.sum_exp) : softmax_factor_of(m.sum_exp);
        k.softmax_out_chunk(row_load_of(call.x, r, t), c0, n, m.shift, static_cast<float>(factor), log_space,
                            out_row(r) + c0 * size_of(call.out_type), call.out_type);
      });
}

status run_forward(forward_op op, const_any_matrix x, void* out, dtype out_type, std::size_t out_stride,
                   std::size_t out_rows, std::size_t out_cols, const softmax_options& t,
                   const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  const bool vector_out = op == forward_op::logsumexp;
  if (!valid_dtype(x.dtype) || (!vector_out && !valid_dtype(out_type))) return status::unsupported_dtype;
  if (!vector_out && (out_rows != x.rows || out_cols != x.cols)) return status::invalid_shape;
  const std::size_t rows = x.rows, cols = x.cols;
  if (const status s = check_softmax_options(rows, cols, t); s != status::ok) return s;
  if (rows == 0) return status::ok;
  if (x.data == nullptr || out == nullptr) return status::null_pointer;
  const transform_buffers tb = buffers_of(rows, cols, t);
  buffer buffers[] = {any_buffer(x.data, rows, cols, x.stride, x.dtype, false),
                      vector_out ? vector_buffer(out, rows, sizeof(float), true)
                                 : any_buffer(out, rows, cols, out_stride, out_type, true),
                      tb.mask, tb.slopes, tb.sinks, tb.valid_cols};
  // In place: y exactly x, with the same dtype.
  const bool same_type = !vector_out && out_type == x.dtype;
  if (const status s = check_buffers(buffers, [&](std::size_t o, std::size_t i) { return o == 1 && i == 0 && same_type; });
      s != status::ok)
    return s;
  const forward_call c{op, call.table, x, out, out_type, out_stride};
  if (x.dtype == dtype::f32 && (vector_out || out_type == dtype::f32) && !has_transform(t)) {
    run_plain(c, exec);
  } else {
    run_staged(c, t, exec);
  }
  return status::ok;
}

}  // namespace
}  // namespace detail

status logsumexp(const_any_matrix x, float* lse, const softmax_options& options, const exec_options& exec) noexcept {
  return detail::run_forward(detail::forward_op::logsumexp, x, lse, dtype::f32, 1, x.rows, 1, options, exec);
}

status softmax(const_any_matrix x, any_matrix y, const softmax_options& options, const exec_options& exec) noexcept {
  return detail::run_forward(detail::forward_op::softmax, x, y.data, y.dtype, y.stride, y.rows, y.cols, options, exec);
}

status log_softmax(const_any_matrix x, any_matrix y, const softmax_options& options,
                   const exec_options& exec) noexcept {
  return detail::run_forward(detail::forward_op::log_softmax, x, y.data, y.dtype, y.stride, y.rows, y.cols, options,
                             exec);
}

status logsumexp(const_matrix x, float* lse, const exec_options& exec) noexcept {
  return logsumexp(const_any_matrix(x), lse, softmax_options{}, exec);
}

status softmax(const_matrix x, matrix y, const exec_options& exec) noexcept {
  return softmax(const_any_matrix(x), any_matrix(y), softmax_options{}, exec);
}

status log_softmax(const_matrix x, matrix y, const exec_options& exec) noexcept {
  return log_softmax(const_any_matrix(x), any_matrix(y), softmax_options{}, exec);
}

}  // namespace softxent
