// The edge semantics of SPEC.md on every instruction set: huge logits, masked (-inf) classes, all -inf
// rows, NaN and +inf confined to their row, ignored rows, empty batches, one class, large strides,
// in-place calls and gradients written over the logits.
#include "test_support.hpp"

using namespace sxtest;

namespace {

// Runs every forward operation on x and checks each against the long double reference, which encodes
// the semantics (NaN rows, masked classes, overflow to infinity only where the exact value overflows).
void check_forward_ops(const std::string& isa, const buffer& x, const std::vector<std::int64_t>& targets,
                       const softxent::cross_entropy_options& o, const buffer* probs, const char* what) {
  auto exec = exec_for(isa);
  tally t(describe(isa, what, x.rows, x.cols, x.stride, x.offset));
  std::vector<float> lse(x.rows, sentinel());
  REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec) == softxent::status::ok);
  expect_logsumexp(t, x, lse.data());
  buffer y(x.rows, x.cols, x.cols + 1, 1);
  REQUIRE(softxent::softmax(x.cview(), y.view(), exec) == softxent::status::ok);
  expect_softmax(t, x, y);
  buffer l(x.rows, x.cols, x.cols + 2, 2);
  REQUIRE(softxent::log_softmax(x.cview(), l.view(), exec) == softxent::status::ok);
  expect_log_softmax(t, x, l);
  if (!targets.empty()) {
    cross_entropy_result exact = reference_cross_entropy(make_problem(x, targets.data(), nullptr, o));
    buffer loss(1, loss_count(o.reduction, x.rows));
    buffer grad(x.rows, x.cols, x.cols + 3, 1);
    REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss.data(), grad.view(), o, exec) ==
            softxent::status::ok);
    expect_cross_entropy(t, exact, loss.data(), &grad);
    buffer loss_only(1, loss_count(o.reduction, x.rows));
    REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss_only.data(), {}, o, exec) == softxent::status::ok);
    expect_cross_entropy(t, exact, loss_only.data(), nullptr);
  }
  if (probs != nullptr) {
    cross_entropy_result exact = reference_cross_entropy(make_problem(x, nullptr, probs, o));
    buffer loss(1, loss_count(o.reduction, x.rows));
    buffer grad(x.rows, x.cols);
    REQUIRE(softxent::cross_entropy_soft(x.cview(), probs->cview(), loss.data(), grad.view(), o, exec) ==
            softxent::status::ok);
    expect_cross_entropy(t, exact, loss.data(), &grad);
  }
  SXTEST_CHECK_TALLY(t);
}

softxent::cross_entropy_options with_reduction(softxent::reduction reduction) {
  softxent::cross_entropy_options o;
  o.reduction = reduction;
  return o;
}

}  // namespace

TEST_CASE("logits of +-3e38 and +-FLT_MAX give finite results wherever the exact result fits in a float") {
  const float rows_data[][5] = {
      {3e38f, -3e38f, 0.0f, 3e38f, -3e38f},
      {-3e38f, -3e38f, -3e38f, -3e38f, -3e38f},
      {flt_max, flt_max, -flt_max, 1.0f, 0.0f},
      {-flt_max, -flt_max, -flt_max, -flt_max, -flt_max},
      {flt_max, -flt_max, 2.0f, -1.0f, 3e38f},
  };
  buffer x(5, 5);
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t c = 0; c < 5; ++c) x.at(r, c) = rows_data[r][c];
  std::vector<std::int64_t> targets = {0, 2, 1, 4, 0};
  for (const std::string& isa : available_isas()) {
    for (softxent::reduction reduction : all_reductions)
      check_forward_ops(isa, x, targets, with_reduction(reduction), nullptr, "huge logits");
    // Spot checks of the overflow semantics, beyond the tolerance checks above.
    float lse[5];
    REQUIRE(softxent::logsumexp(x.cview(), lse, exec_for(isa)) == softxent::status::ok);
    CHECK(std::isfinite(lse[2]));  // FLT_MAX + log 2 rounds to FLT_MAX, not to infinity
    CHECK(std::isfinite(lse[3]));
    buffer y(5, 5);
    REQUIRE(softxent::log_softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
    CHECK(y.at(0, 1) == -inf);  // -3e38 - 3e38 = -6e38 does not fit: -inf is right
    CHECK(std::isfinite(y.at(2, 3)));
  }
}

