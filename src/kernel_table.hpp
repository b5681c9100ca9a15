// The contract between the driver (api.cpp, parallel.cpp) and the per-instruction-set kernels.
//
// Every row is computed in chunks of chunk_length(cols) elements. A row no longer than one chunk is
// done by a table's *_rows function in one call. A longer row is done by the driver: phase 1 runs on
// every chunk (possibly on several threads), the driver merges the chunk statistics in chunk order,
// then phase 2 runs on every chunk. Since chunking depends on the shape alone, a row's bits do not
// depend on the thread count or on which rows share a call.
#ifndef SOFTXENT_SRC_KERNEL_TABLE_HPP
#define SOFTXENT_SRC_KERNEL_TABLE_HPP

#include <cstddef>
#include <cstdint>

#include "softxent/softxent.hpp"

namespace softxent::detail {

// Length of the chunks a row is cut into: small enough for a chunk and its output to stay in L1
// between a chunk's two sweeps; larger for huge rows so that a row has at most max_chunks_per_row.
constexpr std::size_t base_chunk = 4096;
constexpr std::size_t max_chunks_per_row = 256;
constexpr std::size_t chunk_length(std::size_t cols) noexcept {
  std::size_t chunk = base_chunk;
  if (cols > base_chunk * max_chunks_per_row) {
    chunk = (cols + max_chunks_per_row - 1) / max_chunks_per_row;
    chunk = (chunk + 63) / 64 * 64;
  }
  return chunk;
}

// Statistics of a chunk x[0, n): shift = max(x) or 0 when max is -inf (so that x - shift is never
// -inf - -inf); sum_exp = sum exp(x_j - shift). NaN or +inf in the chunk makes sum_exp NaN.
// For cross-entropy also y_sum = sum y_j and y_dot = sum over y_j != 0 of y_j * (x_j - shift), where
// y is the row's target coefficient vector (see class_coefficients).
struct chunk_stats {
  float max;
  float shift;
  double sum_exp;
  double y_sum;
  double y_dot;
};

// The target coefficients y_j of one row (or chunk) of cross-entropy:
//   y_j = w_j * (keep * q_j + smooth) + (j == target ? target_coefficient : 0)
// with w_j = weights[j] (1 when weights is null) and q_j = probs[j] (0 when probs is null).
// Integer targets: probs null, smooth = label_smoothing / cols, target_coefficient =
// (1 - label_smoothing) * w_target. Probability targets: probs set, keep = 1 - label_smoothing,
// smooth = label_smoothing / cols, no target. target == no_target when the row (chunk) has none.
struct class_coefficients {
  const float* weights;
  const float* probs;
  float keep;
  float smooth;
  std::size_t target;
  float target_coefficient;
  const float* probs_end;  // the end of the caller's target probabilities: may be prefetched, never read
};
constexpr std::size_t no_target = ~std::size_t{0};

// One block of cross-entropy rows for a *_rows kernel (cols <= one chunk).
struct cross_entropy_block {
  std::size_t rows;
  std::size_t cols;
  const float* logits;
  std::size_t logits_stride;
  const std::int64_t* targets;      // integer targets, or null for probability targets
  const float* target_probs;        // probability targets, or null
  std::size_t target_stride;
  std::int64_t ignore_index;
  float label_smoothing;
  const float* class_weights;       // null: all 1
  float z_loss;
  float logit_scale;                // z = softcap(logit_scale * x); only the reference's rows kernel
  float softcap;                    // takes a transform (the others get 1 and 0: see logit_transform_chunk)
  double grad_scale;                // s: scale of p_j - y_j in the gradient
  double z_grad_scale;              // scale of the z-loss gradient 2 * z_loss * lse * p_j
  float* grad;                      // null: loss only
  std::size_t grad_stride;
  double* row_loss;                 // out, rows values: the row's loss without z-loss (0 if ignored)
  double* row_lse;                  // out, rows values: the row's lse (0 if ignored)
  const float* prefetch_end;        // the end of the caller's logits: may be prefetched, never read
};

// Rows of at most this many classes go through the float kernels' tiles of W rows (lane i is row i):
// measured, beyond it the per-row path wins. A single row that short wastes all but one lane.
constexpr std::size_t short_row_classes = 32;

// Where one row's logits come from and how they become z (the logit transform of SPEC.md, applied
// in this order): z = scale * x; z = softcap * tanh(z / softcap) when softcap > 0 (infinities and NaN
// pass through); z += slope * mask_j, or z = -inf where mask_j is -inf; z = -inf from valid_cols on.
struct row_load {
  const void* x;           // the row's first element
  dtype x_type;
  float scale;             // 1: none
  float softcap;           // 0: none
  const void* mask;        // the row's mask row, or null
  dtype mask_type;
  float slope;
  std::size_t valid_cols;  // classes from here on are masked (cols: none)
  const void* prefetch_end;  // the end of the caller's matrix, up to which x may be prefetched; null: none
};

struct select_kernel_table;  // top-k and sampling: select_table.hpp

struct kernel_table {
  const char* name;

