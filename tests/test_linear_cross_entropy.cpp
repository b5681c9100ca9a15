// The fused linear cross-entropy against the test oracle (tests/oracle: exact logits, their
// cross-entropy, then the two gradient products in long double) with SPEC.md's widened bounds, and against the materialized path (one BLAS product, softxent's
// cross-entropy, the two BLAS products). Small workspace budgets reach every blocking: several row
// blocks, and classes cut into blocks (the two-pass path) on shapes small enough for the reference.
#include <atomic>
#include <thread>

#include "blas/gemm.hpp"
#include "ops/linear_cross_entropy.hpp"
#include "test_support.hpp"

using namespace sxtest;

namespace {

using softxent::detail::transpose;

constexpr std::size_t public_budget = softxent::detail::fused_workspace_budget;
// Budgets that cut rows into blocks (whole rows) and, for a few hundred classes, classes into blocks.
constexpr std::size_t row_block_budget = 16384;
constexpr std::size_t class_block_budget = 4096;
constexpr std::size_t budgets[] = {public_budget, row_block_budget, class_block_budget};

bool blas_available() { return softxent::detail::have_blas(); }

struct linear_problem {
  std::size_t rows, hidden, classes;
  buffer inputs, weight;
  std::vector<float> bias;  // empty: none
  std::vector<std::int64_t> targets;
  std::vector<float> class_weights;
  softxent::cross_entropy_options options;

