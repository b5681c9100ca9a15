// Gradients against finite differences. The library's analytic gradients (cross-entropy with every
// option, and the two backward operations as vector-Jacobian products) are compared with central
// differences of the reference loss (h = 1e-6 in x86's long double, error near 1e-12; h = 1e-4 where
// the reference runs in double, error near 1e-10), on every instruction set; and the
// library's own float loss is differenced to show its loss and gradient belong together.
#include "test_support.hpp"

using namespace sxtest;

namespace {

// Central differences err by about eps(real) / h from rounding and h^2 from truncation.
constexpr real step = std::numeric_limits<real>::digits > 53 ? real(1e-6L) : real(1e-4);

// d loss / d logit for every logit, by central differences of the reference loss. For NONE, the
// derivative of each row's own loss with respect to that row's logits.
std::vector<real> finite_difference_gradient(cross_entropy_problem p) {
  std::vector<real> g(p.rows * p.cols);
  bool per_row = p.options.reduction == softxent::reduction::none;
  for (std::size_t r = 0; r < p.rows; ++r)
    for (std::size_t c = 0; c < p.cols; ++c) {
      real& x = p.logits[r * p.cols + c];
      const real saved = x;
      x = saved + step;
      real up = reference_cross_entropy(p).loss[per_row ? r : 0];
      x = saved - step;
      real down = reference_cross_entropy(p).loss[per_row ? r : 0];
      x = saved;
      g[r * p.cols + c] = (up - down) / (2 * step);
    }
  return g;
}

// Runs the library on every instruction set and compares its gradient with the finite differences
// of the loss defined by PyTorch's formulas; also checks the loss itself.
void check_against_finite_differences(const softxent::cross_entropy_options& o, bool soft, std::uint64_t seed,
                                      double ignore_chance = 0.0) {
  random_source random(seed);
  const std::size_t rows = 5, cols = 7;
  buffer logits(rows, cols, cols + 1, 1);
  fill_logits(logits, random);
  buffer probs(rows, cols);
  fill_distribution(probs, random);
  std::vector<std::int64_t> targets = random_targets(rows, cols, random, ignore_chance, o.ignore_index);
  if (ignore_chance > 0) targets[1] = o.ignore_index;  // at least one ignored row
  cross_entropy_problem problem = make_problem(logits, soft ? nullptr : targets.data(), soft ? &probs : nullptr, o);
  std::vector<real> fd = finite_difference_gradient(problem);
  cross_entropy_result exact = reference_cross_entropy(problem);
  // The analytic reference gradient and the differences agree to far better than float precision.
  for (std::size_t i = 0; i < fd.size(); ++i) REQUIRE(std::fabs(fd[i] - exact.grad[i]) < real(1e-9L));

  bool some_non_target_nonzero = false;
  for (const std::string& isa : available_isas()) {
    buffer loss(1, loss_count(o.reduction, rows));
    buffer grad(rows, cols, cols + 3, 2);
    softxent::status status =
        soft ? softxent::cross_entropy_soft(logits.cview(), probs.cview(), loss.data(), grad.view(), o, exec_for(isa))
             : softxent::cross_entropy(logits.cview(), targets.data(), loss.data(), grad.view(), o, exec_for(isa));
    REQUIRE(status == softxent::status::ok);
    tally t(describe(isa, soft ? "cross_entropy_soft grad vs finite differences" : "cross_entropy grad vs finite differences",
                     rows, cols, logits.stride, 1) + " reduction=" + reduction_name(o.reduction));
    for (std::size_t i = 0; i < exact.loss.size(); ++i) t.expect(i, 0, loss.data()[i], exact.loss[i], exact.loss_bound[i]);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        real g = fd[r * cols + c];
        t.expect(r, c, grad.at(r, c), g, exact.grad_bound[r * cols + c] + real(1e-9L));
        bool is_target = !soft && targets[r] == static_cast<std::int64_t>(c);
        if (!is_target && grad.at(r, c) != 0) some_non_target_nonzero = true;
      }
    SXTEST_CHECK_TALLY(t);
    CHECK(grad.outside_untouched());
  }
  CHECK_MESSAGE(some_non_target_nonzero, "non-target classes must get a gradient too");
}

}  // namespace

TEST_CASE("cross_entropy gradient equals finite differences of the loss: MEAN") {
  softxent::cross_entropy_options o;
  check_against_finite_differences(o, false, 101);
}

TEST_CASE("cross_entropy gradient equals finite differences of the loss: SUM") {
  softxent::cross_entropy_options o;
  o.reduction = softxent::reduction::sum;
  check_against_finite_differences(o, false, 102);
}

TEST_CASE("cross_entropy gradient equals finite differences of each row's loss: NONE") {
  softxent::cross_entropy_options o;
  o.reduction = softxent::reduction::none;
  check_against_finite_differences(o, false, 103);
}

