// log_softmax on every instruction set against the long double reference (SPEC.md: absolute error at
// most (8 + |x_j - m|) * eps + 8 * eps * |lse|, for every row length).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("log_softmax matches the reference on every instruction set, length, stride and misaligned start") {
  random_source random(21);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sweep_lengths())
      for (std::size_t l = 0; l < layout_count; ++l) {
        std::size_t rows = sweep_rows(cols);
        buffer x = make_buffer(rows, cols, sweep_layouts[l]);
        buffer y = make_buffer(rows, cols, sweep_layouts[(l + 2) % layout_count]);
        fill_mixed_logits(x, random);
        const std::vector<float> x_before = x.storage;
        tally t(describe(isa, "log_softmax", rows, cols, x.stride, x.offset));
        REQUIRE(softxent::log_softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
        expect_log_softmax(t, x, y);
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(y.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(x.storage, x_before), t.label);
      }
}

TEST_SUITE("slow") {
  TEST_CASE("log_softmax of one row of 2^21 elements stays within the bound on every instruction set") {
    random_source random(23);
    buffer x(1, std::size_t{1} << 21);
    for (std::size_t c = 0; c < x.cols; ++c) x.at(0, c) = random.uniform(-1.0f, 1.0f);
    const row_stats s = reference_row_stats(x.row(0), x.cols);  // once, for every instruction set
    for (const std::string& isa : available_isas()) {
      buffer y(1, x.cols);
      REQUIRE(softxent::log_softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "log_softmax", 1, x.cols, x.stride, 0));
      for (std::size_t c = 0; c < x.cols; ++c)
        t.expect(0, c, y.at(0, c), reference_log_probability(x.at(0, c), s), log_softmax_bound(x.at(0, c), s));
      SXTEST_CHECK_TALLY(t);
    }
  }
}
