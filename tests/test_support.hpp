// Shared helpers of the softxent test suite: the instruction sets to sweep, sentinel-guarded strided
// buffers, random inputs, and an independent reference of every operation in long double (double on
// AArch64: see real), written from the textbook formulas and PyTorch's cross_entropy (not from the
// library's code), with the error bounds of SPEC.md as tolerances.
#ifndef SOFTXENT_TESTS_TEST_SUPPORT_HPP
#define SOFTXENT_TESTS_TEST_SUPPORT_HPP

#include <softxent/softxent.h>
#include <softxent/softxent.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "real.hpp"

namespace sxtest {

// real (the reference's arithmetic) and eps come from real.hpp.
// The absolute slack SPEC.md allows tiny results (1e-37), and the value below which it applies.
constexpr real tiny_bound = real(1e-37L);
constexpr real tiny_value = real(1e-30L);
constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
using sizes = std::initializer_list<std::size_t>;
// An enum holding a value outside its enumerators, to test rejection of bad options.
template <class Enum>
Enum bad_enum(int value) {
  return static_cast<Enum>(value);
}
constexpr float flt_max = std::numeric_limits<float>::max();

// ---------------------------------------------------------------------------------------------
// Instruction sets

// Every instruction-set name the API knows, best last.
inline const std::vector<std::string>& all_isa_names() {
  static const std::vector<std::string> names = {"reference", "scalar", "sse2", "avx2", "avx512", "neon"};
  return names;
}

// The instruction sets this build and CPU can run (softxent_isa() is not null for them).
inline std::vector<std::string> available_isas() {
  std::vector<std::string> result;
  for (const std::string& name : all_isa_names()) {
    softxent_exec exec{};
    exec.isa = name.c_str();
    if (softxent_isa(&exec) != nullptr) result.push_back(name);
  }
  return result;
}

// True under an emulator (SOFTXENT_TEST_EMULATED=1, set by the aarch64 test preset: qemu-aarch64 runs
// the suite 10 to 40 times slower than the host would): the heaviest sweeps take a lighter variant.
inline bool emulated() {
  const char* value = std::getenv("SOFTXENT_TEST_EMULATED");
  return value != nullptr && value[0] == '1';
}

// True in a build with AddressSanitizer (3 to 6 times slower): the two heaviest sweeps, the dtype
// sweep's 128256-class rows and the sampling chi-square's draws, take their emulated variant too.
inline bool sanitized() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

// exec options naming an instruction set. Known names point at all_isa_names()' static strings, so
// the result outlives a temporary argument; other names must outlive the result.
inline softxent::exec_options exec_for(const std::string& isa, int threads = 0) {
  softxent::exec_options exec;
  exec.isa = isa.c_str();
  for (const std::string& name : all_isa_names())
    if (name == isa) exec.isa = name.c_str();
  exec.threads = threads;
  return exec;
}

// ---------------------------------------------------------------------------------------------
// Buffers

inline std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
inline float float_from_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
inline bool same_bits(float a, float b) { return bits_of(a) == bits_of(b); }

// A NaN with a payload no computation produces: any write shows.
inline float sentinel() { return float_from_bits(0x7fa5a5a5u); }

// A rows x cols matrix with a row stride, starting offset elements into storage that is otherwise
// filled with the sentinel, so that writes outside the matrix (or at all) can be detected.
struct buffer {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;
  std::size_t offset = 0;
  std::vector<float> storage;

