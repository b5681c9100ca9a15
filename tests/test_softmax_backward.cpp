// softmax_backward (dx = y * (dy - sum_j dy_j y_j)) on every instruction set against the long double
// reference (SPEC.md: error at most 8 * eps * |y_j| * (|dy_j| + sum_k |dy_k y_k|) + 1e-37).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("softmax_backward matches the reference on every instruction set, length, stride and misaligned start") {
  random_source random(31);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sweep_lengths())
      for (std::size_t l = 0; l < layout_count; ++l) {
        std::size_t rows = sweep_rows(cols);
        buffer x(rows, cols);
        fill_mixed_logits(x, random);
        buffer y = make_buffer(rows, cols, sweep_layouts[l]);
        fill_softmax_of(y, x, false);
        buffer dy = make_buffer(rows, cols, sweep_layouts[(l + 1) % layout_count]);
        fill_logits(dy, random);
        buffer dx = make_buffer(rows, cols, sweep_layouts[(l + 2) % layout_count]);
        const std::vector<float> y_before = y.storage, dy_before = dy.storage;
        tally t(describe(isa, "softmax_backward", rows, cols, y.stride, y.offset));
        REQUIRE(softxent::softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa)) == softxent::status::ok);
        expect_softmax_backward(t, y, dy, dx);
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(dx.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(y.storage, y_before), t.label);
        CHECK_MESSAGE(bitwise_equal(dy.storage, dy_before), t.label);
      }
}
