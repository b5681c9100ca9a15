// softmax: reads each logit once, writes each probability once; in f32, bf16 and f16 (16-bit in and out).
#include "bench_support.hpp"

namespace softxent_bench {

void register_softmax_benchmarks() {
  for (const operation_traits* op : {&softmax_traits, &softmax_bf16_traits, &softmax_f16_traits})
    register_softxent_benchmarks(*op, [](const shape&, const buffer_sets& sets, std::size_t set,
                                         const softxent::exec_options& exec) {
      return softxent::softmax(sets.input_matrix(set, 0), sets.output_matrix(set), {}, exec);
    });
}

}  // namespace softxent_bench
