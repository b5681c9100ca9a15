// The fused linear cross-entropy: logits = inputs * weight^T + bias a block at a time into the
// caller's workspace, never all of them at once.
//
// Blocking. Rows are cut into row blocks. When a block of at least min_full_rows whole logits rows
// fits in the budget (any vocabulary up to about a million classes in 64 MiB), a row block runs three
// phases, and every logit is produced by exactly one product:
//   forward     the block's logits, tiles of rows x classes, one GEMM each (bias copied in first)
//   statistics  each row's statistics over all its classes, its loss, then its gradient in place
//   backward    grad_inputs rows = G * weight (tiles of rows x hidden, K = classes), and
//               grad_weight += G^T * inputs (tiles of classes x hidden, K = block rows), grad_bias too
// so the whole call is the three products of the materialized path, done on a 64 MiB window.
// Otherwise classes are cut into class blocks too, and a row block runs two passes: forward and
// statistics per class block (the statistics of each block merged into the row's, as sharded
// cross-entropy merges its shards), then forward again, gradient and backward per class block; the
// forward product is then done twice, which only vocabularies beyond a million classes pay.
//
// Determinism. The phases, their tasks and what each task writes follow from the shape alone, and
// each task is one single-threaded GEMM (or one row group of cross-entropy). Every output element is
// written by one task per phase, and sums across phases (grad_weight over row blocks, grad_inputs over
// class blocks, the batch loss over rows) are taken in phase order. run_phases then runs them on any
// number of threads, or one host-pool call, with the same bits.
#include "ops/linear_cross_entropy.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "blas/gemm.hpp"
#include "driver/phases.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "ops/cross_entropy_blocks.hpp"
#include "ops/cross_entropy_common.hpp"
#include "parallel.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

constexpr std::size_t alignment = 64;
constexpr std::size_t ceil_div(std::size_t a, std::size_t b) noexcept { return (a + b - 1) / b; }
constexpr std::size_t round_up(std::size_t n) noexcept { return ceil_div(n, alignment) * alignment; }
constexpr std::size_t min_of(std::size_t a, std::size_t b) noexcept { return a < b ? a : b; }
constexpr std::size_t max_of(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }

// Fewest rows a row block of whole logits rows may have before classes are cut into blocks instead.
constexpr std::size_t min_full_rows = 16;
// Most rows of a row block when classes are cut into blocks.
constexpr std::size_t blocked_rows = 256;
// The pieces a task computes: a GEMM tile's classes, rows and hidden columns, and the logits of one
// cross-entropy task. Big enough that a GEMM packs its operands for a long run of work.
constexpr std::size_t class_piece = 1024;
constexpr std::size_t row_piece = 256;
constexpr std::size_t hidden_piece = 512;
constexpr std::size_t weight_hidden_piece = 2048;
constexpr std::size_t forward_tile_elements = std::size_t{1} << 20;
constexpr std::size_t cross_entropy_task_elements = std::size_t{1} << 16;
constexpr std::size_t max_workers = 64;

// Bytes per row of the workspace besides its logits: its loss and z-loss term (two doubles), and with
// class blocks its merged statistics.
constexpr std::size_t row_loss_bytes = 2 * sizeof(double);
constexpr std::size_t row_stats_bytes = sizeof(shard_stats);

// total items cut into count nearly equal pieces (none larger than the max_piece they were cut for).
struct pieces {
  std::size_t count;
  std::size_t total;
  std::size_t first(std::size_t i) const noexcept { return total * i / count; }
  std::size_t size(std::size_t i) const noexcept { return first(i + 1) - first(i); }
};
pieces cut(std::size_t total, std::size_t max_piece) noexcept {
  return {total == 0 ? 0 : ceil_div(total, max_piece), total};
}

struct fused_plan {
  std::size_t rows, hidden, classes;
  pieces row_blocks;
  pieces class_blocks;      // one block: whole rows, each logit produced once
  std::size_t block_rows;   // the most rows of a row block
  std::size_t block_classes;
  std::size_t losses_offset;  // workspace regions, bytes from the aligned start
  std::size_t stats_offset;
  std::size_t bytes;          // the workspace the call needs, alignment slack included
  bool whole_rows() const noexcept { return class_blocks.count == 1; }
};