  buffer() = default;
  buffer(std::size_t rows_, std::size_t cols_, std::size_t stride_ = 0, std::size_t offset_ = 0,
         std::size_t tail = 3)
      : rows(rows_), cols(cols_), stride(stride_ == 0 ? cols_ : stride_), offset(offset_) {
    std::size_t span = rows == 0 ? 0 : (rows - 1) * stride + cols;
    storage.assign(offset + span + tail, sentinel());
  }
  float* data() { return storage.data() + offset; }
  const float* data() const { return storage.data() + offset; }
  float* row(std::size_t r) { return data() + r * stride; }
  const float* row(std::size_t r) const { return data() + r * stride; }
  float& at(std::size_t r, std::size_t c) { return row(r)[c]; }
  float at(std::size_t r, std::size_t c) const { return row(r)[c]; }
  softxent::matrix view() { return {data(), rows, cols, stride}; }
  softxent::const_matrix cview() const { return {data(), rows, cols, stride}; }
  bool in_matrix(std::size_t index) const {
    if (index < offset) return false;
    std::size_t i = index - offset;
    std::size_t r = i / stride;
    return r < rows && i % stride < cols;
  }
  // Every element outside the matrix still holds the sentinel.
  bool outside_untouched() const {
    for (std::size_t i = 0; i < storage.size(); ++i)
      if (!in_matrix(i) && !same_bits(storage[i], sentinel())) return false;
    return true;
  }
  // Every element of the storage (matrix included) still holds the sentinel.
  bool all_sentinel() const {
    return std::all_of(storage.begin(), storage.end(), [](float v) { return same_bits(v, sentinel()); });
  }
  void fill_matrix(float value) {
    for (std::size_t r = 0; r < rows; ++r) std::fill(row(r), row(r) + cols, value);
  }
};

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// ---------------------------------------------------------------------------------------------
// Random inputs

struct random_source {
  std::mt19937_64 engine;
  explicit random_source(std::uint64_t seed) : engine(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(engine); }
  float normal(float mean, float sigma) { return std::normal_distribution<float>(mean, sigma)(engine); }
  std::size_t index(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(engine); }
  bool chance(double p) { return std::bernoulli_distribution(p)(engine); }
};

// Logits from one of several distributions: moderate, wide, or huge (where a naive expf overflows).
enum class logit_kind { normal, wide, high };
inline float draw_logit(random_source& random, logit_kind kind) {
  switch (kind) {
    case logit_kind::normal: return random.normal(0.0f, 3.0f);
    case logit_kind::wide: return random.uniform(-60.0f, 60.0f);
    case logit_kind::high: return random.uniform(88.0f, 100.0f);
  }
  return 0;
}
inline void fill_logits(buffer& b, random_source& random, logit_kind kind = logit_kind::normal) {
  for (std::size_t r = 0; r < b.rows; ++r)
    for (std::size_t c = 0; c < b.cols; ++c) b.at(r, c) = draw_logit(random, kind);
}
inline void fill_uniform(buffer& b, random_source& random, float lo, float hi) {
  for (std::size_t r = 0; r < b.rows; ++r)
    for (std::size_t c = 0; c < b.cols; ++c) b.at(r, c) = random.uniform(lo, hi);
}
// Each row a probability distribution, some entries exactly 0.
inline void fill_distribution(buffer& b, random_source& random, double zero_chance = 0.2) {
  for (std::size_t r = 0; r < b.rows; ++r) {
    real total = 0;
    for (std::size_t c = 0; c < b.cols; ++c) {
      float v = random.chance(zero_chance) ? 0.0f : random.uniform(0.0f, 1.0f);
      b.at(r, c) = v;
      total += v;
    }
    if (total == 0) {
      b.at(r, random.index(b.cols)) = 1.0f;
      continue;
    }
    for (std::size_t c = 0; c < b.cols; ++c) b.at(r, c) = static_cast<float>(b.at(r, c) / total);
  }
}
inline std::vector<std::int64_t> random_targets(std::size_t rows, std::size_t cols, random_source& random,
                                                double ignore_chance = 0.0, std::int64_t ignore_index = -100) {
  std::vector<std::int64_t> targets(rows);
  for (auto& t : targets)
    t = random.chance(ignore_chance) ? ignore_index : static_cast<std::int64_t>(random.index(cols));
  return targets;
}

// ---------------------------------------------------------------------------------------------
// The independent reference, in real (long double on x86)

// Statistics of one row: m = max, log_sum = log(sum_j exp(x_j - m)), lse = m + log_sum, and whether the
// row is poisoned (NaN or +inf among its logits). x_j - lse is formed as (x_j - m) - log_sum: near 3e38,
// m + log_sum rounds to m even in long double.
struct row_stats {
  real max = 0;
  real log_sum = 0;
  real lse = 0;
  bool poisoned = false;
};
template <class T>
row_stats reference_row_stats(const T* x, std::size_t n) {
  row_stats s;
  real m = -std::numeric_limits<real>::infinity();
  for (std::size_t j = 0; j < n; ++j) {
    real v = static_cast<real>(x[j]);
    if (std::isnan(v) || v == std::numeric_limits<real>::infinity()) s.poisoned = true;
    m = std::max(m, v);
  }
  s.max = m;
  if (s.poisoned) {
    s.lse = std::numeric_limits<real>::quiet_NaN();
  } else if (m == -std::numeric_limits<real>::infinity()) {
    s.lse = m;
  } else {
    real sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += std::exp(static_cast<real>(x[j]) - m);
    s.log_sum = std::log(sum);
    s.lse = m + s.log_sum;
  }
  return s;
}

// exact softmax and log_softmax of element x_j of a row with statistics s
inline real reference_log_probability(real xj, const row_stats& s) {
  if (s.poisoned) return std::numeric_limits<real>::quiet_NaN();
  if (xj == -std::numeric_limits<real>::infinity()) return xj;
  return (xj - s.max) - s.log_sum;
}
inline real reference_probability(real xj, const row_stats& s) {
  if (s.poisoned) return std::numeric_limits<real>::quiet_NaN();
  if (xj == -std::numeric_limits<real>::infinity()) return 0;
  return std::exp(reference_log_probability(xj, s));
}

// SPEC.md's error bounds
inline real softmax_bound(real p, real xj, const row_stats& s) {
  real distance = std::isfinite(xj - s.max) ? std::fabs(xj - s.max) : 0;
  real bound = (8 + distance) * eps * p;
  if (p < tiny_value) bound = std::max(bound, tiny_bound);
  return bound;
}
inline real log_softmax_bound(real xj, const row_stats& s) {
  real distance = std::isfinite(xj - s.max) ? std::fabs(xj - s.max) : 0;
  real lse = std::isfinite(s.lse) ? std::fabs(s.lse) : 0;
  return (8 + distance) * eps + 8 * eps * lse;
}
inline real lse_bound(const row_stats& s) { return 8 * eps * (1 + (std::isfinite(s.lse) ? std::fabs(s.lse) : 0)); }

// Collects comparisons of float results against exact values; reports the first few failures.
struct tally {
  std::string label;
  std::size_t checked = 0;
  std::size_t failures = 0;
  real worst = 0;  // largest error / tolerance seen
  std::ostringstream report;