  const float* bias_data() const { return bias.empty() ? nullptr : bias.data(); }
  softxent::linear_layer layer() const { return {inputs.cview(), weight.cview(), bias_data()}; }
};

linear_problem make_linear_problem(std::size_t rows, std::size_t hidden, std::size_t classes, bool with_bias,
                                   std::size_t option_set_index, random_source& random) {
  linear_problem p{rows, hidden, classes, buffer(rows, hidden, hidden + 3, 1), buffer(classes, hidden, hidden + 1, 2),
                   {}, {}, {}, {}};
  fill_uniform(p.inputs, random, -1.5f, 1.5f);
  fill_uniform(p.weight, random, -1.0f, 1.0f);
  if (with_bias) {
    p.bias.resize(classes);
    for (float& b : p.bias) b = random.uniform(-2.0f, 2.0f);
  }
  p.class_weights = random_class_weights(classes, random);
  p.options = cross_entropy_option_set(option_set_index, p.class_weights);
  p.targets = random_targets(rows, classes, random, 0.15, p.options.ignore_index);
  return p;
}

// Outputs of one call; grad_weight and grad_bias start from `start` values (they are added to).
struct linear_outputs {
  std::vector<float> loss;
  buffer grad_inputs, grad_weight;
  std::vector<float> grad_bias;
};
struct wanted {
  bool inputs = true, weight = true, bias = true;
};

linear_outputs start_outputs(const linear_problem& p, std::uint64_t seed) {
  random_source random(seed);
  linear_outputs out{std::vector<float>(loss_count(p.options.reduction, p.rows), sentinel()),
                     buffer(p.rows, p.hidden, p.hidden + 2, 3), buffer(p.classes, p.hidden, p.hidden + 5, 1),
                     std::vector<float>(p.classes)};
  fill_uniform(out.grad_weight, random, -0.5f, 0.5f);
  for (float& b : out.grad_bias) b = random.uniform(-0.5f, 0.5f);
  return out;
}

softxent::status run_fused(const linear_problem& p, linear_outputs& out, const softxent::exec_options& exec,
                           std::size_t budget, wanted w = {}) {
  std::vector<unsigned char> work(softxent::detail::linear_cross_entropy_workspace_size(p.rows, p.hidden, p.classes,
                                                                                        budget) + 1);
  const softxent::linear_gradients grads{w.inputs ? out.grad_inputs.view() : softxent::matrix{},
                                         w.weight ? out.grad_weight.view() : softxent::matrix{},
                                         w.bias ? out.grad_bias.data() : nullptr};
  // One byte in: the call must not care how its workspace is aligned.
  return softxent::detail::linear_cross_entropy(p.layer(), p.targets.data(), out.loss.data(), grads,
                                                {work.data() + 1, work.size() - 1}, p.options, exec, budget);
}

// The materialized path: logits by one BLAS product, softxent's cross-entropy (gradient in place),
// then the two BLAS products.
linear_outputs run_materialized(const linear_problem& p, std::uint64_t start_seed, const softxent::exec_options& exec) {
  linear_outputs out = start_outputs(p, start_seed);
  buffer logits(p.rows, p.classes);
  for (std::size_t r = 0; r < p.rows; ++r)
    for (std::size_t j = 0; j < p.classes; ++j) logits.at(r, j) = p.bias.empty() ? 0.0f : p.bias[j];
  softxent::detail::gemm(transpose::no, transpose::yes, p.rows, p.classes, p.hidden, p.inputs.data(), p.inputs.stride,
                         p.weight.data(), p.weight.stride, p.bias.empty() ? 0.0f : 1.0f, logits.data(), logits.stride);
  REQUIRE(softxent::cross_entropy(logits.cview(), p.targets.data(), out.loss.data(), logits.view(), p.options, exec) ==
          softxent::status::ok);
  softxent::detail::gemm(transpose::no, transpose::no, p.rows, p.hidden, p.classes, logits.data(), logits.stride,
                         p.weight.data(), p.weight.stride, 0.0f, out.grad_inputs.data(), out.grad_inputs.stride);
  softxent::detail::gemm(transpose::yes, transpose::no, p.classes, p.hidden, p.rows, logits.data(), logits.stride,
                         p.inputs.data(), p.inputs.stride, 1.0f, out.grad_weight.data(), out.grad_weight.stride);
  for (std::size_t j = 0; j < p.classes; ++j) {
    real sum = 0;
    for (std::size_t r = 0; r < p.rows; ++r) sum += logits.at(r, j);
    out.grad_bias[j] = static_cast<float>(out.grad_bias[j] + sum);
  }
  return out;
}

// The oracle's expectation of the fused call (its part of grad_weight and grad_bias added to start's).
using linear_expectation = softxent_oracle::linear_cross_entropy_expectation;

linear_expectation reference_linear(const linear_problem& p, const linear_outputs* start = nullptr) {
  const softxent_cross_entropy_options o = softxent_oracle::c_options(p.options);
  const softxent_oracle::matrix_in grad_weight_start{start ? start->grad_weight.data() : nullptr, p.classes, p.hidden,
                                                     start ? start->grad_weight.stride : p.hidden};
  return softxent_oracle::expect_linear_cross_entropy(
      oracle_view(p.inputs), oracle_view(p.weight), p.bias_data(), p.targets.data(), &o,
      grad_weight_start, start ? start->grad_bias.data() : nullptr);
}

// Checks out (which started as start) against e (computed from start); a gradient not wanted must
// keep start's bits.
void expect_one(tally& t, std::size_t r, std::size_t c, float got, const softxent_oracle::expected& e) {
  t.expect(r, c, got, e.value, e.tolerance);
}
void expect_linear(tally& t, const linear_expectation& e, const linear_outputs& out, const linear_outputs& start,
                   wanted w = {}) {
  for (std::size_t i = 0; i < e.loss.size(); ++i) expect_one(t, i, 0, out.loss[i], e.loss[i]);
  const std::size_t H = out.grad_inputs.cols;
  if (w.inputs) {
    for (std::size_t r = 0; r < out.grad_inputs.rows; ++r)
      for (std::size_t k = 0; k < H; ++k) expect_one(t, r, k, out.grad_inputs.at(r, k), e.grad_inputs[r * H + k]);
  }
  for (std::size_t j = 0; j < out.grad_weight.rows; ++j) {
    for (std::size_t k = 0; k < H; ++k) {
      if (w.weight) expect_one(t, j, k, out.grad_weight.at(j, k), e.grad_weight[j * H + k]);
      else t.expect_bits(j, k, out.grad_weight.at(j, k), start.grad_weight.at(j, k));
    }
    if (w.bias) expect_one(t, j, H, out.grad_bias[j], e.grad_bias[j]);
    else t.expect_bits(j, H, out.grad_bias[j], start.grad_bias[j]);
  }
}

std::string describe_linear(const char* what, const linear_problem& p, std::size_t set, const std::string& isa,
                            std::size_t budget) {
  std::ostringstream out;
  out << what << " isa=" << isa << " rows=" << p.rows << " hidden=" << p.hidden << " classes=" << p.classes
      << " bias=" << !p.bias.empty() << " options=" << set << " budget=" << budget;
  return out.str();
}

// Host pools: units one at a time, last first; and units on three std::threads.
void reverse_pool(void*, std::size_t units, softxent_task task, void* context) {
  for (std::size_t u = units; u-- > 0;) task(context, u, u + 1);
}
void thread_pool(void*, std::size_t units, softxent_task task, void* context) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      for (std::size_t u; (u = next.fetch_add(1)) < units;) task(context, u, u + 1);
    });
  for (std::thread& thread : threads) thread.join();
}