TEST_CASE("cross_entropy gradient equals finite differences with ignore_index (every reduction)") {
  for (softxent::reduction reduction : all_reductions) {
    softxent::cross_entropy_options o;
    o.reduction = reduction;
    o.ignore_index = -7;
    check_against_finite_differences(o, false, 104, 0.3);
  }
}

TEST_CASE("cross_entropy gradient equals finite differences with label smoothing (every reduction)") {
  for (softxent::reduction reduction : all_reductions)
    for (float smoothing : {0.1f, 0.5f, 1.0f}) {
      softxent::cross_entropy_options o;
      o.reduction = reduction;
      o.label_smoothing = smoothing;
      check_against_finite_differences(o, false, 105);
    }
}

TEST_CASE("cross_entropy gradient equals finite differences with class weights (every reduction)") {
  const float weights[7] = {0.5f, 2.0f, 1.0f, 0.0f, 3.0f, 0.25f, 1.5f};
  for (softxent::reduction reduction : all_reductions) {
    softxent::cross_entropy_options o;
    o.reduction = reduction;
    o.class_weights = weights;
    check_against_finite_differences(o, false, 106);
  }
}

TEST_CASE("cross_entropy gradient equals finite differences with z_loss (every reduction)") {
  for (softxent::reduction reduction : all_reductions) {
    softxent::cross_entropy_options o;
    o.reduction = reduction;
    o.z_loss = 0.05f;
    check_against_finite_differences(o, false, 107, 0.3);
  }
}

TEST_CASE("cross_entropy gradient equals finite differences with every option at once") {
  const float weights[7] = {1.5f, 0.5f, 2.0f, 1.0f, 0.75f, 3.0f, 0.1f};
  for (softxent::reduction reduction : all_reductions) {
    softxent::cross_entropy_options o;
    o.reduction = reduction;
    o.class_weights = weights;
    o.label_smoothing = 0.2f;
    o.z_loss = 0.01f;
    o.ignore_index = 4;
    check_against_finite_differences(o, false, 108, 0.3);
  }
}

TEST_CASE("cross_entropy_soft gradient equals finite differences with every option (every reduction)") {
  const float weights[7] = {1.0f, 0.5f, 2.0f, 1.0f, 0.0f, 3.0f, 0.2f};
  for (softxent::reduction reduction : all_reductions)
    for (int variant = 0; variant < 4; ++variant) {
      softxent::cross_entropy_options o;
      o.reduction = reduction;
      if (variant == 1) o.label_smoothing = 0.3f;
      if (variant == 2) o.class_weights = weights;
      if (variant == 3) {
        o.label_smoothing = 0.1f;
        o.class_weights = weights;
        o.z_loss = 0.02f;
      }
      check_against_finite_differences(o, true, 109 + static_cast<std::uint64_t>(variant));
    }
}

