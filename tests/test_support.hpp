// Shared helpers of the softxent test suite: the instruction sets to sweep, sentinel-guarded strided
// buffers, random inputs, and the doctest-side adapters of the one test oracle (oracle/oracle.hpp:
// every operation's exact result in long double, double on AArch64, with SPEC.md's error bounds).
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

#include "oracle/oracle.hpp"

namespace sxtest {

// The oracle's arithmetic, float's eps, and the absolute slack SPEC.md allows tiny results.
using softxent_oracle::eps;
using softxent_oracle::real;
using softxent_oracle::tiny_bound;
using softxent_oracle::tiny_value;
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
// The oracle's row statistics and bounds, in the call shapes of the tests

// Statistics of one row of float or exact logits: NaN or +inf poison it, -inf is masked.
using row_stats = softxent_oracle::row_summary;
template <class T>
row_stats reference_row_stats(const T* x, std::size_t n) {
  return softxent_oracle::summarize(x, n);
}
inline real reference_log_probability(real xj, const row_stats& s) { return s.log_probability(xj); }
inline real reference_probability(real xj, const row_stats& s) { return s.probability(xj); }
inline real softmax_bound(real p, real xj, const row_stats& s) { return softxent_oracle::probability_bound(s, xj, p); }
inline real log_softmax_bound(real xj, const row_stats& s) { return softxent_oracle::log_probability_bound(s, xj); }
using softxent_oracle::lse_bound;

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

// The exact results of one operation on one input with their tolerances, computed once by the oracle
// and checked against the outputs of any number of calls (one per instruction set). Stored in double:
// its rounding is nine orders of magnitude below the tolerances.
struct expectation {
  enum class demand : unsigned char { within_bound, positive_zero, any_value, any_non_finite };
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<double> exact;  // rows x cols, dense
  std::vector<double> bound;
  std::vector<demand> kind;

  expectation(std::size_t rows_, std::size_t cols_)
      : rows(rows_), cols(cols_), exact(rows_ * cols_), bound(rows_ * cols_), kind(rows_ * cols_, demand::within_bound) {}
  // From the oracle's rows x cols elements; zero_exactly: an exact 0 (a masked class, an underflow)
  // must be +0, bit for bit.
  expectation(std::size_t rows_, std::size_t cols_, const std::vector<softxent_oracle::expected>& elements,
              bool zero_exactly = false)
      : expectation(rows_, cols_) {
    for (std::size_t i = 0; i < elements.size(); ++i) {
      const softxent_oracle::expected& e = elements[i];
      exact[i] = static_cast<double>(e.value);
      bound[i] = static_cast<double>(e.tolerance);
      if (e.any_value) kind[i] = demand::any_value;
      else if (e.any_non_finite) kind[i] = demand::any_non_finite;
      else if (zero_exactly && e.value == 0) kind[i] = demand::positive_zero;
    }
  }
  void check(tally& t, const float* got, std::size_t got_stride) const {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        const std::size_t i = r * cols + c;
        const float g = got[r * got_stride + c];
        switch (kind[i]) {
          case demand::within_bound: t.expect(r, c, g, exact[i], bound[i]); break;
          case demand::positive_zero: t.expect_bits(r, c, g, 0.0f); break;
          case demand::any_value: ++t.checked; break;
          case demand::any_non_finite:
            ++t.checked;
            if (std::isfinite(g)) t.fail(r, c, g, exact[i], 0, "expected a non-finite value");
            break;
        }
      }
  }
  void check(tally& t, const buffer& got) const { check(t, got.data(), got.stride); }
};

inline softxent_oracle::matrix_in oracle_view(const buffer& b) { return {b.data(), b.rows, b.cols, b.stride}; }

// The oracle's form of softmax options over rows of cols classes: the mask decoded to float into
// mask_storage, which must outlive the result.
inline softxent_oracle::softmax_transform oracle_transform(const softxent::softmax_options& o, std::size_t cols,
                                                           std::vector<float>& mask_storage) {
  softxent_oracle::softmax_transform t;
  t.scale = o.scale;
  t.softcap = o.softcap;
  t.rows_per_head = o.rows_per_head;
  t.slopes = o.slopes;
  t.sinks = o.sinks;
  t.valid_cols = o.valid_cols;
  if (o.mask.data != nullptr) {
    mask_storage.clear();
    for (std::size_t i = 0; i < (o.mask.rows - 1) * o.mask.stride + cols; ++i)
      mask_storage.push_back(
          static_cast<float>(softxent_oracle::load_element(o.mask.data, static_cast<int>(o.mask.dtype), i)));
    t.mask = mask_storage.data();
    t.mask_rows = o.mask.rows;
    t.mask_stride = o.mask.stride;
  }
  return t;
}

inline expectation expected_logsumexp(const buffer& x) {
  return expectation(x.rows, 1, softxent_oracle::expect_logsumexp(oracle_view(x)));
}
inline expectation expected_softmax(const buffer& x) {
  return expectation(x.rows, x.cols, softxent_oracle::expect_softmax(oracle_view(x)), true);
}
inline expectation expected_log_softmax(const buffer& x) {
  return expectation(x.rows, x.cols, softxent_oracle::expect_log_softmax(oracle_view(x)));
}
inline expectation expected_softmax_backward(const buffer& y, const buffer& dy) {
  return expectation(y.rows, y.cols, softxent_oracle::expect_softmax_backward(oracle_view(y), oracle_view(dy)));
}
inline expectation expected_log_softmax_backward(const buffer& y, const buffer& dy) {
  return expectation(y.rows, y.cols, softxent_oracle::expect_log_softmax_backward(oracle_view(y), oracle_view(dy)));
}

// One-off checks of one output against the oracle.
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
    const row_stats s = reference_row_stats(x.row(r), x.cols);
    for (std::size_t c = 0; c < x.cols; ++c)
      y.at(r, c) = static_cast<float>(log ? s.log_probability(x.at(r, c)) : s.probability(x.at(r, c)));
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy (the oracle's expect_cross_entropy) on exact logits the tests may move, e.g. for
// finite differences.

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

// Every option, the logit transform (logit_scale, softcap) included.
inline cross_entropy_result reference_cross_entropy(const cross_entropy_problem& p) {
  const softxent_cross_entropy_options o = softxent_oracle::c_options(p.options);
  const softxent_oracle::cross_entropy_expectation e = softxent_oracle::expect_cross_entropy(
      p.rows, p.cols, p.logits.data(), p.targets, p.targets == nullptr ? p.probs.data() : nullptr, &o);
  cross_entropy_result result;
  for (const softxent_oracle::expected& loss : e.loss) {
    result.loss.push_back(loss.value);
    result.loss_bound.push_back(loss.tolerance);
  }
  for (const softxent_oracle::expected& grad : e.grad) {
    result.grad.push_back(grad.value);
    result.grad_bound.push_back(grad.tolerance);
  }
  return result;
}

// Checks the library's loss (and gradient, when grad is not null) against the oracle.
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
// instruction set, against the oracle; y takes the layout y_step after x's.
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
// given row lengths, every layout and every instruction set, against the oracle. y, dy
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
