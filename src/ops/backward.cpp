// softmax_backward and log_softmax_backward: float operands through one kernel call per unit of rows,
// or for long rows a chunked dot product (or sum) of dy merged in chunk order, then dx; other dtypes
// decoded a piece at a time into L1 scratch, dx stored once from float.
#include <cstddef>
#include <cstdint>

#include "driver/long_rows.hpp"
#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/cross_entropy_common.hpp"
#include "ops/logit_transform.hpp"
#include "parallel.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

// Float operands: the kernels read y and dy and write dx directly.
void run_plain(bool log_space, const kernel_table* table, const const_any_matrix& y_any, const const_any_matrix& dy_any,
               const any_matrix& dx_any, const exec_options& exec) noexcept {
  const const_matrix y(static_cast<const float*>(y_any.data), y_any.rows, y_any.cols, y_any.stride);
  const const_matrix dy(static_cast<const float*>(dy_any.data), dy_any.rows, dy_any.cols, dy_any.stride);
  const matrix dx(static_cast<float*>(dx_any.data), dx_any.rows, dx_any.cols, dx_any.stride);
  const std::size_t rows = y.rows, cols = y.cols;
  const kernel_table& k = *table;
  executor ex(exec, is_reference(table));
  const row_plan plan = plan_for(table, rows, cols);
  const float* const y_end = y.row(rows - 1) + cols;  // what the kernels may prefetch
  const float* const dy_end = dy.row(rows - 1) + cols;
  if (!uses_chunks(table, cols)) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      auto rows_kernel = log_space ? k.log_softmax_backward_rows : k.softmax_backward_rows;
      rows_kernel(end - first, cols, y.row(first), y.stride, dy.row(first), dy.stride, dx.row(first), dx.stride,
                  y_end, dy_end);
    });
    return;
  }
  // Phase 1: the row's dot product (softmax) or sum (log_softmax) of dy, one chunk at a time, carried
  // in chunk_stats::y_dot and summed in chunk order; phase 2 writes dx.
  for_long_rows(
      ex, plan, rows, cols,
      [&](std::size_t r, std::size_t c0, std::size_t n) {
        chunk_stats s{};
        s.y_dot = k.dot_chunk(dy.row(r) + c0, log_space ? nullptr : y.row(r) + c0, n);
        return s;
      },
      [](std::size_t, const chunk_stats&) {},
      [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats&, const chunk_stats& m) {
        if (log_space) {
          k.log_softmax_backward_chunk(y.row(r) + c0, dy.row(r) + c0, n, static_cast<float>(m.y_dot), dx.row(r) + c0,
                                       y_end, dy_end);
        } else {
          k.softmax_backward_chunk(y.row(r) + c0, dy.row(r) + c0, n, static_cast<float>(m.y_dot), dx.row(r) + c0);
        }
      });
}