TEST_CASE("huge logits scattered over long rows and short-row tiles stay finite where the exact result fits") {
  // +-3e38 and +-FLT_MAX at random places: chunks whose maxima differ by 6e38 must merge without
  // overflow, and a tile of short rows must not let one row's huge values leak into another's.
  random_source random(320);
  const float huge[] = {3e38f, -3e38f, flt_max, -flt_max, 1e38f};
  for (std::size_t cols : sizes{2, 9, 16, 33, 5000, 9000}) {
    const std::size_t rows = 18;
    buffer x(rows, cols);
    fill_logits(x, random);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t k = 0; k < 1 + cols / 1000; ++k)
        if (r % 3 != 2) x.at(r, random.index(cols)) = huge[random.index(5)];
    std::vector<std::int64_t> targets = random_targets(rows, cols, random);
    buffer probs(rows, cols);
    fill_distribution(probs, random);
    for (const std::string& isa : available_isas())
      check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::none), &probs, "scattered huge logits");
  }
}

TEST_CASE("logits from 88 to 100 - where a naive expf overflows - give accurate results") {
  random_source random(301);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 3, 8, 16, 17, 100, 4096, 4500}) {
      buffer x(4, cols);
      fill_logits(x, random, logit_kind::high);
      x.at(1, cols / 2) = 100.0f;
      std::vector<std::int64_t> targets = random_targets(4, cols, random);
      check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::none), nullptr, "logits in [88, 100]");
      buffer probs(4, cols);
      fill_distribution(probs, random);
      check_forward_ops(isa, x, {}, with_reduction(softxent::reduction::sum), &probs, "logits in [88, 100] soft");
    }
}

TEST_CASE("-inf is a masked class: softmax exactly 0 - log_softmax -inf - lse as if the class were absent") {
  random_source random(302);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{2, 5, 16, 33, 4096, 5000, 9000}) {
      buffer x(5, cols, cols + 1);
      fill_logits(x, random);
      for (std::size_t r = 0; r < 5; ++r)
        for (std::size_t c = 0; c < cols; ++c)
          if ((c + r) % 3 == 0 || c >= cols - cols / 4) x.at(r, c) = -inf;
      x.at(0, 1) = 2.0f;  // keep row 0 with at least one unmasked class even when cols == 2
      // every exact softmax value here of a masked class is 0, and the check demands +0 exactly
      check_forward_ops(isa, x, {}, {}, nullptr, "masked classes");
      // logsumexp ignores the masked classes: compare with the row without them
      std::vector<float> lse(5);
      REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "lse without masked classes", 5, cols, x.stride, 0));
      for (std::size_t r = 0; r < 5; ++r) {
        std::vector<float> kept;
        for (std::size_t c = 0; c < cols; ++c)
          if (x.at(r, c) != -inf) kept.push_back(x.at(r, c));
        row_stats s = reference_row_stats(kept.data(), kept.size());
        t.expect(r, 0, lse[r], s.lse(), lse_bound(s));
      }
      SXTEST_CHECK_TALLY(t);
    }
}

TEST_CASE("read-only statistics in sub-blocks: a max that rises - masked or tiny starts - late NaN and +inf") {
  // logsumexp, the statistics of log_softmax and loss-only cross-entropy go through a chunk in
  // sub-blocks of 1024 with a running max: these rows raise the max in every sub-block, start with
  // sub-blocks that are all -inf or far below the rest, or hold a NaN or +inf only in a late one.
  random_source random(330);
  for (std::size_t cols : sizes{1025, 2100, 4096, 4097, 9000}) {
    const std::size_t rows = 9;
    buffer x(rows, cols, cols + 5);
    fill_logits(x, random);
    for (std::size_t c = 0; c < cols; ++c) {
      x.at(0, c) = 0.01f * static_cast<float>(c);             // rises slowly: every sub-block rescales
      x.at(1, c) = 0.5f * static_cast<float>(c) - 1000.0f;    // rises fast: old sums underflow to 0
      x.at(2, c) = -0.01f * static_cast<float>(c);            // falls
      if (c < 2000) x.at(3, c) = -inf;                        // masked start
      if (c < 1500) x.at(4, c) = -1e30f;                      // a start far below the rest
      if (c + 1 < cols) x.at(5, c) = -inf;                    // one class, in the last sub-block
    }
    x.at(6, cols - 1) = nan_f;
    x.at(7, 1030) = inf;
    x.at(8, 0) = 3e38f;  // a huge first max that later sub-blocks never reach
    std::vector<std::int64_t> targets = random_targets(rows, cols, random);
    targets[5] = static_cast<std::int64_t>(cols - 1);
    buffer probs(rows, cols);
    fill_distribution(probs, random);
    softxent::cross_entropy_options smoothed = with_reduction(softxent::reduction::none);
    smoothed.label_smoothing = 0.1f;
    for (const std::string& isa : available_isas()) {
      check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::none), &probs, "sub-blocked statistics");
      check_forward_ops(isa, x, targets, smoothed, nullptr, "sub-blocked statistics, smoothing");
    }
  }
}

