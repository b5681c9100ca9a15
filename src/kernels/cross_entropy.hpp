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
    const auto spread_exact = [&](std::size_t j) {
      const double q = y.probs ? static_cast<double>(y.keep) * y.probs[first + j] + y.smooth : y.smooth;
      return y.weights ? static_cast<double>(y.weights[first + j]) * q : q;
    };
    stats.y_sum += R::sum_of_checked(
        n, [&](std::size_t j, std::size_t count) { return spread_n(y, first + j, count); }, spread_exact);
    // Terms with y_j == 0 are skipped: a masked class (-inf) that gets no weight costs nothing.
    stats.y_dot += R::sum_of_checked(
        n,
        [&](std::size_t j, std::size_t count) {
          const vec yj = spread_n(y, first + j, count);
          return Ops::nonzero_or_zero(yj, Ops::scaled_difference(yj, R::load_n(x + first + j, count, 0.0f), s));
        },
        [&](std::size_t j) {
          const double yj = spread_exact(j);
          return yj == 0.0 ? 0.0 : yj * (static_cast<double>(x[first + j]) - shift_value);
        });
  }

  // The max, then y_sum and y_dot (reading x), then exp(x - shift) summed and stored into e. The
  // target's own term is read before the exponentials may overwrite x (grad == logits). Without e, a
  // long chunk goes sub-block by sub-block (softmax_kernels::online_stats).
  static chunk_stats cross_entropy_stats_chunk(const float* x, std::size_t n, const class_coefficients& y, float* e,
                                               const float* end) noexcept {
    using forward = softmax_kernels<Ops>;
    chunk_stats stats{};
    if (e == nullptr && n > forward::sub_block) {
      stats = forward::online_stats(x, n, end, [&](std::size_t first, std::size_t count, float shift, chunk_stats& s) {
        add_spread(x, first, count, shift, y, s);
      });
      add_target(x, y, stats);
      return stats;
    }
    stats.max = R::max_of(x, n);
    stats.shift = shift_of(stats.max);
    add_target(x, y, stats);
    add_spread(x, 0, n, stats.shift, y, stats);
    stats.sum_exp = forward::exp_sum_chunk(x, n, stats.shift, e, end);
    return stats;
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

  // Integer targets on rows of at most short_row_max classes: the transposed tile of softmax_kernels
  // gives each row's shift, sum and exponentials; the gradient is formed in the tile, where the class
  // weights are per-column constants, and transposed out; the target's -y_t is added per row.
  static void cross_entropy_short_rows(const cross_entropy_block& b) noexcept {
    constexpr std::size_t W = Ops::width;
    const std::size_t cols = b.cols;
    const float smooth = b.label_smoothing / static_cast<float>(cols);
    const auto weight = [&](std::size_t c) { return b.class_weights ? b.class_weights[c] : 1.0f; };
    double spread_sum = 0.0;  // sum_c smooth * w_c: the y_sum of every row but its target's part
    for (std::size_t c = 0; c < cols; ++c) spread_sum += static_cast<double>(smooth * weight(c));
    softmax_kernels<Ops>::short_rows(b.rows, cols, b.logits, b.logits_stride, b.grad != nullptr,
      [&](float* tile, const float* shift, const float* sum, std::size_t r0, std::size_t count) {
        alignas(64) float p_factors[W] = {};
        alignas(64) float log_sums[W];
        Ops::store(log_sums, Ops::log_of_sum(Ops::load(sum)));
        for (std::size_t i = 0; i < count; ++i) {
          const std::size_t r = r0 + i;
          if (b.targets[r] == b.ignore_index) {
            b.row_loss[r] = 0.0;
            b.row_lse[r] = 0.0;
            continue;
          }
          const float* x = b.logits + r * b.logits_stride;
          const auto t = static_cast<std::size_t>(b.targets[r]);
          const float target_coefficient = (1.0f - b.label_smoothing) * weight(t);
          double y_dot = target_coefficient != 0.0f
                             ? static_cast<double>(target_coefficient) * (static_cast<double>(x[t]) - shift[i])
                             : 0.0;
          if (smooth != 0.0f) {
            for (std::size_t c = 0; c < cols; ++c) {
              const float y = smooth * weight(c);
              if (y != 0.0f) y_dot += static_cast<double>(y) * (static_cast<double>(x[c]) - shift[i]);
            }
          }
          const double y_sum = target_coefficient + spread_sum;
          const double lse = static_cast<double>(shift[i]) + log_sums[i];
          b.row_loss[r] = cross_entropy_loss_of(sum[i], log_sums[i], y_sum, y_dot);
          b.row_lse[r] = lse;
          p_factors[i] = static_cast<float>(
              cross_entropy_p_factor_of(sum[i], y_sum, lse, b.z_loss, b.grad_scale, b.z_grad_scale));
        }
        if (b.grad == nullptr) return;
        const vec p_factor = Ops::load(p_factors);
        const float y_scale = static_cast<float>(b.grad_scale);
        for (std::size_t c = 0; c < cols; ++c) {
          const vec g = Ops::load(tile + c * W) * p_factor - Ops::splat(y_scale * (smooth * weight(c)));
          Ops::store(tile + c * W, g);
        }
        Ops::scatter_columns(tile, cols, count, b.grad + r0 * b.grad_stride, b.grad_stride);
        for (std::size_t i = 0; i < count; ++i) {
          const std::size_t r = r0 + i;
          float* g = b.grad + r * b.grad_stride;
          if (b.targets[r] == b.ignore_index) {
            std::memset(g, 0, cols * sizeof(float));
            continue;
          }
          const auto t = static_cast<std::size_t>(b.targets[r]);
          g[t] -= y_scale * ((1.0f - b.label_smoothing) * weight(t));
        }
      });
  }

  static void cross_entropy_rows(const cross_entropy_block& b) noexcept {
    if (softmax_kernels<Ops>::has_short_rows && b.targets != nullptr && b.cols <= softmax_kernels<Ops>::short_row_max) {
      cross_entropy_short_rows(b);
      return;
    }
    const float smooth = b.label_smoothing / static_cast<float>(b.cols);
    const float* end = b.logits + (b.rows - 1) * b.logits_stride + b.cols;
    for (std::size_t r = 0; r < b.rows; ++r) {
      const float* x = b.logits + r * b.logits_stride;
      float* g = b.grad != nullptr ? b.grad + r * b.grad_stride : nullptr;
      class_coefficients y{b.class_weights, nullptr, 1.0f - b.label_smoothing, smooth, no_target, 0.0f};
      if (b.targets != nullptr) {
        if (b.targets[r] == b.ignore_index) {
          b.row_loss[r] = 0.0;
          b.row_lse[r] = 0.0;
          if (g != nullptr) std::memset(g, 0, b.cols * sizeof(float));
          continue;
        }
        y.target = static_cast<std::size_t>(b.targets[r]);
        y.target_coefficient = (1.0f - b.label_smoothing) * (b.class_weights ? b.class_weights[y.target] : 1.0f);
      } else {
        y.probs = b.target_probs + r * b.target_stride;
      }
      const chunk_stats s = cross_entropy_stats_chunk(x, b.cols, y, g, end);
      const double lse = lse_of(s.shift, s.sum_exp);
      b.row_loss[r] = cross_entropy_loss_of(s.sum_exp, s.y_sum, s.y_dot);
      b.row_lse[r] = lse;
      if (g == nullptr) continue;
      const double p_factor = cross_entropy_p_factor_of(s.sum_exp, s.y_sum, lse, b.z_loss, b.grad_scale, b.z_grad_scale);
      cross_entropy_grad_chunk(g, b.cols, static_cast<float>(p_factor), static_cast<float>(b.grad_scale), y);
    }
  }

 private:
  static constexpr float ones[64] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_CROSS_ENTROPY_HPP
