#include "parallel.hpp"

#if defined(SOFTXENT_USE_OPENMP)
#include <omp.h>
#endif

namespace softxent::detail {

bool executor::can_run_in_parallel() const noexcept {
  if (threads_ == 1) return false;
  if (parallel_for_ != nullptr) return !pool_used_;
#if defined(SOFTXENT_USE_OPENMP)
  return true;
#else
  return false;
#endif
}

void executor::run_task(std::size_t units, task body, void* context) noexcept {
  if (units == 0) return;
  if (units == 1 || !can_run_in_parallel()) {
    body(context, 0, units);
    return;
  }
  if (parallel_for_ != nullptr) {
    pool_used_ = true;
    parallel_for_(pool_, units, body, context);
    return;
  }
#if defined(SOFTXENT_USE_OPENMP)
  int team = threads_ > 0 ? threads_ : omp_get_max_threads();
  if (static_cast<std::size_t>(team) > units) team = static_cast<int>(units);
  if (team <= 1) {
    body(context, 0, units);
    return;
  }
  // Contiguous, equal shares of the units: each thread streams through neighbouring rows.
#pragma omp parallel num_threads(team)
  {
    const auto thread = static_cast<std::size_t>(omp_get_thread_num());
    const auto count = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t first = units * thread / count;
    const std::size_t end = units * (thread + 1) / count;
    if (first < end) body(context, first, end);
  }
#else
  body(context, 0, units);
#endif
}

}  // namespace softxent::detail
