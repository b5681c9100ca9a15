// The one place a row is loaded and the one place an output is stored, for any element type: rows
// are decoded to float and transformed (scale, softcap, mask with its slope, valid columns) a chunk at
// a time into an L1 scratch that the float kernels then work on; outputs are rounded once from float.
// A new element type adds a case to decode/encode here (and its vector conversions in simd.hpp); a
// new transform adds a field to row_load and a step to transformed().
#ifndef SOFTXENT_SRC_KERNELS_LOAD_HPP
#define SOFTXENT_SRC_KERNELS_LOAD_HPP

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernel_table.hpp"
#include "kernels/simd.hpp"
#include "kernels/transform.hpp"

namespace softxent::detail {

template <class Ops>
struct load_kernels {
  using vec = typename Ops::vec;
  static constexpr std::size_t W = Ops::width;

  // W elements of type T from element j of base.
  template <dtype T>
  SOFTXENT_ALWAYS_INLINE static vec decode(const void* base, std::size_t j) noexcept {
    if constexpr (T == dtype::f32) return Ops::load(static_cast<const float*>(base) + j);
    if constexpr (T == dtype::f16) return Ops::load_f16(static_cast<const std::uint16_t*>(base) + j);
    if constexpr (T == dtype::bf16) return Ops::load_bf16(static_cast<const std::uint16_t*>(base) + j);
  }
  static float decode_one(const void* base, dtype type, std::size_t j) noexcept {
    if (type == dtype::f16) return f16_to_float(static_cast<const std::uint16_t*>(base)[j]);
    if (type == dtype::bf16) return bf16_to_float(static_cast<const std::uint16_t*>(base)[j]);
    return static_cast<const float*>(base)[j];
  }
  // The m < W elements from element j, the other lanes pad: never reads past them.
  static vec decode_tail(const void* base, dtype type, std::size_t j, std::size_t m, float pad) noexcept {
    if (type == dtype::f32) return Ops::load_tail(static_cast<const float*>(base) + j, m, pad);
    alignas(64) float buffer[W];
    for (std::size_t i = 0; i < W; ++i) buffer[i] = i < m ? decode_one(base, type, j + i) : pad;
    return Ops::load(buffer);
  }

  // z from decoded x (and the mask lanes m): scale, softcap, then the mask with its slope.
  SOFTXENT_ALWAYS_INLINE static vec transformed(const vec& x, const row_load& row, const vec* mask) noexcept {
    vec z = x;
    if (row.scale != 1.0f || row.softcap != 0.0f) z = transform_kernels<Ops>::transform(x, row.scale, row.softcap);
    if (mask != nullptr) {
      // A -inf mask value masks the class whatever the logit (even NaN) and the slope.
      const vec biased = Ops::fma(*mask, Ops::splat(row.slope), z);
      z = Ops::where_minus_inf(*mask, biased);
    }
    return z;
  }

  // The shape of a row's transform, decided once per call so that the loop over its vectors holds no
  // test of it (the row's fields are read once: stores to z could alias them as far as the compiler
  // knows, so a loop reading them would reload and retest them per vector).
  enum class shape { plain, scaled, general };

