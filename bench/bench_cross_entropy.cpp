// cross_entropy with integer targets and the default options (mean reduction), as a training step
// calls it: loss only (reads each logit once) and loss with gradient (also writes each gradient once).
#include "bench_support.hpp"

namespace softxent_bench {

void register_cross_entropy_benchmarks() {
  register_softxent_benchmarks(cross_entropy_loss_traits, [](const shape& s, const buffer_sets& sets,
                                                             std::size_t set, const softxent::exec_options& exec) {
    return softxent::cross_entropy({sets.input(set, 0), s.rows, s.cols}, sets.targets(set), sets.row_output(set),
                                   softxent::matrix{}, {}, exec);
  });
  register_softxent_benchmarks(cross_entropy_grad_traits, [](const shape& s, const buffer_sets& sets,
                                                             std::size_t set, const softxent::exec_options& exec) {
    return softxent::cross_entropy({sets.input(set, 0), s.rows, s.cols}, sets.targets(set), sets.row_output(set),
                                   {sets.output(set), s.rows, s.cols}, {}, exec);
  });
}

}  // namespace softxent_bench