  explicit tally(std::string label_) : label(std::move(label_)) { report.precision(10); }

  void fail(std::size_t r, std::size_t c, float got, real exact, real tolerance, const char* why) {
    if (++failures <= 5)
      report << "\n  " << label << " row " << r << " col " << c << ": got " << got << " exact "
             << static_cast<double>(exact) << " tolerance " << static_cast<double>(tolerance) << " (" << why << ")";
  }
  // got must be within tolerance of exact; NaN must give NaN; an exact value that is infinite, or
  // rounds to infinity in float, must be given exactly.
  void expect(std::size_t r, std::size_t c, float got, real exact, real tolerance) {
    ++checked;
    if (std::isnan(exact)) {
      if (!std::isnan(got)) fail(r, c, got, exact, tolerance, "expected NaN");
      return;
    }
    if (std::isnan(got)) return fail(r, c, got, exact, tolerance, "unexpected NaN");
    float rounded = static_cast<float>(exact);
    if (std::isinf(rounded)) {
      if (got != rounded) fail(r, c, got, exact, tolerance, "expected infinity");
      return;
    }
    if (std::isinf(got)) return fail(r, c, got, exact, tolerance, "unexpected infinity");
    real error = std::fabs(static_cast<real>(got) - exact);
    if (tolerance > 0) worst = std::max(worst, error / tolerance);
    if (error > tolerance) fail(r, c, got, exact, tolerance, "outside the bound");
  }
  void expect_bits(std::size_t r, std::size_t c, float got, float expected) {
    ++checked;
    if (!same_bits(got, expected)) fail(r, c, got, static_cast<real>(expected), 0, "expected these exact bits");
  }
  bool ok() const { return failures == 0; }
  std::string message() const {
    std::ostringstream out;
    out << label << ": " << failures << " of " << checked << " values failed" << report.str();
    return out.str();
  }
};
#define SXTEST_CHECK_TALLY(t) CHECK_MESSAGE((t).ok(), (t).message())

// The exact results of one operation on one input with their tolerances, computed once and checked
// against the outputs of any number of calls (one per instruction set). Stored in double: its rounding
// is nine orders of magnitude below the tolerances. A negative bound demands +0 exactly.
struct expectation {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<double> exact;  // rows x cols, dense
  std::vector<double> bound;

  expectation(std::size_t rows_, std::size_t cols_) : rows(rows_), cols(cols_), exact(rows_ * cols_), bound(rows_ * cols_) {}
  void set(std::size_t r, std::size_t c, real value, real tolerance) {
    exact[r * cols + c] = static_cast<double>(value);
    bound[r * cols + c] = static_cast<double>(tolerance);
  }
  void check(tally& t, const float* got, std::size_t got_stride) const {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        double b = bound[r * cols + c];
        if (b < 0)
          t.expect_bits(r, c, got[r * got_stride + c], 0.0f);
        else
          t.expect(r, c, got[r * got_stride + c], exact[r * cols + c], b);
      }
  }
  void check(tally& t, const buffer& got) const { check(t, got.data(), got.stride); }
};

