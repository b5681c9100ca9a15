// Rows longer than one chunk: each row is cut into chunks of chunk_length(cols) elements whose
// statistics are merged in chunk order, on one thread per row or, with few rows, across threads.
// The bits are the same either way: the same chunks, merged in the same order by the same code.
#ifndef SOFTXENT_SRC_DRIVER_LONG_ROWS_HPP
#define SOFTXENT_SRC_DRIVER_LONG_ROWS_HPP

#include <cmath>
#include <cstddef>

#include "driver/plan.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "parallel.hpp"

namespace softxent::detail {

// phase1(row, first_col, n) -> chunk_stats, then, once per row with the chunks merged in order,
// finish(row, merged) (which may add to the merged statistics: a softmax sink joins them there), then
// phase2(row, first_col, n, chunk, merged). Phase 2 visits the chunks in phase 1's order. The reverse,
// to start on what phase 1 left in the cache, was measured slower (AMD EPYC Zen 5, rows of 32000 and
// 128256 floats: 1.05x median, log_softmax_backward 1.4x): the phase-2 kernels prefetch forward.
template <class Phase1, class Finish, class Phase2>
void for_long_rows(executor& ex, const row_plan& plan, std::size_t rows, std::size_t cols, const Phase1& phase1,
                   const Finish& finish, const Phase2& phase2) noexcept {
  const std::size_t chunk = chunk_length(cols);
  const std::size_t chunks = (cols + chunk - 1) / chunk;
  const auto length = [&](std::size_t c) { return c + 1 < chunks ? chunk : cols - c * chunk; };
  const auto merge_row = [&](const chunk_stats* stats) {
    chunk_stats merged = stats[0];
    for (std::size_t c = 1; c < chunks; ++c) merged = merge_stats(merged, stats[c]);
    return merged;
  };

  if (rows >= few_rows || !ex.can_run_in_parallel()) {
    for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
      chunk_stats stats[max_chunks_per_row];
      for (std::size_t r = first; r < end; ++r) {
        for (std::size_t c = 0; c < chunks; ++c) stats[c] = phase1(r, c * chunk, length(c));
        chunk_stats merged = merge_row(stats);
        finish(r, merged);
        for (std::size_t c = 0; c < chunks; ++c) phase2(r, c * chunk, length(c), stats[c], merged);
      }
    });
    return;
  }
  chunk_stats stats[few_rows * max_chunks_per_row];
  chunk_stats merged[few_rows];
  const std::size_t units = rows * chunks;
  auto first_phase = [&](std::size_t first, std::size_t end) {
    for (std::size_t u = first; u < end; ++u) stats[u] = phase1(u / chunks, (u % chunks) * chunk, length(u % chunks));
  };
  ex.run(units, first_phase);
  for (std::size_t r = 0; r < rows; ++r) {
    merged[r] = merge_row(stats + r * chunks);
    finish(r, merged[r]);
  }
  auto second_phase = [&](std::size_t first, std::size_t end) {
    for (std::size_t u = first; u < end; ++u) {
      const std::size_t r = u / chunks, c = u % chunks;
      phase2(r, c * chunk, length(c), stats[u], merged[r]);
    }
  };
  ex.run(units, second_phase);  // a host pool was used once already: this one stays on this thread
}

// exp(chunk shift - row shift): what turns a chunk's stored exponentials into the row's. A chunk with
// nothing but -inf (sum 0, shift 0) gets 0: its exponentials are 0, and exp(0 - row shift) may be
// +inf when the row's max is very negative. A NaN row gets its own sum's NaN, so that a product with
// a factor derived from that sum carries one NaN payload whichever operand the compiler puts first
// (+inf - +inf here would make the default NaN, and which of two NaNs a product keeps depends on the
// operand order, which may differ between two inlined copies of the same code).
inline double chunk_weight(const chunk_stats& chunk, const chunk_stats& row) noexcept {
  if (chunk.sum_exp == 0.0) return 0.0;
  if (std::isnan(row.sum_exp)) return row.sum_exp;
  return std::exp(static_cast<double>(chunk.shift) - static_cast<double>(row.shift));
}

struct no_phase2 {
  void operator()(std::size_t, std::size_t, std::size_t, const chunk_stats&, const chunk_stats&) const noexcept {}
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_DRIVER_LONG_ROWS_HPP
