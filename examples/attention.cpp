// Multi-head causal attention scores normalized in place, as an inference engine's prefill step does:
// scores of heads x queries x keys in bfloat16, scaled by 1/sqrt(head_dim), causal (query q sees keys
// 0..q, without a mask in memory), biased per head by ALiBi (slope(head) * -(q - k)), and normalized
// together with a learned sink logit per head (gpt-oss), all while each row is loaded, by one
// softxent::softmax call on the engine's own thread pool.
//
// The program checks the result against the same attention computed in double and exits 1 if any
// probability is off by more than SPEC.md's bound: bfloat16's rounding (2^-8 relative) plus the float
// bound (8 + |z - max|) eps, widened for the transform by 8 eps max|z| (eps = 2^-23).
//
// Usage: attention [heads (default 8)] [queries = keys (default 256)] [pool threads (default 4)]
#include <softxent/softxent.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "random.hpp"
#include "thread_pool.hpp"

namespace {

// float -> bfloat16 (round to nearest even) and back: the engine's storage type.
softxent::bfloat16 to_bf16(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return {static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16)};
}
float from_bf16(softxent::bfloat16 h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h.bits) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t heads = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 8;
  const std::size_t length = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 256;
  const std::size_t pool_threads = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 4;
  const std::size_t head_dim = 64;
  if (heads == 0 || length == 0 || pool_threads == 0) {
    std::fprintf(stderr, "usage: attention [heads] [queries] [pool threads]\n");
    return 2;
  }

  // Raw scores q . k (what the GEMM before the softmax writes), stored in bfloat16: one row per
  // (head, query), one column per key.
  examples::random_generator random(7);
  const std::size_t rows = heads * length;
  std::vector<softxent::bfloat16> scores(rows * length);
  for (auto& s : scores) s = to_bf16(static_cast<float>(8.0 * (random.uniform() + random.uniform() - 1.0) * 8.0));
  const std::vector<softxent::bfloat16> raw = scores;

  // The transform: scale, causal lengths, ALiBi as a shared bias row per query times a slope per head,
  // and a sink per head.
  std::vector<std::int64_t> causal(rows);
  for (std::size_t r = 0; r < rows; ++r) causal[r] = static_cast<std::int64_t>(r % length + 1);
  std::vector<float> distance(length * length);  // row q: -(q - k) for the keys it sees
  for (std::size_t q = 0; q < length; ++q)
    for (std::size_t k = 0; k < length; ++k) distance[q * length + k] = k <= q ? -static_cast<float>(q - k) : 0.0f;
  std::vector<float> slopes(heads), sinks(heads);
  for (std::size_t h = 0; h < heads; ++h) {
    slopes[h] = std::pow(2.0f, -8.0f * static_cast<float>(h + 1) / static_cast<float>(heads));  // ALiBi's slopes
    sinks[h] = 0.5f * static_cast<float>(h);
  }
  softxent::softmax_options options;
  options.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  options.valid_cols = causal.data();
  options.mask = softxent::const_matrix(distance.data(), length, length);  // row r uses row r % queries
  options.rows_per_head = length;                                          // head(r) = r / queries
  options.slopes = slopes.data();
  options.sinks = sinks.data();

  examples::thread_pool pool(pool_threads);
  softxent::exec_options exec;
  exec.parallel_for = examples::thread_pool::parallel_for;
  exec.pool = &pool;
  const softxent::matrix_view<softxent::bfloat16> view(scores.data(), rows, length);
  const softxent::status status = softxent::softmax(view, view, options, exec);  // in place
  if (status != softxent::status::ok) {
    std::printf("softmax failed: %s\n", softxent::status_string(status));
    return 1;
  }

  // The same attention in double, from the bfloat16 scores.
  double worst = 0.0, sink_mass = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t h = r / length, q = r % length;
    std::vector<double> z(length, -INFINITY);
    double max = sinks[h];
    for (std::size_t k = 0; k <= q; ++k) {
      z[k] = options.scale * static_cast<double>(from_bf16(raw[r * length + k])) + slopes[h] * distance[q * length + k];
      max = std::max(max, z[k]);
    }
    double sum = std::exp(sinks[h] - max), largest = std::fabs(sinks[h]);
    for (std::size_t k = 0; k <= q; ++k) {
      sum += std::exp(z[k] - max);
      largest = std::max(largest, std::fabs(z[k]));
    }
    sink_mass += std::exp(sinks[h] - max) / sum;
    for (std::size_t k = 0; k < length; ++k) {
      const double p = std::exp(z[k] - max) / sum;
      const double got = from_bf16(scores[r * length + k]);
      const double gap = k <= q ? max - z[k] : 0.0;
      const double allowed = p * (0x1p-8 + (8 + gap + 8 * largest) * 0x1p-23) + 1e-37;
      worst = std::max(worst, std::fabs(got - p) / allowed);
    }
  }
  std::printf("%zu heads x %zu queries x %zu keys, bfloat16 in place on %zu pool threads (%zu job%s)\n", heads, length,
              length, pool.threads(), pool.jobs(), pool.jobs() == 1 ? "" : "s");
  std::printf("mean probability kept by the sinks: %.4f\n", sink_mass / static_cast<double>(rows));
  std::printf("largest error against double / allowed: %.3f\n", worst);
  return worst <= 1.0 ? 0 : 1;
}
