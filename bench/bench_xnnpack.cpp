// XNNPACK (Debian's libxnnpack-dev) softmax forward on the same shapes and buffer sets: one operator
// set up per buffer set, run on the calling thread or a pthreadpool of all threads. Checked against
// softxent's reference before it is timed.
#include <pthreadpool.h>
#include <xnnpack.h>

#include <memory>
#include <vector>

#include "bench_support.hpp"

namespace softxent_bench {
namespace {

struct operator_deleter {
  void operator()(xnn_operator_t op) const noexcept { xnn_delete_operator(op); }
};
using operator_handle = std::unique_ptr<xnn_operator, operator_deleter>;

struct pool_deleter {
  void operator()(pthreadpool_t pool) const noexcept { pthreadpool_destroy(pool); }
};
using pool_handle = std::unique_ptr<pthreadpool, pool_deleter>;

}  // namespace

void register_xnnpack_benchmarks() {
  register_cases(softmax_traits, "xnnpack", [](benchmark::State& state, const shape& s, regime r, int threads) {
    static const xnn_status initialized = xnn_initialize(nullptr);
    if (initialized != xnn_status_success) {
      state.SkipWithError(("XNNPACK: xnn_initialize failed with status " + std::to_string(initialized)).c_str());
      return;
    }
    const buffer_sets sets(softmax_traits, s, r);
    pool_handle pool(threads > 1 ? pthreadpool_create(static_cast<std::size_t>(threads)) : nullptr);
    std::vector<operator_handle> operators;
    for (std::size_t set = 0; set < sets.count(); ++set) {
      xnn_operator_t op = nullptr;
      xnn_status status = xnn_create_softmax_nc_f32(s.cols, s.cols, s.cols, 0, &op);
      operators.emplace_back(op);
      if (status == xnn_status_success)
        status = xnn_setup_softmax_nc_f32(op, s.rows, sets.input(set, 0), sets.output(set), pool.get());
      if (status != xnn_status_success) {
        state.SkipWithError(("XNNPACK: softmax setup failed with status " + std::to_string(status)).c_str());
        return;
      }
    }
    const auto run = [&](std::size_t set) { xnn_run_operator(operators[set].get(), pool.get()); };
    check_and_time(state, "XNNPACK", softmax_traits, s, sets, run);
  }, config().min_time);
}

}  // namespace softxent_bench
