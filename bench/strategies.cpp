// softxent_strategies: the softmax strategies compared, measured per row length
// on AVX-512, one thread, data from memory (buffer sets rotated over 256 MiB):
//
//   three sweeps   softxent's own choice: the max, then exp(x - max) stored and summed, then the
//                  stored exponentials scaled (softxent::softmax itself, every optimisation in);
//   online         the online normalizer (Milakov and Gimelshein 2018): one sweep keeping a running
//                  max and a sum rescaled whenever the max grows (per lane, two exps per element),
//                  then exp(x - max) / sum;
//   two-pass       Dukhan and Ablavatski (2020): no max at all; each exp(x) is kept as a mantissa
//                  p in [0.7, 1.42] and a power of two n, summed as (sum, exponent) pairs, then
//                  recomputed in the second pass and scaled by 2^(n - N) / sum.
//
// The alternatives use the same exp polynomial, the same software prefetching and the same
// 16-lane vectors as softxent, so the comparison is between the strategies, not their polish. For
// logsumexp the same three without the writing pass. Run: build/bench/bench/softxent_strategies
// (Release, the bench preset); docs/benchmarks/strategies.md has the results of one run.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "softxent/softxent.hpp"

namespace {

constexpr std::size_t rotation_bytes = std::size_t{256} << 20;
constexpr std::size_t near_ahead = 1024, far_ahead = 8192, write_ahead = 256;

inline void prefetch(const float* p, std::size_t j, const float* end) {
  if (p + j + far_ahead < end) __builtin_prefetch(p + j + far_ahead, 0, 2);
  if (p + j + near_ahead < end) __builtin_prefetch(p + j + near_ahead, 0, 3);
}

// exp(r) for |r| <= ln2 / 2: softxent's degree-6 polynomial.
inline __m512 polynomial(__m512 r) {
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1.6d7532p-10f), r, _mm512_set1_ps(0x1.126fa6p-7f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.5554acp-5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.555404p-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
}
// x = n ln2 + r: the power n (as a float) and the mantissa exp(r).
inline void split_exp(__m512 x, __m512& n, __m512& p) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  p = polynomial(_mm512_fmadd_ps(n, _mm512_set1_ps(-0.693147181f), x));
}
inline __m512 exp_of(__m512 x) {
  __m512 n, p;
  split_exp(x, n, p);
  return _mm512_scalef_ps(p, n);
}

// The online normalizer: per-lane running max m and sum s, then the row's.
inline void online_stats(const float* x, std::size_t n, const float* end, float& max, float& sum) {
  __m512 m = _mm512_set1_ps(-INFINITY), s = _mm512_setzero_ps();
  for (std::size_t j = 0; j < n; j += 16) {
    prefetch(x, j, end);
    const __m512 v = _mm512_loadu_ps(x + j);
    const __m512 m_new = _mm512_max_ps(m, v);
    s = _mm512_fmadd_ps(s, exp_of(_mm512_sub_ps(m, m_new)), exp_of(_mm512_sub_ps(v, m_new)));
    m = m_new;
  }
  max = _mm512_reduce_max_ps(m);
  sum = _mm512_reduce_add_ps(_mm512_mul_ps(s, exp_of(_mm512_sub_ps(m, _mm512_set1_ps(max)))));
}

// Dukhan and Ablavatski's first pass: per-lane (sum, exponent) pairs, then the row's.
inline void two_pass_stats(const float* x, std::size_t n, const float* end, float& sum, float& exponent) {
  __m512 s = _mm512_setzero_ps(), e = _mm512_set1_ps(-INFINITY);
  for (std::size_t j = 0; j < n; j += 16) {
    prefetch(x, j, end);
    __m512 k, p;
    split_exp(_mm512_loadu_ps(x + j), k, p);
    const __m512 e_new = _mm512_max_ps(e, k);
    s = _mm512_add_ps(_mm512_scalef_ps(s, _mm512_sub_ps(e, e_new)), _mm512_scalef_ps(p, _mm512_sub_ps(k, e_new)));
    e = e_new;
  }
  exponent = _mm512_reduce_max_ps(e);
  sum = _mm512_reduce_add_ps(_mm512_scalef_ps(s, _mm512_sub_ps(e, _mm512_set1_ps(exponent))));
}

// Both alternatives' second pass over a row: y_j = value(x_j) * factor, the output prefetched.
template <class Value>
void write_pass(const float* xr, std::size_t cols, float* yr, const float* y_end, __m512 factor, const Value& value) {
  for (std::size_t j = 0; j < cols; j += 16) {
    if (yr + j + write_ahead < y_end) __builtin_prefetch(yr + j + write_ahead, 0, 3);
    _mm512_storeu_ps(yr + j, _mm512_mul_ps(value(_mm512_loadu_ps(xr + j)), factor));
  }
}

void softmax_online(const float* x, std::size_t rows, std::size_t cols, float* y) {
  for (std::size_t r = 0; r < rows; ++r) {
    float max, sum;
    online_stats(x + r * cols, cols, x + rows * cols, max, sum);
    const __m512 shift = _mm512_set1_ps(max);
    write_pass(x + r * cols, cols, y + r * cols, y + rows * cols, _mm512_set1_ps(1.0f / sum),
               [&](__m512 v) { return exp_of(_mm512_sub_ps(v, shift)); });
  }
}

