// The C++ API: argument checks, then the driver that cuts a call into units of work (from the shape
// alone), runs the kernels of the chosen table on them, merges the chunks of long rows in a fixed order
// and reduces cross-entropy losses in a fixed order. Nothing here allocates or throws.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "dispatch.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "parallel.hpp"
#include "softxent/softxent.hpp"

#ifndef SOFTXENT_VERSION_STRING
#define SOFTXENT_VERSION_STRING "0.0.0"
#endif

namespace softxent {
namespace detail {
namespace {

// ---------------------------------------------------------------------------------------------
// Argument checks

// The bytes a matrix spans, as integers so that unrelated buffers can be compared.
struct byte_range {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;  // begin == end: nothing
};

bool ranges_overlap(const byte_range& a, const byte_range& b) noexcept {
  return a.begin < a.end && b.begin < b.end && a.begin < b.end && b.begin < a.end;
}

// Elements spanned by rows x cols with a stride, or false when the count or its bytes overflow.
bool span_elements(std::size_t rows, std::size_t cols, std::size_t stride, std::size_t element_size,
                   std::size_t& elements) noexcept {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  if (rows > 1 && stride > (max - cols) / (rows - 1)) return false;
  elements = (rows - 1) * stride + cols;
  return elements <= max / element_size;
}

byte_range range_of(const void* data, std::size_t elements, std::size_t element_size) noexcept {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  return {begin, begin + elements * element_size};
}

// One buffer of a call, for the shape and overlap checks.
struct buffer {
  const void* data;
  std::size_t rows;    // rows of the matrix (vectors: 1)
  std::size_t cols;    // elements per row
  std::size_t stride;  // elements between rows
  std::size_t element_size;
  bool output;
  byte_range range;
};

buffer matrix_buffer(const void* data, std::size_t rows, std::size_t cols, std::size_t stride, bool output) {
  return {data, rows, cols, stride, sizeof(float), output, {}};
}
buffer vector_buffer(const void* data, std::size_t count, std::size_t element_size, bool output) {
  return {data, 1, count, count, element_size, output, {}};
}

// Shapes and overlaps of a call's buffers (rows > 0). Null buffers are skipped (checked before).
// An output may alias an input exactly (same pointer and stride) only when allow_exact_alias says so.
template <std::size_t N, class AllowExactAlias>
status check_buffers(buffer (&buffers)[N], const AllowExactAlias& allow_exact_alias) noexcept {
  for (buffer& b : buffers) {
    if (b.data == nullptr) continue;
    if (b.cols == 0 || b.stride < b.cols) return status::invalid_shape;
    std::size_t elements = 0;
    if (!span_elements(b.rows, b.cols, b.stride, b.element_size, elements)) return status::invalid_shape;
    b.range = range_of(b.data, elements, b.element_size);
    if (b.range.end < b.range.begin) return status::invalid_shape;  // wraps the address space
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (!buffers[i].output || buffers[i].data == nullptr) continue;
    for (std::size_t k = 0; k < N; ++k) {
      if (k == i || buffers[k].data == nullptr) continue;
      if (!ranges_overlap(buffers[i].range, buffers[k].range)) continue;
      const bool exact = buffers[i].data == buffers[k].data && buffers[i].stride == buffers[k].stride &&
                         buffers[i].rows == buffers[k].rows && buffers[i].cols == buffers[k].cols;
      if (!(exact && !buffers[k].output && allow_exact_alias(i, k))) return status::overlap;
    }
  }
  return status::ok;
}

// The table and executor of a call, once its exec options are valid.
struct call_setup {
  status result;
  const kernel_table* table;
};

call_setup setup(const exec_options& exec) noexcept {
  if (exec.threads < 0) return {status::invalid_option, nullptr};
  const table_choice choice = choose_table(exec.isa);
  return {choice.result, choice.table};
}

bool is_reference(const kernel_table* table) noexcept { return table->exp_stats_chunk == nullptr; }

// ---------------------------------------------------------------------------------------------
// Units of work

// A unit is a group of whole rows of about unit_elements elements; at most max_units of them, so that
// the per-unit partial sums of cross-entropy fit on the stack.
constexpr std::size_t unit_elements = std::size_t{1} << 14;
constexpr std::size_t max_units = 1024;
// Below this many long rows, the chunks of a row are spread over threads instead of the rows.
constexpr std::size_t few_rows = 4;

struct row_plan {
  std::size_t rows_per_unit;
  std::size_t units;
};

row_plan plan_rows(std::size_t rows, std::size_t cols) noexcept {
  std::size_t per_unit = cols >= unit_elements ? 1 : unit_elements / cols;
  if (per_unit > rows) per_unit = rows;
  std::size_t units = (rows + per_unit - 1) / per_unit;
  if (units > max_units) {
    per_unit = (rows + max_units - 1) / max_units;
    units = (rows + per_unit - 1) / per_unit;
  }
  return {per_unit, units};
}

// True when rows of this length go through the driver's chunk merge rather than one kernel call.
bool uses_chunks(const kernel_table* table, std::size_t cols) noexcept {
  return !is_reference(table) && cols > chunk_length(cols);
}

// Runs per_unit(unit, first_row, end_row) for every unit of the plan.
template <class PerUnit>
void for_units(executor& ex, const row_plan& plan, std::size_t rows, const PerUnit& per_unit) noexcept {
  auto body = [&](std::size_t first_unit, std::size_t end_unit) {
    for (std::size_t unit = first_unit; unit < end_unit; ++unit) {
      const std::size_t first = unit * plan.rows_per_unit;
      const std::size_t end = first + plan.rows_per_unit < rows ? first + plan.rows_per_unit : rows;
      per_unit(unit, first, end);
    }
  };
  ex.run(plan.units, body);
}

// Long rows, cut into chunks: phase1(row, first_col, n) -> chunk_stats, then, once per row with the
// chunks merged in order, finish(row, merged), then phase2(row, first_col, n, chunk, merged). With
// many rows each unit does whole rows; with few, the chunks are spread over the threads. The bits are
// the same either way: the same chunks, merged in the same order by the same code.
template <class Phase1, class Finish, class Phase2>
void for_long_rows(executor& ex, const row_plan& plan, std::size_t rows, std::size_t cols, const Phase1& phase1,
                   const Finish& finish, const Phase2& phase2) noexcept {
  const std::size_t chunk = chunk_length(cols);
  const std::size_t chunks = (cols + chunk - 1) / chunk;
  const auto length = [&](std::size_t c) { return c + 1 < chunks ? chunk : cols - c * chunk; };
  const auto merge_row = [&](const chunk_stats* stats) {
    chunk_stats merged = stats[0];
    for (std::size_t c = 1; c < chunks; ++c) merged = merge_stats(merged, stats[c]);
    return merged;
  };

  if (rows >= few_rows || !ex.can_run_in_parallel()) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      chunk_stats stats[max_chunks_per_row];
      for (std::size_t r = first; r < end; ++r) {
        for (std::size_t c = 0; c < chunks; ++c) stats[c] = phase1(r, c * chunk, length(c));
        const chunk_stats merged = merge_row(stats);
        finish(r, merged);
        for (std::size_t c = 0; c < chunks; ++c) phase2(r, c * chunk, length(c), stats[c], merged);
      }
    });
    return;
  }
  chunk_stats stats[few_rows * max_chunks_per_row];
  chunk_stats merged[few_rows];
  const std::size_t units = rows * chunks;
  auto first_phase = [&](std::size_t first, std::size_t end) {
    for (std::size_t u = first; u < end; ++u) stats[u] = phase1(u / chunks, (u % chunks) * chunk, length(u % chunks));
  };
  ex.run(units, first_phase);
  for (std::size_t r = 0; r < rows; ++r) {
    merged[r] = merge_row(stats + r * chunks);
    finish(r, merged[r]);
  }
  auto second_phase = [&](std::size_t first, std::size_t end) {
    for (std::size_t u = first; u < end; ++u) {
      const std::size_t r = u / chunks, c = u % chunks;
      phase2(r, c * chunk, length(c), stats[u], merged[r]);
    }
  };
  ex.run(units, second_phase);  // a host pool was used once already: this one stays on this thread
}

