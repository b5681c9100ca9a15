// Top-k and sampling over one piece of transformed logits in L1: a scan (max, NaN/+inf, and the
// classes above a floor offered to a candidate sink), exponential sums, and one pass of a threshold
// search (masses and counts above a few thresholds inside a value bracket). The drivers
// (ops/top_k.cpp, ops/sample.cpp) decide everything else from what these return.
#ifndef SOFTXENT_SRC_KERNELS_SELECT_HPP
#define SOFTXENT_SRC_KERNELS_SELECT_HPP

#include <cstddef>
#include <type_traits>

#include "kernels/reduce.hpp"
#include "kernels/row_math.hpp"
#include "kernels/simd.hpp"
#include "kernels/softmax.hpp"
#include "kernels/transform.hpp"
#include "select_table.hpp"

namespace softxent::detail {

// Lane masks for the selection kernels, over a vector of W floats or one float, and compress: the
// lanes of v where in is set, stored packed from out (which has room for a whole vector there).
template <class Ops>
struct select_ops;

template <>
struct select_ops<scalar_ops> {
  using vec = float;
  using mask = bool;
  static mask greater(vec v, float t) noexcept { return v > t; }
  static mask at_least(vec v, float t) noexcept { return v >= t; }
  static mask below(vec v, float t) noexcept { return v < t; }
  static mask is_nan(vec v) noexcept { return v != v; }
  static mask both(mask a, mask b) noexcept { return a && b; }
  static mask either(mask a, mask b) noexcept { return a || b; }
  static mask none() noexcept { return false; }
  static bool any(mask m) noexcept { return m; }
  static vec where(mask m, vec v) noexcept { return m ? v : 0.0f; }
  static std::size_t compress(vec v, mask in, float* out) noexcept {
    *out = v;
    return in ? 1 : 0;
  }
};

#if !defined(SOFTXENT_SCALAR_ONLY)
template <class Arch>
struct select_ops<xsimd_ops<Arch>> {
  using vec = xsimd::batch<float, Arch>;
  using mask = xsimd::batch_bool<float, Arch>;
  static constexpr std::size_t W = vec::size;
  static mask greater(const vec& v, float t) noexcept { return v > vec(t); }
  static mask at_least(const vec& v, float t) noexcept { return v >= vec(t); }
  static mask below(const vec& v, float t) noexcept { return v < vec(t); }
  // Not v != v: xsimd 8.1's != is an ordered compare on AVX and AVX-512, false for NaN.
  static mask is_nan(const vec& v) noexcept { return xsimd::isnan(v); }
  static mask both(const mask& a, const mask& b) noexcept { return a && b; }
  static mask either(const mask& a, const mask& b) noexcept { return a || b; }
  static mask none() noexcept { return mask(false); }
  static bool any(const mask& m) noexcept { return xsimd::any(m); }
  static vec where(const mask& m, const vec& v) noexcept { return xsimd::select(m, v, vec(0.0f)); }
  static std::size_t compress(const vec& v, const mask& in, float* out) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (xsimd_ops<Arch>::is_avx512) {
      // The register form: the memory form of vcompressps is microcoded and slow on AMD cores.
      _mm512_storeu_ps(out, _mm512_maskz_compress_ps(in, v));
      return static_cast<std::size_t>(__builtin_popcount(static_cast<unsigned>(static_cast<__mmask16>(in))));
    }
#endif
    alignas(64) float lanes[W];
    alignas(64) bool kept[W];
    v.store_aligned(lanes);
    in.store_aligned(kept);
    std::size_t count = 0;
    for (std::size_t i = 0; i < W; ++i) {
      out[count] = lanes[i];
      count += kept[i] ? 1 : 0;
    }
    return count;
  }
};
#endif

template <class Ops>
struct select_kernels {
  using vec = typename Ops::vec;
  using S = select_ops<Ops>;
  using R = reduce<Ops>;
  static constexpr std::size_t W = Ops::width;
  static constexpr float minus_inf = -float_infinity;

  // z' = x * factor, kept within +-FLT_MAX where x is finite (the temperature: see transform.hpp).
  template <bool Scaled>
  static vec scaled(const vec& x, float factor) noexcept {
    if constexpr (Scaled) return transform_kernels<Ops>::transform(x, factor, 0.0f);
    return x;
  }
  template <bool Scaled>
  static vec load_scaled(const float* x, std::size_t j, std::size_t count, float pad, float factor) noexcept {
    return scaled<Scaled>(R::load_n(x + j, count, pad), factor);
  }
  // Runs body.template operator()<Scaled>() with Scaled = (factor != 1).
  template <class Body>
  static auto with_factor(float factor, const Body& body) noexcept {
    return factor != 1.0f ? body(std::true_type{}) : body(std::false_type{});
  }