inline expectation expected_logsumexp(const buffer& x) {
  expectation e(x.rows, 1);
  for (std::size_t r = 0; r < x.rows; ++r) {
    row_stats s = reference_row_stats(x.row(r), x.cols);
    e.set(r, 0, s.lse, lse_bound(s));
  }
  return e;
}
inline expectation expected_softmax(const buffer& x) {
  expectation e(x.rows, x.cols);
  for (std::size_t r = 0; r < x.rows; ++r) {
    row_stats s = reference_row_stats(x.row(r), x.cols);
    for (std::size_t c = 0; c < x.cols; ++c) {
      real xj = x.at(r, c);
      real p = reference_probability(xj, s);
      bool masked = p == 0 && !s.poisoned;  // masked classes get exactly 0
      e.set(r, c, p, masked ? -1 : softmax_bound(p, xj, s));
    }
  }
  return e;
}
inline expectation expected_log_softmax(const buffer& x) {
  expectation e(x.rows, x.cols);
  for (std::size_t r = 0; r < x.rows; ++r) {
    row_stats s = reference_row_stats(x.row(r), x.cols);
    for (std::size_t c = 0; c < x.cols; ++c) {
      real xj = x.at(r, c);
      e.set(r, c, reference_log_probability(xj, s), log_softmax_bound(xj, s));
    }
  }
  return e;
}
// dx = y * (dy - sum_k dy_k y_k)
inline expectation expected_softmax_backward(const buffer& y, const buffer& dy) {
  expectation e(y.rows, y.cols);
  for (std::size_t r = 0; r < y.rows; ++r) {
    real dot = 0, abs_dot = 0;
    for (std::size_t k = 0; k < y.cols; ++k) {
      dot += static_cast<real>(dy.at(r, k)) * y.at(r, k);
      abs_dot += std::fabs(static_cast<real>(dy.at(r, k)) * y.at(r, k));
    }
    for (std::size_t c = 0; c < y.cols; ++c) {
      real yj = y.at(r, c), dyj = dy.at(r, c);
      e.set(r, c, yj * (dyj - dot), 8 * eps * std::fabs(yj) * (std::fabs(dyj) + abs_dot) + tiny_bound);
    }
  }
  return e;
}
// dx = dy - exp(y) * sum_k dy_k
inline expectation expected_log_softmax_backward(const buffer& y, const buffer& dy) {
  expectation e(y.rows, y.cols);
  for (std::size_t r = 0; r < y.rows; ++r) {
    real sum = 0, abs_sum = 0;
    for (std::size_t k = 0; k < y.cols; ++k) {
      sum += dy.at(r, k);
      abs_sum += std::fabs(static_cast<real>(dy.at(r, k)));
    }
    for (std::size_t c = 0; c < y.cols; ++c) {
      real ey = std::exp(static_cast<real>(y.at(r, c)));
      real dyj = dy.at(r, c);
      e.set(r, c, dyj - ey * sum, 8 * eps * (std::fabs(dyj) + ey * abs_sum) + tiny_bound);
    }
  }
  return e;
}

// One-off checks of one output against the reference.
inline void expect_logsumexp(tally& t, const buffer& x, const float* lse) { expected_logsumexp(x).check(t, lse, 1); }
inline void expect_softmax(tally& t, const buffer& x, const buffer& y) { expected_softmax(x).check(t, y); }
inline void expect_log_softmax(tally& t, const buffer& x, const buffer& y) { expected_log_softmax(x).check(t, y); }
inline void expect_softmax_backward(tally& t, const buffer& y, const buffer& dy, const buffer& dx) {
  expected_softmax_backward(y, dy).check(t, dx);
}
inline void expect_log_softmax_backward(tally& t, const buffer& y, const buffer& dy, const buffer& dx) {
  expected_log_softmax_backward(y, dy).check(t, dx);
}

