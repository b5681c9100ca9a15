// logsumexp on every instruction set against the long double reference (SPEC.md: lse error at most
// 8 * eps * (1 + |lse|), for every row length).
#include "test_support.hpp"

using namespace sxtest;

namespace {
// The sweep over the given row lengths, every layout and every instruction set.
void sweep_logsumexp(const std::vector<std::size_t>& lengths, std::uint64_t seed) {
  random_source random(seed);
  const std::vector<std::string> isas = available_isas();
  for (std::size_t cols : lengths)
    for (const layout& in : sweep_layouts) {
      std::size_t rows = sweep_rows(cols);
      buffer x = make_buffer(rows, cols, in);
      fill_mixed_logits(x, random);
      const std::vector<float> x_before = x.storage;
      const expectation exact = expected_logsumexp(x);
      for (const std::string& isa : isas) {
        buffer lse(1, rows, 0, in.offset);
        tally t(describe(isa, "logsumexp", rows, cols, x.stride, in.offset));
        REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec_for(isa)) == softxent::status::ok);
        exact.check(t, lse.data(), 1);
        SXTEST_CHECK_TALLY(t);
        CHECK_MESSAGE(lse.outside_untouched(), t.label);
        CHECK_MESSAGE(bitwise_equal(x.storage, x_before), t.label);
      }
    }
}
}  // namespace

TEST_CASE("logsumexp matches the reference for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_logsumexp(short_sweep_lengths(), 1); }

TEST_SUITE("slow") {
  TEST_CASE("logsumexp matches the reference for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_logsumexp(long_sweep_lengths(), 1001); }
}

TEST_CASE("logsumexp keeps its accuracy on long rows of nearly equal values - where a float sum drifts") {
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
      t.expect(0, 0, lse, exact.lse(), lse_bound(exact));
      SXTEST_CHECK_TALLY(t);
    }
  }
}