TEST_CASE("cross_entropy on masked classes: zero gradient unless target - and a masked target gives loss +inf") {
  random_source random(303);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{4, 40, 6000})
      for (softxent::reduction reduction : all_reductions) {
        buffer x(3, cols);
        fill_logits(x, random);
        for (std::size_t c = 0; c < cols; c += 2) x.at(0, c) = x.at(1, c) = x.at(2, c) = -inf;
        std::vector<std::int64_t> targets = {1, 2, 3};  // row 1's target is masked
        check_forward_ops(isa, x, targets, with_reduction(reduction), nullptr, "masked classes, integer targets");
        buffer grad(3, cols);
        std::vector<float> loss(3);
        REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss.data(), grad.view(),
                                        with_reduction(softxent::reduction::none), exec_for(isa)) == softxent::status::ok);
        CHECK(loss[1] == inf);
        CHECK(std::isfinite(loss[0]));
        CHECK(grad.at(0, 0) == 0.0f);
        CHECK(grad.at(1, 2) == -1.0f);  // p = 0 on the masked target: p - 1
      }
}

TEST_CASE("cross_entropy: label smoothing that falls on a masked class gives loss +inf and the formula's gradient") {
  random_source random(304);
  for (const std::string& isa : available_isas())
    for (softxent::reduction reduction : all_reductions) {
      buffer x(3, 9);
      fill_logits(x, random);
      x.at(1, 4) = -inf;
      softxent::cross_entropy_options o = with_reduction(reduction);
      o.label_smoothing = 0.1f;
      check_forward_ops(isa, x, {0, 1, 2}, o, nullptr, "label smoothing on a masked class");
      std::vector<float> loss(3);
      o.reduction = softxent::reduction::none;
      REQUIRE(softxent::cross_entropy(x.cview(), std::vector<std::int64_t>{0, 1, 2}.data(), loss.data(), {}, o,
                                      exec_for(isa)) == softxent::status::ok);
      CHECK(loss[1] == inf);
      CHECK(std::isfinite(loss[0]));
    }
}

TEST_CASE("cross_entropy_soft: a zero probability on a masked class contributes 0 - a positive one gives +inf") {
  random_source random(305);
  for (const std::string& isa : available_isas())
    for (softxent::reduction reduction : all_reductions)
      for (std::size_t cols : sizes{6, 70, 5000}) {
        buffer x(3, cols);
        fill_logits(x, random);
        buffer probs(3, cols);
        fill_distribution(probs, random, 0.0);
        for (std::size_t r = 0; r < 3; ++r) {
          x.at(r, 0) = -inf;
          x.at(r, cols - 1) = -inf;
          probs.at(r, 0) = 0.0f;
          probs.at(r, cols - 1) = 0.0f;
        }
        probs.at(2, 0) = 0.25f;  // row 2 puts weight on a masked class
        check_forward_ops(isa, x, {}, with_reduction(reduction), &probs, "soft targets on masked classes");
        std::vector<float> loss(3);
        REQUIRE(softxent::cross_entropy_soft(x.cview(), probs.cview(), loss.data(), {},
                                             with_reduction(softxent::reduction::none), exec_for(isa)) ==
                softxent::status::ok);
        CHECK(std::isfinite(loss[0]));
        CHECK(std::isfinite(loss[1]));
        CHECK(loss[2] == inf);
        // label smoothing puts ls / C on every class, the masked ones too
        softxent::cross_entropy_options o = with_reduction(softxent::reduction::none);
        o.label_smoothing = 0.1f;
        REQUIRE(softxent::cross_entropy_soft(x.cview(), probs.cview(), loss.data(), {}, o, exec_for(isa)) ==
                softxent::status::ok);
        CHECK(loss[0] == inf);
      }
}