std::vector<float> all_outputs(const linear_outputs& out) {
  std::vector<float> all = out.loss;
  all.insert(all.end(), out.grad_inputs.storage.begin(), out.grad_inputs.storage.end());
  all.insert(all.end(), out.grad_weight.storage.begin(), out.grad_weight.storage.end());
  all.insert(all.end(), out.grad_bias.begin(), out.grad_bias.end());
  return all;
}

}  // namespace

TEST_CASE("linear_cross_entropy matches the long double reference and the materialized path: every option, bias or none, every blocking and instruction set") {
  if (!blas_available()) return;
  random_source random(9101);
  struct shape {
    std::size_t rows, hidden, classes;
  };
  for (shape s : {shape{1, 1, 1}, shape{7, 5, 3}, shape{37, 16, 97}, shape{20, 24, 300}, shape{3, 8, 5000}})
    for (std::size_t set = 0; set < cross_entropy_option_sets; ++set)
      for (bool with_bias : {false, true}) {
        const linear_problem p = make_linear_problem(s.rows, s.hidden, s.classes, with_bias, set, random);
        const linear_outputs start = start_outputs(p, 77);
        const linear_expectation e = reference_linear(p, &start);
        for (const std::string& isa : available_isas()) {
          {
            const linear_outputs materialized = run_materialized(p, 77, exec_for(isa));
            tally t(describe_linear("materialized", p, set, isa, 0));
            expect_linear(t, e, materialized, start);
            SXTEST_CHECK_TALLY(t);
          }
          for (std::size_t budget : budgets) {
            linear_outputs out = start;
            REQUIRE(run_fused(p, out, exec_for(isa), budget) == softxent::status::ok);
            tally t(describe_linear("fused", p, set, isa, budget));
            expect_linear(t, e, out, start);
            SXTEST_CHECK_TALLY(t);
            CHECK_MESSAGE(out.grad_inputs.outside_untouched(), t.label);
          }
        }
      }
}

