// Cross-entropy over one chunk or rows of one chunk: the loss sum_j y_j (lse - x_j) and the gradient
// s * (y_sum * p_j - y_j) (+ z-loss), fused so that each logit is read from memory once and each
// gradient written once. The gradient may overwrite the logits: every sweep that reads x runs before
// the one that stores the exponentials over it.
#ifndef SOFTXENT_SRC_KERNELS_CROSS_ENTROPY_HPP
#define SOFTXENT_SRC_KERNELS_CROSS_ENTROPY_HPP

#include <cstddef>
#include <cstring>

#include "kernel_table.hpp"
#include "kernels/reduce.hpp"
#include "kernels/row_math.hpp"
#include "kernels/softmax.hpp"

namespace softxent::detail {

template <class Ops>
struct cross_entropy_kernels {
  using vec = typename Ops::vec;
  using R = reduce<Ops>;

  // True when some y_j comes from smoothing or probabilities, not only from the target.
  static bool has_spread(const class_coefficients& y) noexcept { return y.probs != nullptr || y.smooth != 0.0f; }

  // The spread part of y over [j, j + count): w_j * (keep * q_j + smooth), lanes past count 0.
  static vec spread_n(const class_coefficients& y, std::size_t j, std::size_t count) noexcept {
    vec v = Ops::splat(y.smooth);
    if (y.probs != nullptr) v = Ops::fma(Ops::splat(y.keep), R::load_n(y.probs + j, count, 0.0f), v);
    if (y.weights != nullptr) v = v * R::load_n(y.weights + j, count, 0.0f);
    if (count < Ops::width) v = v * Ops::load_tail(ones, count, 0.0f);
    return v;
  }

  // Adds the spread part of y over x[first, first + n) to stats: y_j to y_sum, y_j (x_j - shift) to
  // y_dot.
  static void add_spread(const float* x, std::size_t first, std::size_t n, float shift_value,
                         const class_coefficients& y, chunk_stats& stats) noexcept {
    if (!has_spread(y)) return;
    const vec s = Ops::splat(shift_value);
    // The same coefficient in double, for blocks whose float sums overflow.
    const auto spread_exact = [&](std::size_t j) { return spread_exact_at(y, first + j); };
    stats.y_sum += R::sum_of_checked(
        n, [&](std::size_t j, std::size_t count) { return spread_n(y, first + j, count); }, spread_exact);
    // Terms with y_j == 0 are skipped: a masked class (-inf) that gets no weight costs nothing.
    stats.y_dot += R::sum_of_checked(
        n,
        [&](std::size_t j, std::size_t count) {
          const vec yj = spread_n(y, first + j, count);
          // y_j (x_j - shift) overflows a float only where logits span more than FLT_MAX; the
          // block's sum is then not finite and sum_of_checked redoes it in double.
          return Ops::nonzero_or_zero(yj, yj * (R::load_n(x + first + j, count, 0.0f) - s));
        },
        [&](std::size_t j) {
          const double yj = spread_exact(j);
          return yj == 0.0 ? 0.0 : yj * (static_cast<double>(x[first + j]) - shift_value);
        });
  }

  // y_j in double, and the sums of add_spread in double (the fallback of spread_exp_sweep).
  static double spread_exact_at(const class_coefficients& y, std::size_t j) noexcept {
    const double q = y.probs ? static_cast<double>(y.keep) * y.probs[j] + y.smooth : y.smooth;
    return y.weights ? static_cast<double>(y.weights[j]) * q : q;
  }
  static void add_spread_exact(const float* x, std::size_t first, std::size_t n, float shift, const class_coefficients& y,
                               chunk_stats& stats) noexcept {
    for (std::size_t j = first; j < first + n; ++j) {
      const double yj = spread_exact_at(y, j);
      stats.y_sum += yj;
      if (yj != 0.0) stats.y_dot += yj * (static_cast<double>(x[j]) - shift);
    }
  }