// exp(chunk shift - row shift): what turns a chunk's stored exponentials into the row's. A chunk with
// nothing but -inf (sum 0, shift 0) gets 0: its exponentials are 0, and exp(0 - row shift) may be
// +inf when the row's max is very negative.
double chunk_weight(const chunk_stats& chunk, const chunk_stats& row) noexcept {
  if (chunk.sum_exp == 0.0) return 0.0;
  return std::exp(static_cast<double>(chunk.shift) - static_cast<double>(row.shift));
}

struct no_phase2 {
  void operator()(std::size_t, std::size_t, std::size_t, const chunk_stats&, const chunk_stats&) const noexcept {}
};

// ---------------------------------------------------------------------------------------------
// Forward operations

enum class forward_op { logsumexp, softmax, log_softmax };

status run_forward(forward_op op, const_matrix x, float* out, std::size_t out_stride, std::size_t out_cols,
                   const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  const std::size_t rows = x.rows, cols = x.cols;
  if (rows == 0) return status::ok;
  if (x.data == nullptr || out == nullptr) return status::null_pointer;
  const bool vector_out = op == forward_op::logsumexp;
  buffer buffers[] = {matrix_buffer(x.data, rows, cols, x.stride, false),
                      vector_out ? vector_buffer(out, rows, sizeof(float), true)
                                 : matrix_buffer(out, rows, out_cols, out_stride, true)};
  if (!vector_out && out_cols != cols) return status::invalid_shape;
  if (const status s = check_buffers(buffers, [&](std::size_t, std::size_t) { return !vector_out; });
      s != status::ok)
    return s;

  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = is_reference(call.table) ? row_plan{rows, 1} : plan_rows(rows, cols);
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
    return status::ok;
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
  return status::ok;
}

