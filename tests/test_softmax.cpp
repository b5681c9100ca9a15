// softmax on every instruction set against the long double reference (SPEC.md: relative error at most
// (8 + |x_j - m|) * eps, 1e-37 absolute below 1e-30, for every row length).
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("softmax matches the reference for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_forward(false, 1, short_sweep_lengths(), 11); }

TEST_SUITE("slow") {
  TEST_CASE("softmax matches the reference for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_forward(false, 1, long_sweep_lengths(), 1011); }
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
    const expectation exact = expected_softmax(x);  // once, for every instruction set
    for (const std::string& isa : available_isas()) {
      buffer y(1, x.cols);
      REQUIRE(softxent::softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "softmax", 1, x.cols, x.stride, 0));
      exact.check(t, y);
      SXTEST_CHECK_TALLY(t);
    }
  }
}
