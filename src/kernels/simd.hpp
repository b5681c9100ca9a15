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
#include <type_traits>

#include "kernels/convert.hpp"
#include "kernels/row_math.hpp"

#if !defined(SOFTXENT_SCALAR_ONLY)
#include <xsimd/xsimd.hpp>
#endif
#if defined(__aarch64__) && !defined(SOFTXENT_SCALAR_ONLY)
// AArch64's half-precision conversions (FCVTL / FCVTN, rounding to nearest even by default).
#include <arm_neon.h>
#define SOFTXENT_NEON_INTRINSICS 1
#else
#define SOFTXENT_NEON_INTRINSICS 0
#endif
#if defined(__x86_64__) && !defined(SOFTXENT_SCALAR_ONLY)
// The declarations exist whatever the -m flags; only the objects built for AVX2 / AVX-512 use them.
#include <immintrin.h>
#define SOFTXENT_X86_INTRINSICS 1
#else
#define SOFTXENT_X86_INTRINSICS 0
#endif

namespace softxent::detail {

// On what a kernel's loop calls per vector when g++ 12's inliner would leave it a call (with a
// vzeroupper, spills and the exp's constants reloaded each time): the sinks of load_kernels'
// loops, the logit transform, and the vector functions below (tanh, exp, the 16-bit conversions)
// that those loops call. Measured: a third of the bf16 output loop's time, and twice the time of a
// masked row's load once tanh grew a branch. exp_nonpositive is not forced (see
// exp_nonpositive_inline).
#define SOFTXENT_ALWAYS_INLINE __attribute__((always_inline))

// exp(r) on [-ln2/2, ln2/2]: a degree-6 polynomial interpolating exp at the Chebyshev nodes (our own
// fit; 0.17 ulp from exp on that interval before rounding of the evaluation).
struct exp_constants {
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2 = 0.693147181f;
  static constexpr float ln2_hi = 0.693359375f;     // 9 significant bits: n * ln2_hi is exact
  static constexpr float ln2_lo = -2.12194440e-4f;  // ln2 - ln2_hi
  static constexpr float c2 = 0.5f;
  static constexpr float c3 = 0x1.555404p-3f;
  static constexpr float c4 = 0x1.5554acp-5f;
  static constexpr float c5 = 0x1.126fa6p-7f;
  static constexpr float c6 = 0x1.6d7532p-10f;
  // Below this exp(x) < 2e-38, which may be flushed to 0: SPEC.md allows 1e-37 absolute there.
  static constexpr float flush_below = -87.0f;
};

// tanh(a) for a >= 0: below `small`, a + a^3 q(a^2), q interpolating (tanh(a) / a - 1) / a^2 at the
// Chebyshev nodes of [0, small^2] (our own fit); from `small` on, (1 - e) / (1 + e) with e = exp(-2a),
// which has no cancellation there (e <= 0.29) and is exactly 1 once e underflows. Measured over every
// positive float against long double with an exact exp: at most 1.5 ulp.
struct tanh_constants {
  static constexpr float small = 0.625f;
  static constexpr float q0 = -3.333332894e-01f;
  static constexpr float q1 = 1.333276974e-01f;
  static constexpr float q2 = -5.385090958e-02f;
  static constexpr float q3 = 2.099717900e-02f;
  static constexpr float q4 = -6.096714164e-03f;
};

#if !defined(SOFTXENT_SCALAR_ONLY)
// NativeBf16: encode bf16 with AVX-512 BF16's vcvtneps2bf16 (for CPUs that have it).
template <class Arch, bool NativeBf16 = false>
struct xsimd_ops {
  using vec = xsimd::batch<float, Arch>;
  using ivec = xsimd::batch<std::int32_t, Arch>;
  static constexpr std::size_t width = vec::size;
  static constexpr bool is_avx512 = std::is_base_of<xsimd::avx512f, Arch>::value;
  static_assert(!NativeBf16 || is_avx512, "vcvtneps2bf16 is an AVX-512 instruction");
  static constexpr bool is_avx2 = !is_avx512 && std::is_base_of<xsimd::avx2, Arch>::value;