TEST_CASE("softmax_backward is the vector-Jacobian product of softmax: finite differences of dy . softmax(x)") {
  random_source random(120);
  const std::size_t rows = 4, cols = 9;
  buffer x(rows, cols);
  fill_logits(x, random);
  buffer y(rows, cols), dy(rows, cols);
  fill_softmax_of(y, x, false);
  fill_logits(dy, random);
  for (const std::string& isa : available_isas()) {
    buffer dx(rows, cols, cols + 2, 1);
    REQUIRE(softxent::softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa)) == softxent::status::ok);
    tally t(describe(isa, "softmax_backward vs finite differences", rows, cols, cols, 0));
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<real> row(x.row(r), x.row(r) + cols);
      auto objective = [&] {
        row_stats s = reference_row_stats(row.data(), cols);
        real f = 0;
        for (std::size_t k = 0; k < cols; ++k) f += static_cast<real>(dy.at(r, k)) * reference_probability(row[k], s);
        return f;
      };
      real abs_dot = 0;
      for (std::size_t k = 0; k < cols; ++k) abs_dot += std::fabs(static_cast<real>(dy.at(r, k)) * y.at(r, k));
      for (std::size_t j = 0; j < cols; ++j) {
        const real saved = row[j];
        row[j] = saved + step;
        real up = objective();
        row[j] = saved - step;
        real down = objective();
        row[j] = saved;
        // twice the bound: y itself was rounded to float
        real bound = 2 * 8 * eps * std::fabs(y.at(r, j)) * (std::fabs(dy.at(r, j)) + abs_dot) + real(1e-9L);
        t.expect(r, j, dx.at(r, j), (up - down) / (2 * step), bound);
      }
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("log_softmax_backward is the vector-Jacobian product of log_softmax: finite differences of dy . log_softmax(x)") {
  random_source random(121);
  const std::size_t rows = 4, cols = 9;
  buffer x(rows, cols);
  fill_logits(x, random);
  buffer y(rows, cols), dy(rows, cols);
  fill_softmax_of(y, x, true);
  fill_logits(dy, random);
  for (const std::string& isa : available_isas()) {
    buffer dx(rows, cols, cols + 2, 1);
    REQUIRE(softxent::log_softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa)) == softxent::status::ok);
    tally t(describe(isa, "log_softmax_backward vs finite differences", rows, cols, cols, 0));
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<real> row(x.row(r), x.row(r) + cols);
      auto objective = [&] {
        row_stats s = reference_row_stats(row.data(), cols);
        real f = 0;
        for (std::size_t k = 0; k < cols; ++k) f += static_cast<real>(dy.at(r, k)) * reference_log_probability(row[k], s);
        return f;
      };
      real abs_sum = 0;
      for (std::size_t k = 0; k < cols; ++k) abs_sum += std::fabs(static_cast<real>(dy.at(r, k)));
      for (std::size_t j = 0; j < cols; ++j) {
        const real saved = row[j];
        row[j] = saved + step;
        real up = objective();
        row[j] = saved - step;
        real down = objective();
        row[j] = saved;
        real e = std::exp(static_cast<real>(y.at(r, j)));
        // plus the effect of y's own rounding to float on exp(y)
        real bound = 8 * eps * (std::fabs(dy.at(r, j)) + e * abs_sum) +
                     e * (std::fabs(y.at(r, j)) + 1) * eps * abs_sum + real(1e-9L);
        t.expect(r, j, dx.at(r, j), (up - down) / (2 * step), bound);
      }
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("every class gets the gradient p_j - y_j: non-target classes are not zero") {
  // Logits 0, 1, 2, 3, target 1, SUM: the gradient is softmax(x) - onehot(1) for all four classes.
  const float logits[4] = {0.0f, 1.0f, 2.0f, 3.0f};
  const std::int64_t target = 1;
  real sum = 0;
  for (float v : logits) sum += std::exp(static_cast<real>(v));
  softxent::cross_entropy_options o;
  o.reduction = softxent::reduction::sum;
  for (const std::string& isa : available_isas()) {
    float loss = sentinel();
    float grad[4] = {sentinel(), sentinel(), sentinel(), sentinel()};
    REQUIRE(softxent::cross_entropy({logits, 1, 4}, &target, &loss, {grad, 1, 4}, o, exec_for(isa)) ==
            softxent::status::ok);
    tally t(isa + " gradient p - onehot");
    for (std::size_t j = 0; j < 4; ++j) {
      real p = std::exp(static_cast<real>(logits[j])) / sum;
      real y = j == 1 ? 1 : 0;
      t.expect(0, j, grad[j], p - y, (8 + 3) * eps * p + 8 * eps * (p + y));
    }
    SXTEST_CHECK_TALLY(t);
    CHECK(grad[0] > 0.0f);
    CHECK(grad[2] > 0.0f);
    CHECK(grad[3] > 0.5f);  // p_3 = 0.64
    CHECK(grad[1] < 0.0f);
  }
}

TEST_CASE("the library's own float loss and gradient agree under finite differences - every option") {
  // Differences of the float loss with h = 1/64: rounding (~1e-5) and truncation (~1e-4) stay far below
  // the gradients being checked, which are of order 0.1.
  random_source random(122);
  const std::size_t rows = 3, cols = 6;
  buffer logits(rows, cols);
  fill_logits(logits, random, logit_kind::normal);
  std::vector<std::int64_t> targets = {2, -100, 5};
  const float weights[6] = {1.0f, 2.0f, 0.5f, 1.0f, 1.5f, 0.75f};
  for (const std::string& isa : available_isas())
    for (softxent::reduction reduction : all_reductions) {
      softxent::cross_entropy_options o;
      o.reduction = reduction;
      o.label_smoothing = 0.1f;
      o.class_weights = weights;
      o.z_loss = 0.01f;
      buffer grad(rows, cols);
      std::vector<float> loss(rows);
      REQUIRE(softxent::cross_entropy(logits.cview(), targets.data(), loss.data(), grad.view(), o, exec_for(isa)) ==
              softxent::status::ok);
      tally t(isa + " float loss differences, reduction=" + reduction_name(reduction));
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
          buffer moved = logits;
          const float h = 1.0f / 64;
          std::vector<float> up(rows), down(rows);
          moved.at(r, c) = logits.at(r, c) + h;
          REQUIRE(softxent::cross_entropy(moved.cview(), targets.data(), up.data(), {}, o, exec_for(isa)) ==
                  softxent::status::ok);
          moved.at(r, c) = logits.at(r, c) - h;
          REQUIRE(softxent::cross_entropy(moved.cview(), targets.data(), down.data(), {}, o, exec_for(isa)) ==
                  softxent::status::ok);
          std::size_t i = reduction == softxent::reduction::none ? r : 0;
          real difference = (static_cast<real>(up[i]) - down[i]) / (2 * static_cast<real>(h));
          t.expect(r, c, grad.at(r, c), difference, real(1e-3L));
        }
      SXTEST_CHECK_TALLY(t);
    }
}
