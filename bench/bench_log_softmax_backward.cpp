// log_softmax_backward: reads y and dy once each, writes dx once.
#include "bench_support.hpp"

namespace softxent_bench {

void register_log_softmax_backward_benchmarks() {
  register_softxent_benchmarks(log_softmax_backward_traits, [](const shape& s, const buffer_sets& sets,
                                                               std::size_t set, const softxent::exec_options& exec) {
    return softxent::log_softmax_backward({sets.input(set, 0), s.rows, s.cols},
                                          {sets.input(set, 1), s.rows, s.cols}, {sets.output(set), s.rows, s.cols},
                                          exec);
  });
}

}  // namespace softxent_bench