// ---------------------------------------------------------------------------------------------
// Backward operations

status run_backward(bool log_space, const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (dy.rows != y.rows || dx.rows != y.rows || dy.cols != y.cols || dx.cols != y.cols) return status::invalid_shape;
  const std::size_t rows = y.rows, cols = y.cols;
  if (rows == 0) return status::ok;
  if (y.data == nullptr || dy.data == nullptr || dx.data == nullptr) return status::null_pointer;
  buffer buffers[] = {matrix_buffer(y.data, rows, cols, y.stride, false),
                      matrix_buffer(dy.data, rows, cols, dy.stride, false),
                      matrix_buffer(dx.data, rows, cols, dx.stride, true)};
  if (const status s = check_buffers(buffers, [](std::size_t, std::size_t) { return true; }); s != status::ok) return s;

  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = is_reference(call.table) ? row_plan{rows, 1} : plan_rows(rows, cols);
  const float* const y_end = y.row(rows - 1) + cols;  // what the kernels may prefetch
  const float* const dy_end = dy.row(rows - 1) + cols;
  if (!uses_chunks(call.table, cols)) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      auto rows_kernel = log_space ? k.log_softmax_backward_rows : k.softmax_backward_rows;
      rows_kernel(end - first, cols, y.row(first), y.stride, dy.row(first), dy.stride, dx.row(first), dx.stride,
                  y_end, dy_end);
    });
    return status::ok;
  }
  // Phase 1: the row's dot product (softmax) or sum (log_softmax) of dy, one chunk at a time, carried
  // in chunk_stats::y_dot and summed in chunk order; phase 2 writes dx.
  for_long_rows(
      ex, plan, rows, cols,
      [&](std::size_t r, std::size_t c0, std::size_t n) {
        chunk_stats s{};
        s.y_dot = k.dot_chunk(dy.row(r) + c0, log_space ? nullptr : y.row(r) + c0, n);
        return s;
      },
      [](std::size_t, const chunk_stats&) {},
      [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats&, const chunk_stats& m) {
        if (log_space) {
          k.log_softmax_backward_chunk(y.row(r) + c0, dy.row(r) + c0, n, static_cast<float>(m.y_dot), dx.row(r) + c0,
                                       y_end, dy_end);
        } else {
          k.softmax_backward_chunk(y.row(r) + c0, dy.row(r) + c0, n, static_cast<float>(m.y_dot), dx.row(r) + c0, y_end,
                                   dy_end);
        }
      });
  return status::ok;
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy

bool is_valid_reduction(reduction r) noexcept {
  return r == reduction::mean || r == reduction::sum || r == reduction::none;
}

status check_scalar_options(const cross_entropy_options& o) noexcept {
  if (!is_valid_reduction(o.reduction)) return status::invalid_option;
  if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f)) return status::invalid_option;  // NaN too
  if (!(o.z_loss >= 0.0f && std::isfinite(o.z_loss))) return status::invalid_option;
  return status::ok;
}

