// Cross-entropy with integer targets on every instruction set against an independent long double
// implementation of PyTorch's F.cross_entropy formulas (plus z-loss), loss and gradient.
#include "test_support.hpp"

using namespace sxtest;

namespace {

// Option sets the sweep rotates through: PyTorch's defaults, then everything at once.
softxent::cross_entropy_options sweep_options(std::size_t which, std::size_t cols, const std::vector<float>& weights) {
  softxent::cross_entropy_options o;
  if (which == 1) {
    o.reduction = softxent::reduction::sum;
    o.label_smoothing = 0.1f;
    o.class_weights = weights.data();
    o.z_loss = 1e-4f;
  } else if (which == 2) {
    o.reduction = softxent::reduction::none;
    o.ignore_index = cols > 3 ? 3 : -1;
    o.label_smoothing = 0.05f;
    o.z_loss = 1e-3f;
  }
  return o;
}

// One call, loss only or with gradient, checked against the reference.
void run_and_check(const std::string& isa, const buffer& logits, const std::vector<std::int64_t>& targets,
                   const softxent::cross_entropy_options& o, const layout& grad_layout, bool with_grad,
                   const cross_entropy_result& exact) {
  const std::vector<float> logits_before = logits.storage;
  buffer loss(1, loss_count(o.reduction, logits.rows));
  buffer grad = with_grad ? make_buffer(logits.rows, logits.cols, grad_layout) : buffer();
  softxent::matrix grad_view = with_grad ? grad.view() : softxent::matrix();
  tally t(describe(isa, with_grad ? "cross_entropy+grad" : "cross_entropy", logits.rows, logits.cols,
                   logits.stride, logits.offset) + " reduction=" + reduction_name(o.reduction));
  REQUIRE(softxent::cross_entropy(logits.cview(), targets.data(), loss.data(), grad_view, o, exec_for(isa)) ==
          softxent::status::ok);
  expect_cross_entropy(t, exact, loss.data(), with_grad ? &grad : nullptr);
  SXTEST_CHECK_TALLY(t);
  CHECK_MESSAGE(loss.outside_untouched(), t.label);
  if (with_grad) CHECK_MESSAGE(grad.outside_untouched(), t.label);
  CHECK_MESSAGE(bitwise_equal(logits.storage, logits_before), t.label);
}

// The sweep over the given row lengths, every layout and every instruction set.
void sweep_cross_entropy(const std::vector<std::size_t>& lengths, std::uint64_t seed) {
  random_source random(seed);
  std::vector<std::string> isas = available_isas();
  for (std::size_t cols : lengths)
    for (std::size_t l = 0; l < layout_count; ++l) {
      std::size_t rows = sweep_rows(cols);
      buffer logits = make_buffer(rows, cols, sweep_layouts[l]);
      fill_mixed_logits(logits, random);
      std::vector<float> weights(cols);
      for (float& w : weights) w = random.uniform(0.25f, 2.0f);
      softxent::cross_entropy_options o = sweep_options(l, cols, weights);
      std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.2, o.ignore_index);
      if (l == 0) targets = random_targets(rows, cols, random);
      cross_entropy_result exact = reference_cross_entropy(make_problem(logits, targets.data(), nullptr, o));
      for (const std::string& isa : isas)
        for (bool with_grad : {false, true})
          run_and_check(isa, logits, targets, o, sweep_layouts[(l + 1) % layout_count], with_grad, exact);
    }
}
}  // namespace