TEST_CASE("linear_cross_entropy: gradients left NULL are not computed, the others keep their bits; micro-batches accumulate") {
  if (!blas_available()) return;
  random_source random(9102);
  for (std::size_t budget : budgets) {
    const linear_problem p = make_linear_problem(30, 12, 250, true, 3, random);
    const linear_outputs start = start_outputs(p, 5);
    linear_outputs all = start;
    REQUIRE(run_fused(p, all, {}, budget) == softxent::status::ok);
    for (int mask = 0; mask < 8; ++mask) {
      const wanted w{(mask & 1) != 0, (mask & 2) != 0, (mask & 4) != 0};
      linear_outputs out = start;
      REQUIRE(run_fused(p, out, {}, budget, w) == softxent::status::ok);
      CHECK(bitwise_equal(out.loss, all.loss));
      if (w.inputs) CHECK(bitwise_equal(out.grad_inputs.storage, all.grad_inputs.storage));
      if (!w.inputs) CHECK(out.grad_inputs.all_sentinel());
      CHECK(bitwise_equal(out.grad_weight.storage, (w.weight ? all : start).grad_weight.storage));
      CHECK(bitwise_equal(out.grad_bias, (w.bias ? all : start).grad_bias));
    }
    // Two half batches add up to (within the bounds of) the whole batch's gradient with SUM.
    linear_problem sum_problem = p;
    sum_problem.options.reduction = softxent::reduction::sum;
    linear_outputs whole = start_outputs(sum_problem, 5);
    REQUIRE(run_fused(sum_problem, whole, {}, budget) == softxent::status::ok);
    linear_outputs halves = start_outputs(sum_problem, 5);
    for (std::size_t half = 0; half < 2; ++half) {
      linear_problem part = sum_problem;
      part.rows = 15;
      part.inputs = buffer(15, p.hidden);
      for (std::size_t r = 0; r < 15; ++r)
        for (std::size_t k = 0; k < p.hidden; ++k) part.inputs.at(r, k) = p.inputs.at(half * 15 + r, k);
      part.targets.assign(p.targets.begin() + static_cast<std::ptrdiff_t>(half * 15),
                          p.targets.begin() + static_cast<std::ptrdiff_t>(half * 15 + 15));
      linear_outputs piece = halves;
      piece.grad_inputs = buffer(15, p.hidden);
      REQUIRE(run_fused(part, piece, {}, budget) == softxent::status::ok);
      halves.grad_weight = piece.grad_weight;
      halves.grad_bias = piece.grad_bias;
    }
    for (std::size_t j = 0; j < p.classes; ++j) {
      CHECK(halves.grad_bias[j] == doctest::Approx(whole.grad_bias[j]).epsilon(1e-4));
      for (std::size_t k = 0; k < p.hidden; ++k)
        CHECK(halves.grad_weight.at(j, k) == doctest::Approx(whole.grad_weight.at(j, k)).epsilon(1e-4));
    }
  }
}

TEST_CASE("linear_cross_entropy is bitwise identical across thread counts, host pools and runs") {
  if (!blas_available()) return;
  random_source random(9103);
  for (std::size_t budget : {public_budget, std::size_t{1} << 18})
    for (std::size_t set : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
      const linear_problem p = make_linear_problem(300, 40, 3000, true, set, random);
      for (const std::string& isa : available_isas()) {
        if (isa == "reference") continue;  // one thread whatever is asked
        const linear_outputs start = start_outputs(p, 9);
        std::vector<float> first;
        softxent::exec_options reverse = exec_for(isa, 1), threaded = exec_for(isa, 0);
        reverse.parallel_for = reverse_pool;
        threaded.parallel_for = thread_pool;
        for (const softxent::exec_options& exec : {exec_for(isa, 1), exec_for(isa, 2), exec_for(isa, 1), reverse, threaded}) {
          linear_outputs out = start;
          REQUIRE(run_fused(p, out, exec, budget) == softxent::status::ok);
          const std::vector<float> all = all_outputs(out);
          if (first.empty()) first = all;
          CHECK_MESSAGE(bitwise_equal(all, first), "isa=" << isa << " budget=" << budget << " options=" << set
                                                          << " threads=" << exec.threads
                                                          << " pool=" << (exec.parallel_for != nullptr));
        }
      }
    }
}