  static vec load(const float* p) noexcept { return vec::load_unaligned(p); }
  static void store(float* p, const vec& v) noexcept { v.store_unaligned(p); }
  static vec splat(float v) noexcept { return vec(v); }

  // The first n < width elements of p, the other lanes set to pad: never reads past p + n.
  static vec load_tail(const float* p, std::size_t n, float pad) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
      return _mm512_mask_loadu_ps(_mm512_set1_ps(pad), mask, p);
    } else if constexpr (is_avx2) {
      const __m256i mask = avx2_lane_mask(n);
      return _mm256_blendv_ps(_mm256_set1_ps(pad), _mm256_maskload_ps(p, mask), _mm256_castsi256_ps(mask));
    } else
#endif
    {
      alignas(64) float buffer[width];
      for (std::size_t i = 0; i < width; ++i) buffer[i] = i < n ? p[i] : pad;
      return vec::load_aligned(buffer);
    }
  }
  // Stores the first n < width lanes: never writes past p + n.
  static void store_tail(float* p, std::size_t n, const vec& v) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
    } else if constexpr (is_avx2) {
      _mm256_maskstore_ps(p, avx2_lane_mask(n), v);
    } else
#endif
    {
      alignas(64) float buffer[width];
      v.store_aligned(buffer);
      std::memcpy(p, buffer, n * sizeof(float));
    }
  }

#if SOFTXENT_X86_INTRINSICS
  // In-place transpose of 16 vectors of 16 floats (AVX-512): v[i][c] becomes v[c][i]. Pairs of
  // vectors are interleaved by 32 then 64 bits, which leaves 4x4 blocks in each 128-bit lane; two
  // rounds of 128-bit shuffles then move the blocks into place.
  static void transpose16(__m512* v) noexcept {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
      for (int k = 0; k < 2; ++k) {
        const __m512d a = _mm512_castps_pd(t[i + k]), b = _mm512_castps_pd(t[i + 2 + k]);
        u[i + 2 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[i + 2 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
      }
    }
    // u[4b + k] holds, in 128-bit lane L, element 4L + k of v[4b .. 4b + 3].
    for (int k = 0; k < 4; ++k) {
      const __m512 v0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x44), v1 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xEE);
      const __m512 v2 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x44);
      const __m512 v3 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xEE);
      v[k] = _mm512_shuffle_f32x4(v0, v2, 0x88);
      v[4 + k] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
      v[8 + k] = _mm512_shuffle_f32x4(v1, v3, 0x88);
      v[12 + k] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
  }
  // In-place transpose of 8 vectors of 8 floats (AVX2): 32-bit then 64-bit interleaves within the
  // 128-bit halves, then the halves are exchanged.
  static void transpose8(__m256* v) noexcept {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x20);
      v[4 + k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x31);
    }
  }
  static __m256i avx2_lane_mask(std::size_t n) noexcept {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
#endif

  // tile[c * width + i] = rows[i * stride + c] for c < cols and i < count; lanes past count repeat
  // row 0. Never reads past a row's cols elements. The tile must hold cols rounded up to 16 columns
  // (AVX-512 writes whole blocks of 16).
  static void gather_columns(const float* rows, std::size_t stride, std::size_t count, std::size_t cols,
                             float* tile) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      // Blocks of 16 classes: 16 masked row loads, one transpose.
      for (std::size_t first = 0; first < cols; first += 16) {
        const std::size_t n = cols - first < 16 ? cols - first : 16;
        const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
        __m512 v[16];
        for (std::size_t i = 0; i < 16; ++i) v[i] = _mm512_maskz_loadu_ps(mask, rows + (i < count ? i : 0) * stride + first);
        transpose16(v);
        // All 16 columns (those past cols are 0), unconditionally: a loop to n becomes a rep movsq,
        // whose start-up cost was 5% of a 10-class call.
        for (std::size_t c = 0; c < 16; ++c) _mm512_store_ps(tile + (first + c) * width, v[c]);
      }
      return;
    } else if constexpr (is_avx2) {
      // Gathers (measured faster here than masked loads and a transpose on the way in).
      if (stride * width + cols < (std::size_t{1} << 31)) {
        alignas(64) std::int32_t offsets[width];
        for (std::size_t i = 0; i < width; ++i) offsets[i] = static_cast<std::int32_t>(i < count ? i * stride : 0);
        const __m256i index = _mm256_load_si256(reinterpret_cast<const __m256i*>(offsets));
        for (std::size_t c = 0; c < cols; ++c) _mm256_store_ps(tile + c * width, _mm256_i32gather_ps(rows + c, index, 4));
        return;
      }
    }
