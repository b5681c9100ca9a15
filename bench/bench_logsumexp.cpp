// logsumexp: reads each logit once, writes one float per row.
#include "bench_support.hpp"

namespace softxent_bench {

void register_logsumexp_benchmarks() {
  register_softxent_benchmarks(logsumexp_traits, [](const shape& s, const buffer_sets& sets, std::size_t set,
                                                    const softxent::exec_options& exec) {
    return softxent::logsumexp({sets.input(set, 0), s.rows, s.cols}, sets.row_output(set), exec);
  });
}

}  // namespace softxent_bench
