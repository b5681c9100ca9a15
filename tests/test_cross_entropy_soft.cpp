// Cross-entropy with probability targets on every instruction set against an independent long double
// implementation of PyTorch's F.cross_entropy with probability targets (plus z-loss).
#include "test_support.hpp"

using namespace sxtest;

namespace {

void run_and_check(const std::string& isa, const buffer& logits, const buffer& probs,
                   const softxent::cross_entropy_options& o, const layout& grad_layout, bool with_grad,
                   const cross_entropy_result& exact) {
  const std::vector<float> logits_before = logits.storage, probs_before = probs.storage;
  buffer loss(1, loss_count(o.reduction, logits.rows));
  buffer grad = with_grad ? make_buffer(logits.rows, logits.cols, grad_layout) : buffer();
  softxent::matrix grad_view = with_grad ? grad.view() : softxent::matrix();
  tally t(describe(isa, with_grad ? "cross_entropy_soft+grad" : "cross_entropy_soft", logits.rows, logits.cols,
                   logits.stride, logits.offset) + " reduction=" + reduction_name(o.reduction));
  REQUIRE(softxent::cross_entropy_soft(logits.cview(), probs.cview(), loss.data(), grad_view, o, exec_for(isa)) ==
          softxent::status::ok);
  expect_cross_entropy(t, exact, loss.data(), with_grad ? &grad : nullptr);
  SXTEST_CHECK_TALLY(t);
  CHECK_MESSAGE(loss.outside_untouched(), t.label);
  if (with_grad) CHECK_MESSAGE(grad.outside_untouched(), t.label);
  CHECK_MESSAGE(bitwise_equal(logits.storage, logits_before), t.label);
  CHECK_MESSAGE(bitwise_equal(probs.storage, probs_before), t.label);
}

// The sweep over the given row lengths, every layout and every instruction set.
void sweep_cross_entropy_soft(const std::vector<std::size_t>& lengths, std::uint64_t seed) {
  random_source random(seed);
  std::vector<std::string> isas = available_isas();
  for (std::size_t cols : lengths)
    for (std::size_t l = 0; l < layout_count; ++l) {
      std::size_t rows = sweep_rows(cols);
      buffer logits = make_buffer(rows, cols, sweep_layouts[l]);
      fill_mixed_logits(logits, random);
      buffer probs = make_buffer(rows, cols, sweep_layouts[(l + 2) % layout_count]);
      fill_distribution(probs, random);
      std::vector<float> weights(cols);
      for (float& w : weights) w = random.uniform(0.25f, 2.0f);
      softxent::cross_entropy_options o;
      o.reduction = all_reductions[l % 3];
      if (l == 1) {
        o.label_smoothing = 0.2f;
        o.class_weights = weights.data();
      }
      if (l == 2) o.z_loss = 1e-3f;
      cross_entropy_result exact = reference_cross_entropy(make_problem(logits, nullptr, &probs, o));
      for (const std::string& isa : isas)
        for (bool with_grad : {false, true})
          run_and_check(isa, logits, probs, o, sweep_layouts[(l + 1) % layout_count], with_grad, exact);
    }
}
}  // namespace

TEST_CASE("cross_entropy_soft matches PyTorch's formulas for every instruction set x length x stride x misaligned start: lengths 1 to 4097") { sweep_cross_entropy_soft(short_sweep_lengths(), 61); }

TEST_SUITE("slow") {
  TEST_CASE("cross_entropy_soft matches PyTorch's formulas for every instruction set x length x stride x misaligned start: lengths 32000 and 128256") { sweep_cross_entropy_soft(long_sweep_lengths(), 1061); }
}

TEST_CASE("cross_entropy_soft: every reduction with every option on every instruction set") {
  random_source random(62);
  for (std::size_t cols : sizes{4, 16, 32, 41}) {  // the short-row tiles and the general path
    const std::size_t rows = 23;
    buffer logits(rows, cols, cols + 7, 3);
    fill_logits(logits, random);
    buffer probs(rows, cols, cols + 1, 2);
    fill_distribution(probs, random, 0.5);
    std::vector<float> weights(cols);
    for (float& w : weights) w = random.uniform(0.0f, 3.0f);
    for (softxent::reduction reduction : all_reductions)
      for (int with_weights = 0; with_weights < 2; ++with_weights)
        for (float smoothing : {0.0f, 0.3f, 1.0f})
          for (float z : {0.0f, 0.01f}) {
            softxent::cross_entropy_options o;
            o.reduction = reduction;
            o.class_weights = with_weights ? weights.data() : nullptr;
            o.label_smoothing = smoothing;
            o.z_loss = z;
            o.ignore_index = 0;  // does not apply to probability targets
            cross_entropy_result exact = reference_cross_entropy(make_problem(logits, nullptr, &probs, o));
            for (const std::string& isa : available_isas()) run_and_check(isa, logits, probs, o, {4, 1}, true, exact);
          }
  }
}
