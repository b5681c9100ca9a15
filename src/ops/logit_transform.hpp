// The softmax family's logit transform as the drivers see it: checking softmax_options against a
// call's shape, and the per-row view of it (row_load for the kernels, the head's sink).
#ifndef SOFTXENT_SRC_OPS_LOGIT_TRANSFORM_HPP
#define SOFTXENT_SRC_OPS_LOGIT_TRANSFORM_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "softxent/softxent.hpp"

namespace softxent::detail {

inline bool valid_dtype(dtype t) noexcept { return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16; }
inline std::size_t size_of(dtype t) noexcept { return t == dtype::f32 ? 4 : 2; }

// A matrix operand of any dtype, for check_buffers.
inline buffer any_buffer(const void* data, std::size_t rows, std::size_t cols, std::size_t stride, dtype type,
                         bool output) noexcept {
  return {data, rows, cols, stride, size_of(type), output, {}};
}

inline bool has_transform(const softmax_options& o) noexcept {
  return o.scale != 1.0f || o.softcap != 0.0f || o.mask.data != nullptr || o.sinks != nullptr ||
         o.valid_cols != nullptr;
}

inline std::size_t head_count(std::size_t rows, const softmax_options& o) noexcept {
  return o.rows_per_head == 0 ? (rows > 0 ? 1 : 0) : (rows + o.rows_per_head - 1) / o.rows_per_head;
}

// The options that do not need the buffers' contents beyond what they point at; the mask's own
// buffer is checked with the call's other buffers (mask_buffer).
inline status check_softmax_options(std::size_t rows, std::size_t cols, const softmax_options& o) noexcept {
  if (!(o.scale > 0.0f && std::isfinite(o.scale))) return status::invalid_option;
  if (!(o.softcap >= 0.0f && std::isfinite(o.softcap))) return status::invalid_option;
  if (o.mask.data != nullptr) {
    if (!valid_dtype(o.mask.dtype)) return status::unsupported_dtype;
    if (o.mask.rows == 0 || o.mask.cols != cols || o.mask.stride < cols) return status::invalid_shape;
  }
  const std::size_t heads = head_count(rows, o);
  for (std::size_t h = 0; h < heads; ++h) {
    if (o.slopes != nullptr && !std::isfinite(o.slopes[h])) return status::invalid_option;
    if (o.sinks != nullptr && !std::isfinite(o.sinks[h])) return status::invalid_option;
  }
  if (o.valid_cols != nullptr) {
    for (std::size_t r = 0; r < rows; ++r) {
      if (o.valid_cols[r] < 0 || static_cast<std::uint64_t>(o.valid_cols[r]) > cols) return status::invalid_option;
    }
  }
  return status::ok;
}

// The transform's own buffers, for the overlap checks (rows > 0): mask, slopes, sinks, valid_cols.
struct transform_buffers {
  buffer mask, slopes, sinks, valid_cols;
};
inline transform_buffers buffers_of(std::size_t rows, std::size_t cols, const softmax_options& o) noexcept {
  const std::size_t heads = head_count(rows, o);
  return {any_buffer(o.mask.data, o.mask.rows, cols, o.mask.stride, o.mask.dtype, false),
          vector_buffer(o.slopes, heads, sizeof(float), false), vector_buffer(o.sinks, heads, sizeof(float), false),
          vector_buffer(o.valid_cols, rows, sizeof(std::int64_t), false)};
}

// Row r of x (any dtype) as the kernels load it.
inline row_load row_load_of(const const_any_matrix& x, std::size_t r, const softmax_options& o) noexcept {
  const std::size_t head = o.rows_per_head == 0 ? 0 : r / o.rows_per_head;
  const auto* mask_base = static_cast<const unsigned char*>(o.mask.data);
  return {static_cast<const unsigned char*>(x.data) + r * x.stride * size_of(x.dtype),
          x.dtype,
          o.scale,
          o.softcap,
          mask_base ? mask_base + (r % o.mask.rows) * o.mask.stride * size_of(o.mask.dtype) : nullptr,
          o.mask.dtype,
          o.slopes ? o.slopes[head] : 1.0f,
          o.valid_cols ? static_cast<std::size_t>(o.valid_cols[r]) : x.cols,
          static_cast<const unsigned char*>(x.data) + ((x.rows - 1) * x.stride + x.cols) * size_of(x.dtype)};
}

// The sink of row r's head, or null.
inline const float* sink_of(std::size_t r, const softmax_options& o) noexcept {
  if (o.sinks == nullptr) return nullptr;
  return o.sinks + (o.rows_per_head == 0 ? 0 : r / o.rows_per_head);
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_OPS_LOGIT_TRANSFORM_HPP