TEST_CASE("a row of all -inf: softmax 0 - log_softmax -inf - lse -inf - loss +inf - gradient -onehot - other rows intact") {
  random_source random(306);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 3, 16, 100, 5000}) {
      buffer x(4, cols);
      fill_logits(x, random);
      for (std::size_t c = 0; c < cols; ++c) x.at(2, c) = -inf;
      std::vector<std::int64_t> targets = random_targets(4, cols, random);
      buffer probs(4, cols);
      fill_distribution(probs, random);
      for (softxent::reduction reduction : all_reductions) {
        check_forward_ops(isa, x, targets, with_reduction(reduction), nullptr, "all -inf row");
        check_forward_ops(isa, x, {}, with_reduction(reduction), &probs, "all -inf row, soft targets");
      }
      std::vector<float> lse(4);
      REQUIRE(softxent::logsumexp(x.cview(), lse.data(), exec_for(isa)) == softxent::status::ok);
      CHECK(lse[2] == -inf);
      buffer y(4, cols), l(4, cols), grad(4, cols);
      REQUIRE(softxent::softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
      REQUIRE(softxent::log_softmax(x.cview(), l.view(), exec_for(isa)) == softxent::status::ok);
      std::vector<float> loss(4);
      REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss.data(), grad.view(),
                                      with_reduction(softxent::reduction::none), exec_for(isa)) == softxent::status::ok);
      CHECK(loss[2] == inf);
      for (std::size_t c = 0; c < cols; ++c) {
        CHECK(same_bits(y.at(2, c), 0.0f));
        CHECK(l.at(2, c) == -inf);
        CHECK(grad.at(2, c) == (static_cast<std::int64_t>(c) == targets[2] ? -1.0f : 0.0f));
      }
    }
}

TEST_CASE("a row of all -inf with z_loss and label smoothing: loss +inf and gradient -y - never NaN") {
  // p = 0 on every class, so the z-loss gradient 2 z lse p_j is 0 (not -inf * 0) and the gradient is -y.
  random_source random(319);
  for (std::size_t cols : sizes{1, 5, 16, 40, 5000}) {
    buffer x(6, cols);
    fill_logits(x, random);
    for (std::size_t c = 0; c < cols; ++c) x.at(4, c) = -inf;
    std::vector<std::int64_t> targets = random_targets(6, cols, random);
    buffer probs(6, cols);
    fill_distribution(probs, random);
    for (softxent::reduction reduction : all_reductions) {
      softxent::cross_entropy_options o = with_reduction(reduction);
      o.z_loss = 0.01f;
      o.label_smoothing = 0.2f;
      for (const std::string& isa : available_isas()) {
        check_forward_ops(isa, x, targets, o, &probs, "all -inf row with z_loss and smoothing");
        buffer grad(6, cols);
        std::vector<float> loss(6);
        REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss.data(), grad.view(), o, exec_for(isa)) ==
                softxent::status::ok);
        CAPTURE(isa);
        CAPTURE(cols);
        CHECK(loss[reduction == softxent::reduction::none ? 4 : 0] == inf);
        for (std::size_t c = 0; c < cols; ++c) CHECK_FALSE(std::isnan(grad.at(4, c)));
      }
    }
  }
}

TEST_CASE("a NaN in one row makes that row's outputs NaN and leaves the other rows intact") {
  random_source random(307);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 7, 20, 32, 64, 4097})  // 4097: the bad value in the first or the second chunk
      for (std::size_t where : {std::size_t{0}, cols / 2, cols - 1}) {
        buffer x(5, cols, cols + 1);
        fill_logits(x, random);
        x.at(3, where) = nan_f;
        std::vector<std::int64_t> targets = random_targets(5, cols, random);
        buffer probs(5, cols);
        fill_distribution(probs, random);
        check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::none), &probs, "NaN in row 3");
        check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::mean), nullptr, "NaN in row 3");
        // explicitly: the NaN row is NaN everywhere, the row before it is not
        buffer y(5, cols);
        REQUIRE(softxent::softmax(x.cview(), y.view(), exec_for(isa)) == softxent::status::ok);
        for (std::size_t c = 0; c < cols; ++c) {
          CHECK(std::isnan(y.at(3, c)));
          CHECK(std::isfinite(y.at(2, c)));
        }
      }
}