// Backward inputs: y = softmax(x) (or log_softmax) rounded to float from the exact values, dy random.
inline void fill_softmax_of(buffer& y, const buffer& x, bool log) {
  for (std::size_t r = 0; r < x.rows; ++r) {
    row_stats s = reference_row_stats(x.row(r), x.cols);
    for (std::size_t c = 0; c < x.cols; ++c) {
      real xj = x.at(r, c);
      y.at(r, c) = static_cast<float>(log ? reference_log_probability(xj, s) : reference_probability(xj, s));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy as PyTorch's torch.nn.functional.cross_entropy defines it, plus PaLM's z-loss:
//   integer targets: row loss = (1 - ls) * w_t * (-logp_t) + ls / C * sum_j w_j * (-logp_j);
//     MEAN = sum of row losses / sum of w_t over counted rows (PyTorch's
//     cross_entropy_loss_label_smoothing normalizes the smoothing term by the same weight sum).
//   probability targets: q'_j = (1 - ls) * q_j + ls / C; row loss = -sum_j w_j q'_j logp_j;
//     MEAN divides by rows whatever the weights.
//   z-loss: z * lse^2 per counted row, unweighted; MEAN adds its mean over the counted rows.
// Gradient of row loss L = -sum_j y_j logp_j: dL/dx_j = Y p_j - y_j with Y = sum_j y_j; of z lse^2:
// 2 z lse p_j.

struct cross_entropy_problem {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<real> logits;                // rows x cols, dense
  const std::int64_t* targets = nullptr;   // integer targets, or
  std::vector<real> probs;                 // probability targets (rows x cols, dense) when targets is null
  softxent::cross_entropy_options options;
};

inline cross_entropy_problem make_problem(const buffer& logits, const std::int64_t* targets, const buffer* probs,
                                          const softxent::cross_entropy_options& options) {
  cross_entropy_problem p;
  p.rows = logits.rows;
  p.cols = logits.cols;
  p.targets = targets;
  p.options = options;
  p.logits.resize(p.rows * p.cols);
  for (std::size_t r = 0; r < p.rows; ++r)
    for (std::size_t c = 0; c < p.cols; ++c) p.logits[r * p.cols + c] = logits.at(r, c);
  if (probs != nullptr) {
    p.probs.resize(p.rows * p.cols);
    for (std::size_t r = 0; r < p.rows; ++r)
      for (std::size_t c = 0; c < p.cols; ++c) p.probs[r * p.cols + c] = probs->at(r, c);
  }
  return p;
}

struct cross_entropy_result {
  std::vector<real> loss;  // rows values for NONE, else one
  std::vector<real> loss_bound;
  std::vector<real> grad;  // rows x cols, dense
  std::vector<real> grad_bound;
};

inline cross_entropy_result reference_cross_entropy(const cross_entropy_problem& p) {
  const auto& o = p.options;
  const std::size_t rows = p.rows, cols = p.cols;
  const real ls = o.label_smoothing;
  const real z = o.z_loss;
  auto weight = [&](std::size_t j) -> real { return o.class_weights ? static_cast<real>(o.class_weights[j]) : 1; };

  std::vector<real> row_loss(rows, 0), row_z(rows, 0), row_bound(rows, 0), row_z_bound(rows, 0);
  std::vector<std::vector<real>> coefficient(rows);
  std::vector<bool> counted(rows, false);
  std::vector<row_stats> stats(rows);
  real weight_sum = 0;
  std::size_t count = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const real* x = &p.logits[r * cols];
    std::vector<real>& y = coefficient[r];
    y.assign(cols, 0);
    if (p.targets != nullptr) {
      std::int64_t t = p.targets[r];
      if (t == o.ignore_index) continue;
      auto target = static_cast<std::size_t>(t);
      for (std::size_t j = 0; j < cols; ++j) y[j] = ls / static_cast<real>(cols) * weight(j);
      y[target] += (1 - ls) * weight(target);
      weight_sum += weight(target);
    } else {
      for (std::size_t j = 0; j < cols; ++j)
        y[j] = weight(j) * ((1 - ls) * p.probs[r * cols + j] + ls / static_cast<real>(cols));
      weight_sum += 1;
    }
    counted[r] = true;
    ++count;
    row_stats s = reference_row_stats(x, cols);
    stats[r] = s;
    real loss = 0, bound = 0;
    for (std::size_t j = 0; j < cols; ++j) {
      if (y[j] == 0) continue;  // a zero coefficient contributes 0, even on a masked class
      real logp = reference_log_probability(x[j], s);
      loss -= y[j] * logp;
      bound += y[j] * log_softmax_bound(x[j], s);
    }
    row_loss[r] = loss;
    if (z != 0) {
      real lse_abs = std::isfinite(s.lse) ? std::fabs(s.lse) : 0;
      row_z[r] = z * s.lse * s.lse;
      row_z_bound[r] = z * (2 * lse_abs * lse_bound(s) + 8 * eps * lse_abs * lse_abs);
    }
    row_bound[r] = bound;
  }

  cross_entropy_result result;
  real scale = 1, z_scale = 1;
  bool zero_mean = false;
  if (o.reduction == softxent::reduction::mean) {
    if (count == 0 || weight_sum == 0) {
      zero_mean = true;
      scale = z_scale = 0;
    } else {
      scale = 1 / weight_sum;
      z_scale = 1 / static_cast<real>(count);
    }
  }
  if (o.reduction == softxent::reduction::none) {
    result.loss.resize(rows);
    result.loss_bound.resize(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      result.loss[r] = counted[r] ? row_loss[r] + row_z[r] : 0;
      result.loss_bound[r] = row_bound[r] + row_z_bound[r] + 8 * eps * std::fabs(result.loss[r]);
    }
  } else {
    real total = 0, bound = 0, magnitude = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      if (!counted[r]) continue;
      real term = scale * row_loss[r] + z_scale * row_z[r];
      total += term;
      magnitude += std::fabs(term);
      bound += scale * row_bound[r] + z_scale * row_z_bound[r];
    }
    if (zero_mean) total = 0, bound = 0, magnitude = 0;
    result.loss = {total};
    result.loss_bound = {bound + 8 * eps * magnitude + 8 * eps * std::fabs(total)};
  }

  result.grad.assign(rows * cols, 0);
  result.grad_bound.assign(rows * cols, 0);
  for (std::size_t r = 0; r < rows; ++r) {
    if (!counted[r] || zero_mean) continue;
    const real* x = &p.logits[r * cols];
    const row_stats& s = stats[r];
    const std::vector<real>& y = coefficient[r];
    real total_y = 0;
    for (real v : y) total_y += v;
    for (std::size_t j = 0; j < cols; ++j) {
      real pj = reference_probability(x[j], s);
      real g = scale * (total_y * pj - y[j]);
      real bound = scale * (total_y * softmax_bound(pj, x[j], s) + 8 * eps * (total_y * pj + y[j]));
      if (z != 0 && pj != 0) {
        real zg = z_scale * 2 * z * s.lse * pj;
        g += zg;
        real lse_abs = std::isfinite(s.lse) ? std::fabs(s.lse) : 0;
        bound += z_scale * 2 * z * (lse_abs * softmax_bound(pj, x[j], s) + pj * lse_bound(s)) + 8 * eps * std::fabs(zg);
      }
      result.grad[r * cols + j] = g;
      result.grad_bound[r * cols + j] = bound + tiny_bound;
    }
  }
  return result;
}

// Cross-entropy with the logit transform z = softcap(logit_scale * x): the reference above on z
// (computed exactly from x), its gradient carried to x by dz/dx = scale * (1 - tanh^2). Bounds: SPEC's
// widening 4 * eps * (|z_j| + max_k |z_k|) <= 8 * eps * M (M = max_k |z_k| over the row) of every
// log-probability (loss) and, relative, of every p_j (gradient); and 8 * eps * scale absolute for
// the float evaluation of dz/dx.
inline cross_entropy_result reference_transformed_cross_entropy(cross_entropy_problem p) {
  const auto& o = p.options;
  const real scale = o.logit_scale, cap = o.softcap;
  const std::size_t rows = p.rows, cols = p.cols;
  std::vector<real> derivative(rows * cols), row_m(rows, 0);
  for (std::size_t i = 0; i < rows * cols; ++i) {
    const real x = p.logits[i];
    if (!std::isfinite(x)) {
      derivative[i] = scale;
      continue;
    }
    const real t = cap == 0 ? 0 : std::tanh(scale * x / cap);
    p.logits[i] = cap == 0 ? scale * x : cap * t;
    derivative[i] = cap == 0 ? scale : scale * (1 - t * t);
    row_m[i / cols] = std::max(row_m[i / cols], std::fabs(p.logits[i]));
  }
  softxent::cross_entropy_options plain = o;
  plain.logit_scale = 1;
  plain.softcap = 0;
  p.options = plain;
  cross_entropy_result result = reference_cross_entropy(p);

  auto weight = [&](std::size_t j) -> real { return o.class_weights ? static_cast<real>(o.class_weights[j]) : 1; };
  real weight_total = 0;
  for (std::size_t j = 0; j < cols; ++j) weight_total += weight(j);
  const real ls = o.label_smoothing;
  real red_scale = 1, weight_sum = 0;
  std::vector<real> y_sum(rows, 0);
  for (std::size_t r = 0; r < rows; ++r) {
    if (p.targets != nullptr) {
      if (p.targets[r] == o.ignore_index) continue;
      const auto t = static_cast<std::size_t>(p.targets[r]);
      y_sum[r] = (1 - ls) * weight(t) + ls / static_cast<real>(cols) * weight_total;
      weight_sum += weight(t);
    } else {
      for (std::size_t j = 0; j < cols; ++j)
        y_sum[r] += weight(j) * ((1 - ls) * p.probs[r * cols + j] + ls / static_cast<real>(cols));
      weight_sum += 1;
    }
  }
  if (o.reduction == softxent::reduction::mean) red_scale = weight_sum == 0 ? 0 : 1 / weight_sum;
  real widen_total = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const real widen = y_sum[r] * 8 * eps * row_m[r];
    if (o.reduction == softxent::reduction::none)
      result.loss_bound[r] += widen;
    else
      widen_total += red_scale * widen;
    const row_stats s = reference_row_stats(&p.logits[r * cols], cols);
    for (std::size_t j = 0; j < cols; ++j) {
      const std::size_t i = r * cols + j;
      const real pj = std::isfinite(s.lse) ? reference_probability(p.logits[i], s) : 0;
      const real g = result.grad[i];
      result.grad[i] = g * derivative[i];
      result.grad_bound[i] = (result.grad_bound[i] + red_scale * y_sum[r] * pj * 8 * eps * row_m[r]) *
                                 std::fabs(derivative[i]) +
                             std::fabs(g) * 8 * eps * scale;
    }
  }
  if (o.reduction != softxent::reduction::none) result.loss_bound[0] += widen_total;
  return result;
}

