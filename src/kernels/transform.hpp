// The logit transform of cross-entropy, z = softcap(logit_scale * x), and its derivative, a chunk at
// a time: the driver transforms a chunk of logits into an L1 scratch, runs the plain chunk kernels on
// it, and multiplies the gradient by dz/dx on the way to the caller's buffer.
#ifndef SOFTXENT_SRC_KERNELS_TRANSFORM_HPP
#define SOFTXENT_SRC_KERNELS_TRANSFORM_HPP

#include <cstddef>

#include "kernels/simd.hpp"

namespace softxent::detail {

template <class Ops>
struct transform_kernels {
  using vec = typename Ops::vec;
  static constexpr std::size_t W = Ops::width;

  // z = softcap * tanh(scale * x / softcap), or scale * x when softcap is 0 (kept within the float
  // range, so that a finite logit never becomes a +inf that would poison its row). An infinite or
  // NaN logit is left as it is: -inf stays a masked class, +inf and NaN still make the row NaN.
  SOFTXENT_ALWAYS_INLINE static vec transform(const vec& x, float scale, float softcap) noexcept {
    if (softcap == 0.0f) return Ops::where_finite(x, Ops::clamp_finite(x * Ops::splat(scale)), x);
    // Where u = scale * x / softcap is 0 or subnormal, tanh(u) = u: z = scale * x, rather than
    // softcap * u, which lost u's bits (all of a z below softcap * 2^-149, under a cap of 1e30).
    const vec u = capped_argument(x, scale, softcap);
    return Ops::where_finite(x, Ops::where_normal(u, Ops::splat(softcap) * Ops::tanh(u), x * Ops::splat(scale)), x);
  }

  // scale * x / softcap: one product by scale / softcap where that ratio is a normal float. A cap far
  // above the scale (scale 1e-20 under a cap of 1e30) would make it 0 or subnormal and lose z: then
  // (x * scale) / softcap, whose overflow to +-inf is tanh's +-1 all the same.
  static vec capped_argument(const vec& x, float scale, float softcap) noexcept {
    const float ratio = scale / softcap;
    if (ratio >= float_min_normal && ratio <= 3.40282347e38f)
      return x * Ops::splat(ratio);
    return x * Ops::splat(scale) / Ops::splat(softcap);
  }

  // dz/dx = scale * (1 - (z / softcap)^2), or scale without a cap; scale where z is not finite.
  static vec derivative(const vec& z, float scale, float softcap) noexcept {
    if (softcap == 0.0f) return Ops::splat(scale);
    const vec t = z * Ops::splat(1.0f / softcap);
    const vec d = Ops::splat(scale) * (Ops::splat(1.0f) - t * t);
    return Ops::where_finite(z, d, Ops::splat(scale));
  }

  static void logit_transform_chunk(const float* x, std::size_t n, float scale, float softcap, float* z) noexcept {
    std::size_t j = 0;
    for (; j + W <= n; j += W) Ops::store(z + j, transform(Ops::load(x + j), scale, softcap));
    if (j < n) Ops::store_tail(z + j, n - j, transform(Ops::load_tail(x + j, n - j, 0.0f), scale, softcap));
  }

  // out_j = g_j * dz_j/dx_j, from z_j; out may be g, or the logits the z came from.
  static void logit_chain_chunk(const float* g, const float* z, std::size_t n, float scale, float softcap,
                                float* out) noexcept {
    std::size_t j = 0;
    for (; j + W <= n; j += W) Ops::store(out + j, Ops::load(g + j) * derivative(Ops::load(z + j), scale, softcap));
    if (j < n) {
      const std::size_t m = n - j;
      Ops::store_tail(out + j, m, Ops::load_tail(g + j, m, 0.0f) * derivative(Ops::load_tail(z + j, m, 0.0f), scale, softcap));
    }
  }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_TRANSFORM_HPP