// A loss as a float. A finite loss within our rounding error of FLT_MAX (2^-20 relative) is FLT_MAX,
// not inf: the exact loss may fit a float while the computed one lands just above the largest float.
// Further out, inf is the right answer.
float narrow_loss(double loss) noexcept {
  constexpr double float_max = static_cast<double>(std::numeric_limits<float>::max());
  constexpr double margin = float_max * 0x1p-20;
  if (loss > float_max && loss < float_max + margin) return std::numeric_limits<float>::max();
  if (loss < -float_max && loss > -float_max - margin) return -std::numeric_limits<float>::max();
  return static_cast<float>(loss);
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

status run_cross_entropy(const_matrix logits, const std::int64_t* targets, const_matrix probs, float* loss,
                         matrix grad, const cross_entropy_options& o, const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (const status s = check_scalar_options(o); s != status::ok) return s;
  const bool soft = targets == nullptr;
  const std::size_t rows = logits.rows, cols = logits.cols;
  if (soft && (probs.rows != rows || probs.cols != cols)) return status::invalid_shape;
  if (grad.data != nullptr && (grad.rows != rows || grad.cols != cols)) return status::invalid_shape;
  if (rows == 0) return status::ok;
  if (logits.data == nullptr || loss == nullptr || (soft && probs.data == nullptr)) return status::null_pointer;
  const std::size_t loss_count = o.reduction == reduction::none ? rows : 1;
  buffer buffers[] = {
      matrix_buffer(logits.data, rows, cols, logits.stride, false),
      soft ? matrix_buffer(probs.data, rows, cols, probs.stride, false)
           : vector_buffer(targets, rows, sizeof(std::int64_t), false),
      vector_buffer(o.class_weights, cols, sizeof(float), false),
      vector_buffer(loss, loss_count, sizeof(float), true),
      matrix_buffer(grad.data, rows, cols, grad.stride, true),
  };
  // Only grad (index 4) may be exactly the logits (index 0).
  if (const status s = check_buffers(buffers, [](std::size_t out, std::size_t in) { return out == 4 && in == 0; });
      s != status::ok)
    return s;
  if (o.class_weights != nullptr) {
    for (std::size_t j = 0; j < cols; ++j) {
      if (!(o.class_weights[j] >= 0.0f && std::isfinite(o.class_weights[j]))) return status::invalid_option;
    }
  }
  // Targets: valid classes, and the denominators of MEAN (sum of the counted rows' target weights, and
  // the count of counted rows for z-loss) before any gradient is written. A reduced loss without
  // gradient writes nothing before the end, so there the units check their own targets as they go
  // (a serial pass over the targets would cost the second thread a third of its time at 10 classes).
  const bool checked_in_units = !soft && grad.data == nullptr && o.reduction != reduction::none &&
                                !uses_chunks(call.table, cols) && !is_reference(call.table);
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
      for (std::size_t r = 0; r < rows; ++r) std::memset(grad.row(r), 0, cols * sizeof(float));
    }
    return status::ok;
  }
  const double grad_scale = mean ? 1.0 / weight_sum : 1.0;
  const double z_grad_scale = mean ? 1.0 / static_cast<double>(counted) : 1.0;

  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = is_reference(call.table) ? row_plan{rows, 1} : plan_rows(rows, cols);
  const float* const logits_end = logits.row(rows - 1) + cols;  // what the kernels may prefetch
  loss_partial partials[max_units];
  const auto finish_row = [&](std::size_t r, double row_loss, double row_lse, loss_partial& partial) {
    const bool ignored = !soft && targets[r] == o.ignore_index;
    const double z = ignored || o.z_loss == 0.0f ? 0.0 : static_cast<double>(o.z_loss) * row_lse * row_lse;
    if (o.reduction == reduction::none) loss[r] = narrow_loss(row_loss + z);
    partial.loss += row_loss;
    partial.z += z;
  };

  if (!uses_chunks(call.table, cols)) {
    for_units(ex, plan, rows, [&](std::size_t unit, std::size_t first, std::size_t end) {
      constexpr std::size_t block = 64;
      double row_loss[block], row_lse[block];
      std::int64_t checked[block];
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
                                    logits.row(r0),
                                    logits.stride,
                                    block_targets,
                                    soft ? probs.row(r0) : nullptr,
                                    probs.stride,
                                    o.ignore_index,
                                    o.label_smoothing,
                                    o.class_weights,
                                    o.z_loss,
                                    grad_scale,
                                    z_grad_scale,
                                    grad.data ? grad.row(r0) : nullptr,
                                    grad.stride,
                                    row_loss,
                                    row_lse,
                                    logits_end};
        k.cross_entropy_rows(b);
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
    const float smooth = o.label_smoothing / static_cast<float>(cols);
    const float* const probs_end = soft ? probs.row(rows - 1) + cols : nullptr;  // what may be prefetched
    // The target coefficients of the chunk [c0, c0 + n) of row r.
    const auto coefficients = [&](std::size_t r, std::size_t c0, std::size_t n) {
      class_coefficients y{o.class_weights ? o.class_weights + c0 : nullptr, nullptr, 1.0f - o.label_smoothing,
                           smooth, no_target, 0.0f, probs_end};
      if (soft) {
        y.probs = probs.row(r) + c0;
      } else {
        const auto t = static_cast<std::size_t>(targets[r]);
        if (t >= c0 && t < c0 + n) {
          y.target = t - c0;
          y.target_coefficient = (1.0f - o.label_smoothing) * (o.class_weights ? o.class_weights[t] : 1.0f);
        }
      }
      return y;
    };
    const auto ignored = [&](std::size_t r) { return !soft && targets[r] == o.ignore_index; };
    float* const g = grad.data;
    for_long_rows(
        ex, plan, rows, cols,
        [&](std::size_t r, std::size_t c0, std::size_t n) {
          if (ignored(r)) {
            if (g) std::memset(grad.row(r) + c0, 0, n * sizeof(float));
            return chunk_stats{0.0f, 0.0f, 0.0, 0.0, 0.0};
          }
          return k.cross_entropy_stats_chunk(logits.row(r) + c0, n, coefficients(r, c0, n),
                                             g ? grad.row(r) + c0 : nullptr, logits_end);
        },
        [&](std::size_t r, const chunk_stats& m) {
          const double row_lse = ignored(r) ? 0.0 : lse_of(m.shift, m.sum_exp);
          const double row_loss = ignored(r) ? 0.0 : cross_entropy_loss_of(m.sum_exp, m.y_sum, m.y_dot);
          finish_row(r, row_loss, row_lse, partials[r / plan.rows_per_unit]);
        },
        [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats& c, const chunk_stats& m) {
          if (!g || ignored(r)) return;
          const double row_lse = lse_of(m.shift, m.sum_exp);
          const double p_factor = cross_entropy_p_factor_of(m.sum_exp, m.y_sum, row_lse, o.z_loss, grad_scale,
                                                            z_grad_scale) *
                                  chunk_weight(c, m);
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

// ---------------------------------------------------------------------------------------------
// Public entry points

const char* status_string(status s) noexcept {
  switch (s) {
    case status::ok: return "success";
    case status::null_pointer: return "a needed pointer is NULL while rows > 0";
    case status::invalid_shape: return "invalid shape: cols == 0 with rows > 0, a stride < cols, mismatched views, or a size that overflows";
    case status::invalid_target: return "invalid target: a class index outside [0, cols) that is not the ignore index";
    case status::invalid_option: return "invalid option: bad reduction, label smoothing, class weight, z_loss, thread count or ISA name";
    case status::unsupported_isa: return "unsupported instruction set: this build or CPU does not have it";
    case status::overlap: return "an output overlaps an input or another output (only exact in-place aliasing is allowed where stated)";
  }
  return "unknown status";
}

status logsumexp(const_matrix x, float* lse, const exec_options& exec) noexcept {
  return detail::run_forward(detail::forward_op::logsumexp, x, lse, 1, 1, exec);
}

status softmax(const_matrix x, matrix y, const exec_options& exec) noexcept {
  if (y.rows != x.rows) return status::invalid_shape;
  return detail::run_forward(detail::forward_op::softmax, x, y.data, y.stride, y.cols, exec);
}

status log_softmax(const_matrix x, matrix y, const exec_options& exec) noexcept {
  if (y.rows != x.rows) return status::invalid_shape;
  return detail::run_forward(detail::forward_op::log_softmax, x, y.data, y.stride, y.cols, exec);
}

status softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(false, y, dy, dx, exec);
}

status log_softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(true, y, dy, dx, exec);
}

status cross_entropy(const_matrix logits, const std::int64_t* targets, float* loss, matrix grad,
                     const cross_entropy_options& options, const exec_options& exec) noexcept {
  if (targets == nullptr && logits.rows > 0) {
    // Check the options first, as for any call, then report the missing targets.
    const detail::call_setup call = detail::setup(exec);
    if (call.result != status::ok) return call.result;
    if (const status s = detail::check_scalar_options(options); s != status::ok) return s;
    return status::null_pointer;
  }
  static const std::int64_t no_targets = 0;  // rows == 0: never read
  return detail::run_cross_entropy(logits, targets ? targets : &no_targets, const_matrix{}, loss, grad, options, exec);
}

status cross_entropy_soft(const_matrix logits, const_matrix target_probs, float* loss, matrix grad,
                          const cross_entropy_options& options, const exec_options& exec) noexcept {
  return detail::run_cross_entropy(logits, nullptr, target_probs, loss, grad, options, exec);
}

const char* isa(const exec_options& exec) noexcept {
  const detail::table_choice choice = detail::choose_table(exec.isa);
  return choice.result == status::ok ? choice.table->name : nullptr;
}

const char* version() noexcept { return SOFTXENT_VERSION_STRING; }

}  // namespace softxent
