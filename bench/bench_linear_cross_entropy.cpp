// The fused linear cross-entropy (loss and all three gradients) against
//   materialized: logits = X W^T + b into rows x classes floats, softxent's cross-entropy with the
//                 gradient in place, then grad_inputs = G W and grad_weight += G^T X (+ grad_bias);
//   products:     the three products alone, X W^T, G W and G^T X, on a rows x classes buffer;
// all with the same BLAS as the library (its gemm door: BLIS, one thread per call) and the same
// threads: each product cut into one piece per OpenMP thread, each piece one single-threaded GEMM.
// Counters: the scratch each needs (fused: its workspace; the others: the logits), the process's
// peak resident memory so far (run one case per process, with --benchmark_filter, to read it alone),
// and the process's CPU seconds per call (with OMP_NUM_THREADS=1 the least disturbed measure on a
// shared machine; with more threads it counts the fused call's waits between phases too).
//
//   softxent_bench_linear_cross_entropy [--benchmark_filter=...] [--benchmark_repetitions=N]
// Shapes (rows, hidden, classes): (4096, 1024, 32000) and (2048, 2048, 128256); SOFTXENT_BENCH_QUICK=1
// adds (512, 256, 32000) and runs only that.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <sys/resource.h>
#include <softxent/softxent.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "blas/gemm.hpp"

namespace {

using softxent::detail::gemm;
using softxent::detail::transpose;

struct problem {
  std::size_t rows, hidden, classes;
  std::vector<float> inputs, weight, bias, grad_inputs, grad_weight, grad_bias;
  std::vector<std::int64_t> targets;
  problem(std::size_t r, std::size_t h, std::size_t c)
      : rows(r), hidden(h), classes(c), inputs(r * h), weight(c * h), bias(c), grad_inputs(r * h), grad_weight(c * h),
        grad_bias(c), targets(r) {
    std::mt19937_64 engine(42);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    for (float& x : inputs) x = unit(engine);
    const float scale = 2.0f / static_cast<float>(h);  // logits of a few units
    for (float& w : weight) w = scale * unit(engine);
    for (float& b : bias) b = 0.1f * unit(engine);
    for (std::int64_t& t : targets) t = static_cast<std::int64_t>(engine() % c);
  }
};

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

// C = op(A) op(B) + beta C cut along C's rows (cut_rows) or columns into one piece per thread.
void parallel_gemm(bool cut_rows, transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k,
                   const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                   std::size_t ldc) {
#pragma omp parallel
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num()), threads = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t total = cut_rows ? m : n, first = total * t / threads, end = total * (t + 1) / threads;
    if (first < end) {
      if (cut_rows) {
        const float* a_piece = ta == transpose::no ? a + first * lda : a + first;
        gemm(ta, tb, end - first, n, k, a_piece, lda, b, ldb, beta, c + first * ldc, ldc);
      } else {
        const float* b_piece = tb == transpose::no ? b + first : b + first * ldb;
        gemm(ta, tb, m, end - first, k, a, lda, b_piece, ldb, beta, c + first, ldc);
      }
    }
  }
}