void softmax_two_pass(const float* x, std::size_t rows, std::size_t cols, float* y) {
  for (std::size_t r = 0; r < rows; ++r) {
    float sum, exponent;
    two_pass_stats(x + r * cols, cols, x + rows * cols, sum, exponent);
    const __m512 e = _mm512_set1_ps(exponent);
    write_pass(x + r * cols, cols, y + r * cols, y + rows * cols, _mm512_set1_ps(1.0f / sum), [&](__m512 v) {
      __m512 k, p;
      split_exp(v, k, p);
      return _mm512_scalef_ps(p, _mm512_sub_ps(k, e));
    });
  }
}

void logsumexp_online(const float* x, std::size_t rows, std::size_t cols, float* lse) {
  for (std::size_t r = 0; r < rows; ++r) {
    float max, sum;
    online_stats(x + r * cols, cols, x + rows * cols, max, sum);
    lse[r] = max + std::log(sum);
  }
}

void logsumexp_two_pass(const float* x, std::size_t rows, std::size_t cols, float* lse) {
  for (std::size_t r = 0; r < rows; ++r) {
    float sum, exponent;
    two_pass_stats(x + r * cols, cols, x + rows * cols, sum, exponent);
    lse[r] = exponent * 0.693147181f + std::log(sum);
  }
}

// Buffer sets covering rotation_bytes, so that every call reads from memory.
struct buffers {
  std::size_t elements, sets;
  std::vector<float> x, y, lse;
  buffers(std::size_t rows, std::size_t cols) : elements(rows * cols) {
    sets = std::max<std::size_t>(2, rotation_bytes / (2 * elements * sizeof(float)));
    x.resize(sets * elements);
    y.resize(sets * elements);
    lse.resize(sets * rows);
    std::mt19937 random(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (float& v : x) v = normal(random);
  }
};

template <class Run>
void add(const std::string& name, std::size_t rows, std::size_t cols, Run run) {
  benchmark::RegisterBenchmark(name.c_str(), [rows, cols, run](benchmark::State& state) {
    buffers b(rows, cols);
    std::size_t set = 0;
    for (auto _ : state) {
      run(b.x.data() + set * b.elements, rows, cols, b.y.data() + set * b.elements, b.lse.data() + set * rows);
      benchmark::ClobberMemory();
      set = (set + 1) % b.sets;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * b.elements * sizeof(float)));
  })->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace

// Each alternative against softxent on one matrix before anything is timed.
bool agrees(softxent::exec_options exec) {
  const std::size_t rows = 4, cols = 4096;
  buffers b(rows, cols);
  std::vector<float> y(rows * cols), lse(rows), y_alt(rows * cols), lse_alt(rows);
  if (softxent::softmax({b.x.data(), rows, cols, cols}, {y.data(), rows, cols, cols}, exec) != softxent::status::ok ||
      softxent::logsumexp({b.x.data(), rows, cols, cols}, lse.data(), exec) != softxent::status::ok)
    return false;
  double worst = 0.0;
  const auto compare = [&](const std::vector<float>& want, const std::vector<float>& got) {
    for (std::size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) / (std::fabs(want[i]) + 1e-30));
  };
  softmax_online(b.x.data(), rows, cols, y_alt.data());
  compare(y, y_alt);
  softmax_two_pass(b.x.data(), rows, cols, y_alt.data());
  compare(y, y_alt);
  logsumexp_online(b.x.data(), rows, cols, lse_alt.data());
  compare(lse, lse_alt);
  logsumexp_two_pass(b.x.data(), rows, cols, lse_alt.data());
  compare(lse, lse_alt);
  std::printf("softxent_strategies: the alternatives agree with softxent to %.2g relative\n", worst);
  return worst < 1e-5;
}

int main(int argc, char** argv) {
  if (!__builtin_cpu_supports("avx512f")) {
    std::puts("softxent_strategies: needs AVX-512");
    return 0;
  }
  softxent::exec_options one_thread;
  one_thread.threads = 1;
  one_thread.isa = "avx512";
  if (!agrees(one_thread)) {
    std::puts("softxent_strategies: an alternative strategy computes something else");
    return 1;
  }
  for (std::size_t cols : {std::size_t{128}, std::size_t{1024}, std::size_t{4096}, std::size_t{32768}}) {
    const std::size_t rows = (std::size_t{4} << 20) / cols;  // 16 MiB per matrix
    const std::string shape = std::to_string(rows) + "x" + std::to_string(cols);
    add("softmax/three_sweeps/" + shape, rows, cols, [one_thread](const float* x, std::size_t r, std::size_t c, float* y, float*) {
      softxent::softmax({x, r, c, c}, {y, r, c, c}, one_thread);
    });
    add("softmax/online/" + shape, rows, cols, [](const float* x, std::size_t r, std::size_t c, float* y, float*) {
      softmax_online(x, r, c, y);
    });
    add("softmax/two_pass/" + shape, rows, cols, [](const float* x, std::size_t r, std::size_t c, float* y, float*) {
      softmax_two_pass(x, r, c, y);
    });
    add("logsumexp/max_then_sum/" + shape, rows, cols, [one_thread](const float* x, std::size_t r, std::size_t c, float*, float* lse) {
      softxent::logsumexp({x, r, c, c}, lse, one_thread);
    });
    add("logsumexp/online/" + shape, rows, cols, [](const float* x, std::size_t r, std::size_t c, float*, float* lse) {
      logsumexp_online(x, r, c, lse);
    });
    add("logsumexp/two_pass/" + shape, rows, cols, [](const float* x, std::size_t r, std::size_t c, float*, float* lse) {
      logsumexp_two_pass(x, r, c, lse);
    });
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