// Checks the library's loss (and gradient, when grad is not null) against the reference.
inline void expect_cross_entropy(tally& t, const cross_entropy_result& exact, const float* loss,
                                 const buffer* grad) {
  for (std::size_t i = 0; i < exact.loss.size(); ++i) t.expect(i, 0, loss[i], exact.loss[i], exact.loss_bound[i]);
  if (grad == nullptr) return;
  for (std::size_t r = 0; r < grad->rows; ++r)
    for (std::size_t c = 0; c < grad->cols; ++c) {
      real g = exact.grad[r * grad->cols + c];
      if (g == 0)
        t.expect(r, c, grad->at(r, c), 0, 0);  // zero rows and masked classes: exactly zero
      else
        t.expect(r, c, grad->at(r, c), g, exact.grad_bound[r * grad->cols + c]);
    }
}

inline const char* reduction_name(softxent::reduction reduction) {
  switch (reduction) {
    case softxent::reduction::mean: return "mean";
    case softxent::reduction::sum: return "sum";
    case softxent::reduction::none: return "none";
  }
  return "?";
}
inline constexpr softxent::reduction all_reductions[] = {softxent::reduction::mean, softxent::reduction::sum,
                                                         softxent::reduction::none};

inline std::size_t loss_count(softxent::reduction reduction, std::size_t rows) {
  return reduction == softxent::reduction::none ? rows : 1;
}

