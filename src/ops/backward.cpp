// softmax_backward and log_softmax_backward: one kernel call per unit of rows, or for long rows a
// chunked dot product (or sum) of dy merged in chunk order, then dx.
#include <cstddef>
#include <cstdint>

#include "driver/long_rows.hpp"
#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "parallel.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

status run_backward(bool log_space, const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  if (dy.rows != y.rows || dx.rows != y.rows || dy.cols != y.cols || dx.cols != y.cols) return status::invalid_shape;
  const std::size_t rows = y.rows, cols = y.cols;
  if (rows == 0) return status::ok;
  if (y.data == nullptr || dy.data == nullptr || dx.data == nullptr) return status::null_pointer;
  buffer buffers[] = {matrix_buffer(y.data, rows, cols, y.stride, false),
                      matrix_buffer(dy.data, rows, cols, dy.stride, false),
                      matrix_buffer(dx.data, rows, cols, dx.stride, true)};
  if (const status s = check_buffers(buffers, [](std::size_t, std::size_t) { return true; }); s != status::ok) return s;

  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = plan_for(call.table, rows, cols);
  const float* const y_end = y.row(rows - 1) + cols;  // what the kernels may prefetch
  const float* const dy_end = dy.row(rows - 1) + cols;
  if (!uses_chunks(call.table, cols)) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      auto rows_kernel = log_space ? k.log_softmax_backward_rows : k.softmax_backward_rows;
      rows_kernel(end - first, cols, y.row(first), y.stride, dy.row(first), dy.stride, dx.row(first), dx.stride,
                  y_end, dy_end);
    });
    return status::ok;
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
          k.softmax_backward_chunk(y.row(r) + c0, dy.row(r) + c0, n, static_cast<float>(m.y_dot), dx.row(r) + c0, y_end,
                                   dy_end);
        }
      });
  return status::ok;
}

}  // namespace
}  // namespace detail

status softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(false, y, dy, dx, exec);
}

status log_softmax_backward(const_matrix y, const_matrix dy, matrix dx, const exec_options& exec) noexcept {
  return detail::run_backward(true, y, dy, dx, exec);
}

}  // namespace softxent
