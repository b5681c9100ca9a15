// logsumexp, softmax and log_softmax over one chunk or rows of one chunk.
// A chunk is swept twice while it sits in L1: first its max, then exp(x - max) and their sum (stored
// when the output wants them); softmax then scales the stored exponentials in place. Read-only
// statistics of long chunks go sub-block by sub-block with a running max.
#ifndef SOFTXENT_SRC_KERNELS_SOFTMAX_HPP
#define SOFTXENT_SRC_KERNELS_SOFTMAX_HPP

#include <cstddef>
#include <limits>

#include "kernel_table.hpp"
#include "kernels/load.hpp"
#include "kernels/reduce.hpp"
#include "kernels/row_math.hpp"

namespace softxent::detail {

template <class Ops>
struct softmax_kernels {
  using vec = typename Ops::vec;
  using R = reduce<Ops>;
  static constexpr float minus_inf = -float_infinity;

  // Statistics of x[0, n) (see chunk_stats), storing e_j = exp(x_j - shift) into e when not null (e
  // may be x). Two sweeps while the data sits in L1: the max, then exp(x - shift) <= 1 (it cannot
  // overflow), stored and summed. Without e, a chunk longer than sub_block is done sub-block by
  // sub-block (see online_stats). Prefetches below end (see reduce::prefetch_ahead).
  static chunk_stats exp_stats_chunk(const float* x, std::size_t n, float* e, const float* end) noexcept {
    return exp_stats(x, n, e, end, e != nullptr ? e + n : nullptr);  // null + n is undefined
  }
  // The same, with the end of e's matrix (what may be prefetched for writing) given.
  static chunk_stats exp_stats(const float* x, std::size_t n, float* e, const float* end, const float* e_end) noexcept {
    if (e == nullptr && n > sub_block) {
      return online_stats(x, n, [&](std::size_t first, std::size_t count, float shift, chunk_stats& stats) {
        stats.sum_exp += exp_sum_chunk(x + first, count, shift, nullptr, end);
      });
    }
    chunk_stats stats{};
    stats.max = R::max_of(x, n);
    stats.shift = shift_of(stats.max);
    stats.sum_exp = exp_sum_chunk(x, n, stats.shift, e, end, e_end);
    return stats;
  }

  // Read-only statistics in sub-blocks of sub_block elements, short enough that the memory stream
  // never pauses for long (see reduce::prefetch_ahead): 1024 measured 8% faster than 4096 and 512.
  // The shift is the running max: when a sub-block raises it, the sum so far is rescaled in double
  // (rare past the first sub-blocks, and exact when the max stays); y_dot, for cross-entropy, is
  // carried relative to the running shift too. sweep(first, count, shift, stats) adds the sub-block's
  // exp(x_j - shift) to sum_exp (and for cross-entropy its y_j to y_sum, y_j (x_j - shift) to y_dot).
  static constexpr std::size_t sub_block = 1024;

  template <class Sweep>
  static chunk_stats online_stats(const float* x, std::size_t n, const Sweep& sweep) noexcept {
    return online_stats_by(
        n, [x](std::size_t first, std::size_t count) { return R::max_of(x + first, count); }, sweep);
  }
  // The same with the sub-block's max given by block_max(first, count).
  template <class BlockMax, class Sweep>
  static chunk_stats online_stats_by(std::size_t n, const BlockMax& block_max_of, const Sweep& sweep) noexcept {
    chunk_stats stats{};
    stats.max = minus_inf;
    stats.shift = 0.0f;
    for (std::size_t b = 0; b < n; b += sub_block) {
      const std::size_t count = n - b < sub_block ? n - b : sub_block;
      const float block_max = block_max_of(b, count);
      if (block_max > stats.max) {  // false for NaN, which the sum then catches
        const float shift = shift_of(block_max);
        const double delta = static_cast<double>(stats.shift) - static_cast<double>(shift);
        // The terms so far are exp(x - old shift); an all -inf start has sum 0 and old shift 0.
        if (stats.sum_exp != 0.0) stats.sum_exp *= __builtin_exp(delta);
        if (stats.y_sum != 0.0) stats.y_dot += stats.y_sum * delta;
        stats.max = block_max;
        stats.shift = shift;
      }
      sweep(b, count, stats.shift, stats);
    }
    return stats;
  }

