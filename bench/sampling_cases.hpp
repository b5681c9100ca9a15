// The top-k and sampling cases, shared by softxent's side (bench_sampling.cpp, in softxent_bench) and
// PyTorch's composites (bench_pytorch_sampling.cpp, in softxent_bench_pytorch): the operations, the
// shapes of a decoding step, the logits, and the check of a foreign result against softxent's reference.
//
// Operations, each on "peaked" logits (a language model's: a N(0, 2) bulk with 20 tokens 6 to 20 above
// it, so that top_p and min_p keep a handful) and "normal" ones (N(0, 2.5) and nothing above: top_p 0.9
// at temperature 0.8 keeps thousands of classes):
//   logsumexp   of the same rows: one read of every logit and one exponential each, what any sampler
//               must at least do; the baseline of the others' ratios
//   top_k_<k>   k = 1, 8, 64: indices and log-probabilities
//   greedy      temperature 0: the argmax and its log-probability
//   top_p       temperature 0.8, top_p 0.9
//   top_k_40    top_k 40 (temperature 1)
//   min_p       min_p 0.05 (temperature 1)
//   plain       temperature 1, no filter
// Benchmark names: "sampling.<operation>.<logits>/<implementation>/<rows>x<cols>/<regime>/threads:<n>".
#ifndef SOFTXENT_BENCH_SAMPLING_CASES_HPP
#define SOFTXENT_BENCH_SAMPLING_CASES_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace softxent_bench {

enum class logits_kind { peaked, normal };
inline constexpr logits_kind logits_kinds[] = {logits_kind::peaked, logits_kind::normal};
const char* logits_name(logits_kind kind) noexcept;

struct sampling_case {
  const char* name;
  bool is_logsumexp;
  std::size_t k;                      // top-k's k; 0: not top-k
  softxent::sampling_options options; // a sampling case when neither of the above
  bool samples() const noexcept { return !is_logsumexp && k == 0; }
};
const std::vector<sampling_case>& sampling_cases();

// 1x128256 (Llama 3's vocabulary), 1x256000 (Gemma's), 64x128256 (a batch of requests), 8x32000.
const std::vector<shape>& sampling_shapes();

// The largest k of the cases: room for the indices and log-probs of a row.
inline constexpr std::size_t max_sampling_k = 64;

// The benchmark traits of a case on a kind of logits: named "sampling.<case>.<kind>", reading the logits
// once with one exponential each (the rate counters' minimum traffic).
const operation_traits& sampling_traits(const sampling_case& c, logits_kind kind);

// The logits of a kind and shape, in rotating copies for the regime (hot: one; cold: enough to cover the
// rotation footprint). One pool serves every sampling benchmark: it is refilled when a benchmark asks
// for another kind, shape or regime than the one before (outside the timed part). Rows are densely
// packed; each copy starts on a 64-byte boundary.
class sampling_logits {
 public:
  sampling_logits(logits_kind kind, const shape& s, regime r);
  std::size_t count() const noexcept { return count_; }
  const float* matrix(std::size_t set) const noexcept { return base_ + set * matrix_floats_; }

 private:
  std::size_t count_;
  std::size_t matrix_floats_;
  const float* base_;
};

// The seeds of the draws, one per row (per request).
std::vector<std::uint64_t> sampling_seeds(std::size_t rows);

// Checks a foreign result on the first, middle and last rows of `logits` against softxent's reference:
// top-k: the indices (ties within the tolerance either way) and log-probs (rows x c.k); greedy: the
// argmax and its log-prob; a draw: a token the case's filters keep (Hugging Face's order, computed here
// from the reference's log-probabilities) and its log-prob before filtering; logsumexp: lse. indices
// and log_probs hold rows x k values for top-k, rows values otherwise (log_probs holds lse for logsumexp).
bool sampling_result_matches(const sampling_case& c, const shape& s, const float* logits, const std::int64_t* indices,
                             const float* log_probs, std::string* message);

}  // namespace softxent_bench

#endif  // SOFTXENT_BENCH_SAMPLING_CASES_HPP
