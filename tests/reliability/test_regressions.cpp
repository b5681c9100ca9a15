// Regression tests: one TEST_CASE per defect the fuzzer and the reliability tests found, with the
// exact input that showed it and, above it, what went wrong.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "oracle/oracle.hpp"
#include "support.hpp"
#include <cstring>
#include <string>

namespace softxent_reliability {

using namespace softxent_oracle;
namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

std::vector<std::string> isa_names() {
  std::vector<std::string> names;
  for (const char* isa : supported_isas()) names.push_back(isa);
  return names;
}

softxent_exec exec_for(const std::string& isa) {
  softxent_exec exec{};
  exec.isa = isa.c_str();
  exec.threads = 1;
  return exec;
}

// The loss and gradient of one row of cols integer-target logits, on every ISA, against the oracle.
void expect_one_row_on_every_isa(const float* x, std::size_t cols, const std::int64_t* target,
                                 const softxent_cross_entropy_options& options) {
  const matrix_in logits{x, 1, cols, cols};
  const cross_entropy_expectation want = expect_cross_entropy(logits, target, nullptr, &options);
  for (const std::string& isa : isa_names()) {
    const softxent_exec exec = exec_for(isa);
    float loss = 0;
    std::vector<float> grad(cols, 0.0f);
    REQUIRE(softxent_cross_entropy_f32(1, cols, x, cols, target, &options, &loss, grad.data(), cols, &exec) == SOFTXENT_OK);
    CHECK_MESSAGE(compare("loss", &loss, 1, 1, 1, want.loss) == "", "isa " << isa << ": loss " << loss);
    CHECK_MESSAGE(compare("grad", grad.data(), 1, cols, cols, want.grad) == "", "isa " << isa);
  }
}

}  // namespace