TEST_CASE("a +inf in one row makes that row's outputs NaN and leaves the other rows intact") {
  random_source random(308);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 7, 20, 32, 64, 4097})  // 4097: the bad value in the first or the second chunk
      for (std::size_t where : {std::size_t{0}, cols / 2, cols - 1}) {
        buffer x(5, cols);
        fill_logits(x, random);
        x.at(1, where) = inf;
        std::vector<std::int64_t> targets = random_targets(5, cols, random);
        buffer probs(5, cols);
        fill_distribution(probs, random);
        check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::none), &probs, "+inf in row 1");
        check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::sum), nullptr, "+inf in row 1");
        float lse[5];
        REQUIRE(softxent::logsumexp(x.cview(), lse, exec_for(isa)) == softxent::status::ok);
        CHECK(std::isnan(lse[1]));
        CHECK(std::isfinite(lse[0]));
      }
}

TEST_CASE("the backward operations confine a NaN in dy to its own row") {
  random_source random(309);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{3, 100, 5000}) {
      buffer x(4, cols);
      fill_logits(x, random);
      buffer y(4, cols), logy(4, cols), dy(4, cols);
      fill_softmax_of(y, x, false);
      fill_softmax_of(logy, x, true);
      fill_logits(dy, random);
      dy.at(2, cols / 3) = nan_f;
      buffer dx(4, cols), dx_log(4, cols);
      REQUIRE(softxent::softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa)) == softxent::status::ok);
      REQUIRE(softxent::log_softmax_backward(logy.cview(), dy.cview(), dx_log.view(), exec_for(isa)) ==
              softxent::status::ok);
      tally t(describe(isa, "backward with a NaN in dy", 4, cols, cols, 0));
      expect_softmax_backward(t, y, dy, dx);  // IEEE: y_j * (dy_j - NaN) is NaN for every j of row 2
      expect_log_softmax_backward(t, logy, dy, dx_log);
      SXTEST_CHECK_TALLY(t);
    }
}

TEST_CASE("log_softmax_backward gives dx = dy exactly on a masked class (y = -inf)") {
  random_source random(310);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{2, 9, 64, 5000}) {
      buffer x(3, cols);
      fill_logits(x, random);
      for (std::size_t c = 1; c < cols; c += 2) x.at(1, c) = -inf;
      buffer y(3, cols), dy(3, cols), dx(3, cols);
      fill_softmax_of(y, x, true);
      fill_logits(dy, random);
      REQUIRE(softxent::log_softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "log_softmax_backward on masked classes", 3, cols, cols, 0));
      expect_log_softmax_backward(t, y, dy, dx);
      for (std::size_t c = 1; c < cols; c += 2) t.expect_bits(1, c, dx.at(1, c), dy.at(1, c));
      SXTEST_CHECK_TALLY(t);
      // softmax_backward on the matching softmax (0 on masked classes) gives exactly 0 there
      buffer p(3, cols), dxp(3, cols);
      fill_softmax_of(p, x, false);
      REQUIRE(softxent::softmax_backward(p.cview(), dy.cview(), dxp.view(), exec_for(isa)) == softxent::status::ok);
      for (std::size_t c = 1; c < cols; c += 2) CHECK(dxp.at(1, c) == 0.0f);
    }
}

TEST_CASE("an ignored row adds no loss and gets a zero gradient row - even with NaN logits") {
  random_source random(311);
  for (const std::string& isa : available_isas())
    for (softxent::reduction reduction : all_reductions)
      for (std::size_t cols : sizes{5, 300, 5000}) {
        buffer x(4, cols);
        fill_logits(x, random);
        for (std::size_t c = 0; c < cols; ++c) x.at(1, c) = nan_f;
        x.at(3, 0) = inf;
        std::vector<std::int64_t> targets = {2, -100, 1, -100};
        softxent::cross_entropy_options o = with_reduction(reduction);
        o.z_loss = 0.01f;
        o.label_smoothing = 0.1f;
        check_forward_ops(isa, x, targets, o, nullptr, "ignored rows with NaN logits");
        buffer grad(4, cols);
        std::vector<float> loss(4);
        REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), loss.data(), grad.view(), o, exec_for(isa)) ==
                softxent::status::ok);
        CHECK(std::isfinite(loss[0]));
        if (reduction == softxent::reduction::none) {
          CHECK(loss[1] == 0.0f);
          CHECK(loss[3] == 0.0f);
        }
        for (std::size_t c = 0; c < cols; ++c) {
          CHECK(grad.at(1, c) == 0.0f);
          CHECK(grad.at(3, c) == 0.0f);
        }
      }
}

