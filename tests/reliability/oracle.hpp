// The exact results of every softxent operation, computed in long double straight from SPEC.md's
// formulas, with the error bound SPEC.md allows for each output element. Shared by the reliability
// tests and the fuzzer (fuzz/), which check both the library and its "reference" ISA against it.
//
// This is deliberately independent of src/reference: a defect in the reference shows up as the
// reference disagreeing with these formulas.
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
std::vector<expected> expect_softmax_backward(const matrix_in& y, const matrix_in& dy);
std::vector<expected> expect_log_softmax_backward(const matrix_in& y, const matrix_in& dy);

// Cross-entropy with integer targets (targets != nullptr) or probability targets (probs.data).
// options == nullptr means the defaults. The options must be valid.
struct cross_entropy_expectation {
  std::vector<expected> loss;  // rows values for NONE, else one
  std::vector<expected> grad;  // rows x cols dense
};
cross_entropy_expectation expect_cross_entropy(const matrix_in& logits, const std::int64_t* targets,
                                               const matrix_in* probs,
                                               const softxent_cross_entropy_options* options);

// Compares a computed output (rows x cols with a stride) with its expectation. Returns "" when every
// element is acceptable, else a description of the first few offending elements.
std::string compare(const char* what, const float* got, std::size_t rows, std::size_t cols, std::size_t stride,
                    const std::vector<expected>& want);

// Bit-exact comparison of two outputs (rows x cols with a stride); "" when identical.
std::string compare_bits(const char* what, const float* a, const float* b, std::size_t rows, std::size_t cols,
                         std::size_t stride);

}  // namespace softxent_reliability

#endif  // SOFTXENT_TESTS_RELIABILITY_ORACLE_HPP