// Option sets covering every cross-entropy option between them: defaults; everything reduced; NONE
// with ignore_index and a scale; MEAN with weights, smoothing and softcap; NONE with a strong softcap
// alone. Class weights: random_class_weights' (cols values).
inline constexpr std::size_t cross_entropy_option_sets = 5;
inline softxent::cross_entropy_options cross_entropy_option_set(std::size_t which, const std::vector<float>& weights) {
  softxent::cross_entropy_options o;
  switch (which) {
    case 1:
      o.reduction = softxent::reduction::sum;
      o.label_smoothing = 0.1f;
      o.class_weights = weights.data();
      o.z_loss = 1e-4f;
      break;
    case 2:
      o.reduction = softxent::reduction::none;
      o.ignore_index = 3;
      o.label_smoothing = 0.05f;
      o.z_loss = 1e-3f;
      o.logit_scale = 0.5f;
      break;
    case 3:
      o.class_weights = weights.data();
      o.label_smoothing = 0.2f;
      o.logit_scale = 1.3f;
      o.softcap = 15.0f;
      break;
    case 4:
      o.reduction = softxent::reduction::none;
      o.softcap = 5.0f;
      break;
    default: break;
  }
  return o;
}

inline std::vector<float> random_class_weights(std::size_t cols, random_source& random) {
  std::vector<float> weights(cols);
  for (float& w : weights) w = random.uniform(0.25f, 2.0f);
  return weights;
}


// ---------------------------------------------------------------------------------------------
// The shape sweep: row lengths, row counts, and layouts (extra stride, misaligned start)

// Short lengths (every tail, 4097 = two chunks) for the quick suite; long ones in the "slow" suite.
inline std::vector<std::size_t> short_sweep_lengths() {
  std::vector<std::size_t> v;
  for (std::size_t n = 1; n <= 70; ++n) v.push_back(n);
  for (std::size_t n : sizes{127, 128, 129, 1000, 4097}) v.push_back(n);
  return v;
}
inline std::vector<std::size_t> long_sweep_lengths() { return {32000, 128256}; }
// Enough rows for kernels that work on blocks of short rows to meet full blocks and a tail.
inline std::size_t sweep_rows(std::size_t cols) {
  if (cols <= 70) return 19;
  if (cols <= 129) return 5;
  if (cols <= 1000) return 3;
  if (cols <= 32000) return 2;
  return 1;
}
struct layout {
  std::size_t extra_stride;
  std::size_t offset;  // elements: starts that are not vector-aligned
};
inline constexpr layout sweep_layouts[] = {{0, 0}, {3, 1}, {17, 3}};
inline constexpr std::size_t layout_count = sizeof(sweep_layouts) / sizeof(sweep_layouts[0]);