TEST_CASE("MEAN with no counted row - or zero total weight - gives loss 0 and gradient 0") {
  random_source random(312);
  const float zero_weights[6] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f};
  for (const std::string& isa : available_isas())
    for (int variant = 0; variant < 2; ++variant) {
      buffer x(3, 6);
      fill_logits(x, random);
      softxent::cross_entropy_options o;
      o.z_loss = 0.1f;
      o.label_smoothing = 0.2f;
      std::vector<std::int64_t> targets = {-100, -100, -100};
      if (variant == 1) {
        targets = {0, 3, 4};  // counted rows, but every target weighs 0
        o.class_weights = zero_weights;
      }
      float loss = sentinel();
      buffer grad(3, 6);
      REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), &loss, grad.view(), o, exec_for(isa)) ==
              softxent::status::ok);
      CAPTURE(isa);
      CAPTURE(variant);
      CHECK(loss == 0.0f);
      for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t c = 0; c < 6; ++c) CHECK(grad.at(r, c) == 0.0f);
    }
}

TEST_CASE("one class (cols == 1): softmax 1 - log_softmax 0 - lse = x - loss 0 - gradient 0") {
  for (const std::string& isa : available_isas())
    for (std::size_t rows : sizes{1, 2, 7, 40}) {
      buffer x(rows, 1, 3, 1);
      for (std::size_t r = 0; r < rows; ++r) x.at(r, 0) = static_cast<float>(r) * 7.5f - 20.0f;
      x.at(0, 0) = 95.0f;
      if (rows > 2) x.at(2, 0) = -inf;
      if (rows > 3) x.at(3, 0) = -3e38f;
      std::vector<std::int64_t> targets(rows, 0);
      buffer probs(rows, 1);
      probs.fill_matrix(1.0f);
      for (softxent::reduction reduction : all_reductions)
        check_forward_ops(isa, x, targets, with_reduction(reduction), &probs, "one class");
    }
}

TEST_CASE("rows == 0 is a successful no-op that writes nothing and checks no pointer") {
  for (const std::string& isa : available_isas()) {
    auto exec = exec_for(isa);
    CAPTURE(isa);
    CHECK(softxent::logsumexp({nullptr, 0, 5}, nullptr, exec) == softxent::status::ok);
    CHECK(softxent::softmax({nullptr, 0, 5}, {nullptr, 0, 5}, exec) == softxent::status::ok);
    CHECK(softxent::log_softmax({nullptr, 0, 5}, {nullptr, 0, 5}, exec) == softxent::status::ok);
    CHECK(softxent::softmax_backward({nullptr, 0, 5}, {nullptr, 0, 5}, {nullptr, 0, 5}, exec) == softxent::status::ok);
    CHECK(softxent::log_softmax_backward({nullptr, 0, 5}, {nullptr, 0, 5}, {nullptr, 0, 5}, exec) ==
          softxent::status::ok);
    CHECK(softxent::cross_entropy({nullptr, 0, 5}, nullptr, nullptr, {nullptr, 0, 5}, {}, exec) == softxent::status::ok);
    CHECK(softxent::cross_entropy_soft({nullptr, 0, 5}, {nullptr, 0, 5}, nullptr, {nullptr, 0, 5}, {}, exec) ==
          softxent::status::ok);
    // With real buffers: nothing is written, not even a reduced loss.
    buffer x(0, 5), out(1, 8);
    float loss = sentinel();
    std::int64_t target = 0;
    softxent::cross_entropy_options mean_options;
    CHECK(softxent::logsumexp(x.cview(), out.data(), exec) == softxent::status::ok);
    CHECK(softxent::softmax(x.cview(), {out.data(), 0, 5}, exec) == softxent::status::ok);
    CHECK(softxent::cross_entropy(x.cview(), &target, &loss, {out.data(), 0, 5}, mean_options, exec) ==
          softxent::status::ok);
    CHECK(softxent::cross_entropy_soft(x.cview(), x.cview(), &loss, {out.data(), 0, 5}, mean_options, exec) ==
          softxent::status::ok);
    CHECK(out.all_sentinel());
    CHECK(same_bits(loss, sentinel()));
    // the C API too
    softxent_exec cexec{};
    cexec.isa = isa.c_str();
    CHECK(softxent_softmax_f32(0, 3, nullptr, 3, nullptr, 3, &cexec) == SOFTXENT_OK);
    CHECK(softxent_cross_entropy_f32(0, 3, nullptr, 3, nullptr, nullptr, nullptr, nullptr, 3, &cexec) == SOFTXENT_OK);
  }
}

