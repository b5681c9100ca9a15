// Argument checks shared by every operation: the exec options, and the shapes, byte spans and overlaps
// of a call's buffers. Nothing here allocates or throws.
#ifndef SOFTXENT_SRC_DRIVER_VALIDATE_HPP
#define SOFTXENT_SRC_DRIVER_VALIDATE_HPP

#include <cstddef>
#include <cstdint>
#include <limits>

#include "dispatch.hpp"
#include "kernel_table.hpp"
#include "softxent/softxent.hpp"

namespace softxent::detail {

// The bytes a matrix spans, as integers so that unrelated buffers can be compared.
struct byte_range {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;  // begin == end: nothing
};

inline bool ranges_overlap(const byte_range& a, const byte_range& b) noexcept {
  return a.begin < a.end && b.begin < b.end && a.begin < b.end && b.begin < a.end;
}

// Elements spanned by rows x cols with a stride, or false when the count or its bytes overflow.
inline bool span_elements(std::size_t rows, std::size_t cols, std::size_t stride, std::size_t element_size,
                          std::size_t& elements) noexcept {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  if (rows > 1 && stride > (max - cols) / (rows - 1)) return false;
  elements = (rows - 1) * stride + cols;
  return elements <= max / element_size;
}

// One buffer of a call, for the shape and overlap checks.
struct buffer {
  const void* data;
  std::size_t rows;    // rows of the matrix (vectors: 1)
  std::size_t cols;    // elements per row
  std::size_t stride;  // elements between rows
  std::size_t element_size;
  bool output;
  byte_range range;
};

inline buffer matrix_buffer(const void* data, std::size_t rows, std::size_t cols, std::size_t stride, bool output) {
  return {data, rows, cols, stride, sizeof(float), output, {}};
}
inline buffer vector_buffer(const void* data, std::size_t count, std::size_t element_size, bool output) {
  return {data, 1, count, count, element_size, output, {}};
}

// Shapes and overlaps of a call's buffers (rows > 0). Null buffers are skipped (checked before).
// An output may alias an input exactly (same pointer and stride) only when allow_exact_alias says so.
template <std::size_t N, class AllowExactAlias>
status check_buffers(buffer (&buffers)[N], const AllowExactAlias& allow_exact_alias) noexcept {
  for (buffer& b : buffers) {
    if (b.data == nullptr) continue;
    if (b.cols == 0 || b.stride < b.cols) return status::invalid_shape;
    std::size_t elements = 0;
    if (!span_elements(b.rows, b.cols, b.stride, b.element_size, elements)) return status::invalid_shape;
    const auto begin = reinterpret_cast<std::uintptr_t>(b.data);
    b.range = {begin, begin + elements * b.element_size};
    if (b.range.end < b.range.begin) return status::invalid_shape;  // wraps the address space
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (!buffers[i].output || buffers[i].data == nullptr) continue;
    for (std::size_t k = 0; k < N; ++k) {
      if (k == i || buffers[k].data == nullptr) continue;
      if (!ranges_overlap(buffers[i].range, buffers[k].range)) continue;
      const bool exact = buffers[i].data == buffers[k].data && buffers[i].stride == buffers[k].stride &&
                         buffers[i].rows == buffers[k].rows && buffers[i].cols == buffers[k].cols;
      if (!(exact && !buffers[k].output && allow_exact_alias(i, k))) return status::overlap;
    }
  }
  return status::ok;
}

// The table of a call, once its exec options are valid.
struct call_setup {
  status result;
  const kernel_table* table;
};

inline call_setup setup(const exec_options& exec) noexcept {
  if (exec.threads < 0) return {status::invalid_option, nullptr};
  const table_choice choice = choose_table(exec.isa);
  return {choice.result, choice.table};
}

// The reference does whole rows of any length and has no chunk primitives.
inline bool is_reference(const kernel_table* table) noexcept { return table->exp_stats_chunk == nullptr; }

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_DRIVER_VALIDATE_HPP