// Valid for rows, hidden, classes > 0 and budget >= 4 KiB.
fused_plan plan_fused(std::size_t rows, std::size_t hidden, std::size_t classes, std::size_t budget) noexcept {
  fused_plan p{};
  p.rows = rows;
  p.hidden = hidden;
  p.classes = classes;
  const std::size_t usable = budget - 4 * alignment;  // the start's alignment and each region's rounding
  std::size_t rows_max = 0, classes_max = classes;
  const std::size_t fit = classes > usable / sizeof(float) ? 0 : usable / (classes * sizeof(float) + row_loss_bytes);
  if (fit >= min_of(rows, min_full_rows)) {
    rows_max = min_of(rows, fit);
  } else {
    constexpr std::size_t row_bytes = row_loss_bytes + row_stats_bytes;
    rows_max = max_of(1, min_of(min_of(rows, blocked_rows), usable / (row_bytes + 64 * sizeof(float))));
    classes_max = max_of(1, (usable - rows_max * row_bytes) / (rows_max * sizeof(float)));
  }
  p.row_blocks = cut(rows, rows_max);
  p.class_blocks = cut(classes, classes_max);
  p.block_rows = ceil_div(rows, p.row_blocks.count);
  p.block_classes = ceil_div(classes, p.class_blocks.count);
  p.losses_offset = round_up(p.block_rows * p.block_classes * sizeof(float));
  p.stats_offset = p.losses_offset + round_up(p.block_rows * row_loss_bytes);
  p.bytes = p.stats_offset + (p.whole_rows() ? 0 : round_up(p.block_rows * row_stats_bytes)) + alignment;
  return p;
}

enum class step_kind { forward, statistics, gradient, backward };
struct step {
  step_kind kind;
  std::size_t class_block;
  bool losses;  // the step that finishes its rows' losses
};

// Everything the tasks of a call read, and the running batch loss they add to.
struct fused_call {
  fused_plan plan;
  const kernel_table* k;
  linear_layer layer;
  const std::int64_t* targets;
  float* loss;
  linear_gradients grads;
  cross_entropy_options o;
  gradient_scales scales;
  double weight_total;
  bool gradients;  // any of the three gradients asked for
  float* logits;   // the workspace's regions
  double* row_losses;
  shard_stats* stats;
  double total = 0.0, z_total = 0.0;

  bool reduced() const noexcept { return o.reduction != reduction::none; }
  std::size_t steps_per_block() const noexcept {
    const std::size_t blocks = plan.class_blocks.count;
    if (plan.whole_rows()) return gradients ? 3 : 2;
    return 2 * blocks + (gradients ? 3 * blocks : 0);
  }
  step step_at(std::size_t s) const noexcept {
    if (plan.whole_rows()) {
      constexpr step_kind kinds[] = {step_kind::forward, step_kind::statistics, step_kind::backward};
      return {kinds[s], 0, s == 1};
    }
    const std::size_t first_pass = 2 * plan.class_blocks.count;
    if (s < first_pass) return {s % 2 == 0 ? step_kind::forward : step_kind::statistics, s / 2, s + 1 == first_pass};
    constexpr step_kind kinds[] = {step_kind::forward, step_kind::gradient, step_kind::backward};
    return {kinds[(s - first_pass) % 3], (s - first_pass) / 3, false};
  }

  // The tiles of each kind of task, for a row block of n_r rows and a class block of n_c classes.
  pieces forward_classes(std::size_t n_c) const noexcept { return cut(n_c, class_piece); }
  pieces forward_rows(std::size_t n_r, std::size_t n_c) const noexcept {
    const std::size_t tile_classes = ceil_div(n_c, forward_classes(n_c).count);
    return cut(n_r, max_of(64, forward_tile_elements / tile_classes));
  }
  pieces cross_entropy_rows(std::size_t n_r, std::size_t n_c) const noexcept {
    return cut(n_r, max_of(1, cross_entropy_task_elements / n_c));
  }
  pieces input_rows(std::size_t n_r) const noexcept { return cut(n_r, row_piece); }
  pieces input_hidden() const noexcept { return cut(plan.hidden, hidden_piece); }
  pieces weight_classes(std::size_t n_c) const noexcept { return cut(n_c, class_piece); }
  pieces weight_hidden() const noexcept {
    // Only the bias: one piece per class range, which adds it up.
    return grads.weight.data ? cut(plan.hidden, weight_hidden_piece) : pieces{1, plan.hidden};
  }
  std::size_t input_tasks(std::size_t n_r) const noexcept {
    return grads.inputs.data ? input_rows(n_r).count * input_hidden().count : 0;
  }
  std::size_t weight_tasks(std::size_t n_c) const noexcept {
    return grads.weight.data || grads.bias ? weight_classes(n_c).count * weight_hidden().count : 0;
  }