// The dense layout ends exactly at the last element, so that AddressSanitizer sees any read past it.
inline buffer make_buffer(std::size_t rows, std::size_t cols, const layout& l) {
  return buffer(rows, cols, cols + l.extra_stride, l.offset, l.extra_stride == 0 ? 0 : 3);
}

// Logits whose rows cycle through the three kinds.
inline void fill_mixed_logits(buffer& b, random_source& random) {
  constexpr logit_kind kinds[] = {logit_kind::normal, logit_kind::wide, logit_kind::high};
  for (std::size_t r = 0; r < b.rows; ++r)
    for (std::size_t c = 0; c < b.cols; ++c) b.at(r, c) = draw_logit(random, kinds[r % 3]);
}

inline std::string describe(const std::string& isa, const char* op, std::size_t rows, std::size_t cols,
                            std::size_t stride, std::size_t offset) {
  std::ostringstream out;
  out << op << " isa=" << isa << " rows=" << rows << " cols=" << cols << " stride=" << stride
      << " offset=" << offset;
  return out.str();
}

// The sweep of softmax (or log_softmax) over the given row lengths, every layout and every
// instruction set, against the long double reference; y takes the layout y_step after x's.
inline void sweep_forward(bool log_space, std::size_t y_step, const std::vector<std::size_t>& lengths,
                          std::uint64_t seed) {
  const char* name = log_space ? "log_softmax" : "softmax";
  using forward_fn = softxent::status (*)(softxent::const_matrix, softxent::matrix, const softxent::exec_options&);
  const forward_fn run = log_space ? static_cast<forward_fn>(softxent::log_softmax) : static_cast<forward_fn>(softxent::softmax);
  random_source random(seed);
  const std::vector<std::string> isas = available_isas();
  for (std::size_t cols : lengths)
    for (std::size_t l = 0; l < layout_count; ++l) {
      std::size_t rows = sweep_rows(cols);
      buffer x = make_buffer(rows, cols, sweep_layouts[l]);
      fill_mixed_logits(x, random);
      const std::vector<float> x_before = x.storage;
      const expectation exact = log_space ? expected_log_softmax(x) : expected_softmax(x);
      for (const std::string& isa : isas) {
        buffer y = make_buffer(rows, cols, sweep_layouts[(l + y_step) % layout_count]);
        tally t(describe(isa, name, rows, cols, x.stride, x.offset));
        REQUIRE(run(x.cview(), y.view(), exec_for(isa, 0)) == softxent::status::ok);
        exact.check(t, y);
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(y.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(x.storage, x_before), t.label);
      }
    }
}

// The sweep of a backward operation (log_space: log_softmax_backward, else softmax_backward) over the
// given row lengths, every layout and every instruction set, against the long double reference. y, dy
// and dx take different layouts (dy_step and dx_step layouts after y's).
inline void sweep_backward(bool log_space, std::size_t dy_step, std::size_t dx_step,
                           const std::vector<std::size_t>& lengths, std::uint64_t seed) {
  const char* name = log_space ? "log_softmax_backward" : "softmax_backward";
  using backward_fn = softxent::status (*)(softxent::const_matrix, softxent::const_matrix, softxent::matrix,
                                           const softxent::exec_options&);
  const backward_fn run = log_space ? static_cast<backward_fn>(softxent::log_softmax_backward)
                                    : static_cast<backward_fn>(softxent::softmax_backward);
  random_source random(seed);
  const std::vector<std::string> isas = available_isas();
  for (std::size_t cols : lengths)
    for (std::size_t l = 0; l < layout_count; ++l) {
      std::size_t rows = sweep_rows(cols);
      buffer x(rows, cols);
      fill_mixed_logits(x, random);
      buffer y = make_buffer(rows, cols, sweep_layouts[l]);
      fill_softmax_of(y, x, log_space);
      buffer dy = make_buffer(rows, cols, sweep_layouts[(l + dy_step) % layout_count]);
      fill_logits(dy, random);
      const std::vector<float> y_before = y.storage, dy_before = dy.storage;
      const expectation exact = log_space ? expected_log_softmax_backward(y, dy) : expected_softmax_backward(y, dy);
      for (const std::string& isa : isas) {
        buffer dx = make_buffer(rows, cols, sweep_layouts[(l + dx_step) % layout_count]);
        tally t(describe(isa, name, rows, cols, y.stride, y.offset));
        REQUIRE(run(y.cview(), dy.cview(), dx.view(), exec_for(isa, 0)) == softxent::status::ok);
        exact.check(t, dx);
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(dx.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(y.storage, y_before), t.label);
        CHECK_MESSAGE(bitwise_equal(dy.storage, dy_before), t.label);
      }
    }
}

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_TEST_SUPPORT_HPP