TEST_CASE("cross_entropy matches PyTorch's formulas for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_cross_entropy(short_sweep_lengths(), 51); }

TEST_SUITE("slow") {
  TEST_CASE("cross_entropy matches PyTorch's formulas for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_cross_entropy(long_sweep_lengths(), 1051); }
}

TEST_CASE("cross_entropy: every reduction with every option on every instruction set") {
  random_source random(52);
  for (std::size_t cols : sizes{3, 10, 16, 29, 32, 33}) {  // the short-row tiles and the general path
    const std::size_t rows = 37;
    buffer logits(rows, cols, cols + 2, 1);
    fill_logits(logits, random);
    std::vector<float> weights(cols);
    for (float& w : weights) w = random.uniform(0.0f, 3.0f);
    for (softxent::reduction reduction : all_reductions)
      for (int with_weights = 0; with_weights < 2; ++with_weights)
        for (float smoothing : {0.0f, 0.3f, 1.0f})
          for (float z : {0.0f, 0.01f})
            for (std::int64_t ignore : {std::int64_t{-100}, std::int64_t{5}}) {
              softxent::cross_entropy_options o;
              o.reduction = reduction;
              o.class_weights = with_weights ? weights.data() : nullptr;
              o.label_smoothing = smoothing;
              o.z_loss = z;
              o.ignore_index = ignore;
              std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.25, ignore);
              cross_entropy_result exact = reference_cross_entropy(make_problem(logits, targets.data(), nullptr, o));
              for (const std::string& isa : available_isas())
                run_and_check(isa, logits, targets, o, {5, 2}, true, exact);
            }
  }
}

TEST_CASE("cross_entropy: the batch sum and mean keep their accuracy over 2^18 rows") {
  // Each row's loss is about log 2 with an error of a few eps; a float running sum of 2^18 of them
  // drifts by hundreds of eps, beyond the 8 * eps the reduction may add.
  random_source random(53);
  const std::size_t rows = std::size_t{1} << 18, cols = 2;
  buffer logits(rows, cols);
  fill_uniform(logits, random, -0.05f, 0.05f);
  std::vector<std::int64_t> targets = random_targets(rows, cols, random);
  for (softxent::reduction reduction : {softxent::reduction::sum, softxent::reduction::mean}) {
    softxent::cross_entropy_options o;
    o.reduction = reduction;
    cross_entropy_result exact = reference_cross_entropy(make_problem(logits, targets.data(), nullptr, o));
    for (const std::string& isa : available_isas()) {
      float loss = sentinel();
      REQUIRE(softxent::cross_entropy(logits.cview(), targets.data(), &loss, {}, o, exec_for(isa)) ==
              softxent::status::ok);
      tally t(describe(isa, "cross_entropy batch", rows, cols, cols, 0) + " reduction=" + reduction_name(reduction));
      t.expect(0, 0, loss, exact.loss[0], exact.loss_bound[0]);
      SXTEST_CHECK_TALLY(t);
    }
  }
}

TEST_SUITE("slow") {
  TEST_CASE("cross_entropy of one row of 2^21 classes stays within the bound on every instruction set") {
    random_source random(54);
    buffer logits(1, std::size_t{1} << 21);
    fill_uniform(logits, random, -1.0f, 1.0f);
    std::vector<std::int64_t> targets = {777777};
    softxent::cross_entropy_options o;
    o.label_smoothing = 0.1f;
    o.z_loss = 1e-4f;
    cross_entropy_result exact = reference_cross_entropy(make_problem(logits, targets.data(), nullptr, o));
    for (const std::string& isa : available_isas()) run_and_check(isa, logits, targets, o, {0, 0}, true, exact);
  }
}

TEST_CASE("z_loss adds z * lse^2 per counted row - unweighted - and MEAN averages it over the counted rows") {
  // loss(z) - loss(0) against z * sum or mean of lse^2 from the long double reference, with class
  // weights that would change the answer if the z-term were weighted or divided by the weight sum.
  random_source random(55);
  const std::size_t rows = 12, cols = 9;
  buffer x(rows, cols);
  fill_logits(x, random);
  std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.3);
  targets[0] = -100;
  targets[1] = 3;
  const float weights[cols] = {0.5f, 2.0f, 3.0f, 0.25f, 1.0f, 4.0f, 0.1f, 1.5f, 2.5f};
  real sum_lse2 = 0;
  std::size_t counted = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    if (targets[r] == -100) continue;
    real lse = reference_row_stats(x.row(r), cols).lse();
    sum_lse2 += lse * lse;
    ++counted;
  }
  const float z = 0.125f;
  for (const std::string& isa : available_isas())
    for (softxent::reduction reduction : all_reductions) {
      softxent::cross_entropy_options o;
      o.reduction = reduction;
      o.class_weights = weights;
      std::vector<float> without(rows), with(rows);
      REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), without.data(), {}, o, exec_for(isa)) ==
              softxent::status::ok);
      o.z_loss = z;
      REQUIRE(softxent::cross_entropy(x.cview(), targets.data(), with.data(), {}, o, exec_for(isa)) ==
              softxent::status::ok);
      CAPTURE(isa);
      CAPTURE(reduction_name(reduction));
      if (reduction == softxent::reduction::none) {
        for (std::size_t r = 0; r < rows; ++r) {
          real lse = reference_row_stats(x.row(r), cols).lse();
          real expected = targets[r] == -100 ? 0 : z * lse * lse;
          CHECK(static_cast<double>(with[r] - without[r]) ==
                doctest::Approx(static_cast<double>(expected)).epsilon(1e-5).scale(1.0));
        }
      } else {
        real expected = z * (reduction == softxent::reduction::mean ? sum_lse2 / static_cast<real>(counted) : sum_lse2);
        CHECK(static_cast<double>(with[0] - without[0]) ==
              doctest::Approx(static_cast<double>(expected)).epsilon(1e-5).scale(1.0));
      }
    }
}
