// Mathematical invariants on every instruction set: softmax rows sum to 1, shifting a row changes
// neither softmax nor log_softmax, log_softmax = x - logsumexp, and cross-entropy agrees with
// log_softmax and softmax. Each side is also held to SPEC.md's bound against the exact value.
#include "test_support.hpp"

using namespace sxtest;

TEST_CASE("softmax rows sum to 1 within the sum of the elements' bounds") {
  random_source random(201);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 2, 3, 10, 64, 65, 1000, 4097, 50000}) {
      const std::size_t rows = 7;
      buffer x(rows, cols, cols + 1, 1);
      fill_mixed_logits(x, random);
      buffer y(rows, cols);
      REQUIRE(softxent::softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "softmax row sum", rows, cols, x.stride, 1));
      for (std::size_t r = 0; r < rows; ++r) {
        row_stats s = reference_row_stats(x.row(r), cols);
        real sum = 0, bound = 0;
        for (std::size_t c = 0; c < cols; ++c) {
          sum += y.at(r, c);
          real p = reference_probability(x.at(r, c), s);
          bound += softmax_bound(p, x.at(r, c), s);
        }
        t.expect(r, 0, static_cast<float>(sum), 1, bound + eps);  // + eps: rounding the sum to float
      }
      SXTEST_CHECK_TALLY(t);
    }
}

TEST_CASE("softmax(x + c) equals softmax(x) and log_softmax(x + c) equals log_softmax(x)") {
  // x on a grid of 1/64 in [-16, 16] and c = 1024: x + c is exact in float, so both calls see the same
  // mathematical row, whose exact softmax they must both reach within the bound.
  random_source random(202);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 5, 16, 33, 257, 5000}) {
      const std::size_t rows = 3;
      buffer x(rows, cols), shifted(rows, cols);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
          x.at(r, c) = static_cast<float>(static_cast<int>(random.index(2049)) - 1024) / 64.0f;
          shifted.at(r, c) = x.at(r, c) + 1024.0f;
        }
      buffer y(rows, cols), y_shifted(rows, cols), l(rows, cols), l_shifted(rows, cols);
      auto exec = exec_for(isa);
      REQUIRE(softxent::softmax(x.cview(), y.view(), exec) == softxent::status::ok);
      REQUIRE(softxent::softmax(shifted.cview(), y_shifted.view(), exec) == softxent::status::ok);
      REQUIRE(softxent::log_softmax(x.cview(), l.view(), exec) == softxent::status::ok);
      REQUIRE(softxent::log_softmax(shifted.cview(), l_shifted.view(), exec) == softxent::status::ok);
      tally t(describe(isa, "shift invariance", rows, cols, cols, 0));
      for (std::size_t r = 0; r < rows; ++r) {
        row_stats s = reference_row_stats(x.row(r), cols);
        row_stats s_shifted = reference_row_stats(shifted.row(r), cols);
        for (std::size_t c = 0; c < cols; ++c) {
          real p = reference_probability(x.at(r, c), s);
          real bound = softmax_bound(p, x.at(r, c), s);
          t.expect(r, c, y.at(r, c), p, bound);
          t.expect(r, c, y_shifted.at(r, c), p, bound);  // exact softmax of x, not of x + c
          real logp = reference_log_probability(x.at(r, c), s);
          t.expect(r, c, l.at(r, c), logp, log_softmax_bound(x.at(r, c), s));
          t.expect(r, c, l_shifted.at(r, c), logp, log_softmax_bound(shifted.at(r, c), s_shifted));
        }
      }
      SXTEST_CHECK_TALLY(t);
    }
}

TEST_CASE("log_softmax equals x - logsumexp(x)") {
  random_source random(203);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 4, 31, 200, 4100}) {
      const std::size_t rows = 6;
      buffer x(rows, cols, cols + 3, 2);
      fill_mixed_logits(x, random);
      buffer y(rows, cols);
      std::vector<float> lse(rows);
      auto exec = exec_for(isa);
      REQUIRE(softxent::log_softmax(x.cview(), y.view(), exec) == softxent::status::ok);
      REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec) == softxent::status::ok);
      tally t(describe(isa, "log_softmax vs x - lse", rows, cols, x.stride, 2));
      for (std::size_t r = 0; r < rows; ++r) {
        row_stats s = reference_row_stats(x.row(r), cols);
        for (std::size_t c = 0; c < cols; ++c) {
          real from_lse = static_cast<real>(x.at(r, c)) - lse[r];
          real bound = log_softmax_bound(x.at(r, c), s) + lse_bound(s) + eps * std::fabs(from_lse);
          t.expect(r, c, y.at(r, c), from_lse, bound);
        }
      }
      SXTEST_CHECK_TALLY(t);
    }
}