  // The max, then y_sum and y_dot (reading x), then exp(x - shift) summed and stored into e. The
  // target's own term is read before the exponentials may overwrite x (grad == logits). Without e, a
  // long chunk goes sub-block by sub-block (softmax_kernels::online_stats).
  static chunk_stats cross_entropy_stats_chunk(const float* x, std::size_t n, const class_coefficients& y, float* e,
                                               const float* end) noexcept {
    using forward = softmax_kernels<Ops>;
    chunk_stats stats{};
    if (e == nullptr && n > forward::sub_block) {
      stats = forward::online_stats(x, n, [&](std::size_t first, std::size_t count, float shift, chunk_stats& s) {
        if (has_spread(y)) {
          spread_exp_sweep(x, first, count, shift, y, nullptr, end, s);
        } else {
          s.sum_exp += forward::exp_sum_chunk(x + first, count, shift, nullptr, end);
        }
      });
      add_target(x, y, stats);
      return stats;
    }
    stats.max = R::max_of(x, n);
    stats.shift = shift_of(stats.max);
    add_target(x, y, stats);
    if (has_spread(y) && e != x) {
      spread_exp_sweep(x, 0, n, stats.shift, y, e, end, stats);
      return stats;
    }
    // The exponentials overwrite x: the y sums first.
    add_spread(x, 0, n, stats.shift, y, stats);
    stats.sum_exp = forward::exp_sum_chunk(x, n, stats.shift, e, end, e != nullptr ? e + n : nullptr);
    return stats;
  }

  // One sweep over x[first, first + n) for the spread part of y: exp(x_j - shift) summed (and stored
  // into e[j - first] unless e is null), y_j summed and y_j (x_j - shift) summed where y_j != 0, in
  // blocks folded into doubles. A block whose y sums are not finite (logits spanning more than
  // FLT_MAX, huge targets, a weighted masked class) is summed again in double from x, which e must
  // not overwrite.
  static void spread_exp_sweep(const float* x, std::size_t first, std::size_t n, float shift_value,
                               const class_coefficients& y, float* e, const float* end, chunk_stats& stats) noexcept {
    const float* e_end = e != nullptr ? e + n : nullptr;
    constexpr std::size_t W = Ops::width;
    const vec shift = Ops::splat(shift_value), zero = Ops::splat(0.0f);
    const float* xs = x + first;
    std::size_t j = 0;
    while (j < n) {
      const std::size_t begin = j, stop = n - j > R::block ? j + R::block : n;
      vec sum_e[4] = {zero, zero, zero, zero}, sum_y[4] = {zero, zero, zero, zero}, sum_d[4] = {zero, zero, zero, zero};
      const auto step = [&](std::size_t k, std::size_t count, std::size_t a) {
        R::prefetch_ahead(xs, k, end);
        if (y.probs != nullptr) R::prefetch_near(y.probs + first, k, y.probs_end);
        const vec d = R::load_n(xs + k, count, -float_infinity) - shift;
        const vec p = Ops::exp_nonpositive(d);
        if (e != nullptr) {
          R::prefetch_write(e, k, e_end);
          R::store_n(e + k, count, p);
        }
        const vec yj = spread_n(y, first + k, count);  // 0 past count
        sum_e[a] = sum_e[a] + p;
        sum_y[a] = sum_y[a] + yj;
        sum_d[a] = sum_d[a] + Ops::nonzero_or_zero(yj, yj * d);
      };
      for (; j + 4 * W <= stop; j += 4 * W) {
        step(j, W, 0);
        step(j + W, W, 1);
        step(j + 2 * W, W, 2);
        step(j + 3 * W, W, 3);
      }
      for (; j < stop; j += W) step(j, stop - j < W ? stop - j : W, 0);
      const auto total = [](const vec* v) {
        return static_cast<double>(Ops::horizontal_sum((v[0] + v[1]) + (v[2] + v[3])));
      };
      stats.sum_exp += total(sum_e);
      const double block_y = total(sum_y), block_d = total(sum_d);
      if (__builtin_isfinite(block_y) && __builtin_isfinite(block_d)) {
        stats.y_sum += block_y;
        stats.y_dot += block_d;
      } else {
        chunk_stats exact{};
        add_spread_exact(x, first + begin, stop - begin, shift_value, y, exact);
        stats.y_sum += exact.y_sum;
        stats.y_dot += exact.y_dot;
      }
    }
  }

  // The target's term, relative to stats.shift, when the chunk holds it.
  static void add_target(const float* x, const class_coefficients& y, chunk_stats& stats) noexcept {
    if (y.target == no_target || y.target_coefficient == 0.0f) return;
    stats.y_sum += y.target_coefficient;
    stats.y_dot += static_cast<double>(y.target_coefficient) * (static_cast<double>(x[y.target]) - stats.shift);
  }

