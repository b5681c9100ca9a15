// The exact results of every softxent operation, computed in long double straight from SPEC.md's
// formulas, with the error bound SPEC.md allows for each output element. Shared by the reliability
// tests and the fuzzer (fuzz/), which check both the library and its "reference" ISA against it.
//
// This is deliberately independent of src/reference: a defect in the reference shows up as the
// reference disagreeing with these formulas. The 16-bit element types are decoded and rounded here
// from their definitions, not with the library's converters.
#ifndef SOFTXENT_TESTS_RELIABILITY_ORACLE_HPP
#define SOFTXENT_TESTS_RELIABILITY_ORACLE_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "softxent/softxent.h"

namespace softxent_reliability {

// One expected output element: the exact value (NaN and infinities included) and the largest
// allowed distance from it. any_value: the contract leaves this element free (only "no crash").
struct expected {
  long double value = 0;
  long double tolerance = 0;
  bool any_value = false;
  bool any_non_finite = false;  // any infinity or NaN is right (IEEE evaluation order decides which)
};

// True when got is an acceptable float for e: NaN exactly where e is NaN; otherwise got equals the
// exact value rounded to float (this also covers infinities, and exact values beyond FLT_MAX that
// must round to an infinity), or lies within the tolerance of the exact value.
bool acceptable(float got, const expected& e) noexcept;

// Element types (SPEC.md version 2). A dtype is passed as the int the C enum holds, so that values
// outside the enum can be described too.
bool valid_dtype(int dtype) noexcept;
std::size_t dtype_size(int dtype) noexcept;  // 4 for F32 and for values outside the enum
const char* dtype_name(int dtype) noexcept;
// IEEE binary16 and bfloat16 from their bit patterns, exactly.
long double decode_f16(std::uint16_t bits) noexcept;
long double decode_bf16(std::uint16_t bits) noexcept;
// The nearest value of the type, ties to even, beyond the largest finite value plus half an ulp an
// infinity; NaN stays NaN. F32 gives the float's bits.
std::uint16_t encode_f16(long double value) noexcept;
std::uint16_t encode_bf16(long double value) noexcept;
// Element index of a matrix of dtype (F32 for values outside the enum), decoded / stored rounded.
long double load_element(const void* data, int dtype, std::size_t index) noexcept;
void store_element(void* data, int dtype, std::size_t index, long double value) noexcept;
// value rounded once to the type.
long double round_to(int dtype, long double value) noexcept;

// The same for a value stored in an output of the given type (decoded exactly): SPEC's bound plus half
// an ulp of the type (relative 2^-11 for F16 with 2^-25 absolute, 2^-8 for BF16); an infinity where
// the exact value rounds to one, or where the bound reaches the type's overflow threshold.
bool acceptable(long double got, const expected& e, int dtype) noexcept;

// A matrix argument as the C API sees it.
struct matrix_in {
  const float* data;
  std::size_t rows;
  std::size_t cols;
  std::size_t stride;
  float at(std::size_t r, std::size_t c) const noexcept { return data[r * stride + c]; }
};

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
// Row r's z under the transform, exactly (-inf for a masked class); false when a NaN or +inf poisons
// the row (its forward outputs are NaN). And whether the transform computes z in float (scale,
// softcap, mask or temperature), which widens the bounds and leaves the order of near ties open.
bool transformed_logits(const matrix_in& x, std::size_t r, const softmax_transform& t, std::vector<long double>& z);
bool transform_rounds(const softmax_transform& t) noexcept;
std::vector<expected> expect_softmax_backward(const matrix_in& y, const matrix_in& dy);
std::vector<expected> expect_log_softmax_backward(const matrix_in& y, const matrix_in& dy);

// Cross-entropy with integer targets (targets != nullptr) or probability targets (probs.data).
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
long double cross_entropy_logit(float x, float logit_scale, float softcap) noexcept;

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

}  // namespace softxent_reliability

#endif  // SOFTXENT_TESTS_RELIABILITY_ORACLE_HPP