  std::size_t tasks_of(std::size_t block, const step& st) const noexcept {
    const std::size_t n_r = plan.row_blocks.size(block), n_c = plan.class_blocks.size(st.class_block);
    switch (st.kind) {
      case step_kind::forward: return forward_classes(n_c).count * forward_rows(n_r, n_c).count;
      case step_kind::statistics:
      case step_kind::gradient: return cross_entropy_rows(n_r, n_c).count;
      case step_kind::backward: return input_tasks(n_r) + weight_tasks(n_c);
    }
    return 0;
  }
  // Phase = block * steps_per_block + step. A phase right after a losses step starts with one more
  // task (task 0): adding that block's row losses to the batch's, in row order.
  std::size_t phase_tasks(std::size_t phase) const noexcept {
    const std::size_t steps = steps_per_block();
    const std::size_t extra = reduced() && phase > 0 && step_at((phase - 1) % steps).losses ? 1 : 0;
    return extra + tasks_of(phase / steps, step_at(phase % steps));
  }
  void run_phase_task(std::size_t phase, std::size_t task) noexcept {
    const std::size_t steps = steps_per_block();
    if (reduced() && phase > 0 && step_at((phase - 1) % steps).losses) {
      if (task == 0) return add_losses((phase - 1) / steps);
      --task;
    }
    run_task(phase / steps, step_at(phase % steps), task);
  }

  void add_losses(std::size_t block) noexcept {
    const std::size_t n_r = plan.row_blocks.size(block);
    for (std::size_t r = 0; r < n_r; ++r) {
      total += row_losses[2 * r];
      z_total += row_losses[2 * r + 1];
    }
  }

  void run_task(std::size_t block, const step& st, std::size_t task) noexcept {
    const std::size_t row_first = plan.row_blocks.first(block), n_r = plan.row_blocks.size(block);
    const std::size_t class_first = plan.class_blocks.first(st.class_block);
    const std::size_t n_c = plan.class_blocks.size(st.class_block);
    const column_block columns{class_first, n_c, plan.classes};
    switch (st.kind) {
      case step_kind::forward: {
        const pieces classes = forward_classes(n_c), rows = forward_rows(n_r, n_c);
        const std::size_t ci = task % classes.count, ri = task / classes.count;
        forward_tile(row_first, n_c, class_first, rows.first(ri), rows.size(ri), classes.first(ci), classes.size(ci));
        return;
      }
      case step_kind::statistics:
      case step_kind::gradient: {
        const pieces rows = cross_entropy_rows(n_r, n_c);
        for (std::size_t r = rows.first(task), end = rows.first(task + 1); r < end; ++r) {
          if (st.kind == step_kind::statistics) {
            statistics_row(row_first, r, columns, st);
          } else {
            gradient_row(row_first + r, logits + r * n_c, columns, stats[r]);
          }
        }
        return;
      }
      case step_kind::backward: {
        const std::size_t inputs = input_tasks(n_r);
        if (task < inputs) {
          const pieces rows = input_rows(n_r), hidden = input_hidden();
          const std::size_t hi = task % hidden.count, ri = task / hidden.count;
          input_gradient_tile(row_first, n_c, class_first, st.class_block == 0, rows.first(ri), rows.size(ri),
                              hidden.first(hi), hidden.size(hi));
          return;
        }
        task -= inputs;
        const pieces classes = weight_classes(n_c), hidden = weight_hidden();
        const std::size_t hi = task % hidden.count, ci = task / hidden.count;
        weight_gradient_tile(row_first, n_r, n_c, class_first, classes.first(ci), classes.size(ci), hidden.first(hi),
                             hidden.size(hi));
        return;
      }
    }
  }

  // Logits rows [r0, r0 + m) x classes [c0, c0 + n) of the block (ld n_c) = inputs * weight^T + bias.
  void forward_tile(std::size_t row_first, std::size_t n_c, std::size_t class_first, std::size_t r0, std::size_t m,
                    std::size_t c0, std::size_t n) noexcept {
    float* out = logits + r0 * n_c + c0;
    if (layer.bias) {
      for (std::size_t r = 0; r < m; ++r) std::memcpy(out + r * n_c, layer.bias + class_first + c0, n * sizeof(float));
    }
    gemm(transpose::no, transpose::yes, m, n, plan.hidden, layer.inputs.row(row_first + r0), layer.inputs.stride,
         layer.weight.row(class_first + c0), layer.weight.stride, layer.bias ? 1.0f : 0.0f, out, n_c);
  }