  // load_chunk into z with the max taken as it is stored, then the exponentials' sum (stored over z
  // when keep_exp): the statistics of a row loaded through the scratch in two sweeps, not three.
  static chunk_stats load_exp_stats_chunk(const row_load& row, std::size_t first, std::size_t n, float* z,
                                          bool keep_exp) noexcept {
    chunk_stats stats{};
    stats.max = load_kernels<Ops>::load_max_chunk(row, first, n, z);
    stats.shift = shift_of(stats.max);
    stats.sum_exp = exp_sum_chunk(z, n, stats.shift, keep_exp ? z : nullptr, z + n, z + n);
    return stats;
  }

  // Statistics of columns [first, first + n) of a row as load_chunk produces them (any element type,
  // any transform), without its scratch: sub-blocks decoded and transformed in registers twice while
  // they sit in L1 (their max, then exp(z - shift) summed), merged as online_stats does. Classes from
  // valid_cols on are -inf: they add nothing and are not read. A softcapped row computes its tanh
  // twice here; the drivers load such rows once through the scratch instead.
  static chunk_stats load_stats_chunk(const row_load& row, std::size_t first, std::size_t n) noexcept {
    using io = load_kernels<Ops>;
    const std::size_t valid = row.valid_cols <= first ? 0 : (row.valid_cols - first < n ? row.valid_cols - first : n);
    chunk_stats stats{};
    io::with_type(row.x_type, [&](auto in) {
      constexpr dtype T = decltype(in)::value;
      if (row.mask == nullptr && row.softcap == 0.0f) {
        stats = row.scale == 1.0f ? load_stats_shaped<T, io::shape::plain>(row, first, valid)
                                  : load_stats_shaped<T, io::shape::scaled>(row, first, valid);
      } else {
        stats = load_stats_shaped<T, io::shape::general>(row, first, valid);
      }
    });
    return stats;
  }
  template <dtype T, typename load_kernels<Ops>::shape S>
  static chunk_stats load_stats_shaped(const row_load row, std::size_t first, std::size_t n) noexcept {
    using io = load_kernels<Ops>;
    constexpr std::size_t W = Ops::width;
    // z of the count <= W columns from column first + j; lanes past count are -inf.
    const auto z_at = [&row, first](std::size_t j, std::size_t count) SOFTXENT_ALWAYS_INLINE {
      const std::size_t at = first + j;
      const bool whole = count == W;
      const vec x = whole ? io::template decode<T>(row.x, at) : io::decode_tail(row.x, T, at, count, minus_inf);
      vec z = x;
      if constexpr (S == io::shape::scaled) z = transform_kernels<Ops>::transform(x, row.scale, 0.0f);
      if constexpr (S == io::shape::general) {
        vec m;
        if (row.mask != nullptr) m = whole ? io::decode_mask(row, at) : io::decode_tail(row.mask, row.mask_type, at, count, 0.0f);
        z = io::transformed(x, row, row.mask != nullptr ? &m : nullptr);
      }
      if (whole) return z;
      alignas(64) float lanes[W];
      Ops::store(lanes, z);
      return Ops::load_tail(lanes, count, minus_inf);  // a transform may have moved the padding
    };
    return online_stats_by(
        n,
        [&](std::size_t b, std::size_t count) {
          const vec lowest = Ops::splat(minus_inf);
          vec m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
          std::size_t j = 0;
          for (; j + 4 * W <= count; j += 4 * W) {
            m0 = Ops::max(m0, z_at(b + j, W));
            m1 = Ops::max(m1, z_at(b + j + W, W));
            m2 = Ops::max(m2, z_at(b + j + 2 * W, W));
            m3 = Ops::max(m3, z_at(b + j + 3 * W, W));
          }
          for (; j + W <= count; j += W) m0 = Ops::max(m0, z_at(b + j, W));
          if (j < count) m1 = Ops::max(m1, z_at(b + j, count - j));
          return Ops::horizontal_max(Ops::max(Ops::max(m0, m1), Ops::max(m2, m3)));
        },
        [&](std::size_t b, std::size_t count, float shift_value, chunk_stats& stats) {
          // The sweep over L1 data prefetches the row ahead (reduce::prefetch_ahead).
          const vec shift = Ops::splat(shift_value);
          stats.sum_exp += R::sum_of(count, [&](std::size_t j, std::size_t m) {
            if (row.prefetch_end != nullptr) io::template prefetch<T>(row, first + b + j);
            return Ops::exp_nonpositive(z_at(b + j, m) - shift);
          });
        });
  }

