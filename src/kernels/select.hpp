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
  static std::uint32_t bits(mask m) noexcept { return m ? 1u : 0u; }
  static constexpr bool packs_keys = false;
  static std::size_t pack_keys(vec, std::uint32_t, std::size_t, candidate_key*) noexcept { return 0; }
  static std::size_t compress(vec v, mask in, float* out) noexcept {
    *out = v;
    return in ? 1 : 0;
  }
};

#if !defined(SOFTXENT_SCALAR_ONLY)
template <class Arch, bool NativeBf16>
struct select_ops<xsimd_ops<Arch, NativeBf16>> {
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
  // Lane i of m as bit i.
  static std::uint32_t bits(const mask& m) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (xsimd_ops<Arch, NativeBf16>::is_avx512) {
      return static_cast<std::uint32_t>(static_cast<__mmask16>(m));
    } else if constexpr (W == 8) {
      return static_cast<std::uint32_t>(_mm256_movemask_ps(m));
    } else if constexpr (W == 4) {
      return static_cast<std::uint32_t>(_mm_movemask_ps(m));
    }
#endif
    alignas(64) bool lanes[W];
    m.store_aligned(lanes);
    std::uint32_t b = 0;
    for (std::size_t i = 0; i < W; ++i) b |= lanes[i] ? 1u << i : 0u;
    return b;
  }
  // The keys of the lanes of v in `lanes` (bit i: class first + i), packed from out, which has room
  // for a whole vector of keys: AVX-512 only (packs_keys), with no branch per lane.
#if SOFTXENT_X86_INTRINSICS
  static constexpr bool packs_keys = xsimd_ops<Arch, NativeBf16>::is_avx512;
#else
  static constexpr bool packs_keys = false;
#endif
  static std::size_t pack_keys(const vec& v, std::uint32_t lanes, std::size_t first, candidate_key* out) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (xsimd_ops<Arch, NativeBf16>::is_avx512) {
      // As make_key: the value's bits made monotone (-0 as +0), then the complement of the index.
      const __m512i bits = _mm512_castps_si512(_mm512_add_ps(v, _mm512_setzero_ps()));
      const __m512i ones = _mm512_set1_epi32(-1);
      const __m512i ordered = _mm512_mask_xor_epi32(_mm512_or_si512(bits, _mm512_set1_epi32(INT32_MIN)),
                                                    _mm512_movepi32_mask(bits), bits, ones);
      const __m512i index = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(first))),
                                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
      const __m512i low = _mm512_xor_si512(index, ones);
      const auto keys_of = [](__m256i high, __m256i low32) {
        return _mm512_or_si512(_mm512_slli_epi64(_mm512_cvtepu32_epi64(high), 32), _mm512_cvtepu32_epi64(low32));
      };
      const __m512i first8 = keys_of(_mm512_castsi512_si256(ordered), _mm512_castsi512_si256(low));
      const __m512i last8 = keys_of(_mm512_extracti64x4_epi64(ordered, 1), _mm512_extracti64x4_epi64(low, 1));
      const auto lanes_first = static_cast<__mmask8>(lanes & 0xffu), lanes_last = static_cast<__mmask8>(lanes >> 8);
      const auto count_first = static_cast<std::size_t>(__builtin_popcount(lanes & 0xffu));
      _mm512_storeu_si512(out, _mm512_maskz_compress_epi64(lanes_first, first8));
      _mm512_storeu_si512(out + count_first, _mm512_maskz_compress_epi64(lanes_last, last8));
      return count_first + static_cast<std::size_t>(__builtin_popcount(lanes >> 8));
    }