#endif
    for (std::size_t i = 0; i < width; ++i) {
      const float* row = rows + (i < count ? i : 0) * stride;
      for (std::size_t c = 0; c < cols; ++c) tile[c * width + i] = row[c];
    }
  }

  // The inverse: rows[i * stride + c] = tile[c * width + i] for c < cols and i < count.
  static void scatter_columns(const float* tile, std::size_t cols, std::size_t count, float* rows,
                              std::size_t stride) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      for (std::size_t first = 0; first < cols; first += 16) {
        const std::size_t n = cols - first < 16 ? cols - first : 16;
        const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
        __m512 v[16];
        for (std::size_t c = 0; c < 16; ++c) v[c] = c < n ? _mm512_load_ps(tile + (first + c) * width) : _mm512_setzero_ps();
        transpose16(v);
        for (std::size_t i = 0; i < count; ++i) _mm512_mask_storeu_ps(rows + i * stride + first, mask, v[i]);
      }
      return;
    } else if constexpr (is_avx2) {
      // Two 8x8 blocks: classes 0-7, then 8-15.
      for (std::size_t first = 0; first < cols; first += 8) {
        const std::size_t n = cols - first < 8 ? cols - first : 8;
        const __m256i mask = avx2_lane_mask(n);
        __m256 v[8];
        for (std::size_t c = 0; c < 8; ++c) v[c] = c < n ? _mm256_load_ps(tile + (first + c) * width) : _mm256_setzero_ps();
        transpose8(v);
        for (std::size_t i = 0; i < count; ++i) _mm256_maskstore_ps(rows + i * stride + first, mask, v[i]);
      }
      return;
    }
#endif
    for (std::size_t i = 0; i < count; ++i) {
      float* row = rows + i * stride;
      for (std::size_t c = 0; c < cols; ++c) row[c] = tile[c * width + i];
    }
  }

  static vec max(const vec& a, const vec& b) noexcept { return xsimd::max(a, b); }
  // a * b + c, fused where the ISA has it (xsimd 8.1 emulates it with two roundings on AVX-512).
  static vec fma(const vec& a, const vec& b, const vec& c) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) return _mm512_fmadd_ps(a, b, c);