  // Offers the lanes of v (classes first .. first + count - 1) above the sink's floor and inside
  // [lo, hi), in ascending index: the slow path, taken only by vectors with such a lane.
  static void offer(const vec& v, std::size_t count, std::size_t first, candidate_sink& sink, float lo,
                    float hi) noexcept {
    alignas(64) float lanes[W];
    Ops::store(lanes, v);
    for (std::size_t i = 0; i < count; ++i) {
      const float value = lanes[i];
      if (!(value > sink.floor && value >= lo && value < hi)) continue;
      if (sink.count == sink.capacity) {
        sink.make_room(sink);
        if (!(value > sink.floor)) continue;
      }
      sink.keys[sink.count++] = make_key(value, first + i);
    }
  }

  // One sweep: the max, NaN or +inf, and the candidates (see select_kernel_table::scan_chunk). Four
  // vectors at a time, and the sink is looked at only when their max passes its floor.
  template <bool Scaled>
  static float scan(const float* x, std::size_t n, std::size_t first, float factor, candidate_sink* sink,
                    bool* poisoned) noexcept {
    vec m0 = Ops::splat(minus_inf), m1 = m0, m2 = m0, m3 = m0;
    auto nan = S::none();
    const auto offer_all = [&](const vec& v, std::size_t j, std::size_t count) {
      if (S::any(S::greater(v, sink->floor))) offer(v, count, first + j, *sink, minus_inf, float_infinity);
    };
    std::size_t j = 0;
    for (; j + 4 * W <= n; j += 4 * W) {
      const vec v0 = load_scaled<Scaled>(x, j, W, 0.0f, factor), v1 = load_scaled<Scaled>(x, j + W, W, 0.0f, factor),
                v2 = load_scaled<Scaled>(x, j + 2 * W, W, 0.0f, factor), v3 = load_scaled<Scaled>(x, j + 3 * W, W, 0.0f, factor);
      m0 = Ops::max(m0, v0);
      m1 = Ops::max(m1, v1);
      m2 = Ops::max(m2, v2);
      m3 = Ops::max(m3, v3);
      nan = S::either(nan, S::either(S::either(S::is_nan(v0), S::is_nan(v1)), S::either(S::is_nan(v2), S::is_nan(v3))));
      if (sink != nullptr && S::any(S::greater(Ops::max(Ops::max(v0, v1), Ops::max(v2, v3)), sink->floor))) {
        offer_all(v0, j, W);
        offer_all(v1, j + W, W);
        offer_all(v2, j + 2 * W, W);
        offer_all(v3, j + 3 * W, W);
      }
    }
    for (; j < n; j += W) {
      const std::size_t count = n - j < W ? n - j : W;
      const vec v = load_scaled<Scaled>(x, j, count, minus_inf, factor);  // -inf lanes: below any floor, not a max
      m0 = Ops::max(m0, v);
      nan = S::either(nan, S::is_nan(v));
      if (sink != nullptr) offer_all(v, j, count);
    }
    const float max = Ops::horizontal_max(Ops::max(Ops::max(m0, m1), Ops::max(m2, m3)));
    if (S::any(nan) || max == float_infinity) *poisoned = true;
    return max;
  }
  static float scan_chunk(const float* x, std::size_t n, std::size_t first, float factor, candidate_sink* sink,
                          bool* poisoned) noexcept {
    return with_factor(factor, [&](auto s) { return scan<decltype(s)::value>(x, n, first, factor, sink, poisoned); });
  }

  static double exp_sum_chunk(const float* x, std::size_t n, float factor, float shift) noexcept {
    const vec s = Ops::splat(shift);
    return with_factor(factor, [&](auto scaled_type) {
      constexpr bool Scaled = decltype(scaled_type)::value;
      return R::sum_of(n, [&](std::size_t j, std::size_t count) {
        R::prefetch_ahead(x, j, x + n);
        return Ops::exp_nonpositive(load_scaled<Scaled>(x, j, count, minus_inf, factor) - s);
      });
    });
  }