  // Row r of the block (logits row x): its statistics over this class block, merged into the row's
  // with class blocks; its loss once complete; with whole rows, its gradient in place.
  void statistics_row(std::size_t row_first, std::size_t r, const column_block& columns, const step& st) noexcept {
    const std::size_t row = row_first + r;
    float* x = logits + r * columns.cols;
    const float* x_end = x + columns.cols;
    double* losses = row_losses + 2 * r;
    const bool ignored = targets[row] == o.ignore_index;
    const auto t = static_cast<std::size_t>(targets[row]);
    shard_stats merged = no_columns;
    if (!ignored) merged = block_stats(*k, x, columns, t, o, x_end);
    if (!plan.whole_rows()) {
      if (st.class_block == 0) {
        stats[r] = merged;
      } else {
        shard_stats_merge(1, &merged, &stats[r]);
        merged = stats[r];
      }
    }
    if (st.losses) {
      losses[0] = losses[1] = 0.0;
      if (!ignored) {
        const row_result result = finish_row(merged, t, plan.classes, weight_total, o);
        losses[0] = result.loss;
        losses[1] = z_term(o, result);
      }
      if (!reduced()) loss[row] = narrow_loss(losses[0] + losses[1]);
    }
    if (plan.whole_rows() && gradients) gradient_row(row, x, columns, merged);
  }

  // The gradient of one row's class block, in place over its logits (an ignored row's is zero).
  void gradient_row(std::size_t row, float* x, const column_block& columns, const shard_stats& merged) noexcept {
    if (targets[row] == o.ignore_index) {
      std::memset(x, 0, columns.cols * sizeof(float));
      return;
    }
    block_gradient(*k, x, columns, static_cast<std::size_t>(targets[row]), merged, weight_total, scales, o, x,
                   x + columns.cols);
  }

  // grad_inputs rows [r0, r0 + m) x hidden [h0, h0 + n) = (first class block ? 0 : itself) + G * weight.
  void input_gradient_tile(std::size_t row_first, std::size_t n_c, std::size_t class_first, bool first_block,
                           std::size_t r0, std::size_t m, std::size_t h0, std::size_t n) noexcept {
    gemm(transpose::no, transpose::no, m, n, n_c, logits + r0 * n_c, n_c, layer.weight.row(class_first) + h0,
         layer.weight.stride, first_block ? 0.0f : 1.0f, grads.inputs.row(row_first + r0) + h0, grads.inputs.stride);
  }

  // grad_weight classes [c0, c0 + m) x hidden [h0, h0 + n) += G^T * inputs over the block's rows; the
  // first hidden piece also adds the block's column sums of G to grad_bias (in double, row order).
  void weight_gradient_tile(std::size_t row_first, std::size_t n_r, std::size_t n_c, std::size_t class_first,
                            std::size_t c0, std::size_t m, std::size_t h0, std::size_t n) noexcept {
    const float* g = logits + c0;
    if (grads.weight.data) {
      gemm(transpose::yes, transpose::no, m, n, n_r, g, n_c, layer.inputs.row(row_first) + h0, layer.inputs.stride,
           1.0f, grads.weight.row(class_first + c0) + h0, grads.weight.stride);
    }
    if (!grads.bias || h0 != 0) return;
    constexpr std::size_t piece = 256;
    double sums[piece];
    for (std::size_t j0 = 0; j0 < m; j0 += piece) {
      const std::size_t width = min_of(piece, m - j0);
      for (std::size_t j = 0; j < width; ++j) sums[j] = 0.0;
      for (std::size_t r = 0; r < n_r; ++r) {
        const float* g_row = g + r * n_c + j0;
        for (std::size_t j = 0; j < width; ++j) sums[j] += static_cast<double>(g_row[j]);
      }
      float* bias = grads.bias + class_first + c0 + j0;
      for (std::size_t j = 0; j < width; ++j) bias[j] = static_cast<float>(static_cast<double>(bias[j]) + sums[j]);
    }
  }
};

bool within_blas(std::size_t value) noexcept { return value <= blas_size_limit(); }

}  // namespace

std::size_t linear_cross_entropy_workspace_size(std::size_t rows, std::size_t hidden, std::size_t classes,
                                                std::size_t budget) noexcept {
  if (!have_blas() || rows == 0 || hidden == 0 || classes == 0) return 0;
  return plan_fused(rows, hidden, classes, budget).bytes;
}