  // Columns [first, first + n) of the row, decoded and transformed, handed to
  // sink(j, count, z) a vector at a time (count = W, or fewer at a tail: the lanes past count are
  // padding), j counted from first. The sink is taken by value, as the row is copied, so that what it
  // holds stays in registers across its stores. With Max, returns the max of the values handed over
  // (else -inf): kept here, in a local the sink's stores cannot alias, not by the sink.
  template <dtype T, class Sink, bool Max = false>
  static float load_typed(const row_load& row, std::size_t first, std::size_t n, const Sink sink) noexcept {
    // Classes from valid_cols on are masked, whatever the row holds there: they are not read.
    const std::size_t valid = row.valid_cols <= first ? 0 : (row.valid_cols - first < n ? row.valid_cols - first : n);
    const row_load local = row;
    float max;
    if (local.mask == nullptr && local.softcap == 0.0f) {
      if (local.scale == 1.0f) {
        max = load_shaped<T, shape::plain, Max>(local, first, valid, sink);
      } else {
        max = load_shaped<T, shape::scaled, Max>(local, first, valid, sink);
      }
    } else {
      max = load_shaped<T, shape::general, Max>(local, first, valid, sink);
    }
    const vec masked = Ops::splat(-float_infinity);
    std::size_t k = valid;
    for (; k + W <= n; k += W) sink(k, W, masked);
    if (k < n) sink(k, n - k, masked);
    return max;
  }
  template <dtype T, shape S, bool Max, class Sink>
  static float load_shaped(const row_load row, std::size_t first, std::size_t n, const Sink sink) noexcept {
    const auto step = [&](const vec& x, const vec* m) {
      if constexpr (S == shape::plain) return x;
      if constexpr (S == shape::scaled) return transform_kernels<Ops>::transform(x, row.scale, 0.0f);
      if constexpr (S == shape::general) return transformed(x, row, m);
    };
    vec max = Ops::splat(-float_infinity);
    std::size_t j = 0;
    for (; j + W <= n; j += W) {
      if (row.prefetch_end != nullptr) prefetch<T>(row, first + j);
      vec m;
      if (S == shape::general && row.mask != nullptr) m = decode_mask(row, first + j);
      const vec z = step(decode<T>(row.x, first + j), row.mask != nullptr ? &m : nullptr);
      sink(j, W, z);
      if constexpr (Max) max = Ops::max(max, z);
    }
    if (j < n) {
      const vec x = decode_tail(row.x, T, first + j, n - j, 0.0f);
      vec m;
      if (row.mask != nullptr) m = decode_tail(row.mask, row.mask_type, first + j, n - j, 0.0f);
      const vec z = step(x, row.mask != nullptr ? &m : nullptr);
      sink(j, n - j, z);
      if constexpr (Max) {
        alignas(64) float lanes[W];
        Ops::store(lanes, z);
        max = Ops::max(max, Ops::load_tail(lanes, n - j, -float_infinity));  // not the padding
      }
    }
    return Ops::horizontal_max(max);
  }
  // The lines near_bytes and far_bytes past element j of the row, if they lie before prefetch_end,
  // once per 64 bytes of the row, as the float kernels' sweeps prefetch (reduce::prefetch_ahead):
  // short rows, loaded a row at a time, stream across rows (causal rows of 512 floats from memory:
  // 1.3x faster with it).
  static constexpr std::size_t near_bytes = 4096, far_bytes = 32768;
  template <dtype T>
  static void prefetch(const row_load& row, std::size_t j) noexcept {
    constexpr std::size_t size = T == dtype::f32 ? 4 : 2;
    if ((j * size) % 64 >= W * size) return;
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(row.x) + j * size;
    const std::uintptr_t limit = reinterpret_cast<std::uintptr_t>(row.prefetch_end);
    if (at + near_bytes < limit) __builtin_prefetch(reinterpret_cast<const void*>(at + near_bytes), 0, 3);
    if (at + far_bytes < limit) __builtin_prefetch(reinterpret_cast<const void*>(at + far_bytes), 0, 2);
  }

  SOFTXENT_ALWAYS_INLINE static vec decode_mask(const row_load& row, std::size_t j) noexcept {
    switch (row.mask_type) {
      case dtype::f16: return decode<dtype::f16>(row.mask, j);
      case dtype::bf16: return decode<dtype::bf16>(row.mask, j);
      default: return decode<dtype::f32>(row.mask, j);
    }
  }

  // The row's element type, as a template argument of f.
  template <class F>
  static void with_type(dtype type, const F& f) noexcept {
    switch (type) {
      case dtype::f16: f(std::integral_constant<dtype, dtype::f16>{}); break;
      case dtype::bf16: f(std::integral_constant<dtype, dtype::bf16>{}); break;
      default: f(std::integral_constant<dtype, dtype::f32>{}); break;
    }
  }

  // The sink of load_chunk: stores each vector to the scratch z.
  struct store_to {
    float* z;
    SOFTXENT_ALWAYS_INLINE void operator()(std::size_t j, std::size_t count, const vec& v) const noexcept {
      if (count == W) {
        Ops::store(z + j, v);
      } else {
        Ops::store_tail(z + j, count, v);
      }
    }
  };

  static void load_chunk(const row_load& row, std::size_t first, std::size_t n, float* z) noexcept {
    with_type(row.x_type, [&](auto in) { load_typed<decltype(in)::value>(row, first, n, store_to{z}); });
  }

  // load_chunk that also returns the max of what it stores (NaN may or may not win, as in
  // reduce::max_of: callers detect NaN through sums).
  static float load_max_chunk(const row_load& row, std::size_t first, std::size_t n, float* z) noexcept {
    float max = -float_infinity;
    with_type(row.x_type, [&](auto in) { max = load_typed<decltype(in)::value, store_to, true>(row, first, n, store_to{z}); });
    return max;
  }

