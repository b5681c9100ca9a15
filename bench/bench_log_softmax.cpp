// log_softmax: reads each logit once, writes each log-probability once; in f32, bf16 and f16.
#include "bench_support.hpp"

namespace softxent_bench {

void register_log_softmax_benchmarks() {
  for (const operation_traits* op : {&log_softmax_traits, &log_softmax_bf16_traits, &log_softmax_f16_traits})
    register_softxent_benchmarks(*op, [](const shape&, const buffer_sets& sets, std::size_t set,
                                         const softxent::exec_options& exec) {
      return softxent::log_softmax(sets.input_matrix(set, 0), sets.output_matrix(set), {}, exec);
    });
}

}  // namespace softxent_bench
