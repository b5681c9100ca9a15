// log_softmax_backward (dx = dy - exp(y) * sum_j dy_j) on every instruction set against the long double
// reference (SPEC.md: error at most 8 * eps * (|dy_j| + exp(y_j) * sum_k |dy_k|) + 1e-37).
#include "test_support.hpp"

using namespace sxtest;

namespace {
// The sweep over the given row lengths, every layout and every instruction set.
void sweep_log_softmax_backward(const std::vector<std::size_t>& lengths, std::uint64_t seed) {
  random_source random(seed);
  const std::vector<std::string> isas = available_isas();
  for (std::size_t cols : lengths)
    for (std::size_t l = 0; l < layout_count; ++l) {
      std::size_t rows = sweep_rows(cols);
      buffer x(rows, cols);
      fill_mixed_logits(x, random);
      buffer y = make_buffer(rows, cols, sweep_layouts[l]);
      fill_softmax_of(y, x, true);
      buffer dy = make_buffer(rows, cols, sweep_layouts[(l + 2) % layout_count]);
      fill_logits(dy, random);
      const std::vector<float> y_before = y.storage, dy_before = dy.storage;
      const expectation exact = expected_log_softmax_backward(y, dy);
      for (const std::string& isa : isas) {
        buffer dx = make_buffer(rows, cols, sweep_layouts[(l + 1) % layout_count]);
        tally t(describe(isa, "log_softmax_backward", rows, cols, y.stride, y.offset));
        REQUIRE(softxent::log_softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa)) == softxent::status::ok);
        exact.check(t, dx);
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(dx.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(y.storage, y_before), t.label);
        CHECK_MESSAGE(bitwise_equal(dy.storage, dy_before), t.label);
      }
    }
}
}  // namespace

TEST_CASE("log_softmax_backward matches the reference for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_log_softmax_backward(short_sweep_lengths(), 41); }

TEST_SUITE("slow") {
  TEST_CASE("log_softmax_backward matches the reference for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_log_softmax_backward(long_sweep_lengths(), 1041); }
}
