// The backward (vector-Jacobian) kernels of softmax and log_softmax: a first sweep reduces dy against
// y (or alone), a second writes dx.
#ifndef SOFTXENT_SRC_KERNELS_BACKWARD_HPP
#define SOFTXENT_SRC_KERNELS_BACKWARD_HPP

#include <cstddef>

#include "kernels/reduce.hpp"

namespace softxent::detail {

template <class Ops>
struct backward_kernels {
  using vec = typename Ops::vec;
  using R = reduce<Ops>;

  // sum_j a_j * b_j, or sum_j a_j when b is null, accumulated in double blocks.
  static double dot_chunk(const float* a, const float* b, std::size_t n) noexcept {
    if (b == nullptr) return R::sum_of(n, [&](std::size_t j, std::size_t count) { return R::load_n(a + j, count, 0.0f); });
    return R::sum_of(n, [&](std::size_t j, std::size_t count) {
      return R::load_n(a + j, count, 0.0f) * R::load_n(b + j, count, 0.0f);
    });
  }

  // dx = y * (dy - dot). dx may be y or dy: each element is read before it is written. Only dx's
  // lines are prefetched (for writing): prefetching y and dy ahead as well, four prefetches per vector
  // of a sweep with no arithmetic to hide them, made it slower (AMD EPYC Zen 5, one thread, a driver
  // over softxent::softmax_backward: 1x128256 from L3 40 -> 27 us, 4096x1000 1.72 -> 1.43 ms, the
  // other shapes within the noise). log_softmax's sweep, which spends an exponential per element,
  // keeps them: without, it was slower (4096x1000 1.41 -> 1.59 ms).
  static void softmax_backward_chunk(const float* y, const float* dy, std::size_t n, float dot, float* dx) noexcept {
    const vec d = Ops::splat(dot);
    R::for_each(n, [&](std::size_t j, std::size_t count) {
      R::prefetch_write(dx, j, dx + n);
      R::store_n(dx + j, count, R::load_n(y + j, count, 0.0f) * (R::load_n(dy + j, count, 0.0f) - d));
    });
  }
  // dx = dy - exp(y) * sum; a masked class (y = -inf) gets dx = dy. Prefetches y and dy ahead up to
  // their ends (reduce::prefetch_ahead): in the rows kernels the first sweep reads dy from memory and
  // this one reads y for the first time, so memory would idle during the exponentials otherwise.
  static void log_softmax_backward_chunk(const float* y, const float* dy, std::size_t n, float sum, float* dx,
                                         const float* y_end, const float* dy_end) noexcept {
    const vec s = Ops::splat(sum);
    R::for_each(n, [&](std::size_t j, std::size_t count) {
      R::prefetch_ahead(y, j, y_end);
      R::prefetch_ahead(dy, j, dy_end);
      R::prefetch_write(dx, j, dx + n);
      const vec p = Ops::exp(R::load_n(y + j, count, 0.0f));
      R::store_n(dx + j, count, R::load_n(dy + j, count, 0.0f) - p * s);
    });
  }

  // The rows kernels share one signature; softmax's prefetches nothing of y and dy (see above).
  static void softmax_backward_rows(std::size_t rows, std::size_t cols, const float* y, std::size_t y_stride,
                                    const float* dy, std::size_t dy_stride, float* dx, std::size_t dx_stride,
                                    const float* /*y_end*/, const float* /*dy_end*/) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
      const float* yr = y + r * y_stride;
      const float* dyr = dy + r * dy_stride;
      softmax_backward_chunk(yr, dyr, cols, static_cast<float>(dot_chunk(dyr, yr, cols)), dx + r * dx_stride);
    }
  }

  static void log_softmax_backward_rows(std::size_t rows, std::size_t cols, const float* y, std::size_t y_stride,
                                        const float* dy, std::size_t dy_stride, float* dx, std::size_t dx_stride,
                                        const float* y_end, const float* dy_end) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
      const float* dyr = dy + r * dy_stride;
      log_softmax_backward_chunk(y + r * y_stride, dyr, cols, static_cast<float>(dot_chunk(dyr, nullptr, cols)),
                                 dx + r * dx_stride, y_end, dy_end);
    }
  }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_BACKWARD_HPP
