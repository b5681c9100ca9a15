// A decoding loop with softxent as its last step: a batch of requests, each with its own seed, over
// synthetic logits of 128256 classes (Llama 3's vocabulary). Every step prints each request's five
// most probable next tokens with their log-probabilities (softxent::top_k) and draws its token
// (softxent::sample: temperature 0.8, top_p 0.9, with the step as the draw's counter).
//
// The draws are reproducible: a request's tokens depend on its seed and its own logits only. The
// program decodes the batch twice, once all requests together on every thread and once each request
// alone on one thread, and exits 1 unless both give the same tokens.
//
// Usage: decoding [--quick] [--steps N] [--requests R]
#include <softxent/softxent.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t vocabulary = 128256;

// A stand-in for the model: the logits of a request's next token from its last token and the step,
// a normal-looking bulk plus a few strongly preferred tokens, as a language model's output looks.
std::uint64_t mix(std::uint64_t x) {  // SplitMix64's finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
float unit(std::uint64_t bits) { return static_cast<float>(bits >> 40) * 0x1p-24f; }  // [0, 1)

void model_logits(std::int64_t last_token, std::size_t step, float* logits) {
  const std::uint64_t context = mix(static_cast<std::uint64_t>(last_token) * 1000003u + step);
  for (std::size_t j = 0; j < vocabulary; ++j) {
    const std::uint64_t r = mix(context ^ j);
    const float u1 = unit(r) + 0x1p-25f, u2 = unit(mix(r));
    logits[j] = 2.0f * std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);  // N(0, 4)
  }
  for (int i = 0; i < 12; ++i) {  // the continuations the context favours
    const std::uint64_t r = mix(context + 77u * static_cast<std::uint64_t>(i));
    logits[r % vocabulary] += 8.0f + 6.0f * unit(mix(r));
  }
}

struct settings {
  std::size_t steps = 16;
  std::size_t requests = 4;
};

// Decodes every request for `steps` steps; requests_together: the whole batch in one call per step
// (all threads), else one call per request (one thread). Returns each request's tokens.
std::vector<std::vector<std::int64_t>> decode(const settings& run, const std::vector<std::uint64_t>& seeds,
                                              bool requests_together, bool print) {
  std::vector<float> logits(run.requests * vocabulary);
  std::vector<std::vector<std::int64_t>> tokens(run.requests);
  for (std::size_t r = 0; r < run.requests; ++r) tokens[r] = {static_cast<std::int64_t>(1 + 4099 * r)};  // each prompt's last token
  softxent::sampling_options sampling;
  sampling.temperature = 0.8f;
  sampling.top_p = 0.9f;
  softxent::exec_options together, alone;
  alone.threads = 1;
  for (std::size_t step = 0; step < run.steps; ++step) {
    for (std::size_t r = 0; r < run.requests; ++r) model_logits(tokens[r].back(), step, logits.data() + r * vocabulary);
    sampling.offset = step;
    std::vector<std::int64_t> next(run.requests), top(run.requests * 5);
    std::vector<float> next_log_prob(run.requests), top_log_probs(run.requests * 5);
    const auto check = [](softxent::status s) {
      if (s != softxent::status::ok) {
        std::fprintf(stderr, "softxent: %s\n", softxent::status_string(s));
        std::exit(1);
      }
    };
    if (requests_together) {
      const softxent::const_matrix batch(logits.data(), run.requests, vocabulary);
      check(softxent::top_k(batch, 5, top.data(), top_log_probs.data(), nullptr, {}, together));
      check(softxent::sample(batch, seeds.data(), next.data(), next_log_prob.data(), sampling, {}, together));
    } else {
      for (std::size_t r = 0; r < run.requests; ++r) {
        const softxent::const_matrix row(logits.data() + r * vocabulary, 1, vocabulary);
        check(softxent::top_k(row, 5, top.data() + r * 5, top_log_probs.data() + r * 5, nullptr, {}, alone));
        check(softxent::sample(row, &seeds[r], &next[r], &next_log_prob[r], sampling, {}, alone));
      }
    }
    for (std::size_t r = 0; r < run.requests; ++r) {
      tokens[r].push_back(next[r]);
      if (!print) continue;
      std::printf("step %2zu request %zu  top-5:", step, r);
      for (std::size_t i = 0; i < 5; ++i) std::printf(" %6lld (%6.3f)", static_cast<long long>(top[r * 5 + i]), top_log_probs[r * 5 + i]);
      std::printf("  drew %6lld (%6.3f)\n", static_cast<long long>(next[r]), next_log_prob[r]);
    }
  }
  return tokens;
}

}  // namespace

int main(int argc, char** argv) {
  settings run;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      run.steps = 4;
      run.requests = 3;
    } else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      run.steps = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--requests") == 0 && i + 1 < argc) {
      run.requests = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--steps N] [--requests R]\n", argv[0]);
      return 2;
    }
  }
  std::vector<std::uint64_t> seeds(run.requests);
  for (std::size_t r = 0; r < run.requests; ++r) seeds[r] = 1234 + 1000 * r;  // e.g. from each request's settings

  std::printf("decoding %zu requests for %zu steps over %zu classes (temperature 0.8, top_p 0.9)\n", run.requests,
              run.steps, vocabulary);
  const auto batched = decode(run, seeds, true, true);
  const auto one_by_one = decode(run, seeds, false, false);
  for (std::size_t r = 0; r < run.requests; ++r) {
    std::printf("request %zu (seed %llu):", r, static_cast<unsigned long long>(seeds[r]));
    for (std::size_t i = 1; i < batched[r].size(); ++i) std::printf(" %lld", static_cast<long long>(batched[r][i]));
    std::printf("\n");
  }
  if (batched != one_by_one) {
    std::printf("MISMATCH: the batch and the requests decoded alone drew different tokens\n");
    return 1;
  }
  std::printf("the same tokens decoded together on every thread and alone on one thread\n");
  return 0;
}
