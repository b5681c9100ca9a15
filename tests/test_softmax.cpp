// softmax on every instruction set against the long double reference (SPEC.md: relative error at most
// (8 + |x_j - m|) * eps, 1e-37 absolute below 1e-30, for every row length).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("softmax matches the reference on every instruction set, length, stride and misaligned start") {
  random_source random(11);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sweep_lengths())
      for (std::size_t l = 0; l < layout_count; ++l) {
        std::size_t rows = sweep_rows(cols);
        buffer x = make_buffer(rows, cols, sweep_layouts[l]);
        buffer y = make_buffer(rows, cols, sweep_layouts[(l + 1) % layout_count]);
        fill_mixed_logits(x, random);
        const std::vector<float> x_before = x.storage;
        tally t(describe(isa, "softmax", rows, cols, x.stride, x.offset));
        REQUIRE(softxent::softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
        expect_softmax(t, x, y);
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(y.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(x.storage, x_before), t.label);
      }
}

TEST_CASE("softmax keeps its accuracy on long rows of nearly equal values") {
  random_source random(12);
  for (const std::string& isa : available_isas()) {
    buffer x(2, 128256);
    fill_uniform(x, random, -0.01f, 0.01f);
    buffer y(2, 128256);
    REQUIRE(softxent::softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
    tally t(describe(isa, "softmax", 2, x.cols, x.stride, 0));
    expect_softmax(t, x, y);
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("softmax of one row of 2^21 elements stays within the bound on every instruction set") {
    random_source random(13);
    buffer x(1, std::size_t{1} << 21);
    for (std::size_t c = 0; c < x.cols; ++c) x.at(0, c) = random.uniform(-1.0f, 1.0f);
    x.at(0, 12345) = 9.0f;  // one dominant class
    // the exact values once, in double (far more precise than needed), for every instruction set
    const row_stats s = reference_row_stats(x.row(0), x.cols);
    std::vector<double> exact(x.cols), bound(x.cols);
    for (std::size_t c = 0; c < x.cols; ++c) {
      real p = reference_probability(x.at(0, c), s);
      exact[c] = static_cast<double>(p);
      bound[c] = static_cast<double>(softmax_bound(p, x.at(0, c), s));
    }
    for (const std::string& isa : available_isas()) {
      buffer y(1, x.cols);
      REQUIRE(softxent::softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "softmax", 1, x.cols, x.stride, 0));
      for (std::size_t c = 0; c < x.cols; ++c) t.expect(0, c, y.at(0, c), exact[c], bound[c]);
      SXTEST_CHECK_TALLY(t);
    }
  }
}
