// Units of work, chosen from the shape alone so that no result depends on the thread count or on how
// a host pool groups units.
#ifndef SOFTXENT_SRC_DRIVER_PLAN_HPP
#define SOFTXENT_SRC_DRIVER_PLAN_HPP

#include <cstddef>

#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "parallel.hpp"

namespace softxent::detail {

// A unit is a group of whole rows of about unit_elements elements; at most max_units of them, so that
// the per-unit partial sums of cross-entropy fit on the stack.
constexpr std::size_t unit_elements = std::size_t{1} << 14;
constexpr std::size_t max_units = 1024;
// Below this many long rows, the chunks of a row are spread over threads instead of the rows.
constexpr std::size_t few_rows = 4;

struct row_plan {
  std::size_t rows_per_unit;
  std::size_t units;
};

inline row_plan plan_rows(std::size_t rows, std::size_t cols) noexcept {
  std::size_t per_unit = cols >= unit_elements ? 1 : unit_elements / cols;
  if (per_unit > rows) per_unit = rows;
  std::size_t units = (rows + per_unit - 1) / per_unit;
  if (units > max_units) {
    per_unit = (rows + max_units - 1) / max_units;
    units = (rows + per_unit - 1) / per_unit;
  }
  return {per_unit, units};
}

// The reference runs every row of a call as one unit on the calling thread.
inline row_plan plan_for(const kernel_table* table, std::size_t rows, std::size_t cols) noexcept {
  return is_reference(table) ? row_plan{rows, 1} : plan_rows(rows, cols);
}

// True when rows of this length go through the driver's chunk merge rather than one kernel call.
inline bool uses_chunks(const kernel_table* table, std::size_t cols) noexcept {
  return !is_reference(table) && cols > chunk_length(cols);
}

// Runs per_unit(unit, first_row, end_row) for every unit of the plan.
template <class PerUnit>
void for_units(executor& ex, const row_plan& plan, std::size_t rows, const PerUnit& per_unit) noexcept {
  auto body = [&](std::size_t first_unit, std::size_t end_unit) {
    for (std::size_t unit = first_unit; unit < end_unit; ++unit) {
      const std::size_t first = unit * plan.rows_per_unit;
      const std::size_t end = first + plan.rows_per_unit < rows ? first + plan.rows_per_unit : rows;
      per_unit(unit, first, end);
    }
  };
  ex.run(plan.units, body);
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_DRIVER_PLAN_HPP