  // Whole rows of any length (the reference), or rows of at most chunk_length(cols) elements. Memory
  // from x up to prefetch_end (the end of the caller's whole matrix, past these rows) may be
  // prefetched, never read.
  void (*logsumexp_rows)(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* lse,
                         const float* prefetch_end);
  void (*softmax_rows)(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                       std::size_t y_stride, const float* prefetch_end);
  void (*log_softmax_rows)(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                           std::size_t y_stride, const float* prefetch_end);
  // The backward rows kernels may prefetch y and dy up to y_end and dy_end, the ends of the caller's.
  void (*softmax_backward_rows)(std::size_t rows, std::size_t cols, const float* y, std::size_t y_stride,
                                const float* dy, std::size_t dy_stride, float* dx, std::size_t dx_stride,
                                const float* y_end, const float* dy_end);
  void (*log_softmax_backward_rows)(std::size_t rows, std::size_t cols, const float* y, std::size_t y_stride,
                                    const float* dy, std::size_t dy_stride, float* dx, std::size_t dx_stride,
                                    const float* y_end, const float* dy_end);
  void (*cross_entropy_rows)(const cross_entropy_block& block);

  // Chunk primitives for rows longer than one chunk; null for a table that does whole rows (the
  // reference), which the driver then runs on single rows of any length.
  // Phase 1 of softmax / logsumexp / log_softmax: stats of x[0, n); when e is not null also stores
  // e_j = exp(x_j - shift) (e may be x itself). Memory from x up to prefetch_end (the end of the
  // caller's logits) may be prefetched, never read.
  chunk_stats (*exp_stats_chunk)(const float* x, std::size_t n, float* e, const float* prefetch_end);
  // Phase 2 of softmax: y_j = e_j * factor, in place.
  void (*scale_chunk)(float* y, std::size_t n, float factor);
  // Phase 2 of softmax from the logits: y_j = exp(x_j - shift) * factor, x_j <= shift (y may be x).
  void (*softmax_chunk)(const float* x, std::size_t n, float shift, float factor, float* y);
  // Phase 2 of log_softmax: y_j = (x_j - shift) - offset (y may be x).
  void (*log_softmax_chunk)(const float* x, std::size_t n, float shift, float offset, float* y);
  // Phase 1 of cross-entropy: stats with y_sum and y_dot; e as for exp_stats_chunk.
  chunk_stats (*cross_entropy_stats_chunk)(const float* x, std::size_t n, const class_coefficients& y, float* e,
                                           const float* prefetch_end);
  // Phase 2 of cross-entropy: g_j = p_factor * e_j - y_scale * y_j, in place over e.
  void (*cross_entropy_grad_chunk)(float* g, std::size_t n, float p_factor, float y_scale,
                                   const class_coefficients& y);
  // Backward phase 1: sum_j a_j * b_j (b null: sum_j a_j), accumulated in double.
  double (*dot_chunk)(const float* a, const float* b, std::size_t n);
  // Backward phase 2: softmax: dx = y * (dy - dot); log_softmax: dx = dy - exp(y) * sum, whose y
  // and dy may be prefetched up to y_end and dy_end, the ends of the caller's matrices.
  void (*softmax_backward_chunk)(const float* y, const float* dy, std::size_t n, float dot, float* dx);
  void (*log_softmax_backward_chunk)(const float* y, const float* dy, std::size_t n, float sum, float* dx,
                                     const float* y_end, const float* dy_end);
  // Cross-entropy's logit transform, for any table with chunk primitives: z_j = softcap *
  // tanh(scale * x_j / softcap), or scale * x_j when softcap is 0; infinities and NaN pass through.
  void (*logit_transform_chunk)(const float* x, std::size_t n, float scale, float softcap, float* z);
  // out_j = g_j * dz_j/dx_j computed from z_j (scale where z_j is not finite); out may be g.
  void (*logit_chain_chunk)(const float* g, const float* z, std::size_t n, float scale, float softcap, float* out);
  // The one place a row is read into float: z[0, n) = columns [first, first + n) of the row, decoded
  // and transformed (row_load). null for the reference, which reads rows in double itself.
  void (*load_chunk)(const row_load& row, std::size_t first, std::size_t n, float* z);
  // exp_stats_chunk of what load_chunk would load, computed in registers without a scratch (for rows
  // without softcap, whose tanh it would compute twice). null for the reference.
  chunk_stats (*load_stats_chunk)(const row_load& row, std::size_t first, std::size_t n);
  // load_chunk into z and exp_stats_chunk of it in two sweeps (the max found while loading); with
  // keep_exp z then holds exp(z - shift), else z itself.
  chunk_stats (*load_exp_stats_chunk)(const row_load& row, std::size_t first, std::size_t n, float* z, bool keep_exp);
  // The one place an output is written from float: out[0, n) = v rounded once to the type (out points
  // at the chunk's first element).
  void (*store_chunk)(const float* v, std::size_t n, void* out, dtype type);
  // load_chunk, then softmax_chunk (or with log_space log_softmax_chunk, factor its offset), then
  // store_chunk to out of type out_type, in registers: out points at the chunk's first element.
  void (*softmax_out_chunk)(const row_load& row, std::size_t first, std::size_t n, float shift, float factor,
                            bool log_space, void* out, dtype out_type);
  // A row's output from load_exp_stats_chunk's z[0, n), rounded once to out_type: softmax v_j * factor
  // (z holding the exponentials), or with log_space (z_j - shift) - factor, factor the offset. The
  // `masked` classes after them (past a valid length) get the same formula at z = -inf. Memory from
  // out up to out_end (the end of the caller's output) may be prefetched.
  void (*store_softmax_chunk)(const float* z, std::size_t n, std::size_t masked, float shift, float factor,
                              bool log_space, void* out, dtype out_type, const void* out_end);
  // Top-k and sampling (select_table.hpp); null for the reference, which has its own rows in double.
  const select_kernel_table* select;
};

// The reference's pieces of sharded cross-entropy, in double over whole rows of n logits, with
// z_j = T(x_j) (cross-entropy's logit transform: softcap * tanh(scale * x / softcap), or scale * x).
struct reference_row_stats {
  double max;           // max_j z_j: -inf for an all -inf row, NaN when the row holds NaN or +inf
  double sum_exp;       // sum_j exp(z_j - shift), shift = max or 0 when max is -inf
  double weighted_sum;  // sum over w_j != 0 of w_j * z_j (w_j = weights[j], or 1 when weights is null)
};
reference_row_stats reference_shard_stats(const float* x, std::size_t n, float scale, float softcap,
                                          const float* weights) noexcept;
double reference_transformed_logit(float x, float scale, float softcap) noexcept;
// grad_j = (p_factor * exp(z_j - shift) - y_scale * y_j) * dz_j/dx_j, with
// y_j = w_j * smooth + (j == target ? target_coefficient : 0); grad may be x.
void reference_shard_gradient(const float* x, std::size_t n, float scale, float softcap, double p_factor, double shift,
                              double y_scale, const float* weights, double smooth, std::size_t target,
                              double target_coefficient, float* grad) noexcept;

// The reference's softmax family for any dtype and transform, in double from the decoded inputs, one
// row of cols classes: lse (when not null), and y (when not null) the softmax, or with log_space the
// log_softmax, rounded to y_type. sink: the head's sink logit, or null.
void reference_forward_row(const row_load& row, std::size_t cols, const float* sink, bool log_space, float* lse,
                           void* y, dtype y_type) noexcept;

// The reference's backward of one row of any dtypes, in double from the decoded y and dy; dx rounded
// to dx_type (dx may be y or dy when their dtypes match).
void reference_backward_row(const void* y, dtype y_type, const void* dy, dtype dy_type, void* dx, dtype dx_type,
                            std::size_t cols, bool log_space) noexcept;

// The reference's cross-entropy rows of any dtypes: as the table's cross_entropy_rows, with the
// block's float logits, target_probs and grad replaced by these (grad.data null: loss only).
struct typed_rows {
  const void* data;
  dtype type;
  std::size_t stride;  // elements
};
void reference_cross_entropy_rows(const cross_entropy_block& b, const typed_rows& logits, const typed_rows& probs,
                                  const typed_rows& grad) noexcept;

// The tables this build has; each returns null when the build lacks it.
const kernel_table* reference_table() noexcept;
const kernel_table* scalar_table() noexcept;
const kernel_table* sse2_table() noexcept;
const kernel_table* avx2_table() noexcept;
const kernel_table* avx512_table() noexcept;
const kernel_table* avx512_bf16_table() noexcept;  // avx512 with AVX-512 BF16's bf16 encoder
const kernel_table* neon_table() noexcept;

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNEL_TABLE_HPP