TEST_CASE("linear_cross_entropy: the gradients agree with finite differences of the exact loss in inputs, weight and bias") {
  if (!blas_available()) return;
  random_source random(9104);
  linear_problem p = make_linear_problem(3, 4, 6, true, 1, random);  // SUM, smoothing, weights, z-loss
  p.options.logit_scale = 1.2f;
  p.options.softcap = 4.0f;
  p.targets = {1, 5, 0};
  linear_outputs out = start_outputs(p, 1);
  for (float& v : out.grad_bias) v = 0.0f;
  out.grad_weight.fill_matrix(0.0f);
  REQUIRE(run_fused(p, out, {}, public_budget) == softxent::status::ok);
  // The exact loss (the long double reference) with one parameter moved by delta.
  const auto loss_with = [&](float* parameter, real delta) {
    const float saved = *parameter;
    linear_problem moved = p;
    const auto index_in = [&](const float* base) { return parameter - base; };
    // Point at the same element of the copy.
    if (parameter >= p.inputs.storage.data() && parameter < p.inputs.storage.data() + p.inputs.storage.size())
      moved.inputs.storage[static_cast<std::size_t>(index_in(p.inputs.storage.data()))] = static_cast<float>(saved + delta);
    else if (parameter >= p.weight.storage.data() && parameter < p.weight.storage.data() + p.weight.storage.size())
      moved.weight.storage[static_cast<std::size_t>(index_in(p.weight.storage.data()))] = static_cast<float>(saved + delta);
    else
      moved.bias[static_cast<std::size_t>(index_in(p.bias.data()))] = static_cast<float>(saved + delta);
    moved.options.class_weights = moved.class_weights.data();
    return reference_linear(moved).loss[0].value;
  };
  // delta = 2^-10 is exact in float next to these values, so the step is what the reference sees.
  const real h = real(1) / 1024;
  const auto check = [&](float* parameter, float got, const char* what, std::size_t i, std::size_t k) {
    const real numeric = (loss_with(parameter, h) - loss_with(parameter, -h)) / (2 * h);
    CHECK_MESSAGE(std::fabs(static_cast<real>(got) - numeric) <= real(2e-4) * (1 + std::fabs(numeric)),
                  what << " [" << i << "," << k << "]: gradient " << got << " vs finite difference "
                       << static_cast<double>(numeric));
  };
  for (std::size_t r = 0; r < p.rows; ++r)
    for (std::size_t k = 0; k < p.hidden; ++k) check(&p.inputs.at(r, k), out.grad_inputs.at(r, k), "inputs", r, k);
  for (std::size_t j = 0; j < p.classes; ++j) {
    for (std::size_t k = 0; k < p.hidden; ++k) check(&p.weight.at(j, k), out.grad_weight.at(j, k), "weight", j, k);
    check(&p.bias[j], out.grad_bias[j], "bias", j, 0);
  }
}

TEST_CASE("linear_cross_entropy: the workspace query, and NULL or short workspaces") {
  if (!blas_available()) {
    CHECK(softxent::linear_cross_entropy_workspace_size(4, 4, 4) == 0);
    return;
  }
  constexpr std::size_t mib64 = std::size_t{64} << 20;
  struct shape {
    std::size_t rows, hidden, classes;
  };
  for (shape s : {shape{4096, 1024, 32000}, shape{2048, 2048, 128256}, shape{1, 1, 1}, shape{1, 1, std::size_t{1} << 30},
                  shape{std::size_t{1} << 40, 8, 10}, shape{100000, 4096, 3000000}}) {
    const std::size_t size = softxent::linear_cross_entropy_workspace_size(s.rows, s.hidden, s.classes);
    CHECK_MESSAGE(size > 0, s.rows << "x" << s.hidden << "x" << s.classes);
    CHECK_MESSAGE(size <= mib64, s.rows << "x" << s.hidden << "x" << s.classes << ": " << size << " bytes");
  }
  CHECK(softxent::linear_cross_entropy_workspace_size(0, 4, 4) == 0);
  CHECK(softxent::linear_cross_entropy_workspace_size(4, 0, 4) == 0);
  CHECK(softxent::linear_cross_entropy_workspace_size(4, 4, 0) == 0);

  random_source random(9105);
  const linear_problem p = make_linear_problem(9, 6, 40, true, 0, random);
  const std::size_t size = softxent::linear_cross_entropy_workspace_size(p.rows, p.hidden, p.classes);
  std::vector<unsigned char> work(size + 64);
  for (std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{63}}) {
    for (std::size_t given : {std::size_t{0}, size - 1, size}) {
      for (bool null : {false, true}) {
        linear_outputs out = start_outputs(p, 3);
        const linear_outputs before = out;
        const softxent::linear_gradients grads{out.grad_inputs.view(), out.grad_weight.view(), out.grad_bias.data()};
        const softxent::status status = softxent::linear_cross_entropy(
            p.layer(), p.targets.data(), out.loss.data(), grads, {null ? nullptr : work.data() + offset, given}, p.options);
        const bool enough = !null && given >= size;
        CHECK_MESSAGE(status == (enough ? softxent::status::ok : softxent::status::workspace),
                      "offset " << offset << " size " << given << " null " << null);
        if (!enough) CHECK(bitwise_equal(all_outputs(out), all_outputs(before)));
      }
    }
  }
  CHECK(std::string(softxent_status_string(SOFTXENT_ERROR_WORKSPACE)).find("workspace") != std::string::npos);
}