#endif
    return xsimd::fma(a, b, c);
  }
  static vec nonzero_or_zero(const vec& condition, const vec& value) noexcept {
    // Not `condition != 0`: xsimd's != is an ordered compare on AVX-512, false for NaN.
    return xsimd::select(condition == vec(0.0f), vec(0.0f), value);
  }
  static vec zero_where_minus_inf(const vec& v) noexcept {
    return xsimd::select(v == vec(-float_infinity), vec(0.0f), v);
  }
  // 1 / v, or 0 where v == 0 (an all-masked row's probabilities are 0, not NaN).
  static vec reciprocal_or_zero(const vec& v) noexcept {
    return xsimd::select(v == vec(0.0f), vec(0.0f), vec(1.0f) / v);
  }
  // if_finite where x is finite, otherwise (x infinite or NaN) the lane of otherwise.
  static vec where_finite(const vec& x, const vec& if_finite, const vec& otherwise) noexcept {
    return xsimd::select(xsimd::abs(x) < vec(float_infinity), if_finite, otherwise);
  }
  // -inf where mask is -inf, otherwise value.
  static vec where_minus_inf(const vec& mask, const vec& value) noexcept {
    return xsimd::select(mask == vec(-float_infinity), vec(-float_infinity), value);
  }
  // v limited to [-FLT_MAX, FLT_MAX] (for finite lanes only: a NaN lane may come out either way).
  static vec clamp_finite(const vec& v) noexcept {
    constexpr float largest = 3.40282347e38f;
    return xsimd::min(xsimd::max(v, vec(-largest)), vec(largest));
  }
  // tanh as tanh_constants says, over this table's exp (not xsimd::tanh, whose scalar helpers
  // unoptimised builds emit as weak symbols in every ISA object). NaN stays NaN; +-inf give +-1.
  SOFTXENT_ALWAYS_INLINE static vec tanh(const vec& v) noexcept {
    using c = tanh_constants;
    const vec a = xsimd::abs(v), z = a * a;
    vec q = fma(vec(c::q4), z, vec(c::q3));
    q = fma(q, z, vec(c::q2));
    q = fma(q, z, vec(c::q1));
    q = fma(q, z, vec(c::q0));
    const vec near_zero = fma(a * z, q, a);
    const auto small = a < vec(c::small);  // false for NaN and infinities
    vec magnitude = near_zero;
    // A vector of small arguments only (a softcap's usual case: logits well inside the cap) skips
    // the exponential and the division, the larger part of the cost.
    if (!xsimd::all(small)) {
      const vec e = exp_nonpositive(vec(-2.0f) * a);
      magnitude = xsimd::select(small, near_zero, (vec(1.0f) - e) / (vec(1.0f) + e));
    }
    const ivec sign = xsimd::bitwise_cast<ivec>(v) & ivec(INT32_MIN);
    return xsimd::bitwise_cast<vec>(xsimd::bitwise_cast<ivec>(magnitude) | sign);
  }
  // if_normal where |v| >= FLT_MIN (infinities included), otherwise (0, subnormal or NaN) otherwise.
  static vec where_normal(const vec& v, const vec& if_normal, const vec& otherwise) noexcept {
    return xsimd::select(xsimd::abs(v) >= vec(float_min_normal), if_normal, otherwise);
  }

  // W 16-bit elements at p decoded exactly to float (f16: IEEE binary16; bf16: bfloat16), and W floats
  // encoded to them, rounded to nearest even (overflow to infinity, NaN a NaN).
  // Unoptimised g++ expands the conversion intrinsics as macros that cast their immediates and masks.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
  SOFTXENT_ALWAYS_INLINE static vec load_f16(const std::uint16_t* p) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
#if defined(__F16C__)
    if constexpr (is_avx2) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#endif
#endif
#if SOFTXENT_NEON_INTRINSICS
    if constexpr (width == 4) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
#endif
    alignas(64) float buffer[width];
    for (std::size_t i = 0; i < width; ++i) buffer[i] = f16_to_float(p[i]);
    return vec::load_aligned(buffer);
  }
  SOFTXENT_ALWAYS_INLINE static vec load_bf16(const std::uint16_t* p) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
      return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    } else if constexpr (is_avx2) {
      const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
#endif
    alignas(64) float buffer[width];
    for (std::size_t i = 0; i < width; ++i) buffer[i] = bf16_to_float(p[i]);
    return vec::load_aligned(buffer);
  }
  SOFTXENT_ALWAYS_INLINE static void store_f16(std::uint16_t* p, const vec& v) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      return;
    }
#if defined(__F16C__)
    if constexpr (is_avx2) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      return;
    }
#endif
#endif
#if SOFTXENT_NEON_INTRINSICS
    if constexpr (width == 4) {
      vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v)));
      return;
    }
