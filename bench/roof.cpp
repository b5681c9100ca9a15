// The roof of every case, measured in the same run as the kernels (SPEC.md, "Speed"): the larger of
//   - a streaming kernel that moves the operation's minimum bytes (read one matrix; read one and write
//     one; read two and write one), on the same buffer sets, in the same regime, with the same thread
//     count, with plain and with non-temporal stores (the report takes the faster), and
//   - the operation's exponentials at the rate of the fastest float exp with relative error <= 1e-6
//     that can be written for the CPU, on data that stays in L1.
// The report (scripts/bench_report.py) turns these rates into a time per case.
//
// The exp variants below are all measured; each is first checked over a dense sweep of [-87, 0] (every
// --exp_sweep_stride-th float, 16 by default), and its maximum relative error is printed and stored in
// the run's context, so that the report only takes a variant that meets 1e-6. On AVX-512 the fastest is
// a 16-entry table of 2^(j/16) held in one register (vpermps) with a degree-2 polynomial and vscalefps.
//
// The kernels use explicit vectors per instruction set (function target attributes, chosen at run
// time), and are split across threads with OpenMP in contiguous, cache-line aligned ranges.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_support.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SOFTXENT_ROOF_X86 1
#define SOFTXENT_ROOF_AVX512 __attribute__((target("avx512f,avx2,fma")))
#endif

