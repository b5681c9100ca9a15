// logsumexp on every instruction set against the long double reference (SPEC.md: lse error at most
// 8 * eps * (1 + |lse|), for every row length).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("logsumexp matches the reference on every instruction set, length, stride and misaligned start") {
  random_source random(1);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sweep_lengths())
      for (const layout& in : sweep_layouts) {
        std::size_t rows = sweep_rows(cols);
        buffer x = make_buffer(rows, cols, in);
        fill_mixed_logits(x, random);
        const std::vector<float> x_before = x.storage;
        buffer lse(1, rows, 0, in.offset);
        tally t(describe(isa, "logsumexp", rows, cols, x.stride, in.offset));
        REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec_for(isa)) == softxent::status::ok);
        expect_logsumexp(t, x, lse.data());
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(lse.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(x.storage, x_before), t.label);
      }
}

TEST_CASE("logsumexp keeps its accuracy on long rows of nearly equal values, where a float sum drifts") {
  // Every term of the sum is about 1: a naive float accumulation over 128256 terms is off by
  // hundreds of eps, far beyond the bound of 8 * eps * (1 + |lse|).
  random_source random(2);
  for (const std::string& isa : available_isas()) {
    buffer x(3, 128256);
    for (std::size_t r = 0; r < x.rows; ++r)
      for (std::size_t c = 0; c < x.cols; ++c) x.at(r, c) = random.uniform(-0.01f, 0.01f) + static_cast<float>(r);
    std::vector<float> lse(3);
    REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec_for(isa)) == softxent::status::ok);
    tally t(describe(isa, "logsumexp", 3, x.cols, x.stride, 0));
    expect_logsumexp(t, x, lse.data());
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("logsumexp of one row of 2^21 elements stays within the bound on every instruction set") {
    random_source random(3);
    buffer x(1, std::size_t{1} << 21);
    for (std::size_t c = 0; c < x.cols; ++c) x.at(0, c) = random.uniform(-1.0f, 1.0f);
    row_stats exact = reference_row_stats(x.row(0), x.cols);
    for (const std::string& isa : available_isas()) {
      float lse = sentinel();
      REQUIRE(softxent::logsumexp(x.cview(), &lse, exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "logsumexp", 1, x.cols, x.stride, 0));
      t.expect(0, 0, lse, exact.lse, lse_bound(exact));
      SXTEST_CHECK_TALLY(t);
    }
  }
}