  static void exp_chunk(const float* x, std::size_t n, float factor, float shift, float* e) noexcept {
    const vec s = Ops::splat(shift);
    with_factor(factor, [&](auto scaled_type) {
      constexpr bool Scaled = decltype(scaled_type)::value;
      R::for_each(n, [&](std::size_t j, std::size_t count) {
        R::store_n(e + j, count, Ops::exp_nonpositive(load_scaled<Scaled>(x, j, count, minus_inf, factor) - s));
      });
      return 0;
    });
  }

  // A bracket pass over one piece. The classes in the bracket are packed into a buffer first (most of
  // a narrow bracket's vectors then cost a load and two compares), and the buffer's masses and
  // counts are taken a full vector at a time: exp(z' - shift), then for each of T thresholds a masked
  // sum. Float lanes, folded into double every fold_vectors vectors of the buffer (a lane adds at
  // most that many terms <= 1).
  static constexpr std::size_t packed_room = 64 * W;
  static constexpr std::size_t fold_vectors = 32;
  template <std::size_t T>
  static void bracket_sums_of(const float* packed, std::size_t n, const bracket_pass& p, bracket_sums& sums) noexcept {
    const vec shift = Ops::splat(p.shift), one = Ops::splat(1.0f);
    for (std::size_t j = 0; j < n;) {
      const std::size_t end = n - j > fold_vectors * W ? j + fold_vectors * W : n;
      vec mass[T > 0 ? T : 1], count[T > 0 ? T : 1];
      for (std::size_t i = 0; i < T; ++i) mass[i] = count[i] = Ops::splat(0.0f);
      for (; j < end; j += W) {
        const std::size_t lanes = end - j < W ? end - j : W;
        const vec v = R::load_n(packed + j, lanes, __builtin_nanf(""));  // NaN pads: above no threshold
        const vec e = Ops::exp_nonpositive(v - shift);
        for (std::size_t i = 0; i < T; ++i) {
          const auto above = S::at_least(v, p.thresholds[i]);
          mass[i] = mass[i] + S::where(above, e);
          count[i] = count[i] + S::where(above, one);
        }
      }
      for (std::size_t i = 0; i < T; ++i) {
        sums.mass[i] += static_cast<double>(Ops::horizontal_sum(mass[i]));
        sums.count[i] += static_cast<double>(Ops::horizontal_sum(count[i]));
      }
    }
  }
  static void packed_sums(const float* packed, std::size_t n, const bracket_pass& p, bracket_sums& sums) noexcept {
    switch (p.threshold_count) {
      case 0: bracket_sums_of<0>(packed, n, p, sums); break;
      case 1: bracket_sums_of<1>(packed, n, p, sums); break;
      case 2: bracket_sums_of<2>(packed, n, p, sums); break;
      case 3: bracket_sums_of<3>(packed, n, p, sums); break;
      case 4: bracket_sums_of<4>(packed, n, p, sums); break;
      case 5: bracket_sums_of<5>(packed, n, p, sums); break;
      default: bracket_sums_of<max_thresholds>(packed, n, p, sums); break;
    }
  }
  template <bool Scaled>
  static void bracket(const float* x, std::size_t n, std::size_t first, float factor, const bracket_pass& p,
                      bracket_sums& sums, candidate_sink* sink) noexcept {
    alignas(64) float packed[packed_room + W];
    std::size_t held = 0;
    for (std::size_t j = 0; j < n; j += W) {
      const std::size_t lanes = n - j < W ? n - j : W;
      // NaN pads: in no bracket (a poisoned row never gets here; its NaN would fail every compare too).
      const vec v = load_scaled<Scaled>(x, j, lanes, __builtin_nanf(""), factor);
      const auto in = S::both(S::at_least(v, p.lo), S::below(v, p.hi));
      if (!S::any(in)) continue;
      held += S::compress(v, in, packed + held);
      if (held >= packed_room) {
        packed_sums(packed, held, p, sums);
        held = 0;
      }
      if (sink != nullptr && S::any(S::both(in, S::greater(v, sink->floor)))) {
        offer(v, lanes, first + j, *sink, p.window_lo, p.window_hi);
      }
    }
    packed_sums(packed, held, p, sums);
  }
  static void bracket_chunk(const float* x, std::size_t n, std::size_t first, float factor, const bracket_pass& p,
                            bracket_sums& sums, candidate_sink* sink) noexcept {
    with_factor(factor, [&](auto s) {
      bracket<decltype(s)::value>(x, n, first, factor, p, sums, sink);
      return 0;
    });
  }

  static constexpr select_kernel_table table{scan_chunk, exp_sum_chunk, exp_chunk, bracket_chunk};
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_SELECT_HPP