#endif
    (void)v, (void)lanes, (void)first, (void)out;
    return 0;
  }
  static std::size_t compress(const vec& v, const mask& in, float* out) noexcept {
#if SOFTXENT_X86_INTRINSICS
    if constexpr (xsimd_ops<Arch, NativeBf16>::is_avx512) {
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

  // exp((x - shift) * factor): x <= shift, so that it cannot overflow, whatever the factor.
  template <bool Scaled>
  static vec mass_of(const vec& x, const vec& shift, const vec& factor) noexcept {
    if constexpr (Scaled) return Ops::exp_nonpositive((x - shift) * factor);
    return Ops::exp_nonpositive(x - shift);
  }
  // body(std::integral_constant<bool, factor != 1>): the unscaled loops lose the multiply.
  template <class Body>
  static auto with_factor(float factor, const Body& body) noexcept {
    return factor != 1.0f ? body(std::true_type{}) : body(std::false_type{});
  }

  // Offers the lanes of v in `lanes` (bit i: class first + i) to the sink, in ascending index: the
  // slow path, taken only by vectors with a lane above the floor. A lane may fall below the floor
  // the room's making raises.
  static void offer(const vec& v, std::uint32_t lanes, std::size_t first, candidate_sink& sink) noexcept {
    if constexpr (S::packs_keys) {
      if (sink.count + W > sink.capacity && sink.count > sink.keep) {
        sink.make_room(sink);
        lanes &= S::bits(S::greater(v, sink.floor));  // the floor rose
      }
      if (sink.count + W <= sink.capacity) {  // a set of fewer than W candidates goes lane by lane
        sink.count += S::pack_keys(v, lanes, first, sink.keys + sink.count);
        return;
      }
    }
    alignas(64) float values[W];
    Ops::store(values, v);
    for (; lanes != 0; lanes &= lanes - 1) {
      const auto i = static_cast<std::size_t>(__builtin_ctz(lanes));
      if (sink.count >= sink.capacity) {
        sink.make_room(sink);
        if (!(values[i] > sink.floor)) continue;
      }
      sink.keys[sink.count++] = make_key(values[i], first + i);
    }
  }

  // Offers the lanes above the floor of the group of four vectors at x (class first + i for x[i]).
  // Where keys pack without a branch, the whole group goes in without a branch on its values: the
  // room is made first, and the group may fill candidate_slack past the capacity.
  static void offer_group(const float* x, std::size_t first, candidate_sink& sink) noexcept {
    static_assert(group <= candidate_slack);
    if constexpr (S::packs_keys) {
      if (sink.count >= sink.capacity) sink.make_room(sink);
      for (std::size_t v = 0; v < group; v += W) {
        const vec values = Ops::load(x + v);
        sink.count += S::pack_keys(values, S::bits(S::greater(values, sink.floor)), first + v, sink.keys + sink.count);
      }
      return;
    }
    for (std::size_t v = 0; v < group; v += W) {
      const vec values = Ops::load(x + v);
      if (const std::uint32_t lanes = S::bits(S::greater(values, sink.floor))) offer(values, lanes, first + v, sink);
    }
  }

  // One sweep: the max, NaN or +inf, and the candidates (see select_kernel_table::scan_chunk), a block
  // of group_count groups of four vectors at a time. The block's sweep has no branch on the data: it
  // notes which groups hold a lane above the sink's floor as it was at the block's start, and only
  // then are those groups offered, from L1, each without a branch per vector where keys pack
  // (offer_group). Measured on top_k with k = 64 over 64 distinct rows of 128256 classes in L2 (AMD
  // Zen 5), scan alone: 27 -> 18 us a row. (A benchmark that repeats one row hides this cost: the
  // branch predictor learns that row's offers.)
  static constexpr std::size_t group = 4 * W;
  static constexpr std::size_t group_count = 64;
  // Stats: the max and the summary (and NaN/+inf when Poison); Offers: the candidates. A sweep for
  // one of them alone (the two passes of a summarized row) does none of the other's work.
  template <bool Stats, bool Poison, bool Offers>
  static float sweep(const float* x, std::size_t n, std::size_t first, candidate_sink* sink, bool* poisoned,
                     const float* end, float* summary) noexcept {
    static_assert(W <= summary_lanes);
    vec m0 = Ops::splat(minus_inf), m1 = m0, m2 = m0, m3 = m0;
    auto nan = S::none();
    std::size_t j = 0;
    while (j + group <= n) {
      const std::size_t groups = (n - j) / group < group_count ? (n - j) / group : group_count;
      const float floor = Offers ? sink->floor : float_infinity;
      std::uint64_t flagged = 0;
      for (std::size_t g = 0; g < groups; ++g) {
        const std::size_t at = j + g * group;
        if constexpr (Stats) {  // (the offers alone read what the stats' sweep has just read)
          for (std::size_t k = 0; k < group; k += 16) R::prefetch_ahead(x, at + k, end);
        }
        const vec v0 = Ops::load(x + at), v1 = Ops::load(x + at + W), v2 = Ops::load(x + at + 2 * W),
                  v3 = Ops::load(x + at + 3 * W);
        if constexpr (Stats) {
          m0 = Ops::max(m0, v0);
          m1 = Ops::max(m1, v1);
          m2 = Ops::max(m2, v2);
          m3 = Ops::max(m3, v3);
        }
        if constexpr (Poison) {
          nan = S::either(nan, S::either(S::either(S::is_nan(v0), S::is_nan(v1)), S::either(S::is_nan(v2), S::is_nan(v3))));
        }
        if constexpr (Offers) {
          const vec top = Ops::max(Ops::max(v0, v1), Ops::max(v2, v3));
          flagged |= static_cast<std::uint64_t>(S::any(S::greater(top, floor))) << g;
        }
      }
      if constexpr (Offers) {
        for (; flagged != 0; flagged &= flagged - 1) {
          const std::size_t at = j + static_cast<std::size_t>(__builtin_ctzll(flagged)) * group;
          offer_group(x + at, first + at, *sink);
        }
      }
      j += groups * group;
    }
    for (; j < n; j += W) {
      const std::size_t count = n - j < W ? n - j : W;
      const vec v = R::load_n(x + j, count, minus_inf);  // -inf pads: not a max, above no floor
      if constexpr (Stats) m0 = Ops::max(m0, v);
      if constexpr (Poison) nan = S::either(nan, S::is_nan(v));
      if constexpr (Offers) {
        if (const std::uint32_t lanes = S::bits(S::greater(v, sink->floor))) offer(v, lanes, first + j, *sink);
      }
    }
    if constexpr (!Stats) {
      (void)poisoned, (void)summary;
      return minus_inf;
    } else {
      const vec lane_max = Ops::max(Ops::max(m0, m1), Ops::max(m2, m3));
      if (summary != nullptr) {
        alignas(64) float chunk_lanes[W];
        Ops::store(chunk_lanes, lane_max);
        for (std::size_t i = 0; i < W; ++i) summary[i] = chunk_lanes[i] > summary[i] ? chunk_lanes[i] : summary[i];
      }
      const float max = Ops::horizontal_max(lane_max);
      if constexpr (Poison) {
        if (S::any(nan) || max == float_infinity) *poisoned = true;
      }
      return max;
    }
  }
  static float scan_chunk(const float* x, std::size_t n, std::size_t first, candidate_sink* sink, bool* poisoned,
                          const float* end, float* summary) noexcept {
    if (sink == nullptr) {
      return poisoned != nullptr ? sweep<true, true, false>(x, n, first, sink, poisoned, end, summary)
                                 : sweep<true, false, false>(x, n, first, sink, poisoned, end, summary);
    }
    return poisoned != nullptr ? sweep<true, true, true>(x, n, first, sink, poisoned, end, summary)
                               : sweep<true, false, true>(x, n, first, sink, poisoned, end, summary);
  }
  static void offer_chunk(const float* x, std::size_t n, std::size_t first, candidate_sink* sink,
                          const float* end) noexcept {
    sweep<false, false, true>(x, n, first, sink, nullptr, end, nullptr);
  }
  static std::size_t count_at_least(const float* x, std::size_t n, float t) noexcept {
    std::size_t count = 0, j = 0;
    for (; j + W <= n; j += W) count += static_cast<std::size_t>(__builtin_popcount(S::bits(S::at_least(Ops::load(x + j), t))));
    for (; j < n; ++j) count += x[j] >= t ? 1 : 0;
    return count;
  }
  static double exp_sum_chunk(const float* x, std::size_t n, float factor, float shift, const float* end) noexcept {
    const vec s = Ops::splat(shift), f = Ops::splat(factor);
    return with_factor(factor, [&](auto scaled_type) {
      constexpr bool Scaled = decltype(scaled_type)::value;
      return R::sum_of(n, [&](std::size_t j, std::size_t count) {
        R::prefetch_ahead(x, j, end);
        return mass_of<Scaled>(R::load_n(x + j, count, minus_inf), s, f);
      });
    });
  }

  static void exp_chunk(const float* x, std::size_t n, float factor, float shift, float floor, float* e) noexcept {
    const vec s = Ops::splat(shift), f = Ops::splat(factor);
    with_factor(factor, [&](auto scaled_type) {
      constexpr bool Scaled = decltype(scaled_type)::value;
      R::for_each(n, [&](std::size_t j, std::size_t count) {
        const vec v = R::load_n(x + j, count, minus_inf);
        R::store_n(e + j, count, S::where(S::at_least(v, floor), mass_of<Scaled>(v, s, f)));
      });
      return 0;
    });
  }

  // sums[b] = e[b * block, (b + 1) * block) summed (the last block may be short), block a multiple of W.
  static void block_sums_chunk(const float* e, std::size_t n, std::size_t block, double* sums) noexcept {
    for (std::size_t b = 0; b * block < n; ++b) {
      const std::size_t first = b * block, count = n - first < block ? n - first : block;
      sums[b] = R::sum_of(count, [&](std::size_t j, std::size_t lanes) { return R::load_n(e + first + j, lanes, 0.0f); });
    }
  }

  // A bracket pass over one piece. The classes in the bracket are packed into a buffer first (most of
  // a narrow bracket's vectors then cost a load, two compares and a compress), and the buffer's masses and
  // counts are taken a full vector at a time: exp((x - shift) * factor), then for each of T
  // thresholds a masked sum. Float lanes, folded into double every fold_vectors vectors of the buffer (a lane adds at
  // most that many terms <= 1).
  static constexpr std::size_t packed_room = 64 * W;
  static constexpr std::size_t fold_vectors = 32;
  template <std::size_t T, bool Scaled>
  static void bracket_sums_of(const float* packed, std::size_t n, float factor, const bracket_pass& p,
                              bracket_sums& sums) noexcept {
    const vec shift = Ops::splat(p.shift), f = Ops::splat(factor), one = Ops::splat(1.0f);
    for (std::size_t j = 0; j < n;) {
      const std::size_t end = n - j > fold_vectors * W ? j + fold_vectors * W : n;
      vec mass[T > 0 ? T : 1], count[T > 0 ? T : 1];
      for (std::size_t i = 0; i < T; ++i) mass[i] = count[i] = Ops::splat(0.0f);
      for (; j < end; j += W) {
        const std::size_t lanes = end - j < W ? end - j : W;
        const vec v = R::load_n(packed + j, lanes, __builtin_nanf(""));  // NaN pads: above no threshold
        const vec e = mass_of<Scaled>(v, shift, f);
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
  template <bool Scaled>
  static void packed_sums(const float* packed, std::size_t n, float factor, const bracket_pass& p,
                          bracket_sums& sums) noexcept {
    switch (p.threshold_count) {
      case 0: bracket_sums_of<0, Scaled>(packed, n, factor, p, sums); break;
      case 1: bracket_sums_of<1, Scaled>(packed, n, factor, p, sums); break;
      case 2: bracket_sums_of<2, Scaled>(packed, n, factor, p, sums); break;
      case 3: bracket_sums_of<3, Scaled>(packed, n, factor, p, sums); break;
      case 4: bracket_sums_of<4, Scaled>(packed, n, factor, p, sums); break;
      case 5: bracket_sums_of<5, Scaled>(packed, n, factor, p, sums); break;
      default: bracket_sums_of<max_thresholds, Scaled>(packed, n, factor, p, sums); break;
    }
  }
  template <bool Scaled>
  static void bracket(const float* x, std::size_t n, std::size_t first, float factor, const bracket_pass& p,
                      bracket_sums& sums, candidate_sink* sink, const float* end) noexcept {
    alignas(64) float packed[packed_room + W];
    std::size_t held = 0;
    for (std::size_t j = 0; j < n; j += W) {
      R::prefetch_ahead(x, j, end);
      const std::size_t lanes = n - j < W ? n - j : W;
      // NaN pads: in no bracket (a poisoned row never gets here; its NaN would fail every compare too).
      const vec v = R::load_n(x + j, lanes, __builtin_nanf(""));
      const auto in = S::both(S::at_least(v, p.lo), S::below(v, p.hi));
      // AVX-512 packs in registers without a branch on the values, which mispredicts on rows whose
      // bracket holds many classes; elsewhere compress goes lane by lane and an empty vector is skipped.
      if constexpr (!S::packs_keys) {
        if (!S::any(in)) continue;
      }
      held += S::compress(v, in, packed + held);
      if (held >= packed_room) {
        packed_sums<Scaled>(packed, held, factor, p, sums);
        held = 0;
      }
      if (sink != nullptr) {
        const auto window = S::both(S::at_least(v, p.window_lo), S::below(v, p.window_hi));
        if constexpr (S::packs_keys) {
          if (S::any(window)) {  // the window is narrow: most vectors skip the packing
            if (sink->count >= sink->capacity) sink->make_room(*sink);
            sink->count += S::pack_keys(v, S::bits(S::both(window, S::greater(v, sink->floor))), first + j,
                                        sink->keys + sink->count);
          }
        } else if (const std::uint32_t bits = S::bits(S::both(window, S::greater(v, sink->floor)))) {
          offer(v, bits, first + j, *sink);
        }
      }
    }
    packed_sums<Scaled>(packed, held, factor, p, sums);
  }
  static void bracket_chunk(const float* x, std::size_t n, std::size_t first, float factor, const bracket_pass& p,
                            bracket_sums& sums, candidate_sink* sink, const float* end) noexcept {
    with_factor(factor, [&](auto s) {
      bracket<decltype(s)::value>(x, n, first, factor, p, sums, sink, end);
      return 0;
    });
  }

  static constexpr select_kernel_table table{scan_chunk, offer_chunk,      count_at_least, exp_sum_chunk,
                                             exp_chunk,  block_sums_chunk, bracket_chunk};
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_SELECT_HPP