#endif
    alignas(64) float buffer[width];
    v.store_aligned(buffer);
    for (std::size_t i = 0; i < width; ++i) p[i] = float_to_f16(buffer[i]);
  }
  // bf16 by integer rounding: bits + 0x7fff + (bit 16), the top half; NaN keeps its top half, quieted.
  // vcvtneps2bf16 rounds the same way (checked on all 2^32 floats) in one instruction, but flushes
  // subnormal inputs to zero: a vector holding one takes the integer path.
  SOFTXENT_ALWAYS_INLINE static void store_bf16(std::uint16_t* p, const vec& v) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (NativeBf16) {
      if (_mm512_fpclass_ps_mask(v, 0x20) == 0) {  // 0x20: the subnormal class
        // By inline assembly: the file is not compiled with -mavx512bf16 (see arch/avx512.cpp), and
        // only the table the dispatcher gives to CPUs with AVX-512 BF16 runs this.
        __m256i h;
        __asm__("vcvtneps2bf16 %1, %0" : "=v"(h) : "v"(static_cast<__m512>(v)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
        return;
      }
    }
    if constexpr (is_avx512) {
      const __m512i b = _mm512_castps_si512(v);
      const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
      __m512i top = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
      const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      top = _mm512_mask_mov_epi32(top, nan, _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(top));
      return;
    } else if constexpr (is_avx2) {
      const __m256i b = _mm256_castps_si256(v);
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
      const __m256i top = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb), 16);
      const __m256i nan_top = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
      const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      const __m256i chosen = _mm256_blendv_epi8(top, nan_top, nan);
      // Pack the eight 32-bit lanes (all below 2^16) into eight 16-bit ones, in order.
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(chosen, chosen), 0x08);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
      return;
    }
#endif
    alignas(64) float buffer[width];
    v.store_aligned(buffer);
    for (std::size_t i = 0; i < width; ++i) p[i] = float_to_bf16(buffer[i]);
  }
#pragma GCC diagnostic pop
  // The integer targets of the W rows of a column-major tile (count of them; lanes past count and
  // rows whose target is `ignore` are ignored): each row's logit at its target, its coefficient
  // keep * weights[t] (weights null: keep) and 1 or 0 for counted or ignored, built in registers
  // (AVX-512 gathers) rather than lane by lane through memory, where reading the lanes back as a
  // vector stalls on store forwarding. False where not implemented: the caller goes lane by lane.
  static bool target_lanes(const std::int64_t* targets, std::size_t count, std::int64_t ignore, const float* tile,
                           const float* weights, float keep, vec& logit, vec& coefficient, vec& counted) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      const __mmask16 live = static_cast<__mmask16>((1u << count) - 1u);  // count <= 16
      const __m512i lo = _mm512_maskz_loadu_epi64(static_cast<__mmask8>(live & 0xff), targets);
      const __m512i hi = _mm512_maskz_loadu_epi64(static_cast<__mmask8>(live >> 8), targets + 8);
      const __m512i ignored = _mm512_set1_epi64(ignore);
      const __mmask16 kept = static_cast<__mmask16>(
          live & _mm512_kunpackb(_mm512_cmpneq_epi64_mask(hi, ignored), _mm512_cmpneq_epi64_mask(lo, ignored)));
      // Valid targets are below cols <= 32: their low 32 bits are the class.
      const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)), _mm512_cvtepi64_epi32(hi), 1);
      const __m512i index = _mm512_add_epi32(_mm512_slli_epi32(t, 4), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
      // Unoptimised g++ expands the gathers as macros that cast the mask to short.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
      logit = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), kept, index, tile, 4);
      const __m512 w = weights != nullptr ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), kept, t, weights, 4)
                                          : _mm512_maskz_mov_ps(kept, _mm512_set1_ps(1.0f));
#pragma GCC diagnostic pop
      coefficient = _mm512_mul_ps(w, _mm512_set1_ps(keep));
      counted = _mm512_maskz_mov_ps(kept, _mm512_set1_ps(1.0f));
      return true;
    }
#endif
    (void)targets, (void)count, (void)ignore, (void)tile, (void)weights, (void)keep, (void)logit, (void)coefficient,
        (void)counted;
    return false;
  }

  // Every lane of a and of b finite (not NaN, not +-inf).
  static bool all_finite(const vec& a, const vec& b) noexcept {
    const vec infinity(float_infinity);
    return xsimd::all((xsimd::abs(a) < infinity) && (xsimd::abs(b) < infinity));
  }
  static float horizontal_max(const vec& v) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      return _mm512_reduce_max_ps(v);
    } else if constexpr (is_avx2) {
      __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
      m = _mm_max_ps(m, _mm_movehl_ps(m, m));
      m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
      return _mm_cvtss_f32(m);
    } else
