// The scalar reference (exec.isa = "reference") against textbook formulas evaluated in long double:
// softmax = exp(x) / sum exp(x) without any max shift (long double's range makes that safe for the
// inputs used here), logsumexp = log(sum exp(x)), and PyTorch's cross-entropy formulas.
#include "test_support.hpp"

using namespace sxtest;

namespace {

const softxent::exec_options reference_exec = exec_for("reference");

std::vector<std::size_t> reference_lengths() { return {1, 2, 3, 5, 8, 13, 31, 64, 100, 257, 1000, 5000}; }

// log(sum exp(x)) with no shift: fine in long double for |x| <= 100.
real textbook_lse(const float* x, std::size_t n) {
  real sum = 0;
  for (std::size_t j = 0; j < n; ++j) sum += std::exp(static_cast<real>(x[j]));
  return std::log(sum);
}

// m in SPEC.md's bounds; the textbook values' own rounding is far below float's.
real row_max(const float* x, std::size_t n) { return *std::max_element(x, x + n); }

}  // namespace

TEST_CASE("reference logsumexp equals log(sum(exp(x))) on random rows of many lengths") {
  random_source random(71);
  for (std::size_t cols : reference_lengths()) {
    buffer x(4, cols, cols + 1);
    fill_uniform(x, random, -100.0f, 100.0f);
    std::vector<float> lse(4);
    REQUIRE(softxent::logsumexp(x.cview(), lse.data(), reference_exec) == softxent::status::ok);
    tally t(describe("reference", "logsumexp vs textbook", 4, cols, x.stride, 0));
    for (std::size_t r = 0; r < 4; ++r) {
      real exact = textbook_lse(x.row(r), cols);
      t.expect(r, 0, lse[r], exact, 8 * eps * (1 + std::fabs(exact)));
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("reference softmax equals exp(x_j) / sum_k exp(x_k) on random rows of many lengths") {
  random_source random(72);
  for (std::size_t cols : reference_lengths()) {
    buffer x(4, cols);
    fill_uniform(x, random, -30.0f, 30.0f);
    buffer y(4, cols);
    REQUIRE(softxent::softmax(x.cview(), y.view(), reference_exec) == softxent::status::ok);
    tally t(describe("reference", "softmax vs textbook", 4, cols, x.stride, 0));
    for (std::size_t r = 0; r < 4; ++r) {
      real sum = 0;
      for (std::size_t k = 0; k < cols; ++k) sum += std::exp(static_cast<real>(x.at(r, k)));
      real m = row_max(x.row(r), cols);
      for (std::size_t c = 0; c < cols; ++c) {
        real p = std::exp(static_cast<real>(x.at(r, c))) / sum;
        real bound = (8 + std::fabs(x.at(r, c) - m)) * eps * p;
        t.expect(r, c, y.at(r, c), p, p < tiny_value ? std::max(bound, tiny_bound) : bound);
      }
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("reference log_softmax equals x_j - log(sum_k exp(x_k)) on random rows of many lengths") {
  random_source random(73);
  for (std::size_t cols : reference_lengths()) {
    buffer x(4, cols, cols + 5, 2);
    fill_uniform(x, random, -100.0f, 100.0f);
    buffer y(4, cols);
    REQUIRE(softxent::log_softmax(x.cview(), y.view(), reference_exec) == softxent::status::ok);
    tally t(describe("reference", "log_softmax vs textbook", 4, cols, x.stride, 2));
    for (std::size_t r = 0; r < 4; ++r) {
      real lse = textbook_lse(x.row(r), cols);
      real m = row_max(x.row(r), cols);
      for (std::size_t c = 0; c < cols; ++c)
        t.expect(r, c, y.at(r, c), x.at(r, c) - lse, (8 + std::fabs(x.at(r, c) - m)) * eps + 8 * eps * std::fabs(lse));
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("reference softmax_backward equals the Jacobian-transpose product diag(y) dy - y y^T dy") {
  // Written as the explicit Jacobian J_jk = y_j ([j == k] - y_k) times dy, a different order of
  // operations from the closed form the library documents.
  random_source random(74);
  for (std::size_t cols : sizes{1, 2, 7, 33, 200}) {
    buffer x(3, cols);
    fill_logits(x, random);
    buffer y(3, cols), dy(3, cols), dx(3, cols);
    fill_softmax_of(y, x, false);
    fill_logits(dy, random);
    REQUIRE(softxent::softmax_backward(y.cview(), dy.cview(), dx.view(), reference_exec) == softxent::status::ok);
    tally t(describe("reference", "softmax_backward vs Jacobian", 3, cols, cols, 0));
    for (std::size_t r = 0; r < 3; ++r) {
      real abs_dot = 0;
      for (std::size_t k = 0; k < cols; ++k) abs_dot += std::fabs(static_cast<real>(y.at(r, k)) * dy.at(r, k));
      for (std::size_t j = 0; j < cols; ++j) {
        real sum = 0;
        for (std::size_t k = 0; k < cols; ++k)
          sum += static_cast<real>(y.at(r, k)) * ((j == k ? 1 : 0) - static_cast<real>(y.at(r, j))) * dy.at(r, k);
        t.expect(r, j, dx.at(r, j), sum, 8 * eps * std::fabs(y.at(r, j)) * (std::fabs(dy.at(r, j)) + abs_dot) + real(1e-30L));
      }
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("reference log_softmax_backward equals the Jacobian-transpose product dy - softmax * sum(dy)") {
  random_source random(75);
  for (std::size_t cols : sizes{1, 2, 7, 33, 200}) {
    buffer x(3, cols);
    fill_logits(x, random);
    buffer y(3, cols), dy(3, cols), dx(3, cols);
    fill_softmax_of(y, x, true);
    fill_logits(dy, random);
    REQUIRE(softxent::log_softmax_backward(y.cview(), dy.cview(), dx.view(), reference_exec) == softxent::status::ok);
    tally t(describe("reference", "log_softmax_backward vs Jacobian", 3, cols, cols, 0));
    for (std::size_t r = 0; r < 3; ++r) {
      real abs_sum = 0;
      for (std::size_t k = 0; k < cols; ++k) abs_sum += std::fabs(static_cast<real>(dy.at(r, k)));
      for (std::size_t j = 0; j < cols; ++j) {
        // J_kj = [k == j] - exp(y_j): column j of the log_softmax Jacobian, dotted with dy
        real sum = 0, e = std::exp(static_cast<real>(y.at(r, j)));
        for (std::size_t k = 0; k < cols; ++k) sum += ((k == j ? 1 : 0) - e) * dy.at(r, k);
        t.expect(r, j, dx.at(r, j), sum, 8 * eps * (std::fabs(dy.at(r, j)) + e * abs_sum) + real(1e-30L));
      }
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("reference cross_entropy equals -log softmax(x)_t averaged over the rows - PyTorch's default") {
  random_source random(76);
  for (std::size_t cols : reference_lengths()) {
    const std::size_t rows = 6;
    buffer x(rows, cols);
    fill_uniform(x, random, -20.0f, 20.0f);
    std::vector<std::int64_t> targets = random_targets(rows, cols, random);
    float loss = sentinel();
    buffer grad(rows, cols);
    REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), &loss, grad.view(), {}, reference_exec) ==
            softxent::status::ok);
    real total = 0, bound = 0;
    tally t(describe("reference", "cross_entropy vs textbook", rows, cols, cols, 0));
    for (std::size_t r = 0; r < rows; ++r) {
      real lse = textbook_lse(x.row(r), cols);
      real sum = std::exp(lse);
      auto target = static_cast<std::size_t>(targets[r]);
      total += (lse - x.at(r, target)) / rows;
      real m = row_max(x.row(r), cols);
      bound += ((8 + std::fabs(x.at(r, target) - m)) * eps + 8 * eps * std::fabs(lse)) / rows;
      for (std::size_t c = 0; c < cols; ++c) {
        real p = std::exp(static_cast<real>(x.at(r, c))) / sum;
        real y = c == target ? 1 : 0;
        real pbound = (8 + std::fabs(x.at(r, c) - m)) * eps * p;
        t.expect(r, c, grad.at(r, c), (p - y) / rows, (std::max(pbound, tiny_bound) + 8 * eps * (p + y)) / rows);
      }
    }
    t.expect(0, 0, loss, total, bound + 8 * eps * total);
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("reference cross_entropy with weights - ignore_index and label smoothing follows PyTorch's worked formula") {
  // A case small enough to write out: 3 rows, 3 classes, weights (1, 2, 0.5), label smoothing 0.3,
  // row 1 ignored. PyTorch: loss_i = (1 - ls) * w_t * (-logp_t) + ls / C * sum_j w_j * (-logp_j),
  // MEAN = (loss_0 + loss_2) / (w_t0 + w_t2).
  const float logits[9] = {1.0f, 2.0f, 3.0f, 5.0f, -1.0f, 0.0f, 0.5f, 0.25f, -2.0f};
  const std::int64_t targets[3] = {2, -100, 1};
  const float weights[3] = {1.0f, 2.0f, 0.5f};
  softxent::cross_entropy_options o;
  o.class_weights = weights;
  o.label_smoothing = 0.3f;
  const real ls = static_cast<real>(0.3f);  // the value the library sees
  real expected_rows[3] = {0, 0, 0};
  for (std::size_t r : sizes{0, 2}) {
    const float* x = logits + 3 * r;
    real lse = std::log(std::exp(static_cast<real>(x[0])) + std::exp(static_cast<real>(x[1])) +
                        std::exp(static_cast<real>(x[2])));
    auto t = static_cast<std::size_t>(targets[r]);
    real smooth = 0;
    for (std::size_t j = 0; j < 3; ++j) smooth += weights[j] * (lse - x[j]);
    expected_rows[r] = (1 - ls) * weights[t] * (lse - x[t]) + ls / 3 * smooth;
  }
  real expected_mean = (expected_rows[0] + expected_rows[2]) / (weights[2] + weights[1]);
  real expected_sum = expected_rows[0] + expected_rows[2];
  softxent::const_matrix x(logits, 3, 3);
  buffer as_buffer(3, 3);
  std::copy(logits, logits + 9, as_buffer.data());
  for (softxent::reduction reduction : all_reductions) {
    o.reduction = reduction;
    float loss[3] = {sentinel(), sentinel(), sentinel()};
    REQUIRE(softxent::cross_entropy(x, targets, loss, {}, o, reference_exec) == softxent::status::ok);
    // SPEC.md's loss tolerance, as the long double reference derives it for this input
    const std::vector<real> bound = reference_cross_entropy(make_problem(as_buffer, targets, nullptr, o)).loss_bound;
    tally t(std::string("worked example, reduction=") + reduction_name(reduction));
    if (reduction == softxent::reduction::none) {
      for (std::size_t r = 0; r < 3; ++r) t.expect(r, 0, loss[r], expected_rows[r], bound[r]);
      CHECK(loss[1] == 0.0f);
    } else {
      t.expect(0, 0, loss[0], reduction == softxent::reduction::mean ? expected_mean : expected_sum, bound[0]);
      CHECK(same_bits(loss[1], sentinel()));  // one value only
    }
    SXTEST_CHECK_TALLY(t);
  }
}

TEST_CASE("reference cross_entropy_soft with a one-hot target equals the integer-target loss") {
  random_source random(77);
  const std::size_t rows = 9, cols = 17;
  buffer x(rows, cols);
  fill_logits(x, random);
  std::vector<std::int64_t> targets = random_targets(rows, cols, random);
  buffer probs(rows, cols);
  probs.fill_matrix(0.0f);
  for (std::size_t r = 0; r < rows; ++r) probs.at(r, static_cast<std::size_t>(targets[r])) = 1.0f;
  for (softxent::reduction reduction : all_reductions) {
    softxent::cross_entropy_options o;
    o.reduction = reduction;
    o.label_smoothing = 0.125f;
    std::vector<float> hard(rows), soft(rows);
    buffer hard_grad(rows, cols), soft_grad(rows, cols);
    REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), hard.data(), hard_grad.view(), o, reference_exec) ==
            softxent::status::ok);
    REQUIRE(softxent::cross_entropy_soft(x.cview(), probs.cview(), soft.data(), soft_grad.view(), o, reference_exec) ==
            softxent::status::ok);
    // Both against the exact value of the integer-target formula.
    cross_entropy_result exact = reference_cross_entropy(make_problem(x, targets.data(), nullptr, o));
    tally t(std::string("one-hot soft vs hard, reduction=") + reduction_name(reduction));
    expect_cross_entropy(t, exact, hard.data(), &hard_grad);
    expect_cross_entropy(t, exact, soft.data(), &soft_grad);
    SXTEST_CHECK_TALLY(t);
  }
}