TEST_CASE("logsumexp of a constant row of n values c is c + log(n)") {
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 2, 3, 17, 100, 4096, 4097, 100000})
      for (float c : {-50.0f, 0.0f, 1.5f, 95.0f, 1e30f}) {
        std::vector<float> x(cols, c);
        float lse = sentinel();
        REQUIRE(softxent::logsumexp({x.data(), 1, cols}, &lse, exec_for(isa)) == softxent::status::ok);
        real exact = static_cast<real>(c) + std::log(static_cast<real>(cols));
        tally t(describe(isa, "logsumexp of a constant row", 1, cols, cols, 0));
        t.expect(0, 0, lse, exact, 8 * eps * (1 + std::fabs(exact)));
        SXTEST_CHECK_TALLY(t);
      }
}

TEST_CASE("cross_entropy's per-row loss equals -log_softmax at the target and its gradient softmax - onehot") {
  random_source random(204);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{2, 9, 64, 1000, 9000}) {
      const std::size_t rows = 5;
      buffer x(rows, cols);
      fill_mixed_logits(x, random);
      std::vector<std::int64_t> targets = random_targets(rows, cols, random);
      softxent::cross_entropy_options o;
      o.reduction = softxent::reduction::none;
      std::vector<float> loss(rows);
      buffer grad(rows, cols), y(rows, cols), logp(rows, cols);
      auto exec = exec_for(isa);
      REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss.data(), grad.view(), o, exec) ==
              softxent::status::ok);
      REQUIRE(softxent::softmax(x.cview(), y.view(), exec) == softxent::status::ok);
      REQUIRE(softxent::log_softmax(x.cview(), logp.view(), exec) == softxent::status::ok);
      tally t(describe(isa, "cross_entropy vs softmax and log_softmax", rows, cols, cols, 0));
      for (std::size_t r = 0; r < rows; ++r) {
        row_stats s = reference_row_stats(x.row(r), cols);
        auto target = static_cast<std::size_t>(targets[r]);
        t.expect(r, target, loss[r], -static_cast<real>(logp.at(r, target)), 2 * log_softmax_bound(x.at(r, target), s));
        for (std::size_t c = 0; c < cols; ++c) {
          real p = reference_probability(x.at(r, c), s);
          real onehot = c == target ? 1 : 0;
          real expected = static_cast<real>(y.at(r, c)) - onehot;
          t.expect(r, c, grad.at(r, c), expected, 2 * softmax_bound(p, x.at(r, c), s) + 8 * eps * (p + onehot));
        }
      }
      SXTEST_CHECK_TALLY(t);
    }
}

TEST_CASE("the C API and the C++ API give identical bits") {
  random_source random(205);
  const std::size_t rows = 9, cols = 300;
  buffer x(rows, cols, cols + 4, 1);
  fill_mixed_logits(x, random);
  std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.2);
  const float* data = x.data();
  for (const std::string& isa : available_isas()) {
    softxent_exec cexec{};
    cexec.isa = isa.c_str();
    auto exec = exec_for(isa);
    buffer y_c(rows, cols), y_cpp(rows, cols), g_c(rows, cols), g_cpp(rows, cols);
    std::vector<float> lse_c(rows), lse_cpp(rows), loss_c(1), loss_cpp(1);
    REQUIRE(softxent_softmax_f32(rows, cols, data, x.stride, y_c.data(), cols, &cexec) == SOFTXENT_OK);
    REQUIRE(softxent::softmax(x.cview(), y_cpp.view(), exec) == softxent::status::ok);
    CHECK(bitwise_equal(y_c.storage, y_cpp.storage));
    REQUIRE(softxent_log_softmax_f32(rows, cols, data, x.stride, y_c.data(), cols, &cexec) == SOFTXENT_OK);
    REQUIRE(softxent::log_softmax(x.cview(), y_cpp.view(), exec) == softxent::status::ok);
    CHECK(bitwise_equal(y_c.storage, y_cpp.storage));
    REQUIRE(softxent_logsumexp_f32(rows, cols, data, x.stride, lse_c.data(), &cexec) == SOFTXENT_OK);
    REQUIRE(softxent::logsumexp(x.cview(), lse_cpp.data(), exec) == softxent::status::ok);
    CHECK(bitwise_equal(lse_c, lse_cpp));
    softxent_cross_entropy_options co;
    softxent_cross_entropy_options_init(&co);
    co.label_smoothing = 0.1f;
    co.z_loss = 1e-3f;
    softxent::cross_entropy_options o;
    o.label_smoothing = 0.1f;
    o.z_loss = 1e-3f;
    REQUIRE(softxent_cross_entropy_f32(rows, cols, data, x.stride, targets.data(), &co, loss_c.data(), g_c.data(), cols,
                                       &cexec) == SOFTXENT_OK);
    REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss_cpp.data(), g_cpp.view(), o, exec) ==
            softxent::status::ok);
    CHECK(bitwise_equal(loss_c, loss_cpp));
    CHECK(bitwise_equal(g_c.storage, g_cpp.storage));
  }
}
