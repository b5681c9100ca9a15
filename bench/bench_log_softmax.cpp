// log_softmax: reads each logit once, writes each log-probability once.
#include "bench_support.hpp"

namespace softxent_bench {

void register_log_softmax_benchmarks() {
  register_softxent_benchmarks(log_softmax_traits, [](const shape& s, const buffer_sets& sets, std::size_t set,
                                                      const softxent::exec_options& exec) {
    return softxent::log_softmax({sets.input(set, 0), s.rows, s.cols}, {sets.output(set), s.rows, s.cols}, exec);
  });
}

}  // namespace softxent_bench
