// softxent_bench: every operation x shape x regime x instruction set x thread count, the reference,
// the machine's roof and (when built with them) oneDNN and XNNPACK, in one Google Benchmark run.
// PyTorch runs in its own process (bench_pytorch.cpp). scripts/bench.sh runs both and
// scripts/bench_report.py turns their JSON outputs into the report.
#include "bench_support.hpp"

namespace softxent_bench {
namespace {

void register_all() {
#ifdef SOFTXENT_BENCH_HAVE_ONEDNN
  benchmark::AddCustomContext("onednn", "yes");
#endif
#ifdef SOFTXENT_BENCH_HAVE_XNNPACK
  benchmark::AddCustomContext("xnnpack", "yes");
#endif
  if (config().roof) register_roof_benchmarks();
  register_logsumexp_benchmarks();
  register_softmax_benchmarks();
  register_log_softmax_benchmarks();
  register_softmax_backward_benchmarks();
  register_log_softmax_backward_benchmarks();
  register_cross_entropy_benchmarks();
  register_cross_entropy_soft_benchmarks();
  register_sampling_benchmarks();
  register_transform_benchmarks();
  if (config().compare) {
#ifdef SOFTXENT_BENCH_HAVE_ONEDNN
    register_onednn_benchmarks();
#endif
#ifdef SOFTXENT_BENCH_HAVE_XNNPACK
    register_xnnpack_benchmarks();
#endif
  }
}

}  // namespace
}  // namespace softxent_bench

int main(int argc, char** argv) { return softxent_bench::run_benchmarks(argc, argv, softxent_bench::register_all); }
