// The machine's floor, measured in the same run as the kernels: what a plain, well-vectorized loop
// reaches when it moves the same bytes as an operation (read only; read and write the same bytes;
// read two matrices and write one), on the same rotating buffer sets, per shape and thread count;
// and the throughput of a degree-6 polynomial exp on data that stays in L1.
//
// The loops are compiled for the best instruction set of the CPU (target_clones) and split across
// threads with OpenMP in contiguous, cache-line aligned halves.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bench_support.hpp"

namespace softxent_bench {
namespace {

// Streams x[0, n) in: 64 independent sums, which the compiler keeps in vector registers.
SOFTXENT_BENCH_BEST_ISA float read_stream(const float* x, std::size_t n) {
  constexpr std::size_t lanes = 64;
  float partial[lanes] = {};
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (std::size_t k = 0; k < lanes; ++k) partial[k] += x[i + k];
  for (; i < n; ++i) partial[0] += x[i];
  float sum = 0.0f;
  for (float p : partial) sum += p;
  return sum;
}

// y = x * factor: reads and writes the same bytes (the factor keeps the compiler from calling memcpy).
SOFTXENT_BENCH_BEST_ISA void scale_stream(const float* x, std::size_t n, float factor, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * factor;
}

// z = x + y: two matrices in, one out, as the backward operations.
SOFTXENT_BENCH_BEST_ISA void add_stream(const float* x, const float* y, std::size_t n, float* z) {
  for (std::size_t i = 0; i < n; ++i) z[i] = x[i] + y[i];
}

// exp(x) for x <= 0 as a softmax kernel needs it: x = k ln2 + r, |r| <= ln2 / 2, exp(r) by its
// degree-6 Taylor polynomial, 2^k put in the exponent bits. Branch-free so that it vectorizes.
__attribute__((always_inline)) inline float exp_degree6(float x) {
  constexpr float log2e = 1.44269504f, ln2_high = 0.693145752f, ln2_low = 1.42860677e-06f;
  constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = x < -87.0f ? -87.0f : x;  // not std::max: it would not be inlined into the clones
  const float k = (x * log2e + round_magic) - round_magic;
  const float r = (x - k * ln2_high) - k * ln2_low;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::int32_t exponent_bits = (static_cast<std::int32_t>(k) + 127) * (1 << 23);
  float scale;
  std::memcpy(&scale, &exponent_bits, sizeof scale);
  return p * scale;
}

SOFTXENT_BENCH_BEST_ISA void exp_stream(const float* x, std::size_t n, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = exp_degree6(x[i] - 1.0f);
}

// Runs part(first, end) over [0, n) split into `threads` contiguous cache-line aligned ranges.
template <class Part>
void split(std::size_t n, int threads, Part&& part) {
  if (threads <= 1) {
    part(std::size_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    const auto count = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t first = std::min(n, (n * t / count + 15) / 16 * 16);
    const std::size_t end = t + 1 == count ? n : std::min(n, (n * (t + 1) / count + 15) / 16 * 16);
    part(first, end);
  }
}

void register_read(const shape& s, int threads) {
  register_benchmark("floor", "read", s, threads, [s, threads](benchmark::State& state) {
    const buffer_sets sets(floor_read_traits, s);
    std::vector<float> sums(static_cast<std::size_t>(threads));
    time_rotating(state, floor_read_traits, s, sets, [&](std::size_t set) {
      const float* x = sets.input(set, 0);
      split(s.elements(), threads, [&](std::size_t first, std::size_t end) {
        sums[static_cast<std::size_t>(omp_get_thread_num())] = read_stream(x + first, end - first);
      });
      benchmark::DoNotOptimize(sums.data());
    });
  }, config().min_time);
}

void register_copy(const shape& s, int threads) {
  register_benchmark("floor", "copy", s, threads, [s, threads](benchmark::State& state) {
    const buffer_sets sets(floor_copy_traits, s);
    volatile float one = 1.0f;
    const float factor = one;
    time_rotating(state, floor_copy_traits, s, sets, [&](std::size_t set) {
      const float* x = sets.input(set, 0);
      float* y = sets.output(set);
      split(s.elements(), threads, [&](std::size_t first, std::size_t end) {
        scale_stream(x + first, end - first, factor, y + first);
      });
      benchmark::ClobberMemory();
    });
  }, config().min_time);
}

void register_add(const shape& s, int threads) {
  register_benchmark("floor", "add", s, threads, [s, threads](benchmark::State& state) {
    const buffer_sets sets(floor_add_traits, s);
    time_rotating(state, floor_add_traits, s, sets, [&](std::size_t set) {
      const float* x = sets.input(set, 0);
      const float* y = sets.input(set, 1);
      float* z = sets.output(set);
      split(s.elements(), threads, [&](std::size_t first, std::size_t end) {
        add_stream(x + first, y + first, end - first, z + first);
      });
      benchmark::ClobberMemory();
    });
  }, config().min_time);
}

// Each thread runs exp over its own 4096 floats (32 KiB in and out: L1) `passes` times.
void register_exp(int threads) {
  const std::string name = "floor/exp/l1/threads:" + std::to_string(threads);
  register_named_benchmark(name, [threads](benchmark::State& state) {
    constexpr std::size_t block = 4096;
    constexpr int passes = 64;
    const auto count = static_cast<std::size_t>(threads);
    std::vector<float> x(block * count), y(block * count);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 1000) * 0.001f;
    time_calls(state, [&](std::size_t) {
      split(block * count, threads, [&](std::size_t first, std::size_t end) {
        for (int pass = 0; pass < passes; ++pass) exp_stream(x.data() + first, end - first, y.data() + first);
      });
      benchmark::ClobberMemory();
    });
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * passes *
                            static_cast<std::int64_t>(block * count));
  }, config().min_time);
}

}  // namespace

void register_floor_benchmarks() {
  for (int threads : config().thread_counts) register_exp(threads);
  for (const shape& s : config().shapes)
    for (int threads : config().thread_counts) {
      register_read(s, threads);
      register_copy(s, threads);
      register_add(s, threads);
    }
}

}  // namespace softxent_bench
