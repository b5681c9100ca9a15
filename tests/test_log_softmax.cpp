// log_softmax on every instruction set against the long double reference (SPEC.md: absolute error at
// most (8 + |x_j - m|) * eps + 8 * eps * |lse|, for every row length).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("log_softmax matches the reference for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_forward(true, 2, short_sweep_lengths(), 21); }

TEST_SUITE("slow") {
  TEST_CASE("log_softmax matches the reference for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_forward(true, 2, long_sweep_lengths(), 1021); }
}

TEST_SUITE("slow") {
  TEST_CASE("log_softmax of one row of 2^21 elements stays within the bound on every instruction set") {
    random_source random(23);
    buffer x(1, std::size_t{1} << 21);
    for (std::size_t c = 0; c < x.cols; ++c) x.at(0, c) = random.uniform(-1.0f, 1.0f);
    const expectation exact = expected_log_softmax(x);  // once, for every instruction set
    for (const std::string& isa : available_isas()) {
      buffer y(1, x.cols);
      REQUIRE(softxent::log_softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "log_softmax", 1, x.cols, x.stride, 0));
      exact.check(t, y);
      SXTEST_CHECK_TALLY(t);
    }
  }
}
