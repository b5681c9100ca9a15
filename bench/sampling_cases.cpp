#include "sampling_cases.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <tuple>

namespace softxent_bench {

const char* logits_name(logits_kind kind) noexcept { return kind == logits_kind::peaked ? "peaked" : "normal"; }

const std::vector<sampling_case>& sampling_cases() {
  static const std::vector<sampling_case> cases = [] {
    std::vector<sampling_case> made;
    made.push_back({"logsumexp", true, 0, {}});
    made.push_back({"top_k_1", false, 1, {}});
    made.push_back({"top_k_8", false, 8, {}});
    made.push_back({"top_k_64", false, 64, {}});
    softxent::sampling_options o;
    o.temperature = 0.0f;
    made.push_back({"greedy", false, 0, o});
    o = {};
    o.temperature = 0.8f;
    o.top_p = 0.9f;
    made.push_back({"top_p", false, 0, o});
    o = {};
    o.top_k = 40;
    made.push_back({"top_k_40", false, 0, o});
    o = {};
    o.min_p = 0.05f;
    made.push_back({"min_p", false, 0, o});
    made.push_back({"plain", false, 0, {}});
    return made;
  }();
  return cases;
}

const std::vector<shape>& sampling_shapes() {
  static const std::vector<shape> shapes = {{1, 128256}, {1, 256000}, {64, 128256}, {8, 32000}};
  return shapes;
}

const operation_traits& sampling_traits(const sampling_case& c, logits_kind kind) {
  static std::map<std::string, std::pair<std::string, operation_traits>> made;  // names outlive the traits
  const std::string name = std::string("sampling.") + c.name + "." + logits_name(kind);
  auto [found, added] = made.try_emplace(name);
  if (added) {
    found->second.first = name;
    found->second.second = {found->second.first.c_str(), 1, 0, false, 0, true, f32, ""};
  }
  return found->second.second;
}

namespace {

// Logits of a decoding step: rows of the kind's distribution, drawn from a seed of the shape and the
// set (the same in every process of a run).
void make_logits(logits_kind kind, const shape& s, std::size_t set, float* x) {
  std::mt19937_64 engine(2024 + s.rows * 7 + s.cols + set * 1000003);
  std::normal_distribution<float> bulk(0.0f, kind == logits_kind::peaked ? 2.0f : 2.5f);
  std::exponential_distribution<float> spike(1.0f / 6.0f);
  std::uniform_int_distribution<std::size_t> column(0, s.cols - 1);
  for (std::size_t r = 0; r < s.rows; ++r) {
    float* row = x + r * s.cols;
    for (std::size_t j = 0; j < s.cols; ++j) row[j] = bulk(engine);
    if (kind == logits_kind::peaked)
      for (int i = 0; i < 20; ++i) row[column(engine)] += 6.0f + spike(engine);
  }
}

// The first set's logits per kind and shape, made once.
const std::vector<float>& logits_for(logits_kind kind, const shape& s) {
  static std::map<std::string, std::vector<float>> made;
  std::vector<float>& x = made[std::string(logits_name(kind)) + s.name()];
  if (!x.empty()) return x;
  x.resize(s.elements());
  make_logits(kind, s, 0, x.data());
  return x;
}

growing_pool<float> logits_pool;
std::tuple<logits_kind, std::size_t, std::size_t, std::size_t> pool_holds{logits_kind::peaked, 0, 0, 0};

}  // namespace

sampling_logits::sampling_logits(logits_kind kind, const shape& s, regime r)
    : count_(rotation_sets(s.elements() * sizeof(float), r)), matrix_floats_(round_up(s.elements(), 16)) {
  float* base = logits_pool.reserve(count_ * matrix_floats_, [](float* p, std::size_t n) { std::fill(p, p + n, 0.0f); });
  const auto wanted = std::make_tuple(kind, s.rows, s.cols, count_);
  if (pool_holds != wanted) {
    // Every set holds logits of its own, as every decoding step does: the same rows call after call
    // would let the branch predictor learn them, which flatters code that branches on the values.
    const std::vector<float>& x = logits_for(kind, s);
    std::copy(x.begin(), x.end(), base);
    for (std::size_t set = 1; set < count_; ++set) make_logits(kind, s, set, base + set * matrix_floats_);
    pool_holds = wanted;
  }
  base_ = base;
  touch_pages(base_, count_ * matrix_floats_ * sizeof(float), false);
}

std::vector<std::uint64_t> sampling_seeds(std::size_t rows) {
  std::vector<std::uint64_t> seeds(rows);
  for (std::size_t r = 0; r < rows; ++r) seeds[r] = 1000 + r;
  return seeds;
}

namespace {

bool close(double got, double want, double tolerance) {
  return std::fabs(got - want) <= tolerance * (1.0 + std::fabs(want));
}

// Sets the message of a mismatch and returns false.
bool mismatch(std::string* message, const char* what, std::size_t r, double got, double want) {
  char buffer[200];
  std::snprintf(buffer, sizeof buffer, "%s in row %zu: %.9g where the reference has %.9g", what, r, got, want);
  *message = buffer;
  return false;
}

// The smallest log-probability (of z / temperature) a draw of the case may return: the filters of
// Hugging Face's order applied to the row's sorted log-probabilities.
double smallest_kept(const sampling_case& c, std::vector<float> log_probs) {
  std::sort(log_probs.begin(), log_probs.end(), [](float a, float b) { return a > b; });
  std::size_t kept = log_probs.size();
  if (c.options.top_k > 0) kept = std::min(kept, c.options.top_k);
  if (c.options.top_p < 1.0f) {
    double total = 0.0;
    for (std::size_t j = 0; j < kept; ++j) total += std::exp(static_cast<double>(log_probs[j]));
    double mass = 0.0;
    std::size_t j = 0;
    while (j < kept && mass < c.options.top_p * total) mass += std::exp(static_cast<double>(log_probs[j++]));
    kept = std::max<std::size_t>(j, 1);
  }
  double smallest = log_probs[kept - 1];
  if (c.options.min_p > 0.0f) smallest = std::max(smallest, log_probs[0] + std::log(double{c.options.min_p}));
  return smallest;
}

}  // namespace

bool sampling_result_matches(const sampling_case& c, const shape& s, const float* logits, const std::int64_t* indices,
                             const float* log_probs, std::string* message) {
  constexpr double tolerance = 1e-4;
  softxent::exec_options reference;
  reference.threads = 1;
  reference.isa = "reference";
  for (std::size_t r : {std::size_t{0}, s.rows / 2, s.rows - 1}) {
    const softxent::const_matrix x(logits + r * s.cols, 1, s.cols);
    if (c.is_logsumexp) {
      float lse = 0.0f;
      softxent::logsumexp(x, &lse, reference);
      if (!close(log_probs[r], lse, tolerance)) return mismatch(message, "lse", r, log_probs[r], lse);
      continue;
    }
    if (c.k > 0 || c.options.temperature == 0.0f) {  // top-k; greedy is top-1
      const std::size_t k = std::max<std::size_t>(c.k, 1);
      std::vector<std::int64_t> want_indices(k);
      std::vector<float> want_log_probs(k);
      softxent::top_k(x, k, want_indices.data(), want_log_probs.data(), nullptr, {}, reference);
      for (std::size_t i = 0; i < k; ++i) {
        const std::int64_t got = indices[r * k + i];
        if (got < 0 || static_cast<std::size_t>(got) >= s.cols)
          return mismatch(message, "an index out of range", r, static_cast<double>(got), 0);
        const std::size_t want = static_cast<std::size_t>(want_indices[i]);
        // Another index is right where its logit ties the reference's within the tolerance.
        if (got != want_indices[i] && !close(x.row(0)[static_cast<std::size_t>(got)], x.row(0)[want], tolerance))
          return mismatch(message, "index", r, static_cast<double>(got), static_cast<double>(want));
        if (!close(log_probs[r * k + i], want_log_probs[i], tolerance))
          return mismatch(message, "log-prob", r, log_probs[r * k + i], want_log_probs[i]);
      }
      continue;
    }
    // A draw: z / temperature's log-probabilities, the token among the classes the filters keep.
    std::vector<float> want(s.cols);
    softxent::softmax_options transform;
    transform.scale = 1.0f / c.options.temperature;
    softxent::log_softmax(softxent::const_any_matrix(x), softxent::matrix(want.data(), 1, s.cols), transform, reference);
    const std::int64_t token = indices[r];
    if (token < 0 || static_cast<std::size_t>(token) >= s.cols)
      return mismatch(message, "a token out of range", r, static_cast<double>(token), 0);
    const double token_log_prob = want[static_cast<std::size_t>(token)];
    if (!close(log_probs[r], token_log_prob, tolerance))
      return mismatch(message, "the token's log-prob", r, log_probs[r], token_log_prob);
    const double smallest = smallest_kept(c, want);
    if (token_log_prob < smallest - tolerance * (1.0 + std::fabs(smallest)))
      return mismatch(message, "a token the filters drop (its log-prob)", r, token_log_prob, smallest);
  }
  return true;
}

}  // namespace softxent_bench