  // The second sweep alone: sum_j exp(x_j - shift), storing the exponentials into e when not null.
  // e_end: the end of e's matrix, for write prefetches (reduce::prefetch_write).
  static double exp_sum_chunk(const float* x, std::size_t n, float shift_value, float* e, const float* end,
                              const float* e_end = nullptr) noexcept {
    const vec shift = Ops::splat(shift_value);
    if (e != nullptr) {
      return R::sum_of(n, [&](std::size_t j, std::size_t count) {
        R::prefetch_ahead(x, j, end);
        R::prefetch_write(e, j, e_end);
        const vec v = Ops::exp_nonpositive(R::load_n(x + j, count, minus_inf) - shift);
        R::store_n(e + j, count, v);
        return v;
      });
    }
    return R::sum_of(n, [&](std::size_t j, std::size_t count) {
      R::prefetch_ahead(x, j, end);
      return Ops::exp_nonpositive(R::load_n(x + j, count, minus_inf) - shift);
    });
  }

  static void softmax_chunk(const float* x, std::size_t n, float shift_value, float factor, float* y) noexcept {
    const vec shift = Ops::splat(shift_value), f = Ops::splat(factor);
    R::for_each(n, [&](std::size_t j, std::size_t count) {
      R::store_n(y + j, count, Ops::exp_nonpositive(R::load_n(x + j, count, minus_inf) - shift) * f);
    });
  }

  static void scale_chunk(float* y, std::size_t n, float factor) noexcept {
    const vec f = Ops::splat(factor);
    R::for_each(n, [&](std::size_t j, std::size_t count) { R::store_n(y + j, count, R::load_n(y + j, count, 0.0f) * f); });
  }

  // y = (x - shift) - offset: x - shift is exact or nearly (both near the max), offset = log(sum).
  static void log_softmax_chunk(const float* x, std::size_t n, float shift, float offset, float* y) noexcept {
    log_softmax_sweep(x, n, shift, offset, y, y + n);
  }
  static void log_softmax_sweep(const float* x, std::size_t n, float shift, float offset, float* y,
                                const float* y_end) noexcept {
    const vec s = Ops::splat(shift), o = Ops::splat(offset);
    R::for_each(n, [&](std::size_t j, std::size_t count) {
      R::prefetch_write(y, j, y_end);
      R::store_n(y + j, count, (R::load_n(x + j, count, 0.0f) - s) - o);
    });
  }

  // Rows of at most short_row_max classes waste much of a vector and pay a horizontal reduction per
  // row. Instead, W rows at a time are transposed into a column-major tile on the stack (lane i is
  // row i), every reduction becomes vertical, and finish(tile, shift, sum_exp, first_row, count) turns
  // the tile of exponentials into the rows' outputs. before_exp(tile, shift, first_row, count) sees the
  // tile of logits once the shift is known (cross-entropy's target terms).
  static constexpr std::size_t short_row_max = short_row_classes;
  static constexpr bool has_short_rows = Ops::width > 1;

  struct no_hook {
    void operator()(const float*, const vec&, std::size_t, std::size_t) const noexcept {}
  };