  // g_j = p_factor * e_j - y_scale * y_j, in place over the stored exponentials.
  static void cross_entropy_grad_chunk(float* g, std::size_t n, float p_factor, float y_scale,
                                       const class_coefficients& y) noexcept {
    const vec p = Ops::splat(p_factor);
    if (has_spread(y)) {
      const vec s = Ops::splat(y_scale);
      R::for_each(n, [&](std::size_t j, std::size_t count) {
        R::store_n(g + j, count, R::load_n(g + j, count, 0.0f) * p - spread_n(y, j, count) * s);
      });
    } else {
      R::for_each(n, [&](std::size_t j, std::size_t count) { R::store_n(g + j, count, R::load_n(g + j, count, 0.0f) * p); });
    }
    if (y.target != no_target) g[y.target] -= y_scale * y.target_coefficient;
  }

  // W rows at a time. Rows of at most short_row_max classes, integer or probability targets: the
  // transposed tile of softmax_kernels gives W rows' shifts, sums and exponentials in lanes (longer
  // rows, loss only: their statistics one by one). The loss, lse and gradient factor are then formed
  // for the W rows at once in float: there y_sum * log(sum) and -y_dot are both >= 0, so nothing
  // cancels, and y_dot's float sum stays within the 8 eps * |loss| that SPEC.md allows a row. A row
  // whose lane comes out non-finite (NaN or +inf logits, a masked class with weight, float overflow of
  // logits near FLT_MAX or of huge targets) is redone alone in double (general_row). Lanes never mix,
  // and whether a row is redone depends on its own lane only: a row gets the same bits alone, in a
  // partial tile or in a full one, whatever its neighbours hold.
  static void cross_entropy_lanes(const cross_entropy_block& b) noexcept {
    using forward = softmax_kernels<Ops>;
    constexpr std::size_t W = Ops::width;
    const std::size_t cols = b.cols;
    const bool soft = b.targets == nullptr;
    const float keep = 1.0f - b.label_smoothing;
    const float smooth = b.label_smoothing / static_cast<float>(cols);
    const auto weight = [&](std::size_t c) { return b.class_weights ? b.class_weights[c] : 1.0f; };
    double spread_sum = 0.0;  // integer targets: sum_c smooth * w_c, every row's y_sum but its target's
    if (!soft && smooth != 0.0f) {
      for (std::size_t c = 0; c < cols; ++c) spread_sum += static_cast<double>(smooth * weight(c));
    }
    const vec zero = Ops::splat(0.0f);
    alignas(64) float y_tile[forward::short_row_max * W];  // probability targets: y_c of every lane
    alignas(64) float y_sum_lanes[W], y_dot_lanes[W], target_coefficients[W];
    alignas(64) float counted_lanes[W];  // 1 for a row that counts, 0 for an ignored one
    vec counted_rows = zero;             // the same as a vector
    std::size_t targets[W];

    // With the logits in the tile: every row's y_sum and y_dot = sum_c y_c (x_c - shift). Without a
    // tile (integer targets, no smoothing), the target logits are read from the rows.
    const auto target_terms = [&](const float* tile, const vec& shift, std::size_t r0, std::size_t count) {
      vec y_sum = zero, dot[4] = {zero, zero, zero, zero};
      // Column c's y_c (x_c - shift) into one of four accumulators, skipping y_c == 0.
      const auto add_dot = [&](std::size_t accumulator, std::size_t c, const vec& y) {
        dot[accumulator % 4] = dot[accumulator % 4] + Ops::nonzero_or_zero(y, y * (Ops::load(tile + c * W) - shift));
      };
      if (soft) {
        Ops::gather_columns(b.target_probs + r0 * b.target_stride, b.target_stride, count, cols, y_tile);
        vec sums[4] = {zero, zero, zero, zero};
        for (std::size_t c = 0; c < cols; ++c) {
          const vec y = Ops::splat(weight(c)) * Ops::fma(Ops::splat(keep), Ops::load(y_tile + c * W), Ops::splat(smooth));
          Ops::store(y_tile + c * W, y);
          sums[c % 4] = sums[c % 4] + y;
          add_dot(c, c, y);
        }
        y_sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
      } else {
        vec coefficient, target_logit;
        // The gathers need the tile; with a gradient the lanes are wanted one by one anyway.
        if (tile == nullptr || b.grad != nullptr ||
            !Ops::target_lanes(b.targets + r0, count, b.ignore_index, tile, b.class_weights, keep, target_logit,
                               coefficient, counted_rows)) {
          alignas(64) float target_logits[W];
          for (std::size_t i = 0; i < W; ++i) {
            const std::int64_t t = i < count ? b.targets[r0 + i] : b.ignore_index;
            const bool counted = t != b.ignore_index;
            targets[i] = counted ? static_cast<std::size_t>(t) : 0;
            counted_lanes[i] = counted ? 1.0f : 0.0f;
            target_coefficients[i] = counted ? keep * weight(targets[i]) : 0.0f;
            target_logits[i] = tile != nullptr ? tile[targets[i] * W + i]
                                               : b.logits[(i < count ? r0 + i : r0) * b.logits_stride + targets[i]];
          }
          coefficient = Ops::load(target_coefficients);
          target_logit = Ops::load(target_logits);
          counted_rows = Ops::load(counted_lanes);
        }
        dot[0] = Ops::nonzero_or_zero(coefficient, coefficient * (target_logit - shift));
        y_sum = coefficient + Ops::splat(static_cast<float>(spread_sum));
        if (smooth != 0.0f) {
          for (std::size_t c = 0; c < cols; ++c) add_dot(c + 1, c, Ops::splat(smooth * weight(c)));
        }
      }
      Ops::store(y_sum_lanes, y_sum);
      Ops::store(y_dot_lanes, (dot[0] + dot[1]) + (dot[2] + dot[3]));
    };

    const auto finish = [&](float* tile, const float* shift, const float* sum, std::size_t r0, std::size_t count) {
      const vec sums = Ops::load(sum), log_sum = Ops::log_of_sum(sums);
      const vec y_sum = Ops::load(y_sum_lanes);
      vec loss = Ops::fma(y_sum, log_sum, zero - Ops::load(y_dot_lanes));
      vec lse = Ops::load(shift) + log_sum;
      vec p_factor = zero;
      if (b.grad != nullptr) {
        vec weight_sum = Ops::splat(static_cast<float>(b.grad_scale)) * y_sum;
        if (b.z_loss != 0.0f)
          weight_sum = Ops::fma(Ops::splat(static_cast<float>(b.z_grad_scale * 2.0 * b.z_loss)), lse, weight_sum);
        p_factor = weight_sum * Ops::reciprocal_or_zero(sums);
      }
      if (!soft) {  // ignored rows: loss and lse 0, whatever their logits (zeroed before the check)
        loss = Ops::nonzero_or_zero(counted_rows, loss);
        lse = Ops::nonzero_or_zero(counted_rows, lse);
        p_factor = Ops::nonzero_or_zero(counted_rows, p_factor);
      }
      alignas(64) float loss_lanes[W], lse_lanes[W];
      Ops::store(loss_lanes, loss);
      Ops::store(lse_lanes, lse);
      for (std::size_t i = 0; i < count; ++i) {
        b.row_loss[r0 + i] = static_cast<double>(loss_lanes[i]);
        b.row_lse[r0 + i] = static_cast<double>(lse_lanes[i]);
      }
      // Bit i set: row r0 + i is not finite in float (NaN included) and is redone alone in double,
      // from its logits, which nothing has overwritten yet (the gradient is scattered last).
      unsigned redone = 0;
      if (!Ops::all_finite(loss, p_factor)) redone = non_finite_lanes(loss_lanes, p_factor, count);
      if (b.grad == nullptr) {
        if (redone != 0) redo_rows(b, r0, redone, nullptr);
        return;
      }
      const vec p = p_factor;
      const vec y_scale = Ops::splat(static_cast<float>(b.grad_scale));
      for (std::size_t c = 0; c < cols; ++c) {
        const vec y = soft ? Ops::load(y_tile + c * W) : Ops::splat(smooth * weight(c));
        Ops::store(tile + c * W, Ops::load(tile + c * W) * p - y * y_scale);
      }
      if (redone != 0) redo_rows(b, r0, redone, tile);
      Ops::scatter_columns(tile, cols, count, b.grad + r0 * b.grad_stride, b.grad_stride);
      if (soft) return;
      for (std::size_t i = 0; i < count; ++i) {
        float* g = b.grad + (r0 + i) * b.grad_stride;
        if (counted_lanes[i] == 0.0f) {
          std::memset(g, 0, cols * sizeof(float));
        } else if (!(redone >> i & 1u)) {  // a redone row has its target's term already
          g[targets[i]] -= static_cast<float>(b.grad_scale) * target_coefficients[i];
        }
      }
    };
    if (cols <= forward::short_row_max) {
      forward::short_rows(b.rows, cols, b.logits, b.logits_stride, b.prefetch_end, b.grad != nullptr, finish, target_terms);
      return;
    }
    // Longer rows, loss only, integer targets without smoothing: each row's statistics as logsumexp
    // computes them, then the loss of W rows at once.
    forward::stats_rows(b.rows, cols, b.logits, b.logits_stride, b.prefetch_end,
                        [&](const float* shift, const float* sum, std::size_t r0, std::size_t count) {
                          target_terms(nullptr, Ops::load(shift), r0, count);
                          finish(nullptr, shift, sum, r0, count);
                        });
  }