  // A row's output from the scratch z[0, n) (see kernel_table::store_softmax_chunk). The output's
  // lines are prefetched write_ahead_bytes ahead, below out_end (see reduce::prefetch_write).
  static constexpr std::size_t write_ahead_bytes = 1024;
  static void store_softmax_chunk(const float* z, std::size_t n, std::size_t masked, float shift, float factor,
                                  bool log_space, void* out, dtype out_type, const void* out_end) noexcept {
    const vec s = Ops::splat(shift), f = Ops::splat(factor);
    with_type(out_type, [&](auto out_tag) {
      constexpr dtype O = decltype(out_tag)::value;
      constexpr std::size_t size = O == dtype::f32 ? 4 : 2;
      const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(out);
      const std::uintptr_t limit = reinterpret_cast<std::uintptr_t>(out_end);
      const std::size_t end = n + masked;
      const auto put = [&](const auto& formula, float masked_input) SOFTXENT_ALWAYS_INLINE {
        std::size_t j = 0;
        for (; j + W <= n; j += W) {
          const std::uintptr_t ahead = base + j * size + write_ahead_bytes;
          if ((j * size) % 64 < W * size && ahead < limit) __builtin_prefetch(reinterpret_cast<const void*>(ahead), 0, 3);
          encode<O>(formula(Ops::load(z + j)), out, j, W);
        }
        // The vector across n: its lanes past n are padded with the masked input, so it holds the
        // masked classes' outputs too, and is stored whole when they reach that far.
        if (j < n) {
          const std::size_t count = end - j < W ? end - j : W;
          encode<O>(formula(Ops::load_tail(z + j, n - j, masked_input)), out, j, count);
          j += count;
        }
        const vec gone = formula(Ops::splat(masked_input));
        for (; j < end; j += W) encode<O>(gone, out, j, end - j < W ? end - j : W);
      };
      if (log_space) {
        put([s, f](const vec& v) SOFTXENT_ALWAYS_INLINE { return (v - s) - f; }, -float_infinity);
      } else {
        put([f](const vec& v) SOFTXENT_ALWAYS_INLINE { return v * f; }, 0.0f);  // exp(-inf - shift) = 0
      }
    });
  }

  // A row's output straight from its logits, in registers: out[0, n) = exp(z - shift) * factor (or
  // with log_space (z - shift) - factor, the offset) for columns [first, first + n) loaded as by
  // load_chunk, rounded once to out_type: the same values as load_chunk, then softmax_chunk or
  // log_softmax_chunk, then store_chunk, without the trips through the scratch. Its exp is forced
  // inline: g++ 12 otherwise left the AVX-512 exp a call in one of its loops (bf16 -> bf16 over a
  // 128256-class row, a scratch program on the AMD EPYC Zen 5 VM: 26.6 -> 22 us).
  static void softmax_out_chunk(const row_load& row, std::size_t first, std::size_t n, float shift, float factor,
                                bool log_space, void* out, dtype out_type) noexcept {
    const vec s = Ops::splat(shift), f = Ops::splat(factor);
    with_type(row.x_type, [&](auto in) {
      with_type(out_type, [&](auto out_tag) {
        constexpr dtype O = decltype(out_tag)::value;
        if (log_space) {
          load_typed<decltype(in)::value>(row, first, n, [s, f, out](std::size_t j, std::size_t count, const vec& z) SOFTXENT_ALWAYS_INLINE {
            encode<O>((z - s) - f, out, j, count);
          });
        } else {
          load_typed<decltype(in)::value>(row, first, n, [s, f, out](std::size_t j, std::size_t count, const vec& z) SOFTXENT_ALWAYS_INLINE {
            encode<O>(Ops::exp_nonpositive_inline(z - s) * f, out, j, count);
          });
        }
      });
    });
  }

  // count <= W values of v rounded to T at element j of out.
  template <dtype T>
  SOFTXENT_ALWAYS_INLINE static void encode(const vec& v, void* out, std::size_t j, std::size_t count) noexcept {
    if (W == 1 || count == W) {  // a one-lane vector is never a tail
      if constexpr (T == dtype::f32) Ops::store(static_cast<float*>(out) + j, v);
      if constexpr (T == dtype::f16) Ops::store_f16(static_cast<std::uint16_t*>(out) + j, v);
      if constexpr (T == dtype::bf16) Ops::store_bf16(static_cast<std::uint16_t*>(out) + j, v);
      return;
    }
    if constexpr (T == dtype::f32) {
      Ops::store_tail(static_cast<float*>(out) + j, count, v);
      return;
    }
    alignas(64) float lanes[W] = {};
    Ops::store(lanes, v);
    store_typed<T>(lanes, count, static_cast<unsigned char*>(out) + j * 2);
  }

  template <dtype T>
  static void store_typed(const float* v, std::size_t n, void* out) noexcept {
    std::size_t j = 0;
    if constexpr (T == dtype::f32) {
      auto* o = static_cast<float*>(out);
      for (; j + W <= n; j += W) Ops::store(o + j, Ops::load(v + j));
      for (; j < n; ++j) o[j] = v[j];
    } else {
      auto* o = static_cast<std::uint16_t*>(out);
      for (; j + W <= n; j += W) {
        if constexpr (T == dtype::f16) Ops::store_f16(o + j, Ops::load(v + j));
        else Ops::store_bf16(o + j, Ops::load(v + j));
      }
      for (; j < n; ++j) o[j] = T == dtype::f16 ? float_to_f16(v[j]) : float_to_bf16(v[j]);
    }
  }
  static void store_chunk(const float* v, std::size_t n, void* out, dtype type) noexcept {
    switch (type) {
      case dtype::f16: store_typed<dtype::f16>(v, n, out); break;
      case dtype::bf16: store_typed<dtype::bf16>(v, n, out); break;
      default: store_typed<dtype::f32>(v, n, out); break;
    }
  }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_LOAD_HPP