TEST_CASE("linear_cross_entropy: every invalid argument has its status and writes nothing") {
  if (!blas_available()) return;
  random_source random(9106);
  const linear_problem p = make_linear_problem(5, 4, 12, true, 0, random);
  std::vector<unsigned char> work(softxent::linear_cross_entropy_workspace_size(p.rows, p.hidden, p.classes));
  const softxent::workspace_view ws{work.data(), work.size()};
  linear_outputs out = start_outputs(p, 4);
  const linear_outputs before = out;
  const auto untouched = [&] { return bitwise_equal(all_outputs(out), all_outputs(before)); };
  const softxent::linear_gradients grads{out.grad_inputs.view(), out.grad_weight.view(), out.grad_bias.data()};
  const auto expect = [&](const softxent::linear_layer& layer, const std::int64_t* targets, float* loss,
                          const softxent::linear_gradients& g, const softxent::cross_entropy_options& o,
                          const softxent::exec_options& exec, softxent::status expected, const char* what) {
    CHECK_MESSAGE(softxent::linear_cross_entropy(layer, targets, loss, g, ws, o, exec) == expected, std::string(what));
    CHECK_MESSAGE(untouched(), std::string(what));
  };
  const softxent::cross_entropy_options defaults;
  const softxent::linear_layer layer = p.layer();
  float* loss = out.loss.data();
  // Options.
  for (float bad : {-0.1f, 1.5f, nan_f}) {
    softxent::cross_entropy_options o;
    o.label_smoothing = bad;
    expect(layer, p.targets.data(), loss, grads, o, {}, softxent::status::invalid_option, "label smoothing");
  }
  softxent::cross_entropy_options bad_scale;
  bad_scale.logit_scale = 0.0f;
  expect(layer, p.targets.data(), loss, grads, bad_scale, {}, softxent::status::invalid_option, "logit_scale 0");
  softxent::cross_entropy_options bad_reduction;
  bad_reduction.reduction = bad_enum<softxent::reduction>(7);
  expect(layer, p.targets.data(), loss, grads, bad_reduction, {}, softxent::status::invalid_option, "reduction");
  std::vector<float> weights(p.classes, 1.0f);
  weights[5] = -1.0f;
  softxent::cross_entropy_options negative_weight;
  negative_weight.class_weights = weights.data();
  expect(layer, p.targets.data(), loss, grads, negative_weight, {}, softxent::status::invalid_option, "weight < 0");
  softxent::exec_options threads;
  threads.threads = -1;
  expect(layer, p.targets.data(), loss, grads, defaults, threads, softxent::status::invalid_option, "threads < 0");
  softxent::exec_options unknown_isa;
  unknown_isa.isa = "mmx";
  expect(layer, p.targets.data(), loss, grads, defaults, unknown_isa, softxent::status::invalid_option, "unknown ISA");
  // Shapes.
  softxent::linear_layer mismatched = layer;
  mismatched.weight.cols = p.hidden - 1;
  expect(mismatched, p.targets.data(), loss, grads, defaults, {}, softxent::status::invalid_shape, "weight cols");
  softxent::linear_gradients wrong_grad = grads;
  wrong_grad.inputs.rows = p.rows - 1;
  expect(layer, p.targets.data(), loss, wrong_grad, defaults, {}, softxent::status::invalid_shape, "grad_inputs rows");
  wrong_grad = grads;
  wrong_grad.weight.cols = p.hidden + 1;
  expect(layer, p.targets.data(), loss, wrong_grad, defaults, {}, softxent::status::invalid_shape, "grad_weight cols");
  softxent::linear_layer no_hidden = layer;
  no_hidden.inputs.cols = no_hidden.weight.cols = 0;
  expect(no_hidden, p.targets.data(), loss, {}, defaults, {}, softxent::status::invalid_shape, "hidden 0");
  softxent::linear_layer no_classes = layer;
  no_classes.weight.rows = 0;
  expect(no_classes, p.targets.data(), loss, {}, defaults, {}, softxent::status::invalid_shape, "classes 0");
  softxent::linear_layer narrow_stride = layer;
  narrow_stride.inputs.stride = p.hidden - 1;
  expect(narrow_stride, p.targets.data(), loss, grads, defaults, {}, softxent::status::invalid_shape, "stride < cols");
  softxent::linear_layer huge_stride = layer;
  huge_stride.weight.stride = softxent::detail::blas_size_limit() + 1;  // BLIS: 2^63, a CBLAS: 2^31
  huge_stride.weight.rows = 1;
  wrong_grad = grads;
  wrong_grad.weight = {};
  wrong_grad.bias = nullptr;
  expect(huge_stride, p.targets.data(), loss, wrong_grad, defaults, {}, softxent::status::invalid_shape,
         "a stride beyond the BLAS's integers");
  // Pointers and targets.
  softxent::linear_layer no_inputs = layer;
  no_inputs.inputs.data = nullptr;
  expect(no_inputs, p.targets.data(), loss, grads, defaults, {}, softxent::status::null_pointer, "inputs NULL");
  expect(layer, nullptr, loss, grads, defaults, {}, softxent::status::null_pointer, "targets NULL");
  expect(layer, p.targets.data(), nullptr, grads, defaults, {}, softxent::status::null_pointer, "loss NULL");
  std::vector<std::int64_t> bad_targets = p.targets;
  bad_targets[3] = static_cast<std::int64_t>(p.classes);
  expect(layer, bad_targets.data(), loss, grads, defaults, {}, softxent::status::invalid_target, "target == classes");
  // Overlaps: an output over an input, over another output, over the workspace.
  softxent::linear_gradients over_inputs = grads;
  over_inputs.inputs = softxent::matrix(const_cast<float*>(p.inputs.data()), p.rows, p.hidden, p.inputs.stride);
  expect(layer, p.targets.data(), loss, over_inputs, defaults, {}, softxent::status::overlap, "grad_inputs = inputs");
  softxent::linear_gradients over_bias = grads;
  over_bias.bias = out.grad_weight.data() + 1;
  expect(layer, p.targets.data(), loss, over_bias, defaults, {}, softxent::status::overlap, "grad_bias in grad_weight");
  softxent::linear_gradients over_work = grads;
  over_work.bias = reinterpret_cast<float*>(work.data()) + 4;
  CHECK(softxent::linear_cross_entropy(layer, p.targets.data(), loss, over_work, ws) == softxent::status::overlap);
  // rows == 0: a no-op whatever the pointers, with its options checked.
  softxent::linear_layer empty{softxent::const_matrix(nullptr, 0, 4), softxent::const_matrix(nullptr, 12, 4), nullptr};
  CHECK(softxent::linear_cross_entropy(empty, nullptr, nullptr, {}, {}) == softxent::status::ok);
  CHECK(softxent::linear_cross_entropy(empty, nullptr, nullptr, {}, {}, bad_scale) == softxent::status::invalid_option);
  CHECK(untouched());
}

TEST_CASE("linear_cross_entropy: MEAN with every row ignored gives loss 0, zero grad_inputs, and adds nothing") {
  if (!blas_available()) return;
  random_source random(9107);
  linear_problem p = make_linear_problem(6, 5, 30, true, 0, random);
  p.targets.assign(p.rows, p.options.ignore_index);
  const linear_outputs start = start_outputs(p, 8);
  linear_outputs out = start;
  REQUIRE(run_fused(p, out, {}, public_budget) == softxent::status::ok);
  CHECK(out.loss[0] == 0.0f);
  for (std::size_t r = 0; r < p.rows; ++r)
    for (std::size_t k = 0; k < p.hidden; ++k) CHECK(same_bits(out.grad_inputs.at(r, k), 0.0f));
  CHECK(bitwise_equal(out.grad_weight.storage, start.grad_weight.storage));
  CHECK(bitwise_equal(out.grad_bias, start.grad_bias));
}