TEST_CASE("row strides much larger than cols: only the first cols elements of each row are read or written") {
  random_source random(313);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 5, 33, 4100}) {
      const std::size_t rows = 6;
      buffer x(rows, cols, cols + 1000, 5);
      fill_logits(x, random);
      // poison the gaps: a kernel that reads them would see NaN and its results would fail
      for (std::size_t i = 0; i < x.storage.size(); ++i)
        if (!x.in_matrix(i)) x.storage[i] = nan_f;
      std::vector<std::int64_t> targets = random_targets(rows, cols, random);
      buffer probs(rows, cols, cols + 777, 1);
      fill_distribution(probs, random);
      for (std::size_t i = 0; i < probs.storage.size(); ++i)
        if (!probs.in_matrix(i)) probs.storage[i] = nan_f;
      check_forward_ops(isa, x, targets, with_reduction(softxent::reduction::none), &probs, "large strides");
      buffer y(rows, cols, 2 * cols + 999, 7), dy(rows, cols, cols + 500, 0), dx(rows, cols, cols + 300, 3);
      fill_softmax_of(y, x, false);
      fill_logits(dy, random);
      REQUIRE(softxent::softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa)) == softxent::status::ok);
      tally t(describe(isa, "softmax_backward with large strides", rows, cols, y.stride, 7));
      expect_softmax_backward(t, y, dy, dx);
      SXTEST_CHECK_TALLY(t);
      CHECK(dx.outside_untouched());
      buffer out(rows, cols, cols + 64, 2);
      REQUIRE(softxent::log_softmax(x.cview(), out.view(), exec_for(isa)) == softxent::status::ok);
      CHECK(out.outside_untouched());
    }
}

TEST_CASE("softmax and log_softmax run in place (y == x with the same stride)") {
  random_source random(314);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 7, 16, 130, 4097, 40000}) {
      buffer x(3, cols, cols + 2, 1);
      fill_mixed_logits(x, random);
      for (bool log : {false, true}) {
        buffer inout = x;
        auto status = log ? softxent::log_softmax(inout.cview(), inout.view(), exec_for(isa))
                          : softxent::softmax(inout.cview(), inout.view(), exec_for(isa));
        REQUIRE(status == softxent::status::ok);
        tally t(describe(isa, log ? "log_softmax in place" : "softmax in place", 3, cols, x.stride, 1));
        if (log)
          expect_log_softmax(t, x, inout);
        else
          expect_softmax(t, x, inout);
        SXTEST_CHECK_TALLY(t);
        CHECK(inout.outside_untouched());
      }
    }
}

TEST_CASE("the backward operations run in place (dx == y or dx == dy)") {
  random_source random(315);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 9, 64, 4097, 20000}) {
      buffer x(3, cols);
      fill_logits(x, random);
      buffer y(3, cols, cols + 1, 2), logy(3, cols, cols + 1, 2), dy(3, cols, cols + 1, 2);
      fill_softmax_of(y, x, false);
      fill_softmax_of(logy, x, true);
      fill_logits(dy, random);
      tally t(describe(isa, "backward in place", 3, cols, cols + 1, 2));
      {
        buffer inout = y;
        REQUIRE(softxent::softmax_backward(inout.cview(), dy.cview(), inout.view(), exec_for(isa)) == softxent::status::ok);
        expect_softmax_backward(t, y, dy, inout);
      }
      {
        buffer inout = dy;
        REQUIRE(softxent::softmax_backward(y.cview(), inout.cview(), inout.view(), exec_for(isa)) == softxent::status::ok);
        expect_softmax_backward(t, y, dy, inout);
      }
      {
        buffer inout = logy;
        REQUIRE(softxent::log_softmax_backward(inout.cview(), dy.cview(), inout.view(), exec_for(isa)) ==
                softxent::status::ok);
        expect_log_softmax_backward(t, logy, dy, inout);
      }
      {
        buffer inout = dy;
        REQUIRE(softxent::log_softmax_backward(logy.cview(), inout.cview(), inout.view(), exec_for(isa)) ==
                softxent::status::ok);
        expect_log_softmax_backward(t, logy, dy, inout);
      }
      SXTEST_CHECK_TALLY(t);
    }
}

