// The one test oracle of softxent: the exact results of every operation, computed in `real` (long
// double; double on AArch64) straight from SPEC.md's formulas, with the error bound SPEC.md allows for
// each output element. The unit tests (tests/test_*.cpp, through test_support.hpp), the reliability
// tests (tests/reliability/) and the fuzzer (fuzz/) all check the library against it.
//
// This is deliberately independent of src/: a defect in the library's reference shows up as the
// reference disagreeing with these formulas. The 16-bit element types are decoded and rounded here
// from their definitions, not with the library's converters.
#ifndef SOFTXENT_TESTS_ORACLE_ORACLE_HPP
#define SOFTXENT_TESTS_ORACLE_ORACLE_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "softxent/softxent.h"
#include "softxent/softxent.hpp"

namespace softxent_oracle {

// The oracle's arithmetic: long double where it is x86's 64-bit-significand format, which costs
// little more than double; double where long double is IEEE quad done in software (AArch64), 30 times
// slower than double and the whole suite's time under qemu. double's 53 bits are still 2^30 times
// finer than float's, whose bounds the tests check.
using real = std::conditional_t<std::numeric_limits<long double>::digits <= 64, long double, double>;

constexpr real eps = real(1) / real(8388608);  // 2^-23, float's machine epsilon
// The absolute slack SPEC.md allows tiny results (1e-37), and the value below which it applies.
constexpr real tiny_bound = real(1e-37L);
constexpr real tiny_value = real(1e-30L);
constexpr real infinity = std::numeric_limits<real>::infinity();

// ---------------------------------------------------------------------------------------------
// Expected elements

// One expected output element: the exact value (NaN and infinities included) and the largest
// allowed distance from it. any_value: the contract leaves this element free (only "no crash").
struct expected {
  real value = 0;
  real tolerance = 0;
  bool any_value = false;
  bool any_non_finite = false;  // any infinity or NaN is right (IEEE evaluation order decides which)
};

// True when got is an acceptable float for e: NaN exactly where e is NaN; otherwise got equals the
// exact value rounded to float (this also covers infinities, and exact values beyond FLT_MAX that
// must round to an infinity), or lies within the tolerance of the exact value.
bool acceptable(float got, const expected& e) noexcept;

// ---------------------------------------------------------------------------------------------
// Element types (SPEC.md version 2). A dtype is passed as the int the C enum holds, so that values
// outside the enum can be described too.

bool valid_dtype(int dtype) noexcept;
std::size_t dtype_size(int dtype) noexcept;  // 4 for F32 and for values outside the enum
const char* dtype_name(int dtype) noexcept;
// IEEE binary16 and bfloat16 from their bit patterns, exactly.
real decode_f16(std::uint16_t bits) noexcept;
real decode_bf16(std::uint16_t bits) noexcept;
// The nearest value of the type, ties to even, beyond the largest finite value plus half an ulp an
// infinity; NaN stays NaN.
std::uint16_t encode_f16(real value) noexcept;
std::uint16_t encode_bf16(real value) noexcept;
// Element index of a matrix of dtype (F32 for values outside the enum), decoded / stored rounded.
real load_element(const void* data, int dtype, std::size_t index) noexcept;
void store_element(void* data, int dtype, std::size_t index, real value) noexcept;
// value rounded once to the type.
real round_to(int dtype, real value) noexcept;
// Half an ulp of an output type (SPEC.md: relative 2^-11 for F16 plus 2^-25 absolute, 2^-8 for BF16,
// whose subnormals are float's and add at most 2^-134); 0 for F32.
real output_rounding(int dtype, real exact) noexcept;
// The exact values from which a value of dtype rounds to an infinity.
real overflow_threshold(int dtype) noexcept;

// The same for a value stored in an output of the given type (decoded exactly): SPEC's bound plus half
// an ulp of the type; an infinity where the exact value rounds to one, or where the bound reaches the
// type's overflow threshold.
bool acceptable(real got, const expected& e, int dtype) noexcept;

// A matrix argument as the C API sees it.
struct matrix_in {
  const float* data;
  std::size_t rows;
  std::size_t cols;
  std::size_t stride;
  float at(std::size_t r, std::size_t c) const noexcept { return data[r * stride + c]; }
};

// ---------------------------------------------------------------------------------------------
// One row of the softmax family, and SPEC's bounds

// What one row's forward pass needs, over its z (the logits, or their transform: -inf for a masked
// class): m = max (the sink included), s = sum exp(z_j - m) (the sink's term included), and whether a
// NaN or +inf poisons the row (SPEC: all its forward outputs are NaN).
struct row_summary {
  real max = -infinity;
  real sum = 0;
  bool poisoned = false;
  // The transform's widening 4 eps (|z_j| + max_k |z_k|), when the transform computes z.
  bool widened = false;
  real largest_magnitude = 0;  // max_k |z_k| over the finite classes
  bool all_masked() const { return max == -infinity; }
  real lse() const;
  // exp(z - lse) and z - lse without forming lse: exact even when |lse| is near FLT_MAX. NaN for a
  // poisoned row; 0 and -inf for a masked class.
  real probability(real z) const;
  real log_probability(real z) const;
  real widening(real z) const;
};
// The summary of a row of n values z (NaN or +inf poison it, -inf is masked); sink: nullptr, or the
// head's sink logit, which joins the normalizer; widened: z was computed by a transform.
row_summary summarize(const real* z, std::size_t n, const float* sink = nullptr, bool widened = false);
row_summary summarize(const float* z, std::size_t n);

// SPEC: softmax relative error (8 + |z_j - m|) eps (plus the transform's widening), below 1e-30 at
// least 1e-37 absolute; log_softmax absolute (8 + |z_j - m|) eps + 8 eps |lse| (plus the widening);
// lse 8 eps (1 + |lse|) (plus 8 eps max_k |z_k| under a transform). A masked class's bounds are 0.
real probability_bound(const row_summary& s, real z, real p);
real log_probability_bound(const row_summary& s, real z);
real lse_bound(const row_summary& s);

// ---------------------------------------------------------------------------------------------
// The softmax family

// Expected outputs, rows values (logsumexp) or rows x cols dense (the rest).
std::vector<expected> expect_logsumexp(const matrix_in& x);
std::vector<expected> expect_softmax(const matrix_in& x);
std::vector<expected> expect_log_softmax(const matrix_in& x);

// The softmax family's logit transform (softxent_softmax_options), with the mask already decoded to
// float: z = scale * x, softcap, + slope(head) * mask[r % mask_rows][j] (-inf masks), classes from
// valid_cols[r] on masked; each head's sink joins the normalizer. The bounds are SPEC's on z, widened
// by 4 eps (|z_j| + max_k |z_k|) where the transform computes (scale, softcap, mask, temperature).
struct softmax_transform {
  float scale = 1.0f;
  float softcap = 0.0f;
  const float* mask = nullptr;  // mask_rows x cols, stride mask_stride; nullptr: none
  std::size_t mask_rows = 0;
  std::size_t mask_stride = 0;
  std::size_t rows_per_head = 0;  // 0: one head
  const float* slopes = nullptr;  // per head; nullptr: slope 1
  const float* sinks = nullptr;   // per head; nullptr: none
  const std::int64_t* valid_cols = nullptr;  // per row; nullptr: all
  float temperature = 1.0f;  // sampling's: z / temperature after the rest (> 0; the sink is not divided)
};
std::vector<expected> expect_logsumexp(const matrix_in& x, const softmax_transform& t);
std::vector<expected> expect_softmax(const matrix_in& x, const softmax_transform& t);
std::vector<expected> expect_log_softmax(const matrix_in& x, const softmax_transform& t);
// Row r's z under the transform, exactly: -inf for a masked class, NaN or +inf where such a logit (or
// mask value) poisons the row; false for a poisoned row (its forward outputs are NaN). And whether the
// transform computes z in float (scale, softcap, mask or temperature), which widens the bounds and
// leaves the order of near ties open.
bool transformed_logits(const matrix_in& x, std::size_t r, const softmax_transform& t, std::vector<real>& z);
bool transform_rounds(const softmax_transform& t) noexcept;
// The summary of row r under the transform (its sink and widening included).
row_summary transformed_summary(const matrix_in& x, std::size_t r, const softmax_transform& t);

// dx = y * (dy - sum_j dy_j y_j) and dx = dy - exp(y) * sum_j dy_j, in IEEE arithmetic: an exact NaN
// must be NaN, an exact infinity may be any non-finite value (the evaluation order decides), a masked
// class of log_softmax_backward (y = -inf) gets dy exactly.
std::vector<expected> expect_softmax_backward(const matrix_in& y, const matrix_in& dy);
std::vector<expected> expect_log_softmax_backward(const matrix_in& y, const matrix_in& dy);

// ---------------------------------------------------------------------------------------------
// Cross-entropy

// Cross-entropy with integer targets (targets != nullptr) or probability targets (probs.data), as
// PyTorch's torch.nn.functional.cross_entropy defines it, plus PaLM's z-loss:
//   integer targets: row loss = (1 - ls) w_t (-log p_t) + ls / C sum_j w_j (-log p_j); MEAN divides
//     by the sum of w_t over counted rows (PyTorch normalizes the smoothing term by the same sum);
//   probability targets: q'_j = (1 - ls) q_j + ls / C; row loss = -sum_j w_j q'_j log p_j; MEAN
//     divides by the rows whatever the weights;
//   z-loss: z lse^2 per counted row, unweighted; MEAN adds its mean over the counted rows.
// Gradient of a row loss -sum_j y_j log p_j: Y p_j - y_j with Y = sum_j y_j; of z lse^2: 2 z lse p_j.
// options == nullptr means the defaults. The options must be valid. With logit_scale or softcap the
// loss is taken on z = softcap(logit_scale * x) (without softcap, logit_scale * x held within
// +-FLT_MAX for finite x, as softxent.h states) and the gradient is with respect to x; the bounds are
// those on z widened as for the softmax transform, and the chain's factor dz/dx adds 8 eps * scale of
// the gradient with respect to z (the float evaluation of 1 - tanh^2).
struct cross_entropy_expectation {
  std::vector<expected> loss;  // rows values for NONE, else one
  std::vector<expected> grad;  // rows x cols dense
};
cross_entropy_expectation expect_cross_entropy(const matrix_in& logits, const std::int64_t* targets,
                                               const matrix_in* probs,
                                               const softxent_cross_entropy_options* options);
// The same on exact logits and probabilities given as rows x cols dense values (probs nullptr with
// integer targets).
cross_entropy_expectation expect_cross_entropy(std::size_t rows, std::size_t cols, const real* logits,
                                               const std::int64_t* targets, const real* probs,
                                               const softxent_cross_entropy_options* options);
// The C options of the C++ ones.
softxent_cross_entropy_options c_options(const softxent::cross_entropy_options& options) noexcept;

// The fused linear cross-entropy (softxent_linear_cross_entropy_f32): cross-entropy of the exact
// logits inputs * weight^T + bias (rows x classes; bias nullptr: none) with SPEC's bounds widened by
// the products' float error, (hidden + 2) eps (sum_k |inputs_rk weight_jk| + |bias_j|) per logit,
// carried to the loss and to the logits' gradient G; then G * weight (rows x hidden), and
// grad_weight_start + G^T * inputs (classes x hidden), grad_bias_start + the column sums of G
// (classes), each within (terms + 2) eps of its magnitude plus the carried bound (start data nullptr:
// zeros). Finite values only; the options must be valid and the targets valid or ignored.
struct linear_cross_entropy_expectation {
  std::vector<expected> loss, grad_inputs, grad_weight, grad_bias;
};
linear_cross_entropy_expectation expect_linear_cross_entropy(const matrix_in& inputs, const matrix_in& weight,
                                                             const float* bias, const std::int64_t* targets,
                                                             const softxent_cross_entropy_options* options,
                                                             const matrix_in& grad_weight_start,
                                                             const float* grad_bias_start);

// z of one logit under cross-entropy's transform (see expect_cross_entropy), exactly.
real cross_entropy_logit(float x, float logit_scale, float softcap) noexcept;

// ---------------------------------------------------------------------------------------------
// Top-k and sampling: SPEC.md's rules over one row's exact transformed logits z (sort the row, walk
// it), with the tolerances that decide when rounding may change an answer.

// What rounding may change: 8 eps (|z_j| + max |z|) (the transform's widening, doubled for float z),
// and never less than float's resolution among subnormals, 2^-149.
struct row_facts {
  bool poisoned = false;
  real max = -infinity;     // over the row
  real magnitude = 0;       // max |z_j| over finite z_j
  real lse = -infinity;     // log(sum exp(z) + exp(sink))
  std::size_t unmasked = 0;
};
row_facts facts_of(const std::vector<real>& z, const float* sink = nullptr);
real rounding_width(real v, const row_facts& f);
// log_softmax's bound (SPEC.md), widened by the transform: z_j - lse.
real log_prob_bound(real zj, const row_facts& f);
// The unmasked classes of a row, by descending z, ties by ascending index.
std::vector<std::size_t> ranked(const std::vector<real>& z);

// The k classes top-k returns for a row that no NaN or +inf poisons: the unmasked ones by descending
// z (ties by lower index), then the masked ones by ascending index (k <= z.size()).
std::vector<std::size_t> expected_top_k(const std::vector<real>& z, std::size_t k);
// Whether class got may stand where the exact order puts class want: the same class, or, where the
// transform rounds z (exact_order false), an unmasked class whose z is within want's rounding width.
bool top_k_place_allowed(const std::vector<real>& z, const row_facts& f, std::size_t got, std::size_t want,
                         bool exact_order);

// Philox4x32-10, from the paper's round function and Random123's constants, and the draw
// u = (philox[0] >> 8) * 2^-24 of a row's seed at a counter offset.
std::array<std::uint32_t, 4> philox(std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key);
real draw_of(std::uint64_t seed, std::uint64_t offset);

// Sampling, as Hugging Face's warpers and SPEC.md's draw define it.
struct sample_expectation {
  std::int64_t token = -1;       // -1: NaN/+inf or all masked
  bool ambiguous = false;        // rounding within the tolerances could change the token
  std::vector<std::size_t> kept; // the kept classes, ascending index
  std::vector<real> probability; // over kept (renormalized), same order
  std::vector<std::size_t> allowed;  // ascending: every class the token may be; {token} unless ambiguous
  bool allows(std::int64_t got) const;
};
// z: the row's exact transformed logits; options as given to the library; u: the row's draw.
// rounded: z is the float result of a transform that rounds (scale, softcap, mask), so that classes
// whose exact z tie may order either way and each class's mass is known to within its rounding width
// (exp of twice the width of z', relative); without it z is exact (the logits, decoded) and masses
// err only by the float sums'.
// Rounding may flip whether a class near a threshold is kept (an uncertain class): the token is
// ambiguous when it is uncertain itself, or when u * total lies closer to an end of the token's
// stretch of the cumulative sum than the uncertain classes' mass plus the sums' error. An ambiguous
// token may be any class that some kept set between the certain classes and the certain plus the
// uncertain ones puts at u times its total (allowed).
sample_expectation expected_sample(const std::vector<real>& z, const softxent::sampling_options& o, real u,
                                   bool rounded = false);

// ---------------------------------------------------------------------------------------------
// Comparisons

// Compares a computed output (rows x cols with a stride) with its expectation. Returns "" when every
// element is acceptable, else a description of the first few offending elements.
std::string compare(const char* what, const float* got, std::size_t rows, std::size_t cols, std::size_t stride,
                    const std::vector<expected>& want);
// The same for an output of any dtype (elements of that type from got).
std::string compare(const char* what, const void* got, int dtype, std::size_t rows, std::size_t cols,
                    std::size_t stride, const std::vector<expected>& want);

// Bit-exact comparison of two outputs (rows x cols with a stride); "" when identical.
std::string compare_bits(const char* what, const float* a, const float* b, std::size_t rows, std::size_t cols,
                         std::size_t stride);

}  // namespace softxent_oracle

#endif  // SOFTXENT_TESTS_ORACLE_ORACLE_HPP