namespace softxent_bench {
namespace {

// ---------------------------------------------------------------------------------------------------
// exp on [-87, 0]: x = k ln2 + r, exp(x) = 2^k exp(r). The inputs of a softmax are x - max <= 0, and
// below -87.3 the result is a denormal that softmax kernels flush to zero anyway.

// exp of x[0, n) into y[0, n), n a multiple of 16.
using exp_kernel = void (*)(const float* x, std::size_t n, float* y);

constexpr float log2e = 1.44269504f;
constexpr float ln2 = 0.693147181f;

// Degree 5, c0 = c1 = 1, the rest minimax for the relative error on |r| <= ln2/2 (fitted for this
// file by a Remez exchange in double): 1.05e-7 before rounding.
constexpr float degree5_c2 = 0x1.fffdfcp-2f, degree5_c3 = 0x1.5557aep-3f, degree5_c4 = 0x1.572a02p-5f,
                degree5_c5 = 0x1.10627cp-7f;
// Degree 2, c0 = 1, minimax for the relative error on |r| <= ln2/32: 4.2e-7 before rounding.
constexpr float table16_c1 = 0x1.0003d8p+0f, table16_c2 = 0x1.fffc28p-2f;

// 2^(j/16), j = 0..15, each rounded once to float.
struct exp2_sixteenths {
  alignas(64) float value[16];
  exp2_sixteenths() {
    for (int j = 0; j < 16; ++j) value[j] = static_cast<float>(std::exp2(j / 16.0));
  }
};
const exp2_sixteenths sixteenths;

// Portable: scalar code the compiler vectorizes for the best clone (AVX2 and FMA where the CPU has
// them, but no AVX-512); 2^k written into the exponent bits (k >= -126 on [-87, 0]: a normal float).
SOFTXENT_BENCH_BEST_ISA void exp_portable_degree5(const float* x, std::size_t n, float* y) {
  constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  for (std::size_t i = 0; i < n; ++i) {
    const float k = (x[i] * log2e + round_magic) - round_magic;
    const float r = x[i] - k * ln2;
    float p = degree5_c5 * r + degree5_c4;
    p = p * r + degree5_c3;
    p = p * r + degree5_c2;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const std::int32_t exponent_bits = (static_cast<std::int32_t>(k) + 127) * (1 << 23);
    float scale;
    std::memcpy(&scale, &exponent_bits, sizeof scale);
    y[i] = p * scale;
  }
}

#ifdef SOFTXENT_ROOF_X86
SOFTXENT_ROOF_AVX512 void exp_avx512_degree5(const float* x, std::size_t n, float* y) {
#pragma GCC unroll 4
  for (std::size_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(ln2), v);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(degree5_c5), r, _mm512_set1_ps(degree5_c4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(degree5_c3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(degree5_c2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    _mm512_storeu_ps(y + i, _mm512_scalef_ps(p, k));  // p * 2^k, k an integer
  }
}

// x = k ln2 + r with k a multiple of 1/16: exp(x) = 2^floor(k) * 2^(k - floor(k)) * exp(r), the middle
// factor from a 16-entry table in one register, |r| <= ln2/32, so a degree-2 polynomial suffices.
SOFTXENT_ROOF_AVX512 void exp_avx512_table16(const float* x, std::size_t n, float* y) {
  // 1.5 * 2^19: adding it rounds to a multiple of 1/16, and leaves 16 k (mod 16) in the low 4 bits.
  const __m512 round_magic = _mm512_set1_ps(0x1.8p19f);
  const __m512 table = _mm512_load_ps(sixteenths.value);
#pragma GCC unroll 4
  for (std::size_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 t = _mm512_fmadd_ps(v, _mm512_set1_ps(log2e), round_magic);
    const __m512 k = _mm512_sub_ps(t, round_magic);
    const __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(ln2), v);
    const __m512 power = _mm512_permutexvar_ps(_mm512_castps_si512(t), table);  // indexes by the low 4 bits
    const __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(table16_c2), r, _mm512_set1_ps(table16_c1));
    const __m512 p = _mm512_fmadd_ps(_mm512_mul_ps(power, r), q, power);         // power * (1 + r q)
    _mm512_storeu_ps(y + i, _mm512_scalef_ps(p, k));                             // p * 2^floor(k)
  }
}
#endif

struct exp_variant {
  const char* name;
  exp_kernel kernel;
  bool supported;
};

std::vector<exp_variant> exp_variants() {
  std::vector<exp_variant> variants;
#ifdef SOFTXENT_ROOF_X86
  const bool avx512 = __builtin_cpu_supports("avx512f");
  variants.push_back({"avx512-table16-degree2", exp_avx512_table16, avx512});
  variants.push_back({"avx512-degree5", exp_avx512_degree5, avx512});
#endif
  variants.push_back({"portable-degree5", exp_portable_degree5, true});
  return variants;
}

// The largest relative error of kernel against exp in double over every stride-th float of
// [-87, -2^-24] (by bit pattern), plus -87 and 0 themselves.
double max_relative_error(exp_kernel kernel, unsigned stride, std::size_t* points) {
  constexpr std::size_t block = 4096;
  std::vector<float> x(block), y(block);
  const auto bits_of = [](float f) {
    std::uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
  };
  const std::uint32_t first = bits_of(0x1p-24f), last = bits_of(87.0f);
  double worst = 0.0;
  *points = 0;
  std::uint64_t next = first;
  bool ends_done = false;
  while (next <= last || !ends_done) {
    std::size_t count = 0;
    if (!ends_done) {
      x[count++] = -87.0f;
      x[count++] = 0.0f;
      ends_done = true;
    }
    for (; count < block && next <= last; ++count, next += stride) {
      const std::uint32_t negative = static_cast<std::uint32_t>(next) | 0x80000000u;
      std::memcpy(&x[count], &negative, sizeof negative);
    }
    std::fill(x.begin() + static_cast<std::ptrdiff_t>(count), x.end(), 0.0f);
    kernel(x.data(), block, y.data());
    for (std::size_t i = 0; i < count; ++i) {
      const double want = std::exp(static_cast<double>(x[i]));
      worst = std::max(worst, std::fabs(static_cast<double>(y[i]) - want) / want);
    }
    *points += count;
  }
  return worst;
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

// Each thread runs exp over its own 4096 floats (16 KiB in, 16 KiB out: L1) `passes` times.
void register_exp(const exp_variant& variant, int threads) {
  register_benchmark("roof", std::string("exp-") + variant.name, "l1", "hot", threads,
                     [variant, threads](benchmark::State& state) {
    constexpr std::size_t block = 4096;
    constexpr int passes = 64;
    const auto count = static_cast<std::size_t>(threads);
    std::vector<float> x(block * count), y(block * count);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = -87.0f * static_cast<float>(i % 1000) * 0.001f;
    time_calls(state, [&](std::size_t) {
      split(block * count, threads, [&](std::size_t first, std::size_t end) {
        for (int pass = 0; pass < passes; ++pass) variant.kernel(x.data() + first, end - first, y.data() + first);
      });
      benchmark::ClobberMemory();
    });
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * passes *
                            static_cast<std::int64_t>(block * count));
  }, config().min_time);
}

// ---------------------------------------------------------------------------------------------------
// Streams: read x (a sum the compiler cannot drop); copy y = x; add z = x + y. The non-temporal forms
// store around the caches (aligned to the vector from the first aligned element on).

SOFTXENT_BENCH_BEST_ISA float read_portable(const float* x, std::size_t n) {
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

// y = x * factor with factor 1 at run time, so that the compiler cannot call memcpy.
SOFTXENT_BENCH_BEST_ISA void scale_portable(const float* x, std::size_t n, float factor, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * factor;
}
volatile float one = 1.0f;
void copy_portable(const float* x, std::size_t n, float* y) { scale_portable(x, n, one, y); }

SOFTXENT_BENCH_BEST_ISA void add_portable(const float* x, const float* y, std::size_t n, float* z) {
  for (std::size_t i = 0; i < n; ++i) z[i] = x[i] + y[i];
}

#ifdef SOFTXENT_ROOF_X86
// Elements before p is aligned to `bytes` (at most n).
inline std::size_t until_aligned(const float* p, std::size_t n, std::size_t bytes) {
  const auto misaligned = reinterpret_cast<std::uintptr_t>(p) % bytes;
  return std::min(n, misaligned == 0 ? 0 : (bytes - misaligned) / sizeof(float));
}

// One scalar step of a copy (Inputs == 1) or an add (Inputs == 2).
template <int Inputs>
inline float stream_element(const float* x, const float* y, std::size_t i) {
  if constexpr (Inputs == 1) return x[i]; else return x[i] + y[i];
}

SOFTXENT_ROOF_AVX512 float read_avx512(const float* x, std::size_t n) {
  __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a = _mm512_add_ps(a, _mm512_loadu_ps(x + i));
    b = _mm512_add_ps(b, _mm512_loadu_ps(x + i + 16));
    c = _mm512_add_ps(c, _mm512_loadu_ps(x + i + 32));
    d = _mm512_add_ps(d, _mm512_loadu_ps(x + i + 48));
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// z = x (Inputs == 1) or z = x + y (Inputs == 2), with plain or non-temporal stores.
template <int Inputs, bool NonTemporal>
SOFTXENT_ROOF_AVX512 void stream_avx512(const float* x, const float* y, std::size_t n, float* z) {
  std::size_t i = NonTemporal ? until_aligned(z, n, 64) : 0;
  for (std::size_t j = 0; j < i; ++j) z[j] = stream_element<Inputs>(x, y, j);
#pragma GCC unroll 4
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    if constexpr (Inputs == 2) v = _mm512_add_ps(v, _mm512_loadu_ps(y + i));
    if constexpr (NonTemporal) _mm512_stream_ps(z + i, v); else _mm512_storeu_ps(z + i, v);
  }
  for (; i < n; ++i) z[i] = stream_element<Inputs>(x, y, i);
  if constexpr (NonTemporal) _mm_sfence();
}

// Non-temporal stores on any x86-64 (SSE): write-combined lines reach memory at the same rate whatever
// the vector width, and in cache the plain stores of the portable loops are the faster anyway.
template <int Inputs>
void stream_sse_non_temporal(const float* x, const float* y, std::size_t n, float* z) {
  std::size_t i = until_aligned(z, n, 16);
  for (std::size_t j = 0; j < i; ++j) z[j] = stream_element<Inputs>(x, y, j);
  for (; i + 4 <= n; i += 4) {
    __m128 v = _mm_loadu_ps(x + i);
    if constexpr (Inputs == 2) v = _mm_add_ps(v, _mm_loadu_ps(y + i));
    _mm_stream_ps(z + i, v);
  }
  for (; i < n; ++i) z[i] = stream_element<Inputs>(x, y, i);
  _mm_sfence();
}
#endif

// The streams of the best instruction set the CPU has. x and y are inputs, z the output; copies ignore y.
using stream_kernel = void (*)(const float* x, const float* y, std::size_t n, float* z);
struct stream_kernels {
  const char* isa;
  float (*read)(const float* x, std::size_t n);
  stream_kernel copy, copy_non_temporal, add, add_non_temporal;  // non-temporal: null where there is none
};

stream_kernels best_streams() {
  const stream_kernel copy = [](const float* x, const float*, std::size_t n, float* z) { copy_portable(x, n, z); };
#ifdef SOFTXENT_ROOF_X86
  if (__builtin_cpu_supports("avx512f"))
    return {"avx512", read_avx512, stream_avx512<1, false>, stream_avx512<1, true>, stream_avx512<2, false>,
            stream_avx512<2, true>};
  return {"portable, non-temporal stores with SSE", read_portable, copy, stream_sse_non_temporal<1>, add_portable,
          stream_sse_non_temporal<2>};
#else
  return {"portable", read_portable, copy, nullptr, add_portable, nullptr};
#endif
}

// One stream over whole buffer sets: run(set, first, end) on each thread's range of the matrix, in floats
// (a 16-bit matrix streams as half as many floats: the same bytes).
template <class Stream>
void register_stream(const operation_traits& traits, const std::string& kind, Stream stream) {
  register_cases(traits, kind, [traits, stream](benchmark::State& state, const shape& s, regime r, int threads) {
    const buffer_sets sets(traits, s, r);
    const std::size_t floats = (s.elements() * element_bytes(traits) + sizeof(float) - 1) / sizeof(float);
    const auto run = [&](std::size_t set) {
      split(floats, threads, [&](std::size_t first, std::size_t end) { stream(sets, set, first, end); });
      benchmark::ClobberMemory();
    };
    run(0);
    time_rotating(state, traits, s, sets, run);
  }, config().min_time);
}

}  // namespace

void register_roof_benchmarks() {
  for (const exp_variant& variant : exp_variants()) {
    if (!variant.supported) continue;
    std::size_t points = 0;
    const double error = max_relative_error(variant.kernel, config().exp_sweep_stride, &points);
    char text[200];
    std::snprintf(text, sizeof text, "%.3g over %zu floats of [-87, 0] (1 in %u)", error, points,
                  config().exp_sweep_stride);
    std::printf("roof exp %s: maximum relative error %s%s\n", variant.name, text,
                error <= 1e-6 ? "" : ": above 1e-6, not used for the roof");
    benchmark::AddCustomContext(std::string("roof_exp_error/") + variant.name, text);
    for (int threads : config().thread_counts) register_exp(variant, threads);
  }

  const stream_kernels streams = best_streams();
  benchmark::AddCustomContext("roof_stream_isa", streams.isa);
  static thread_local float sink;  // each thread's sum, so that the read cannot be dropped
  const auto reading = [streams](const operation_traits& traits) {
    register_stream(traits, "read", [streams](const buffer_sets& sets, std::size_t set, std::size_t first,
                                              std::size_t end) {
      sink = streams.read(sets.input(set, 0) + first, end - first);
      benchmark::DoNotOptimize(sink);
    });
  };
  const auto writing = [](const operation_traits& traits, const std::string& kind, stream_kernel kernel) {
    if (kernel == nullptr) return;
    const bool two_inputs = traits.matrices_read == 2;
    register_stream(traits, kind, [kernel, two_inputs](const buffer_sets& sets, std::size_t set, std::size_t first,
                                                       std::size_t end) {
      const float* y = two_inputs ? sets.input(set, 1) + first : nullptr;
      kernel(sets.input(set, 0) + first, y, end - first, sets.output(set) + first);
    });
  };
  reading(roof_read_traits);
  writing(roof_copy_traits, "copy", streams.copy);
  writing(roof_copy_traits, "copy-nt", streams.copy_non_temporal);
  writing(roof_add_traits, "add", streams.add);
  writing(roof_add_traits, "add-nt", streams.add_non_temporal);
  // The 16-bit operations' own roof: the same streams over their (half as large) matrices.
  reading(roof16_read_traits);
  writing(roof16_copy_traits, "copy", streams.copy);
  writing(roof16_copy_traits, "copy-nt", streams.copy_non_temporal);
}

}  // namespace softxent_bench