#endif
    {
      alignas(64) float buffer[width];
      v.store_aligned(buffer);
      float m = buffer[0];
      for (std::size_t i = 1; i < width; ++i) m = buffer[i] > m ? buffer[i] : m;
      return m;
    }
  }
  static float horizontal_sum(const vec& v) noexcept {
#if SOFTXENT_X86_INTRINSICS
    // Not xsimd::hadd, which goes through xsimd's AVX2 types: instantiated here, they would be weak
    // symbols shared with the AVX2 object in an unoptimised build.
    if constexpr (is_avx512) return _mm512_reduce_add_ps(v);
#endif
    return xsimd::hadd(v);
  }

  // p(r) ~ exp(r) for |r| <= ln2/2.
  static vec polynomial(const vec& r) noexcept {
    using c = exp_constants;
    vec p = fma(vec(c::c6), r, vec(c::c5));
    p = fma(p, r, vec(c::c4));
    p = fma(p, r, vec(c::c3));
    p = fma(p, r, vec(c::c2));
    p = fma(p, r, vec(1.0f));
    return fma(p, r, vec(1.0f));
  }

  // exp(x) for x <= 0, -inf or NaN (the forward kernels: x - max <= 0, so exp cannot overflow):
  // 2^n * p(r), n = round(x / ln2), r = x - n ln2. The one-step reduction's error, |x| * 0.36 eps
  // relative, is inside SPEC.md's (8 + |x - max|) eps. Results below 2e-38 may be flushed to 0
  // (SPEC.md allows 1e-37 absolute there); -inf gives exactly 0; NaN stays NaN.
  static vec exp_nonpositive(const vec& x) noexcept { return exp_nonpositive_inline(x); }
  // The same, always inlined: for the one loop where g++ 12 would leave exp_nonpositive a call
  // (load_kernels::softmax_out_chunk). Forcing exp_nonpositive itself everywhere made the
  // cross-entropy kernels up to 1.36x slower (their hot loops were compiled otherwise).
  SOFTXENT_ALWAYS_INLINE static vec exp_nonpositive_inline(const vec& x) noexcept {
    using c = exp_constants;
#if SOFTXENT_X86_INTRINSICS
    if constexpr (is_avx512) {
      // Inputs are clamped at -87 so that every intermediate stays a normal float (a subnormal
      // result costs a microcode assist); lanes below it are then zeroed by the mask, which keeps
      // NaN lanes (unordered compares true). max(lo, x) returns x when x is NaN.
      const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(c::flush_below), _CMP_NLT_UQ);
      const __m512 clamped = _mm512_max_ps(_mm512_set1_ps(c::flush_below), x);
      // x = k ln2 + r with k a multiple of 1/16: exp(x) = 2^floor(k) * 2^(k - floor(k)) * exp(r),
      // the middle factor from a 16-entry table held in one register, |r| <= ln2/32, so that exp(r)
      // needs only 1 + r + r^2/2 + r^3/6 (the next term is below 1e-8). Adding 1.5 * 2^19 rounds
      // x log2e to a multiple of 1/16 and leaves 16 k mod 16 in the low 4 bits, the table's index;
      // vscalefps multiplies by 2^floor(k). 24% more exponentials per second than the degree-6
      // polynomial with a rounding instruction, at the same accuracy (measured: 2.6 eps at most
      // over [-87, 0]). No result is subnormal: at the clamp k = -125.5 and the table gives 2^0.5.
      const __m512 round_magic = _mm512_set1_ps(0x1.8p19f);
      const __m512 t = _mm512_fmadd_ps(clamped, _mm512_set1_ps(c::log2e), round_magic);
      const __m512 k = _mm512_sub_ps(t, round_magic);
      const __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(c::ln2), clamped);
      const __m512 sixteenths = _mm512_setr_ps(
          0x1p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f, 0x1.3dea64p+0f, 0x1.4bfdaep+0f,
          0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f, 0x1.ae89fap+0f,
          0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f);  // 2^(j/16), each rounded once to float
      const __m512 power = _mm512_permutexvar_ps(_mm512_castps_si512(t), sixteenths);
      const __m512 q = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(1.0f / 6.0f), r, _mm512_set1_ps(0.5f)), r,
                                       _mm512_set1_ps(1.0f));
      const __m512 p = _mm512_fmadd_ps(_mm512_mul_ps(power, r), q, power);  // power * exp(r)
      return _mm512_maskz_scalef_ps(keep, p, k);
    } else
