// An inference engine's last step, with softxent embedded: sample the next token from 1 x 128256 logits
// (Llama 3's vocabulary) at a given temperature through log_softmax, running the library on the
// engine's own thread pool (exec.parallel_for) instead of OpenMP.
//
// Sampling: log_softmax turns the scaled logits into log-probabilities, the engine keeps them (an API
// returning "logprobs" wants them anyway), and draws the token by walking the cumulative exp(logprob)
// to a seeded uniform draw. The same call with one thread and with the pool gives bitwise the same
// log-probabilities, hence the same token: the program checks it and exits 1 otherwise.
//
// Usage: inference_sampling [pool threads (default 4)]
#include <softxent/softxent.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "random.hpp"
#include "thread_pool.hpp"

namespace {

using examples::thread_pool;

// Stand-in for a language model's output: mostly noise around 0, a few strong candidates.
std::vector<float> fake_model_logits(std::size_t vocabulary, std::uint64_t seed) {
  examples::random_generator random(seed);
  std::vector<float> logits(vocabulary);
  for (float& logit : logits) {
    const double bump = random.uniform() + random.uniform() + random.uniform() - 1.5;  // roughly normal
    logit = static_cast<float>(2.0 * bump);
  }
  for (int candidate = 0; candidate < 8; ++candidate) {
    logits[random.below(vocabulary)] = 9.0f + static_cast<float>(candidate) * 0.5f;
  }
  return logits;
}

struct sample {
  std::size_t token;
  float log_probability;
};

// Draws a token from the distribution exp(log_probabilities) with the uniform draw u in [0, 1).
sample sample_token(const std::vector<float>& log_probabilities, double u) {
  double cumulative = 0.0;
  for (std::size_t token = 0; token < log_probabilities.size(); ++token) {
    cumulative += std::exp(static_cast<double>(log_probabilities[token]));
    if (u < cumulative) return {token, log_probabilities[token]};
  }
  // Rounding left the total a hair below u: take the last token with any probability.
  std::size_t last = log_probabilities.size() - 1;
  while (last > 0 && log_probabilities[last] == -INFINITY) --last;
  return {last, log_probabilities[last]};
}

// out = log_softmax(logits / temperature), computed in place in out; exits on any error status.
void scaled_log_softmax(const std::vector<float>& logits, float temperature, std::vector<float>& out,
                        const softxent::exec_options& exec) {
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] / temperature;
  const softxent::matrix row(out.data(), 1, out.size());
  const softxent::status status = softxent::log_softmax(row, row, exec);
  if (status != softxent::status::ok) {
    std::fprintf(stderr, "log_softmax failed: %s\n", softxent::status_string(status));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t vocabulary = 128256;
  const std::size_t pool_threads = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 4;
  if (pool_threads == 0) {
    std::fprintf(stderr, "usage: %s [pool threads >= 1]\n", argv[0]);
    return 2;
  }
  thread_pool pool(pool_threads);
  softxent::exec_options one_thread;
  one_thread.threads = 1;
  softxent::exec_options on_pool;
  on_pool.parallel_for = thread_pool::parallel_for;
  on_pool.pool = &pool;

  std::printf("softxent %s (%s): next-token sampling over %zu logits, host pool threads: %zu\n",
              softxent::version(), softxent::isa(), vocabulary, pool.threads());
  const std::vector<float> logits = fake_model_logits(vocabulary, 2024);
  std::vector<float> single(vocabulary);
  std::vector<float> pooled(vocabulary);
  bool identical = true;
  examples::random_generator sampler(7);
  for (const float temperature : {0.7f, 1.0f, 1.5f}) {
    const double u = sampler.uniform();
    scaled_log_softmax(logits, temperature, single, one_thread);
    scaled_log_softmax(logits, temperature, pooled, on_pool);
    const sample from_single = sample_token(single, u);
    const sample from_pool = sample_token(pooled, u);
    const bool same = std::memcmp(single.data(), pooled.data(), vocabulary * sizeof(float)) == 0 &&
                      from_single.token == from_pool.token;
    identical = identical && same;

    std::vector<std::size_t> order(vocabulary);
    for (std::size_t i = 0; i < vocabulary; ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + 3, order.end(),
                      [&](std::size_t a, std::size_t b) { return pooled[a] > pooled[b]; });
    std::printf("temperature %.1f: token %zu (log p %.4f); top 3:", static_cast<double>(temperature),
                from_pool.token, static_cast<double>(from_pool.log_probability));
    for (std::size_t rank = 0; rank < 3; ++rank) {
      std::printf(" %zu (p %.4f)", order[rank], std::exp(static_cast<double>(pooled[order[rank]])));
    }
    std::printf("\n  1 thread and pool: log-probabilities and token %s\n", same ? "identical" : "DIFFER");
  }
  std::printf("the library called the pool %zu times, for %zu units of work in all\n", pool.jobs(), pool.units());
  std::printf("1 thread and %zu threads: %s\n", pool.threads(), identical ? "identical results" : "RESULTS DIFFER");
  return identical ? 0 : 1;
}
