// softmax: reads each logit once, writes each probability once.
#include "bench_support.hpp"

namespace softxent_bench {

void register_softmax_benchmarks() {
  register_softxent_benchmarks(softmax_traits, [](const shape& s, const buffer_sets& sets, std::size_t set,
                                                  const softxent::exec_options& exec) {
    return softxent::softmax({sets.input(set, 0), s.rows, s.cols}, {sets.output(set), s.rows, s.cols}, exec);
  });
}

}  // namespace softxent_bench
