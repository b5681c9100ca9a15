// The logit transform (softxent_softmax_options) on the cases of transform_cases.hpp: softmax with the
// case's scale, softcap, mask, ALiBi slopes, sinks and valid_cols, against softxent's plain softmax of
// the same shape ("transform.plain") in the same run; scripts/bench_report.py divides the one by the
// other, and compares both with PyTorch's composites (bench_pytorch_transform.cpp).
#include "bench_support.hpp"
#include "transform_cases.hpp"

namespace softxent_bench {

void register_transform_benchmarks() {
  for (const std::string& isa : config().isas) {
    if (isa == "reference") continue;  // no target depends on it
    for (const transform_case& each : transform_cases()) {
      const transform_case* c = &each;
      const auto body = [c, isa](benchmark::State& state, const shape& s, regime r, int threads) {
        softxent::exec_options exec;
        if (!softxent_exec(state, isa, threads, &exec)) return;
        const transform_data data(*c, s);
        const buffer_sets sets(c->traits, s, r);
        const auto call = [&](std::size_t set) {
          return softxent::softmax(sets.input_matrix(set, 0), sets.output_matrix(set), data.options(sets, set), exec);
        };
        if (!first_call_ok(state, call(0))) return;
        time_rotating(state, c->traits, s, sets, [&](std::size_t set) { call(set); });
        state.counters["mask_bytes"] = static_cast<double>(data.mask_bytes());
      };
      register_cases(c->traits, "softxent-" + isa, body, config().min_time, {c->shapes, {}, 0});
    }
  }
}

}  // namespace softxent_bench
