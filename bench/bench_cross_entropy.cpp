// cross_entropy with integer targets and the default options (mean reduction), as a training step
// calls it: loss only (reads each logit once) and loss with gradient (also writes each gradient once);
// and with bf16 logits and a bf16 gradient (the loss is float).
#include "bench_support.hpp"

namespace softxent_bench {

void register_cross_entropy_benchmarks() {
  register_softxent_benchmarks(cross_entropy_loss_traits, [](const shape&, const buffer_sets& sets, std::size_t set,
                                                             const softxent::exec_options& exec) {
    return softxent::cross_entropy(sets.input_matrix(set, 0), sets.targets(set), sets.row_output(set),
                                   softxent::any_matrix{}, {}, exec);
  });
  for (const operation_traits* op : {&cross_entropy_grad_traits, &cross_entropy_grad_bf16_traits})
    register_softxent_benchmarks(*op, [](const shape&, const buffer_sets& sets, std::size_t set,
                                         const softxent::exec_options& exec) {
      return softxent::cross_entropy(sets.input_matrix(set, 0), sets.targets(set), sets.row_output(set),
                                     sets.output_matrix(set), {}, exec);
    });
}

}  // namespace softxent_bench