  template <class Finish, class BeforeExp = no_hook>
  static void short_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, const float* end,
                         bool store_exp, const Finish& finish, const BeforeExp& before_exp = {}) noexcept {
    constexpr std::size_t W = Ops::width;
    alignas(64) float tile[short_row_max * W];
    const std::size_t tile_span = W * x_stride;  // elements from one tile's first row to the next's
    for (std::size_t r0 = 0; r0 < rows; r0 += W) {
      const std::size_t count = rows - r0 < W ? rows - r0 : W;
      // The rows some tiles ahead, as the long-row sweeps do (reduce::prefetch_ahead).
      for (std::size_t j = 0; j < tile_span; j += 16) R::prefetch_ahead(x + r0 * x_stride, j, end);
      Ops::gather_columns(x + r0 * x_stride, x_stride, count, cols, tile);
      // Max down the columns, then exp(x - shift) summed in eight interleaved accumulators (at most
      // 8 terms each, then a tree: the sum's rounding stays within a few eps for 64 classes).
      vec max = Ops::load(tile);
      for (std::size_t c = 1; c < cols; ++c) max = Ops::max(max, Ops::load(tile + c * W));
      const vec shift = Ops::zero_where_minus_inf(max);  // all-masked rows: shift 0, as shift_of()
      before_exp(tile, shift, r0, count);
      vec sums[8];
      for (vec& partial : sums) partial = Ops::splat(0.0f);
      for (std::size_t c = 0; c < cols; ++c) {
        const vec e = Ops::exp_nonpositive(Ops::load(tile + c * W) - shift);
        if (store_exp) Ops::store(tile + c * W, e);
        sums[c % 8] = sums[c % 8] + e;
      }
      alignas(64) float shift_lanes[W], sum_lanes[W];
      Ops::store(shift_lanes, shift);
      Ops::store(sum_lanes, ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7])));
      finish(tile, shift_lanes, sum_lanes, r0, count);
    }
  }

  static void logsumexp_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride,
                             float* lse, const float* end) noexcept {
    if (has_short_rows && cols <= short_row_max) {
      short_rows(rows, cols, x, x_stride, end, false,
                 [&](const float*, const float* shift, const float* sum, std::size_t r0, std::size_t count) {
                   alignas(64) float lanes[Ops::width];
                   Ops::store(lanes, Ops::load(shift) + Ops::log_of_sum(Ops::load(sum)));  // as lse_of()
                   for (std::size_t i = 0; i < count; ++i) lse[r0 + i] = lanes[i];
                 });
      return;
    }
    // The logs of W rows at once (a scalar double log costs more than the row's horizontal
    // reductions): lse = shift + log(sum) in float, as the short rows do.
    stats_rows(rows, cols, x, x_stride, end, [&](const float* shift, const float* sum, std::size_t r0, std::size_t count) {
      alignas(64) float lanes[Ops::width];
      Ops::store(lanes, Ops::load(shift) + Ops::log_of_sum(Ops::load(sum)));
      for (std::size_t i = 0; i < count; ++i) lse[r0 + i] = lanes[i];
    });
  }

  // Read-only statistics of longer rows, each row by exp_stats_chunk, handed to
  // finish(shift, sum_exp, first_row, count) W rows at a time as float lanes (lanes past count:
  // shift 0, sum 1), so that the per-row tail is vector code as for short_rows.
  template <class Finish>
  static void stats_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, const float* end,
                         const Finish& finish) noexcept {
    constexpr std::size_t W = Ops::width;
    for (std::size_t r0 = 0; r0 < rows; r0 += W) {
      const std::size_t count = rows - r0 < W ? rows - r0 : W;
      alignas(64) float shift[W], sum[W];
      for (std::size_t i = 0; i < W; ++i) {
        if (i < count) {
          const chunk_stats s = exp_stats_chunk(x + (r0 + i) * x_stride, cols, nullptr, end);
          shift[i] = s.shift;
          sum[i] = static_cast<float>(s.sum_exp);
        } else {
          shift[i] = 0.0f;
          sum[i] = 1.0f;
        }
      }
      finish(shift, sum, r0, count);
    }
  }

  static void softmax_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                           std::size_t y_stride, const float* end) noexcept {
    if (has_short_rows && cols <= short_row_max) {
      constexpr std::size_t W = Ops::width;
      short_rows(rows, cols, x, x_stride, end, true,
                 [&](float* tile, const float*, const float* sum, std::size_t r0, std::size_t count) {
                   const vec factor = Ops::reciprocal_or_zero(Ops::load(sum));  // as softmax_factor_of()
                   for (std::size_t c = 0; c < cols; ++c) Ops::store(tile + c * W, Ops::load(tile + c * W) * factor);
                   Ops::scatter_columns(tile, cols, count, y + r0 * y_stride, y_stride);
                 });
      return;
    }
    const float* y_end = y + (rows - 1) * y_stride + cols;
    for (std::size_t r = 0; r < rows; ++r) {
      float* yr = y + r * y_stride;
      const chunk_stats s = exp_stats(x + r * x_stride, cols, yr, end, y_end);
      scale_chunk(yr, cols, static_cast<float>(softmax_factor_of(s.sum_exp)));
    }
  }

  static void log_softmax_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                               std::size_t y_stride, const float* end) noexcept {
    if (has_short_rows && cols <= short_row_max) {
      constexpr std::size_t W = Ops::width;
      short_rows(rows, cols, x, x_stride, end, false,
                 [&](float* tile, const float* shift, const float* sum, std::size_t r0, std::size_t count) {
                   const vec s = Ops::load(shift), o = Ops::log_softmax_offset(Ops::load(sum));
                   for (std::size_t c = 0; c < cols; ++c) Ops::store(tile + c * W, (Ops::load(tile + c * W) - s) - o);
                   Ops::scatter_columns(tile, cols, count, y + r0 * y_stride, y_stride);
                 });
      return;
    }
    const float* y_end = y + (rows - 1) * y_stride + cols;
    for (std::size_t r = 0; r < rows; ++r) {
      const float* xr = x + r * x_stride;
      const chunk_stats s = exp_stats_chunk(xr, cols, nullptr, end);
      log_softmax_sweep(xr, cols, s.shift, static_cast<float>(log_softmax_offset_of(s.sum_exp)), y + r * y_stride,
                        y_end);
    }
  }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_SOFTMAX_HPP