status linear_cross_entropy(const linear_layer& layer, const std::int64_t* targets, float* loss,
                            const linear_gradients& grads, workspace_view work, const cross_entropy_options& o,
                            const exec_options& exec, std::size_t budget) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (const status s = check_scalar_options(o); s != status::ok) return s;
  if (!have_blas()) return status::unsupported_isa;
  const std::size_t rows = layer.inputs.rows, hidden = layer.inputs.cols, classes = layer.weight.rows;
  if (layer.weight.cols != hidden) return status::invalid_shape;
  if (grads.inputs.data && (grads.inputs.rows != rows || grads.inputs.cols != hidden)) return status::invalid_shape;
  if (grads.weight.data && (grads.weight.rows != classes || grads.weight.cols != hidden)) return status::invalid_shape;
  if (rows == 0) return status::ok;
  if (hidden == 0 || classes == 0) return status::invalid_shape;
  if (layer.inputs.data == nullptr || layer.weight.data == nullptr || targets == nullptr || loss == nullptr)
    return status::null_pointer;
  if (!within_blas(hidden) || !within_blas(classes) || !within_blas(layer.inputs.stride) ||
      !within_blas(layer.weight.stride) || (grads.inputs.data && !within_blas(grads.inputs.stride)) ||
      (grads.weight.data && !within_blas(grads.weight.stride)))
    return status::invalid_shape;
  const fused_plan plan = plan_fused(rows, hidden, classes, budget);
  if (work.data == nullptr || work.size < plan.bytes) return status::workspace;
  const bool none = o.reduction == reduction::none;
  buffer buffers[] = {
      matrix_buffer(layer.inputs.data, rows, hidden, layer.inputs.stride, false),
      matrix_buffer(layer.weight.data, classes, hidden, layer.weight.stride, false),
      vector_buffer(layer.bias, classes, sizeof(float), false),
      vector_buffer(targets, rows, sizeof(std::int64_t), false),
      vector_buffer(o.class_weights, classes, sizeof(float), false),
      vector_buffer(loss, none ? rows : 1, sizeof(float), true),
      matrix_buffer(grads.inputs.data, rows, hidden, grads.inputs.stride, true),
      matrix_buffer(grads.weight.data, classes, hidden, grads.weight.stride, true),
      vector_buffer(grads.bias, classes, sizeof(float), true),
      vector_buffer(work.data, plan.bytes, 1, true),
  };
  if (const status s = check_buffers(buffers, [](std::size_t, std::size_t) { return false; }); s != status::ok) return s;
  const target_summary summary = check_targets(rows, targets, classes, o);
  if (summary.result != status::ok) return summary.result;

  if (o.reduction == reduction::mean && (summary.counted == 0 || summary.weight_sum == 0.0)) {
    // Nothing counts: loss 0 and every gradient 0 (grad_weight and grad_bias gain nothing).
    *loss = 0.0f;
    if (grads.inputs.data) {
      for (std::size_t r = 0; r < rows; ++r) std::memset(grads.inputs.row(r), 0, hidden * sizeof(float));
    }
    return status::ok;
  }

  const auto start = (reinterpret_cast<std::uintptr_t>(work.data) + alignment - 1) / alignment * alignment;
  auto* base = reinterpret_cast<unsigned char*>(start);
  fused_call c{plan,
               call.table,
               layer,
               targets,
               loss,
               grads,
               o,
               scales_of(o, summary),
               class_weight_total(o, classes),
               grads.inputs.data || grads.weight.data || grads.bias,
               reinterpret_cast<float*>(base),
               reinterpret_cast<double*>(base + plan.losses_offset),
               reinterpret_cast<shard_stats*>(base + plan.stats_offset)};
  const std::size_t steps = c.steps_per_block();
  const std::size_t phases = plan.row_blocks.count * steps;
  std::size_t workers = 1;
  for (std::size_t s = 0; s < steps; ++s) workers = max_of(workers, c.tasks_of(0, c.step_at(s)));
  executor ex(exec, is_reference(call.table));
  run_phases(ex, phases, min_of(workers, max_workers), [&](std::size_t phase) { return c.phase_tasks(phase); },
             [&](std::size_t phase, std::size_t task) { c.run_phase_task(phase, task); });
  if (none) return status::ok;
  if (c.step_at(steps - 1).losses) c.add_losses(plan.row_blocks.count - 1);  // no phase came after it
  *loss = reduced_loss(o, summary, c.total, c.z_total);
  return status::ok;
}

}  // namespace detail

std::size_t linear_cross_entropy_workspace_size(std::size_t rows, std::size_t hidden, std::size_t classes,
                                                const exec_options&) noexcept {
  return detail::linear_cross_entropy_workspace_size(rows, hidden, classes, detail::fused_workspace_budget);
}

status linear_cross_entropy(const linear_layer& layer, const std::int64_t* targets, float* loss,
                            const linear_gradients& grads, workspace_view work, const cross_entropy_options& options,
                            const exec_options& exec) noexcept {
  return detail::linear_cross_entropy(layer, targets, loss, grads, work, options, exec,
                                      detail::fused_workspace_budget);
}

}  // namespace softxent