// Each case below guards a fixed defect (a weak symbol shared by the ISA objects is guarded by the
// ODR test instead). A defect still open is listed in fuzz/c_api_checker.cpp's known_defects until
// its fix, and its case here would be marked doctest::may_fail.
TEST_SUITE("regressions") {
  // Found by the fuzzer: the SIMD kernels compute x_j - max in float for the loss, which overflows
  // when a row's logits span more than FLT_MAX. Exact loss 0.05 * 6e38 = 3e37; the kernels gave inf.
  TEST_CASE("regression: cross-entropy loss of logits spanning more than FLT_MAX stays finite") {
    const float x[2] = {3e38f, -3e38f};
    const std::int64_t target[1] = {0};
    softxent_cross_entropy_options options;
    softxent_cross_entropy_options_init(&options);
    options.reduction = SOFTXENT_REDUCTION_NONE;
    options.label_smoothing = 0.1f;
    expect_one_row_on_every_isa(x, 2, target, options);
  }

  // Found by the fuzzer: the reference did not hold logit_scale * x within +-FLT_MAX (softxent.h
  // states it for finite x without softcap, and the float kernels do): logits {3e38, 1, 3.4e38} at
  // logit_scale 3e30 gave loss inf and shard maxima of 9e68 on the reference, where z is FLT_MAX for
  // both large logits and the loss log 2.
  TEST_CASE("regression: cross-entropy holds logit_scale * x within FLT_MAX on every ISA, sharded too") {
    const float x[3] = {3e38f, 1.0f, 3.4e38f};
    const std::int64_t target[1] = {0};
    softxent_cross_entropy_options options;
    softxent_cross_entropy_options_init(&options);
    options.reduction = SOFTXENT_REDUCTION_NONE;
    options.logit_scale = 3e30f;
    expect_one_row_on_every_isa(x, 3, target, options);
    const cross_entropy_expectation want = expect_cross_entropy(matrix_in{x, 1, 3, 3}, target, nullptr, &options);
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      // Two shards, {3e38} and {1, 3.4e38}: each shard's max is FLT_MAX, and the finished loss is the
      // unsharded one.
      softxent_shard_stats first[1], second[1];
      REQUIRE(softxent_cross_entropy_shard_stats_f32(1, 1, 0, 3, x, 3, target, &options, first, &exec) == SOFTXENT_OK);
      REQUIRE(softxent_cross_entropy_shard_stats_f32(1, 2, 1, 3, x + 1, 3, target, &options, second, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE(first[0].max == static_cast<double>(std::numeric_limits<float>::max()), "isa " << isa);
      CHECK_MESSAGE(second[0].max == static_cast<double>(std::numeric_limits<float>::max()), "isa " << isa);
      softxent_shard_stats_merge(1, first, second);
      float sharded_loss = 0;
      REQUIRE(softxent_cross_entropy_shard_finish_f32(1, 1, 0, 3, x, 3, target, &options, second, &sharded_loss, nullptr,
                                                      0, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE(compare("sharded loss", &sharded_loss, 1, 1, 1, want.loss) == "", "isa " << isa << ": loss " << sharded_loss);
    }
  }

  // Found by the fuzzer: with class weights, a row with a NaN logit whose target weight is 0 got
  // loss 0 from the reference, NaN from the SIMD kernels. SPEC: a NaN in a row makes its loss NaN.
  TEST_CASE("regression: a NaN row with a zero target weight has a NaN loss on every ISA") {
    const float x[3] = {std::numeric_limits<float>::quiet_NaN(), 1.0f, 2.0f};
    const float weights[3] = {0.0f, 1.0f, 1.0f};
    const std::int64_t target[1] = {0};
    softxent_cross_entropy_options options;
    softxent_cross_entropy_options_init(&options);
    options.reduction = SOFTXENT_REDUCTION_SUM;
    options.class_weights = weights;
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      float loss = 0, grad[3] = {0, 0, 0};
      REQUIRE(softxent_cross_entropy_f32(1, 3, x, 3, target, &options, &loss, grad, 3, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE(std::isnan(loss), "isa " << isa << ": loss " << loss);
      for (float g : grad) CHECK_MESSAGE(std::isnan(g), "isa " << isa << ": grad " << g);
    }
  }

  // Found by the fuzzer: SSE2's exp loses up to about 30 ulp for arguments near -68, so
  // log_softmax_backward (bound 8 eps (|dy_j| + exp(y_j) sum |dy_k|), independent of y_j) exceeds it
  // 3.6 times at y = -68.29. Every y in [-104, 1] with dy = (1, 0, ..., 0), so that dx_j = -exp(y_j).
  TEST_CASE("regression: log_softmax_backward within its bound for y in [-104, 1] on every ISA") {
    constexpr std::size_t cols = 64, rows = 4096;
    std::vector<float> y(rows * cols), dy(rows * cols, 0.0f), dx(rows * cols);
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = -104.0f + 105.0f * static_cast<float>(i) / static_cast<float>(y.size());
    for (std::size_t r = 0; r < rows; ++r) dy[r * cols] = 1.0f;
    const std::vector<expected> want =
        expect_log_softmax_backward(matrix_in{y.data(), rows, cols, cols}, matrix_in{dy.data(), rows, cols, cols});
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      REQUIRE(softxent_log_softmax_backward_f32(rows, cols, y.data(), cols, dy.data(), cols, dx.data(), cols, &exec) ==
              SOFTXENT_OK);
      CHECK_MESSAGE(compare("dx", dx.data(), rows, cols, cols, want) == "", "isa " << isa);
    }
  }

  // Found by the fuzzer: a row longer than one chunk (4096) whose max is below about -88 and whose
  // last chunk holds only -inf: that chunk is scaled by exp(0 - lse) = inf, and inf * 0 = NaN. softmax
  // gave NaN at [4096] (expected 0), the cross-entropy gradient NaN (expected 0), on every SIMD ISA.
  TEST_CASE("regression: long row with a very negative max and an all -inf chunk has no NaN") {
    constexpr std::size_t cols = 4097;
    for (float top : {-100.0f, -3e38f}) {
      std::vector<float> x(cols, -inf), y(cols), grad(cols);
      x[0] = top;
      const std::int64_t target[1] = {0};
      for (const std::string& isa : isa_names()) {
        const softxent_exec exec = exec_for(isa);
        REQUIRE(softxent_softmax_f32(1, cols, x.data(), cols, y.data(), cols, &exec) == SOFTXENT_OK);
        CHECK_MESSAGE(y[0] == 1.0f, "isa " << isa << " max " << top);
        CHECK_MESSAGE(y[cols - 1] == 0.0f, "isa " << isa << " max " << top << ": softmax[4096] = " << y[cols - 1]);
        float loss = -1;
        REQUIRE(softxent_cross_entropy_f32(1, cols, x.data(), cols, target, nullptr, &loss, grad.data(), cols, &exec) ==
                SOFTXENT_OK);
        CHECK_MESSAGE(loss == 0.0f, "isa " << isa);
        CHECK_MESSAGE(grad[cols - 1] == 0.0f, "isa " << isa << " max " << top << ": grad[4096] = " << grad[cols - 1]);
      }
    }
  }

  // a C caller may store any int in options.reduction; the C API read it through the C++ enum
  // type (c_api.cpp), which is undefined behaviour outside the enum's range of values (0..3): UBSan
  // stopped there. Expected: INVALID_OPTION, also under UBSan.
  TEST_CASE("regression: a reduction value far outside the enum is INVALID_OPTION") {
    const float x[2] = {1.0f, 2.0f};
    const std::int64_t target[1] = {0};
    softxent_cross_entropy_options options;
    softxent_cross_entropy_options_init(&options);
    const int raw = 1000;
    std::memcpy(&options.reduction, &raw, sizeof raw);
    float loss = 42.0f;
    CHECK(softxent_cross_entropy_f32(1, 2, x, 2, target, &options, &loss, nullptr, 0, nullptr) ==
          SOFTXENT_ERROR_INVALID_OPTION);
    CHECK(loss == 42.0f);
  }

  // Found by the fuzzer in CI after the first case's fix: a row's loss above FLT_MAX was
  // rounded to inf before the batch MEAN brought the total back below FLT_MAX. Rows (FLT_MAX, -FLT_MAX,
  // -FLT_MAX) and (0, 0, 0), label smoothing 1, MEAN: exact (4/3 FLT_MAX + log 3) / 2 = 2.26855e38.
  // Measured before the fix: soft targets inf on scalar, sse2, avx2, avx512; integer targets on scalar.
  TEST_CASE("regression: a batch mean that fits a float stays finite when a row's loss does not") {
    const float max = std::numeric_limits<float>::max();
    const float x[6] = {max, -max, -max, 0, 0, 0};
    const float probs[6] = {1, 0, 0, 1, 0, 0};
    const std::int64_t targets[2] = {0, 0};
    softxent_cross_entropy_options options;
    softxent_cross_entropy_options_init(&options);
    options.label_smoothing = 1.0f;
    const matrix_in logits{x, 2, 3, 3}, target_probs{probs, 2, 3, 3};
    const cross_entropy_expectation soft = expect_cross_entropy(logits, nullptr, &target_probs, &options);
    const cross_entropy_expectation hard = expect_cross_entropy(logits, targets, nullptr, &options);
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      float soft_loss = 0, hard_loss = 0;
      REQUIRE(softxent_cross_entropy_soft_f32(2, 3, x, 3, probs, 3, &options, &soft_loss, nullptr, 0, &exec) ==
              SOFTXENT_OK);
      REQUIRE(softxent_cross_entropy_f32(2, 3, x, 3, targets, &options, &hard_loss, nullptr, 0, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE(compare("soft loss", &soft_loss, 1, 1, 1, soft.loss) == "", "isa " << isa << ": " << soft_loss);
      CHECK_MESSAGE(compare("loss", &hard_loss, 1, 1, 1, hard.loss) == "", "isa " << isa << ": " << hard_loss);
    }
  }

  // Found by the fuzz checker's top_k seeds: the reference's top_k took log_probs as z - lse with
  // lse rounded to float first, so a row whose transformed logits pass FLT_MAX (lse +inf in float)
  // got log_probs -inf. Logits (3e38, 3e38, 1) at scale 2: z = (6e38, 6e38, 2), exact log_probs of the
  // top two -log 2. (The SIMD tables' lse of this row is the open transformed-overflow defect in the fuzz checker's list.)
  TEST_CASE("regression: top_k log-probabilities stay finite when lse is beyond FLT_MAX") {
    const float x[3] = {3e38f, 3e38f, 1.0f};
    softxent_softmax_options options;
    softxent_softmax_options_init(&options);
    options.scale = 2.0f;
    softmax_transform t;
    t.scale = 2.0f;
    const std::vector<expected> want = expect_log_softmax(matrix_in{x, 1, 3, 3}, t);
    const softxent_const_matrix logits{x, SOFTXENT_F32, 3};
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      std::int64_t indices[2] = {-7, -7};
      float log_probs[2] = {0, 0};
      REQUIRE(softxent_top_k(1, 3, logits, &options, 2, indices, log_probs, nullptr, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE((indices[0] == 0 && indices[1] == 1), "isa " << isa << ": " << indices[0] << ", " << indices[1]);
      const std::vector<expected> top_two = {want[0], want[1]};
      CHECK_MESSAGE(compare("log_probs", log_probs, 1, 2, 2, top_two) == "",
                    "isa " << isa << ": " << log_probs[0] << ", " << log_probs[1]);
    }
  }

  // Found by the fuzzer (UBSan: NaN converted to an index, sample.cpp's estimate_thresholds): when
  // top_p needs the search and the scan's candidates are all FLT_MAX, the search's bracket ends at
  // next_above(FLT_MAX) = +inf, and its bins and thresholds, placed below that end, were NaN or +inf:
  // an out-of-range store into the bins, and no threshold to narrow the bracket with. A long row with
  // 1000 classes at FLT_MAX (each 1/1000 of the mass; the rest none) at top_p 0.9 keeps the first 900.
  TEST_CASE("regression: top_p over more ties at FLT_MAX than the candidates hold") {
    const float max = std::numeric_limits<float>::max();
    constexpr std::size_t cols = 8193;
    std::vector<float> x(cols);
    std::vector<softxent_oracle::real> z(cols);
    for (std::size_t j = 0; j < cols; ++j) z[j] = x[j] = j % 8 == 3 ? max : static_cast<float>(j % 7) - 3.0f;
    softxent_sampling_options options;
    softxent_sampling_options_init(&options);
    options.temperature = 0.8f;
    options.top_p = 0.9f;
    softxent::sampling_options rules;
    rules.temperature = options.temperature;
    rules.top_p = options.top_p;
    const softxent_const_matrix logits{x.data(), SOFTXENT_F32, cols};
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      for (std::uint64_t seed = 0; seed < 8; ++seed) {
        std::int64_t token = -7;
        REQUIRE(softxent_sample(1, cols, logits, nullptr, &options, &seed, &token, nullptr, &exec) == SOFTXENT_OK);
        const softxent_oracle::sample_expectation e = softxent_oracle::expected_sample(z, rules, softxent_oracle::draw_of(seed, 0));
        CHECK_MESSAGE(e.allows(token), "isa " << isa << " seed " << seed << ": token " << token << ", expected " << e.token);
      }
    }
  }

  // Found by the fuzzer: the SIMD tables' softcap computed x * (scale / softcap) with the ratio
  // in float, which underflows to 0 under a cap far above the scale: scale 1e-20, softcap 1e30 made
  // every z of (3e38, -3e38, 1e38) 0 (log_softmax -log 3 each) where z is (3e18, -3e18, 1e18).
  TEST_CASE("regression: softcap far above the scale keeps z (log_softmax and cross-entropy)") {
    const float x[3] = {3e38f, -3e38f, 1e38f};
    softxent_softmax_options options;
    softxent_softmax_options_init(&options);
    options.scale = 1e-20f;
    options.softcap = 1e30f;
    softmax_transform t;
    t.scale = options.scale;
    t.softcap = options.softcap;
    const std::vector<expected> want = expect_log_softmax(matrix_in{x, 1, 3, 3}, t);
    const std::int64_t target[1] = {2};
    softxent_cross_entropy_options ce;
    softxent_cross_entropy_options_init(&ce);
    ce.logit_scale = options.scale;
    ce.softcap = options.softcap;
    const cross_entropy_expectation loss = expect_cross_entropy(matrix_in{x, 1, 3, 3}, target, nullptr, &ce);
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      float y[3] = {0, 0, 0}, ce_loss = 0;
      REQUIRE(softxent_log_softmax(1, 3, {x, SOFTXENT_F32, 3}, {y, SOFTXENT_F32, 3}, &options, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE(compare("log_softmax", y, 1, 3, 3, want) == "", "isa " << isa << ": " << y[0] << ", " << y[1] << ", " << y[2]);
      REQUIRE(softxent_cross_entropy_f32(1, 3, x, 3, target, &ce, &ce_loss, nullptr, 0, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE(compare("loss", &ce_loss, 1, 1, 1, loss.loss) == "", "isa " << isa << ": " << ce_loss);
    }
  }

  // Found by the fuzzer: under a softcap, the SIMD tables' z = softcap * tanh(u) lost all of a z
  // whose u = scale * x / softcap underflows: scale 1e-3 and softcap 1e30 made z of x = 8.0461e-39 0
  // (it is 8.0461e-42, a float) and top_k ranked it with the zeros beside it instead of first.
  TEST_CASE("regression: a softcapped z whose tanh argument underflows keeps its value") {
    const float x[3] = {-0.0f, 0.0f, 8.0461e-39f};
    softxent_softmax_options options;
    softxent_softmax_options_init(&options);
    options.scale = 1e-3f;
    options.softcap = 1e30f;
    for (const std::string& isa : isa_names()) {
      const softxent_exec exec = exec_for(isa);
      std::int64_t indices[3] = {-7, -7, -7};
      REQUIRE(softxent_top_k(1, 3, {x, SOFTXENT_F32, 3}, &options, 3, indices, nullptr, nullptr, &exec) == SOFTXENT_OK);
      CHECK_MESSAGE(indices[0] == 2, "isa " << isa << ": " << indices[0] << ", " << indices[1] << ", " << indices[2]);
    }
  }
}

}  // namespace softxent_reliability
