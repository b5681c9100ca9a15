// The few vector operations the kernels use, over xsimd::batch<float, Arch> (xsimd_ops<Arch>) or one
// float at a time (scalar_ops). Kernels are templates over one of these, so every helper below is
// a member of a class template or has internal linkage: nothing with external linkage is shared
// between the objects built with different -m flags.
#ifndef SOFTXENT_SRC_KERNELS_SIMD_HPP
#define SOFTXENT_SRC_KERNELS_SIMD_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#if !defined(SOFTXENT_SCALAR_ONLY)
#include <xsimd/xsimd.hpp>
#endif

namespace softxent::detail {

// exp(r) on [-ln2/2, ln2/2]: a degree-6 polynomial interpolating exp at the Chebyshev nodes (our own
// fit; 0.17 ulp from exp on that interval before rounding of the evaluation).
struct exp_constants {
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f;          // 8 significant bits: n * ln2_hi is exact
  static constexpr float ln2_lo = -2.12194440e-4f;       // ln2 - ln2_hi
  static constexpr float c2 = 0.5f;
  static constexpr float c3 = 0x1.555404p-3f;
  static constexpr float c4 = 0x1.5554acp-5f;
  static constexpr float c5 = 0x1.126fa6p-7f;
  static constexpr float c6 = 0x1.6d7532p-10f;
  // Below this exp(x) < 2e-38, which the kernels flush to 0: SPEC.md allows 1e-37 absolute there.
  static constexpr float flush_below = -86.9f;
  // Above this exp(x) overflows a float.
  static constexpr float overflow_above = 88.7228394f;
};

#if !defined(SOFTXENT_SCALAR_ONLY)
template <class Arch>
struct xsimd_ops {
  using vec = xsimd::batch<float, Arch>;
  using ivec = xsimd::batch<std::int32_t, Arch>;
  static constexpr std::size_t width = vec::size;

  static vec load(const float* p) noexcept { return vec::load_unaligned(p); }
  static void store(float* p, const vec& v) noexcept { v.store_unaligned(p); }
  static vec splat(float v) noexcept { return vec(v); }

  // The first n < width elements of p, the other lanes set to pad: never reads past p + n.
  static vec load_tail(const float* p, std::size_t n, float pad) noexcept {
    alignas(64) float buffer[width];
    for (std::size_t i = 0; i < width; ++i) buffer[i] = i < n ? p[i] : pad;
    return vec::load_aligned(buffer);
  }
  // Stores the first n < width lanes: never writes past p + n.
  static void store_tail(float* p, std::size_t n, const vec& v) noexcept {
    alignas(64) float buffer[width];
    v.store_aligned(buffer);
    std::memcpy(p, buffer, n * sizeof(float));
  }

  static vec max(const vec& a, const vec& b) noexcept { return xsimd::max(a, b); }
  static vec fma(const vec& a, const vec& b, const vec& c) noexcept { return xsimd::fma(a, b, c); }
  static vec nonzero_or_zero(const vec& condition, const vec& value) noexcept {
    return xsimd::select(condition != vec(0.0f), value, vec(0.0f));
  }
  static float horizontal_max(const vec& v) noexcept {
    alignas(64) float buffer[width];
    v.store_aligned(buffer);
    float m = buffer[0];
    for (std::size_t i = 1; i < width; ++i) m = buffer[i] > m ? buffer[i] : m;
    return m;
  }
  static float horizontal_sum(const vec& v) noexcept { return xsimd::hadd(v); }

  // 2^n for integral n in [-125, 128], as (2^(n-1)) * 2 to stay in the normal range.
  static vec pow2_half(const vec& n) noexcept {
    const ivec bits = (xsimd::to_int(n) + ivec(126)) << 23;
    return xsimd::bitwise_cast<vec>(bits);
  }

  // exp(x) for the forward kernels: 2^n * p(r) with n = round(x / ln2), r = x - n ln2 (two-part ln2).
  // x < flush_below gives 0 (and -inf gives 0), x > overflow_above gives +inf, NaN gives NaN.
  static vec exp(const vec& x) noexcept {
    using c = exp_constants;
    const vec clamped = xsimd::min(xsimd::max(x, vec(c::flush_below)), vec(c::overflow_above));
    const vec n = xsimd::nearbyint(clamped * vec(c::log2e));
    vec r = xsimd::fma(n, vec(-c::ln2_hi), clamped);
    r = xsimd::fma(n, vec(-c::ln2_lo), r);
    vec p = xsimd::fma(vec(c::c6), r, vec(c::c5));
    p = xsimd::fma(p, r, vec(c::c4));
    p = xsimd::fma(p, r, vec(c::c3));
    p = xsimd::fma(p, r, vec(c::c2));
    p = xsimd::fma(p, r, vec(1.0f));
    p = xsimd::fma(p, r, vec(1.0f));
    vec result = (p + p) * pow2_half(n);
    result = xsimd::select(x < vec(c::flush_below), vec(0.0f), result);
    result = xsimd::select(x > vec(c::overflow_above), vec(std::numeric_limits<float>::infinity()), result);
    return xsimd::select(x != x, x, result);  // NaN stays NaN
  }

  // exp(x) accurate also where the result is subnormal (the backward kernels' exp(y) may meet it):
  // below -80, exp(x + 64) * e^-64, whose one rounding lands on the subnormal grid.
  static vec exp_full_range(const vec& x) noexcept {
    const vec small = exp(x + vec(64.0f)) * vec(1.60381089e-28f);
    return xsimd::select(x < vec(-80.0f), small, exp(x));
  }
};
#endif

struct scalar_ops {
  using vec = float;
  static constexpr std::size_t width = 1;
  static vec load(const float* p) noexcept { return *p; }
  static void store(float* p, vec v) noexcept { *p = v; }
  static vec splat(float v) noexcept { return v; }
  static vec load_tail(const float* p, std::size_t n, float pad) noexcept { return n > 0 ? *p : pad; }
  static void store_tail(float* p, std::size_t n, vec v) noexcept {
    if (n > 0) *p = v;
  }
  static vec max(vec a, vec b) noexcept { return a > b ? a : b; }
  static vec fma(vec a, vec b, vec c) noexcept { return a * b + c; }
  static vec nonzero_or_zero(vec condition, vec value) noexcept { return condition != 0.0f ? value : 0.0f; }
  static float horizontal_max(vec v) noexcept { return v; }
  static float horizontal_sum(vec v) noexcept { return v; }
  static vec exp(vec x) noexcept { return x < exp_constants::flush_below ? 0.0f : std::exp(x); }
  static vec exp_full_range(vec x) noexcept { return std::exp(x); }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_SIMD_HPP