// The three products on a rows x classes buffer of logits / gradient.
void three_products(problem& p, std::vector<float>& logits) {
  parallel_gemm(false, transpose::no, transpose::yes, p.rows, p.classes, p.hidden, p.inputs.data(), p.hidden,
                p.weight.data(), p.hidden, 0.0f, logits.data(), p.classes);
  parallel_gemm(true, transpose::no, transpose::no, p.rows, p.hidden, p.classes, logits.data(), p.classes,
                p.weight.data(), p.hidden, 0.0f, p.grad_inputs.data(), p.hidden);
  parallel_gemm(true, transpose::yes, transpose::no, p.classes, p.hidden, p.rows, logits.data(), p.classes,
                p.inputs.data(), p.hidden, 1.0f, p.grad_weight.data(), p.hidden);
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void report(benchmark::State& state, const problem& p, std::size_t scratch_bytes, double cpu_start) {
  const double flops = 6.0 * static_cast<double>(p.rows) * static_cast<double>(p.hidden) * static_cast<double>(p.classes);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["scratch_MiB"] = static_cast<double>(scratch_bytes) / (1024.0 * 1024.0);
  state.counters["peak_rss_MiB"] = peak_rss_mib();
  state.counters["threads"] = omp_get_max_threads();
  state.counters["cpu_s"] = benchmark::Counter(cpu_seconds() - cpu_start, benchmark::Counter::kAvgIterations);
}

void fused(benchmark::State& state, std::size_t rows, std::size_t hidden, std::size_t classes) {
  problem p(rows, hidden, classes);
  std::vector<unsigned char> work(softxent::linear_cross_entropy_workspace_size(rows, hidden, classes));
  if (work.empty()) return state.SkipWithError("this build has no BLAS");
  const double cpu_start = cpu_seconds();
  for (auto _ : state) {
    float loss = 0.0f;
    const softxent::status s = softxent::linear_cross_entropy(
        {softxent::const_matrix(p.inputs.data(), rows, hidden), softxent::const_matrix(p.weight.data(), classes, hidden),
         p.bias.data()},
        p.targets.data(), &loss,
        {softxent::matrix(p.grad_inputs.data(), rows, hidden), softxent::matrix(p.grad_weight.data(), classes, hidden),
         p.grad_bias.data()},
        {work.data(), work.size()});
    if (s != softxent::status::ok) return state.SkipWithError(softxent::status_string(s));
    benchmark::DoNotOptimize(loss);
  }
  report(state, p, work.size(), cpu_start);
}

void materialized(benchmark::State& state, std::size_t rows, std::size_t hidden, std::size_t classes) {
  problem p(rows, hidden, classes);
  std::vector<float> logits(rows * classes);
  const double cpu_start = cpu_seconds();
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r) std::memcpy(&logits[r * classes], p.bias.data(), classes * sizeof(float));
    parallel_gemm(false, transpose::no, transpose::yes, rows, classes, hidden, p.inputs.data(), hidden, p.weight.data(),
                  hidden, 1.0f, logits.data(), classes);
    float loss = 0.0f;
    const softxent::matrix view(logits.data(), rows, classes);
    if (softxent::cross_entropy(view, p.targets.data(), &loss, view) != softxent::status::ok)
      return state.SkipWithError("cross_entropy failed");
    parallel_gemm(true, transpose::no, transpose::no, rows, hidden, classes, logits.data(), classes, p.weight.data(),
                  hidden, 0.0f, p.grad_inputs.data(), hidden);
    parallel_gemm(true, transpose::yes, transpose::no, classes, hidden, rows, logits.data(), classes, p.inputs.data(),
                  hidden, 1.0f, p.grad_weight.data(), hidden);
#pragma omp parallel for schedule(static)
    for (std::size_t j = 0; j < classes; ++j) {
      double sum = 0.0;
      for (std::size_t r = 0; r < rows; ++r) sum += static_cast<double>(logits[r * classes + j]);
      p.grad_bias[j] = static_cast<float>(static_cast<double>(p.grad_bias[j]) + sum);
    }
    benchmark::DoNotOptimize(loss);
  }
  report(state, p, logits.size() * sizeof(float), cpu_start);
}

void products(benchmark::State& state, std::size_t rows, std::size_t hidden, std::size_t classes) {
  problem p(rows, hidden, classes);
  std::vector<float> logits(rows * classes);
  const double cpu_start = cpu_seconds();
  for (auto _ : state) three_products(p, logits);
  report(state, p, logits.size() * sizeof(float), cpu_start);
}

void register_shape(std::size_t rows, std::size_t hidden, std::size_t classes) {
  const std::string shape = std::to_string(rows) + "x" + std::to_string(hidden) + "x" + std::to_string(classes);
  const auto add = [&](const char* name, void (*run)(benchmark::State&, std::size_t, std::size_t, std::size_t)) {
    benchmark::RegisterBenchmark((std::string("linear_cross_entropy/") + name + "/" + shape).c_str(),
                                 [=](benchmark::State& state) { run(state, rows, hidden, classes); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(1);
  };
  add("fused", fused);
  add("materialized", materialized);
  add("products", products);
}

}  // namespace

int main(int argc, char** argv) {
  const char* quick = std::getenv("SOFTXENT_BENCH_QUICK");
  if (quick != nullptr && std::strcmp(quick, "1") == 0) {
    register_shape(512, 256, 32000);
  } else {
    register_shape(4096, 1024, 32000);
    register_shape(2048, 2048, 128256);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