  static void cross_entropy_rows(const cross_entropy_block& b) noexcept {
    using forward = softmax_kernels<Ops>;
    const bool short_rows = b.cols <= forward::short_row_max;
    const bool plain_loss = b.grad == nullptr && b.targets != nullptr && b.label_smoothing == 0.0f;
    if (forward::has_short_rows && (short_rows || plain_loss)) {
      cross_entropy_lanes(b);
      return;
    }
    general_rows(b);
  }

  // The rows of the block one by one, any length up to a chunk, sums in double.
  static void general_rows(const cross_entropy_block& b) noexcept {
    for (std::size_t r = 0; r < b.rows; ++r) general_row(b, r, b.grad != nullptr ? b.grad + r * b.grad_stride : nullptr);
  }

  // Row r of the block alone, sums in double: its row_loss and row_lse, and when g is not null its
  // gradient into g (the row's own gradient row, which may be its logits, or a scratch row).
  static void general_row(const cross_entropy_block& b, std::size_t r, float* g) noexcept {
    const float* x = b.logits + r * b.logits_stride;
    const float* probs_end = b.target_probs ? b.target_probs + (b.rows - 1) * b.target_stride + b.cols : nullptr;
    class_coefficients y{b.class_weights, nullptr, 1.0f - b.label_smoothing, b.label_smoothing / static_cast<float>(b.cols),
                         no_target, 0.0f, probs_end};
    if (b.targets != nullptr) {
      if (b.targets[r] == b.ignore_index) {
        b.row_loss[r] = 0.0;
        b.row_lse[r] = 0.0;
        if (g != nullptr) std::memset(g, 0, b.cols * sizeof(float));
        return;
      }
      y.target = static_cast<std::size_t>(b.targets[r]);
      y.target_coefficient = (1.0f - b.label_smoothing) * (b.class_weights ? b.class_weights[y.target] : 1.0f);
    } else {
      y.probs = b.target_probs + r * b.target_stride;
    }
    const chunk_stats s = cross_entropy_stats_chunk(x, b.cols, y, g, b.prefetch_end);
    const double lse = lse_of(s.shift, s.sum_exp);
    b.row_loss[r] = cross_entropy_loss_of(s.sum_exp, s.y_sum, s.y_dot);
    b.row_lse[r] = lse;
    if (g == nullptr) return;
    const double p_factor = cross_entropy_p_factor_of(s.sum_exp, s.y_sum, lse, b.z_loss, b.grad_scale, b.z_grad_scale);
    cross_entropy_grad_chunk(g, b.cols, static_cast<float>(p_factor), static_cast<float>(b.grad_scale), y);
  }

