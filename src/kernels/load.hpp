// The one place a row is loaded and the one place an output is stored, for any element type: rows
// are decoded to float and transformed (scale, softcap, mask with its slope, valid columns) a chunk at
// a time into an L1 scratch that the float kernels then work on; outputs are rounded once from float.
// A new element type adds a case to decode/encode here (and its vector conversions in simd.hpp); a
// new transform adds a field to row_load and a step to transformed().
#ifndef SOFTXENT_SRC_KERNELS_LOAD_HPP
#define SOFTXENT_SRC_KERNELS_LOAD_HPP

#include <cstddef>
#include <cstdint>

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
  static vec decode(const void* base, std::size_t j) noexcept {
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
  static vec transformed(const vec& x, const row_load& row, const vec* mask) noexcept {
    vec z = x;
    if (row.scale != 1.0f || row.softcap != 0.0f) z = transform_kernels<Ops>::transform(x, row.scale, row.softcap);
    if (mask != nullptr) {
      // A -inf mask value masks the class whatever the logit (even NaN) and the slope.
      const vec biased = Ops::fma(*mask, Ops::splat(row.slope), z);
      z = Ops::where_minus_inf(*mask, biased);
    }
    return z;
  }

  template <dtype T>
  static void load_typed(const row_load& row, std::size_t first, std::size_t n, float* z) noexcept {
    const bool plain = row.scale == 1.0f && row.softcap == 0.0f && row.mask == nullptr;
    std::size_t j = 0;
    if (plain && T == dtype::f32) {
      for (; j + W <= n; j += W) Ops::store(z + j, decode<T>(row.x, first + j));
    } else {
      for (; j + W <= n; j += W) {
        vec m;
        if (row.mask != nullptr) m = decode_mask(row, first + j);
        Ops::store(z + j, transformed(decode<T>(row.x, first + j), row, row.mask != nullptr ? &m : nullptr));
      }
    }
    if (j < n) {
      const vec x = decode_tail(row.x, T, first + j, n - j, 0.0f);
      vec m;
      if (row.mask != nullptr) m = decode_tail(row.mask, row.mask_type, first + j, n - j, 0.0f);
      Ops::store_tail(z + j, n - j, transformed(x, row, row.mask != nullptr ? &m : nullptr));
    }
    // Classes from valid_cols on are masked, whatever the row holds there.
    for (std::size_t k = row.valid_cols > first ? row.valid_cols - first : 0; k < n; ++k) z[k] = -float_infinity;
  }
  static vec decode_mask(const row_load& row, std::size_t j) noexcept {
    switch (row.mask_type) {
      case dtype::f16: return decode<dtype::f16>(row.mask, j);
      case dtype::bf16: return decode<dtype::bf16>(row.mask, j);
      default: return decode<dtype::f32>(row.mask, j);
    }
  }

  static void load_chunk(const row_load& row, std::size_t first, std::size_t n, float* z) noexcept {
    switch (row.x_type) {
      case dtype::f16: load_typed<dtype::f16>(row, first, n, z); break;
      case dtype::bf16: load_typed<dtype::bf16>(row, first, n, z); break;
      default: load_typed<dtype::f32>(row, first, n, z); break;
    }
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