TEST_CASE("the cross-entropy gradient may overwrite the logits (grad == logits with the same stride)") {
  random_source random(316);
  for (const std::string& isa : available_isas())
    for (std::size_t cols : sizes{1, 10, 100, 4097, 12000})
      for (softxent::reduction reduction : all_reductions) {
        const std::size_t rows = 4;
        buffer x(rows, cols, cols + 3, 1);
        fill_mixed_logits(x, random);
        std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.25);
        softxent::cross_entropy_options o = with_reduction(reduction);
        o.label_smoothing = 0.05f;
        o.z_loss = 1e-4f;
        cross_entropy_result exact = reference_cross_entropy(make_problem(x, targets.data(), nullptr, o));
        buffer inout = x;
        buffer loss(1, loss_count(reduction, rows));
        REQUIRE(softxent::cross_entropy(inout.cview(), targets.data(), loss.data(), inout.view(), o, exec_for(isa)) ==
                softxent::status::ok);
        tally t(describe(isa, "cross_entropy grad over logits", rows, cols, x.stride, 1));
        expect_cross_entropy(t, exact, loss.data(), &inout);
        // probability targets too
        buffer probs(rows, cols);
        fill_distribution(probs, random);
        cross_entropy_result exact_soft = reference_cross_entropy(make_problem(x, nullptr, &probs, o));
        buffer inout_soft = x;
        REQUIRE(softxent::cross_entropy_soft(inout_soft.cview(), probs.cview(), loss.data(), inout_soft.view(), o,
                                             exec_for(isa)) == softxent::status::ok);
        expect_cross_entropy(t, exact_soft, loss.data(), &inout_soft);
        SXTEST_CHECK_TALLY(t);
      }
}

TEST_CASE("grad_stride is ignored when grad is NULL (loss only)") {
  random_source random(317);
  for (const std::string& isa : available_isas()) {
    buffer x(3, 8);
    fill_logits(x, random);
    std::vector<std::int64_t> targets = random_targets(3, 8, random);
    buffer probs(3, 8);
    fill_distribution(probs, random);
    softxent_exec exec{};
    exec.isa = isa.c_str();
    float loss = sentinel(), soft_loss = sentinel();
    CHECK(softxent_cross_entropy_f32(3, 8, x.data(), 8, targets.data(), nullptr, &loss, nullptr, 0, &exec) ==
          SOFTXENT_OK);
    CHECK(softxent_cross_entropy_soft_f32(3, 8, x.data(), 8, probs.data(), 8, nullptr, &soft_loss, nullptr, 3, &exec) ==
          SOFTXENT_OK);
    softxent::cross_entropy_options defaults;
    tally t(isa + " loss only, grad_stride ignored");
    t.expect(0, 0, loss, reference_cross_entropy(make_problem(x, targets.data(), nullptr, defaults)).loss[0],
             reference_cross_entropy(make_problem(x, targets.data(), nullptr, defaults)).loss_bound[0]);
    cross_entropy_result soft = reference_cross_entropy(make_problem(x, nullptr, &probs, defaults));
    t.expect(0, 0, soft_loss, soft.loss[0], soft.loss_bound[0]);
    SXTEST_CHECK_TALLY(t);
    // the C++ API: a default (null) grad view, whatever its shape fields
    CHECK(softxent::cross_entropy(x.cview(), targets.data(), &loss, softxent::matrix(nullptr, 0, 0, 0), {},
                                  exec_for(isa)) == softxent::status::ok);
  }
}

TEST_CASE("ignore_index that is a valid class ignores the rows whose target is that class") {
  random_source random(318);
  for (const std::string& isa : available_isas())
    for (softxent::reduction reduction : all_reductions) {
      buffer x(8, 5);
      fill_logits(x, random);
      std::vector<std::int64_t> targets = {0, 1, 2, 3, 4, 2, 2, 1};
      softxent::cross_entropy_options o = with_reduction(reduction);
      o.ignore_index = 2;
      check_forward_ops(isa, x, targets, o, nullptr, "ignore_index = 2");
      // and -100 is then an invalid target
      targets[0] = -100;
      std::vector<float> loss(8);
      CHECK(softxent::cross_entropy(x.cview(), targets.data(), loss.data(), {}, o, exec_for(isa)) ==
            softxent::status::invalid_target);
    }
}
