// softmax_backward: reads y and dy once each, writes dx once.
#include "bench_support.hpp"

namespace softxent_bench {

void register_softmax_backward_benchmarks() {
  register_softxent_benchmarks(softmax_backward_traits, [](const shape& s, const buffer_sets& sets, std::size_t set,
                                                           const softxent::exec_options& exec) {
    return softxent::softmax_backward({sets.input(set, 0), s.rows, s.cols}, {sets.input(set, 1), s.rows, s.cols},
                                      {sets.output(set), s.rows, s.cols}, exec);
  });
}

}  // namespace softxent_bench