#endif
    {
      const auto tiny = x < vec(c::flush_below);  // false for NaN
      const vec clamped = xsimd::select(tiny, vec(c::flush_below), x);
      const vec n = xsimd::nearbyint(clamped * vec(c::log2e));
      const vec r = xsimd::fma(n, vec(-c::ln2), clamped);
      const vec scale = xsimd::bitwise_cast<vec>((xsimd::to_int(n) + ivec(127)) << 23);  // n in [-126, 0]
      return xsimd::select(tiny, vec(0.0f), polynomial(r) * scale);
    }
  }

  // log(v) for positive normal v (the short-row paths' sums, >= 1): v = 2^k * m with m in
  // [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.172, by its
  // series to s^9 (next term 2e-9 relative). Callers handle v == 0 and NaN themselves.
  static vec log_positive(const vec& v) noexcept {
    const ivec bits = xsimd::bitwise_cast<ivec>(v);
    // Fold the mantissa into [sqrt(1/2), sqrt(2)): subtracting the bits of sqrt(1/2) first makes the
    // exponent field step up exactly where the mantissa passes sqrt(2).
    const ivec shifted = bits - ivec(0x3f3504f3);
    const ivec k = shifted >> 23;  // arithmetic shift: the exponent, with the fold applied
    const vec m = xsimd::bitwise_cast<vec>(bits - (k << 23));
    const vec s = (m - vec(1.0f)) / (m + vec(1.0f));
    const vec s2 = s * s;
    vec series = fma(s2, vec(1.0f / 9.0f), vec(1.0f / 7.0f));
    series = fma(series, s2, vec(1.0f / 5.0f));
    series = fma(series, s2, vec(1.0f / 3.0f));
    series = fma(series, s2, vec(1.0f));
    const vec log_m = (s + s) * series;
    return fma(xsimd::batch_cast<float>(k), vec(0.693147181f), log_m);
  }

  // log(sum) of a row's sum of exponentials: -inf for 0 (an all-masked row), NaN stays NaN.
  static vec log_of_sum(const vec& sum) noexcept {
    const vec log = xsimd::select(sum == vec(0.0f), vec(-float_infinity), log_positive(sum));
    return xsimd::select(xsimd::isnan(sum), sum, log);
  }

  // The log_softmax offset of a row: log(sum), but +inf for an all-masked row so that -inf - offset
  // stays -inf.
  static vec log_softmax_offset(const vec& sum) noexcept {
    return xsimd::select(sum == vec(0.0f), vec(float_infinity), log_of_sum(sum));
  }

  // exp(x) for -87 <= x <= 88 (else as exp_nonpositive) with the reduction r = x - n ln2 in two steps
  // (Cody and Waite): n * ln2_hi is exact, so r keeps full accuracy even where fma is emulated
  // (SSE2) or |n| is large. For the backward kernels, whose bound does not grow with |x|.
  SOFTXENT_ALWAYS_INLINE static vec exp_reduced_twice(const vec& x) noexcept {
    using c = exp_constants;
    const auto tiny = x < vec(c::flush_below);  // false for NaN
    const vec clamped = xsimd::select(tiny, vec(c::flush_below), x);
    const vec n = xsimd::nearbyint(clamped * vec(c::log2e));
    const vec r = fma(n, vec(-c::ln2_lo), fma(n, vec(-c::ln2_hi), clamped));
    const vec scale = xsimd::bitwise_cast<vec>((xsimd::to_int(n) + ivec(126)) << 23);  // 2^(n-1), n in [-125, 128]
    const vec p = polynomial(r);
    return xsimd::select(tiny, vec(0.0f), (p + p) * scale);
  }

  // exp(x) over all floats (the backward kernels' exp(y) for any y), accurate also where the result
  // is subnormal: exp(x) = exp(x - k) * e^k with k = -64 below -80 and k = 64 above 64, shifts that
  // are exact in float at those magnitudes.
  SOFTXENT_ALWAYS_INLINE static vec exp(const vec& x) noexcept {
    const auto big = x > vec(64.0f);
    const auto small = x < vec(-80.0f);
    const vec k = xsimd::select(big, vec(64.0f), xsimd::select(small, vec(-64.0f), vec(0.0f)));
    const vec e_k = xsimd::select(big, vec(6.23514908e27f), xsimd::select(small, vec(1.60381089e-28f), vec(1.0f)));
    const vec result = exp_reduced_twice(x - k) * e_k;
    return xsimd::select(x == vec(float_infinity), x, result);
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
  static void gather_columns(const float* rows, std::size_t, std::size_t, std::size_t cols, float* tile) noexcept {
    for (std::size_t c = 0; c < cols; ++c) tile[c] = rows[c];
  }
  static void scatter_columns(const float* tile, std::size_t cols, std::size_t, float* rows, std::size_t) noexcept {
    for (std::size_t c = 0; c < cols; ++c) rows[c] = tile[c];
  }
  static vec max(vec a, vec b) noexcept { return a > b ? a : b; }
  static vec fma(vec a, vec b, vec c) noexcept { return a * b + c; }
  static vec nonzero_or_zero(vec condition, vec value) noexcept { return condition != 0.0f ? value : 0.0f; }
  static vec zero_where_minus_inf(vec v) noexcept { return v == -float_infinity ? 0.0f : v; }
  static vec reciprocal_or_zero(vec v) noexcept { return v == 0.0f ? 0.0f : 1.0f / v; }
  static vec where_finite(vec x, vec if_finite, vec otherwise) noexcept {
    return __builtin_fabsf(x) < float_infinity ? if_finite : otherwise;
  }
  static vec where_minus_inf(vec mask, vec value) noexcept { return mask == -float_infinity ? mask : value; }
  static vec clamp_finite(vec v) noexcept {
    constexpr float largest = 3.40282347e38f;
    return v < -largest ? -largest : (v > largest ? largest : v);
  }
  static vec tanh(vec v) noexcept {
    using c = tanh_constants;
    const float a = __builtin_fabsf(v), z = a * a;
    float q = __builtin_fmaf(c::q4, z, c::q3);
    q = __builtin_fmaf(q, z, c::q2);
    q = __builtin_fmaf(q, z, c::q1);
    q = __builtin_fmaf(q, z, c::q0);
    const float e = __builtin_expf(-2.0f * a);
    return __builtin_copysignf(a < c::small ? __builtin_fmaf(a * z, q, a) : (1.0f - e) / (1.0f + e), v);
  }
  static vec where_normal(vec v, vec if_normal, vec otherwise) noexcept {
    return __builtin_fabsf(v) >= float_min_normal ? if_normal : otherwise;
  }
  static vec load_f16(const std::uint16_t* p) noexcept { return f16_to_float(*p); }
  static vec load_bf16(const std::uint16_t* p) noexcept { return bf16_to_float(*p); }
  static void store_f16(std::uint16_t* p, vec v) noexcept { *p = float_to_f16(v); }
  static void store_bf16(std::uint16_t* p, vec v) noexcept { *p = float_to_bf16(v); }
  static bool target_lanes(const std::int64_t*, std::size_t, std::int64_t, const float*, const float*, float, vec&,
                           vec&, vec&) noexcept {
    return false;
  }
  static bool all_finite(vec a, vec b) noexcept {
    return __builtin_fabsf(a) < float_infinity && __builtin_fabsf(b) < float_infinity;
  }
  static float horizontal_max(vec v) noexcept { return v; }
  static float horizontal_sum(vec v) noexcept { return v; }
  // Builtins rather than std::'s inline float overloads, which unoptimised builds emit as weak symbols.
  static vec exp_nonpositive(vec x) noexcept { return __builtin_expf(x); }
  static vec exp_nonpositive_inline(vec x) noexcept { return __builtin_expf(x); }
  static vec log_of_sum(vec sum) noexcept { return __builtin_logf(sum); }
  static vec log_softmax_offset(vec sum) noexcept {
    return sum == 0.0f ? float_infinity : __builtin_logf(sum);
  }
  static vec exp(vec x) noexcept { return __builtin_expf(x); }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_SIMD_HPP
