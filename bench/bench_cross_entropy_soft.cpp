// cross_entropy_soft (probability targets, mean reduction) with gradient: reads the logits and the
// target probabilities once each, writes each gradient once.
#include "bench_support.hpp"

namespace softxent_bench {

void register_cross_entropy_soft_benchmarks() {
  register_softxent_benchmarks(cross_entropy_soft_traits, [](const shape& s, const buffer_sets& sets,
                                                             std::size_t set, const softxent::exec_options& exec) {
    return softxent::cross_entropy_soft({sets.input(set, 0), s.rows, s.cols}, {sets.input(set, 1), s.rows, s.cols},
                                        sets.row_output(set), {sets.output(set), s.rows, s.cols}, {}, exec);
  });
}

}  // namespace softxent_bench
