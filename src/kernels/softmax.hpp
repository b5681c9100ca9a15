// logsumexp, softmax and log_softmax over one chunk or rows of one chunk.
// A chunk is swept twice while it sits in L1: first its max, then exp(x - max) and their sum (stored
// when the output wants them); softmax then scales the stored exponentials in place.
#ifndef SOFTXENT_SRC_KERNELS_SOFTMAX_HPP
#define SOFTXENT_SRC_KERNELS_SOFTMAX_HPP

#include <cstddef>
#include <limits>

#include "kernel_table.hpp"
#include "kernels/reduce.hpp"
#include "kernels/row_math.hpp"

namespace softxent::detail {

template <class Ops>
struct softmax_kernels {
  using vec = typename Ops::vec;
  using R = reduce<Ops>;
  static constexpr float minus_inf = -std::numeric_limits<float>::infinity();

  // First sweep: max. Second sweep: e_j = exp(x_j - shift) <= 1 (x - max <= 0, so exp cannot
  // overflow), stored into e when asked (e may be x), and summed.
  static chunk_stats exp_stats_chunk(const float* x, std::size_t n, float* e) noexcept {
    chunk_stats stats{};
    stats.max = R::max_of(x, n);
    stats.shift = shift_of(stats.max);
    const vec shift = Ops::splat(stats.shift);
    if (e != nullptr) {
      stats.sum_exp = R::sum_of(n, [&](std::size_t j, std::size_t count) {
        const vec v = Ops::exp_nonpositive(R::load_n(x + j, count, minus_inf) - shift);
        R::store_n(e + j, count, v);
        return v;
      });
    } else {
      stats.sum_exp = R::sum_of(n, [&](std::size_t j, std::size_t count) {
        return Ops::exp_nonpositive(R::load_n(x + j, count, minus_inf) - shift);
      });
    }
    return stats;
  }

  static void scale_chunk(float* y, std::size_t n, float factor) noexcept {
    const vec f = Ops::splat(factor);
    R::for_each(n, [&](std::size_t j, std::size_t count) { R::store_n(y + j, count, R::load_n(y + j, count, 0.0f) * f); });
  }

  // y = (x - shift) - offset: x - shift is exact or nearly (both near the max), offset = log(sum).
  static void log_softmax_chunk(const float* x, std::size_t n, float shift, float offset, float* y) noexcept {
    const vec s = Ops::splat(shift), o = Ops::splat(offset);
    R::for_each(n, [&](std::size_t j, std::size_t count) {
      R::store_n(y + j, count, (R::load_n(x + j, count, 0.0f) - s) - o);
    });
  }

  static void logsumexp_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride,
                             float* lse) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
      const chunk_stats s = exp_stats_chunk(x + r * x_stride, cols, nullptr);
      lse[r] = static_cast<float>(lse_of(s.shift, s.sum_exp));
    }
  }

  static void softmax_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                           std::size_t y_stride) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
      float* yr = y + r * y_stride;
      const chunk_stats s = exp_stats_chunk(x + r * x_stride, cols, yr);
      scale_chunk(yr, cols, static_cast<float>(softmax_factor_of(s.sum_exp)));
    }
  }

  static void log_softmax_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t x_stride, float* y,
                               std::size_t y_stride) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
      const float* xr = x + r * x_stride;
      const chunk_stats s = exp_stats_chunk(xr, cols, nullptr);
      log_softmax_chunk(xr, cols, s.shift, static_cast<float>(log_softmax_offset_of(s.sum_exp)), y + r * y_stride);
    }
  }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_SOFTMAX_HPP
