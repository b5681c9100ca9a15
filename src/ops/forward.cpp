// logsumexp, softmax and log_softmax: rows of one chunk in one kernel call per unit of rows; longer
// rows in chunks whose statistics are merged in order (driver/long_rows.hpp).
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

enum class forward_op { logsumexp, softmax, log_softmax };

status run_forward(forward_op op, const_matrix x, float* out, std::size_t out_stride, std::size_t out_cols,
                   const exec_options& exec) noexcept {
  const call_setup call = setup(exec);
  if (call.result != status::ok) return call.result;
  const std::size_t rows = x.rows, cols = x.cols;
  if (rows == 0) return status::ok;
  if (x.data == nullptr || out == nullptr) return status::null_pointer;
  const bool vector_out = op == forward_op::logsumexp;
  buffer buffers[] = {matrix_buffer(x.data, rows, cols, x.stride, false),
                      vector_out ? vector_buffer(out, rows, sizeof(float), true)
                                 : matrix_buffer(out, rows, out_cols, out_stride, true)};
  if (!vector_out && out_cols != cols) return status::invalid_shape;
  if (const status s = check_buffers(buffers, [&](std::size_t, std::size_t) { return !vector_out; });
      s != status::ok)
    return s;

  const kernel_table& k = *call.table;
  executor ex(exec, is_reference(call.table));
  const row_plan plan = plan_for(call.table, rows, cols);
  const std::size_t xs = x.stride;
  const float* const x_end = x.row(rows - 1) + cols;  // what the kernels may prefetch
  if (!uses_chunks(call.table, cols)) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      const float* xr = x.data + first * xs;
      switch (op) {
        case forward_op::logsumexp: k.logsumexp_rows(end - first, cols, xr, xs, out + first, x_end); break;
        case forward_op::softmax:
          k.softmax_rows(end - first, cols, xr, xs, out + first * out_stride, out_stride, x_end);
          break;
        case forward_op::log_softmax:
          k.log_softmax_rows(end - first, cols, xr, xs, out + first * out_stride, out_stride, x_end);
          break;
      }
    });
    return status::ok;
  }

  switch (op) {
    case forward_op::logsumexp:
      for_long_rows(
          ex, plan, rows, cols,
          [&](std::size_t r, std::size_t c0, std::size_t n) { return k.exp_stats_chunk(x.row(r) + c0, n, nullptr, x_end); },
          [&](std::size_t r, const chunk_stats& m) { out[r] = static_cast<float>(lse_of(m.shift, m.sum_exp)); },
          no_phase2{});
      break;
    case forward_op::softmax:
      // Phase 1 stores exp(x - chunk shift) into y; phase 2 rescales it to the row's probabilities.
      for_long_rows(
          ex, plan, rows, cols,
          [&](std::size_t r, std::size_t c0, std::size_t n) {
            return k.exp_stats_chunk(x.row(r) + c0, n, out + r * out_stride + c0, x_end);
          },
          [](std::size_t, const chunk_stats&) {},
          [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats& c, const chunk_stats& m) {
            const double factor = chunk_weight(c, m) * softmax_factor_of(m.sum_exp);
            k.scale_chunk(out + r * out_stride + c0, n, static_cast<float>(factor));
          });
      break;
    case forward_op::log_softmax:
      for_long_rows(
          ex, plan, rows, cols,
          [&](std::size_t r, std::size_t c0, std::size_t n) { return k.exp_stats_chunk(x.row(r) + c0, n, nullptr, x_end); },
          [](std::size_t, const chunk_stats&) {},
          [&](std::size_t r, std::size_t c0, std::size_t n, const chunk_stats&, const chunk_stats& m) {
            k.log_softmax_chunk(x.row(r) + c0, n, m.shift, static_cast<float>(log_softmax_offset_of(m.sum_exp)),
                                out + r * out_stride + c0);
          });
      break;
  }
  return status::ok;
}

}  // namespace
}  // namespace detail

status logsumexp(const_matrix x, float* lse, const exec_options& exec) noexcept {
  return detail::run_forward(detail::forward_op::logsumexp, x, lse, 1, 1, exec);
}

status softmax(const_matrix x, matrix y, const exec_options& exec) noexcept {
  if (y.rows != x.rows) return status::invalid_shape;
  return detail::run_forward(detail::forward_op::softmax, x, y.data, y.stride, y.cols, exec);
}

status log_softmax(const_matrix x, matrix y, const exec_options& exec) noexcept {
  if (y.rows != x.rows) return status::invalid_shape;
  return detail::run_forward(detail::forward_op::log_softmax, x, y.data, y.stride, y.cols, exec);
}

}  // namespace softxent