 private:
  // The rows r0 + i whose bit i is set in `lanes`, each alone in double (general_row). With a gradient
  // tile (rows of at most short_row_max classes), each row's gradient goes into its lane of the tile.
  static void redo_rows(const cross_entropy_block& b, std::size_t r0, unsigned lanes, float* gradient_tile) noexcept {
    for (std::size_t i = 0; lanes >> i != 0; ++i) {
      if (!(lanes >> i & 1u)) continue;
      if (gradient_tile == nullptr) {
        general_row(b, r0 + i, nullptr);
        continue;
      }
      float row[softmax_kernels<Ops>::short_row_max];
      general_row(b, r0 + i, row);
      for (std::size_t c = 0; c < b.cols; ++c) gradient_tile[c * Ops::width + i] = row[c];
    }
  }

  // The lanes i < count where loss or p_factor is not finite, as bits (the cold side of the tiles'
  // all_finite check).
  static unsigned non_finite_lanes(const float* loss_lanes, const vec& p_factor, std::size_t count) noexcept {
    alignas(64) float p_lanes[Ops::width];
    Ops::store(p_lanes, p_factor);
    unsigned lanes = 0;
    for (std::size_t i = 0; i < count; ++i)
      if (!__builtin_isfinite(loss_lanes[i]) || !__builtin_isfinite(p_lanes[i])) lanes |= 1u << i;
    return lanes;
  }

  static constexpr float ones[64] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_CROSS_ENTROPY_HPP