// Any other dtypes: y and dy decoded a piece at a time into L1 scratch, dx stored once from float.
void run_staged(bool log_space, const kernel_table* table, const const_any_matrix& y, const const_any_matrix& dy,
                const any_matrix& dx, const exec_options& exec) noexcept {
  const std::size_t rows = y.rows, cols = y.cols;
  const kernel_table& k = *table;
  executor ex(exec, is_reference(table));
  const row_plan plan = plan_for(table, rows, cols);
  const auto row_of = [](const auto& m, std::size_t r) {
    return static_cast<const unsigned char*>(m.data) + r * m.stride * size_of(m.dtype);
  };
  const auto dx_row = [&](std::size_t r) { return static_cast<unsigned char*>(dx.data) + r * dx.stride * size_of(dx.dtype); };
  if (is_reference(table)) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      for (std::size_t r = first; r < end; ++r)
        reference_backward_row(row_of(y, r), y.dtype, row_of(dy, r), dy.dtype, dx_row(r), dx.dtype, cols, log_space);
    });
    return;
  }
  const auto decode = [&](const auto& m, std::size_t r, std::size_t first, std::size_t n, float* out) {
    k.load_chunk(row_load{row_of(m, r), m.dtype, 1.0f, 0.0f, nullptr, dtype::f32, 1.0f, cols, nullptr}, first, n, out);
  };
  // Phase 1: the row's dot product (softmax) or sum (log_softmax) of dy, piece by piece, in y_dot;
  // phase 2: dx, piece by piece.
  for_long_rows(
      ex, plan, rows, cols,
      [&](std::size_t r, std::size_t c0, std::size_t n) {
        alignas(64) float ys[transform_piece], dys[transform_piece];
        chunk_stats s{};
        for (std::size_t p0 = c0; p0 < c0 + n; p0 += transform_piece) {
          const std::size_t m = c0 + n - p0 < transform_piece ? c0 + n - p0 : transform_piece;
          decode(dy, r, p0, m, dys);
          if (!log_space) decode(y, r, p0, m, ys);
          s.y_dot += k.dot_chunk(dys, log_space ? nullptr : ys, m);
        }
        return s;
      },
      [](std::size_t, const chunk_stats&) {},
      [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats&, const chunk_stats& merged) {
        alignas(64) float ys[transform_piece], dys[transform_piece];
        for (std::size_t p0 = c0; p0 < c0 + n; p0 += transform_piece) {
          const std::size_t m = c0 + n - p0 < transform_piece ? c0 + n - p0 : transform_piece;
          decode(y, r, p0, m, ys);
          decode(dy, r, p0, m, dys);
          const auto sum = static_cast<float>(merged.y_dot);
          if (log_space) {
            k.log_softmax_backward_chunk(ys, dys, m, sum, ys, ys + m, dys + m);
          } else {
            k.softmax_backward_chunk(ys, dys, m, sum, ys);
          }
          k.store_chunk(ys, m, dx_row(r) + p0 * size_of(dx.dtype), dx.dtype);
        }
      });
}

status run_backward(bool log_space, const_any_matrix y, const_any_matrix dy, any_matrix dx,
                    const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (!valid_dtype(y.dtype) || !valid_dtype(dy.dtype) || !valid_dtype(dx.dtype)) return status::unsupported_dtype;
  if (dy.rows != y.rows || dx.rows != y.rows || dy.cols != y.cols || dx.cols != y.cols) return status::invalid_shape;
  const std::size_t rows = y.rows, cols = y.cols;
  if (rows == 0) return status::ok;
  if (y.data == nullptr || dy.data == nullptr || dx.data == nullptr) return status::null_pointer;
  buffer buffers[] = {any_buffer(y.data, rows, cols, y.stride, y.dtype, false),
                      any_buffer(dy.data, rows, cols, dy.stride, dy.dtype, false),
                      any_buffer(dx.data, rows, cols, dx.stride, dx.dtype, true)};
  // dx may be exactly y or dy, of the same dtype.
  const dtype types[] = {y.dtype, dy.dtype, dx.dtype};
  if (const status s = check_buffers(buffers, [&](std::size_t o, std::size_t i) { return types[o] == types[i]; });
      s != status::ok)
    return s;
  if (y.dtype == dtype::f32 && dy.dtype == dtype::f32 && dx.dtype == dtype::f32) {
    run_plain(log_space, call.table, y, dy, dx, exec);
  } else {
    run_staged(log_space, call.table, y, dy, dx, exec);
  }
  return status::ok;
}

}  // namespace
}  // namespace detail

status softmax_backward(const_any_matrix y, const_any_matrix dy, any_matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(false, y, dy, dx, exec);
}

status log_softmax_backward(const_any_matrix y, const_any_matrix dy, any_matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(true, y, dy, dx, exec);
}

status softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(false, y, dy, dx, exec);
}

status log_softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(true, y, dy, dx, exec);
}

}  // namespace softxent
