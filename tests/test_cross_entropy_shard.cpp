// Cross-entropy's logit transform (logit_scale, softcap) and cross-entropy over classes sharded across
// processes, on every instruction set, against the test oracle (tests/oracle: on the transformed
// logits, the gradient carried back to the raw ones).
#include <numeric>

#include "test_support.hpp"

using namespace sxtest;

namespace {

std::string label(const char* what, const std::string& isa, std::size_t rows, std::size_t cols, std::size_t set) {
  return std::string(what) + " isa=" + isa + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
         " options=" + std::to_string(set);
}

// Column boundaries of `shards` uneven shards of cols classes (each at least one column).
std::vector<std::size_t> shard_bounds(std::size_t cols, std::size_t shards) {
  std::vector<std::size_t> bounds{0};
  for (std::size_t s = 1; s < shards; ++s) bounds.push_back(cols * s * s / (shards * shards) + s);
  bounds.push_back(cols);
  return bounds;
}

// Merges per-shard statistics in one of three groupings: left to right, right to left, and in pairs.
std::vector<softxent::shard_stats> merge_all(const std::vector<std::vector<softxent::shard_stats>>& parts,
                                             int grouping) {
  const std::size_t n = parts.size(), rows = parts[0].size();
  if (grouping == 0) {
    std::vector<softxent::shard_stats> acc = parts[0];
    for (std::size_t s = 1; s < n; ++s) softxent::shard_stats_merge(rows, parts[s].data(), acc.data());
    return acc;
  }
  if (grouping == 1) {
    std::vector<softxent::shard_stats> acc = parts[n - 1];
    for (std::size_t s = n - 1; s-- > 0;) softxent::shard_stats_merge(rows, parts[s].data(), acc.data());
    return acc;
  }
  std::vector<std::vector<softxent::shard_stats>> level = parts;
  while (level.size() > 1) {
    std::vector<std::vector<softxent::shard_stats>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(level[i + 1]);
      softxent::shard_stats_merge(rows, level[i].data(), next.back().data());
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = next;
  }
  return level[0];
}

// Stats of every shard, merged by grouping, then finish on every shard into one full-width gradient.
// Checks (with a message) that every shard finished the same loss, bit for bit.
struct sharded_result {
  std::vector<float> loss;
  buffer grad;
};
sharded_result run_sharded(const buffer& logits, const std::vector<std::int64_t>& targets,
                           const softxent::cross_entropy_options& o, std::size_t shards, int grouping,
                           const softxent::exec_options& exec, const std::string& what) {
  const std::size_t rows = logits.rows, cols = logits.cols;
  const std::vector<std::size_t> bounds = shard_bounds(cols, shards);
  std::vector<std::vector<softxent::shard_stats>> parts(shards, std::vector<softxent::shard_stats>(rows));
  for (std::size_t s = 0; s < shards; ++s) {
    const softxent::const_matrix part(logits.data() + bounds[s], rows, bounds[s + 1] - bounds[s], logits.stride);
    REQUIRE(softxent::cross_entropy_shard_stats(part, {bounds[s], cols}, targets.data(), parts[s].data(), o, exec) ==
            softxent::status::ok);
  }
  const std::vector<softxent::shard_stats> merged = merge_all(parts, grouping);
  sharded_result result{{}, buffer(rows, cols, cols + 2, 1)};
  const std::size_t count = loss_count(o.reduction, rows);
  for (std::size_t s = 0; s < shards; ++s) {
    std::vector<float> loss(count, sentinel());
    const std::size_t width = bounds[s + 1] - bounds[s];
    const softxent::const_matrix part(logits.data() + bounds[s], rows, width, logits.stride);
    const softxent::matrix grad(result.grad.data() + bounds[s], rows, width, result.grad.stride);
    REQUIRE(softxent::cross_entropy_shard_finish(part, {bounds[s], cols}, targets.data(), merged.data(), loss.data(),
                                                 grad, o, exec) == softxent::status::ok);
    if (s == 0) result.loss = loss;
    CHECK_MESSAGE(bitwise_equal(loss, result.loss), what << ": shard " << s << " finished another loss");
  }
  return result;
}

}  // namespace

TEST_CASE("cross_entropy with logit_scale and softcap matches the reference on every instruction set, integer and probability targets") {
  random_source random(8101);
  for (std::size_t cols : sizes{1, 3, 16, 33, 100, 4097, 9000})
    for (std::size_t set = 0; set < cross_entropy_option_sets; ++set)
      for (bool soft : {false, true}) {
        const std::size_t rows = sweep_rows(cols) + 2;
        buffer logits(rows, cols, cols + 1, 1);
        fill_mixed_logits(logits, random);
        const std::vector<float> weights = random_class_weights(cols, random);
        const softxent::cross_entropy_options o = cross_entropy_option_set(set, weights);
        const std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.2, o.ignore_index);
        buffer probs(rows, cols);
        fill_distribution(probs, random);
        const cross_entropy_result exact = reference_cross_entropy(
            make_problem(logits, soft ? nullptr : targets.data(), soft ? &probs : nullptr, o));
        for (const std::string& isa : available_isas()) {
          for (bool in_place : {false, true}) {
            buffer work = logits;
            buffer grad = in_place ? buffer() : buffer(rows, cols, cols + 3, 2);
            buffer& g = in_place ? work : grad;
            std::vector<float> loss(loss_count(o.reduction, rows), sentinel());
            const softxent::status status =
                soft ? softxent::cross_entropy_soft(work.cview(), probs.cview(), loss.data(), g.view(), o, exec_for(isa))
                     : softxent::cross_entropy(work.cview(), targets.data(), loss.data(), g.view(), o, exec_for(isa));
            REQUIRE(status == softxent::status::ok);
            tally t(label(soft ? "cross_entropy_soft+transform" : "cross_entropy+transform", isa, rows, cols, set) +
                    (in_place ? " in place" : ""));
            expect_cross_entropy(t, exact, loss.data(), &g);
            SXTEST_CHECK_TALLY(t);
            CHECK_MESSAGE(g.outside_untouched(), t.label);
          }
          // Loss only.
          std::vector<float> loss(loss_count(o.reduction, rows), sentinel());
          const softxent::status status =
              soft ? softxent::cross_entropy_soft(logits.cview(), probs.cview(), loss.data(), {}, o, exec_for(isa))
                   : softxent::cross_entropy(logits.cview(), targets.data(), loss.data(), {}, o, exec_for(isa));
          REQUIRE(status == softxent::status::ok);
          tally t(label("loss only", isa, rows, cols, set));
          expect_cross_entropy(t, exact, loss.data(), nullptr);
          SXTEST_CHECK_TALLY(t);
        }
      }
}

TEST_CASE("the gradient through logit_scale and softcap agrees with finite differences of the loss") {
  random_source random(8102);
  const std::size_t rows = 2, cols = 6;
  buffer logits(rows, cols);
  fill_uniform(logits, random, -4.0f, 4.0f);
  const std::vector<std::int64_t> targets{1, 4};
  const std::vector<float> weights = random_class_weights(cols, random);
  softxent::cross_entropy_options o;
  o.reduction = softxent::reduction::sum;
  o.logit_scale = 1.5f;
  o.softcap = 3.0f;
  o.label_smoothing = 0.1f;
  o.class_weights = weights.data();
  o.z_loss = 1e-2f;
  for (const std::string& isa : available_isas()) {
    buffer grad(rows, cols);
    float loss = 0;
    REQUIRE(softxent::cross_entropy(logits.cview(), targets.data(), &loss, grad.view(), o, exec_for(isa)) ==
            softxent::status::ok);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        // Central differences of the exact loss (the reference in long double), step 1e-3.
        const auto loss_at = [&](real delta) {
          cross_entropy_problem p = make_problem(logits, targets.data(), nullptr, o);
          p.logits[r * cols + c] += delta;
          return reference_cross_entropy(p).loss[0];
        };
        const real h = real(1e-3);
        const real numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
        CHECK_MESSAGE(std::fabs(static_cast<real>(grad.at(r, c)) - numeric) <= real(1e-5) * (1 + std::fabs(numeric)),
                      isa << " row " << r << " col " << c << ": gradient " << grad.at(r, c) << " vs finite difference "
                          << static_cast<double>(numeric));
      }
  }
}

TEST_CASE("sharded cross-entropy: 1 to 4 uneven shards merged in any grouping equal the unsharded call, every option and instruction set") {
  random_source random(8103);
  for (std::size_t cols : sizes{7, 100, 4097, 10000})
    for (std::size_t set = 0; set < cross_entropy_option_sets; ++set) {
      const std::size_t rows = 6;
      buffer logits(rows, cols, cols + 5, 3);
      fill_mixed_logits(logits, random);
      const std::vector<float> weights = random_class_weights(cols, random);
      const softxent::cross_entropy_options o = cross_entropy_option_set(set, weights);
      std::vector<std::int64_t> targets = random_targets(rows, cols, random, 0.2, o.ignore_index);
      targets[0] = 0;                                        // the first column
      targets[1] = static_cast<std::int64_t>(cols - 1);      // the last
      const cross_entropy_result exact =
          reference_cross_entropy(make_problem(logits, targets.data(), nullptr, o));
      for (const std::string& isa : available_isas())
        for (std::size_t shards = 1; shards <= 4 && shards <= cols; ++shards)
          for (int grouping = 0; grouping < 3; ++grouping) {
            const std::string what = label("sharded", isa, rows, cols, set) + " shards=" + std::to_string(shards) +
                                     " grouping=" + std::to_string(grouping);
            const sharded_result got = run_sharded(logits, targets, o, shards, grouping, exec_for(isa), what);
            tally t(what);
            expect_cross_entropy(t, exact, got.loss.data(), &got.grad);
            SXTEST_CHECK_TALLY(t);
            CHECK_MESSAGE(got.grad.outside_untouched(), what);
          }
    }
}

TEST_CASE("sharded cross-entropy: NaN, +inf, all -inf, masked targets and ignored rows as in the unsharded call") {
  const std::size_t rows = 7, cols = 40;
  random_source random(8104);
  buffer logits(rows, cols);
  fill_logits(logits, random);
  logits.at(0, 30) = nan_f;                                      // NaN in the last shard only
  logits.at(1, 2) = inf;                                         // +inf in the first shard only
  std::fill(logits.row(2), logits.row(2) + cols, -inf);          // all masked
  logits.at(3, 5) = -inf;                                        // a masked target
  std::fill(logits.row(4), logits.row(4) + cols, nan_f);         // ignored: its logits do not matter
  std::fill(logits.row(5) + 10, logits.row(5) + cols, -inf);     // later shards all masked
  const std::vector<std::int64_t> targets{1, 0, 7, 5, -100, 3, 39};
  for (std::size_t set = 0; set < cross_entropy_option_sets; ++set) {
    const std::vector<float> weights = random_class_weights(cols, random);
    softxent::cross_entropy_options o = cross_entropy_option_set(set, weights);
    o.reduction = softxent::reduction::none;
    o.ignore_index = -100;
    for (const std::string& isa : available_isas()) {
      std::vector<float> expected_loss(rows);
      buffer expected_grad(rows, cols);
      REQUIRE(softxent::cross_entropy(logits.cview(), targets.data(), expected_loss.data(), expected_grad.view(), o,
                                      exec_for(isa)) == softxent::status::ok);
      for (std::size_t shards = 1; shards <= 4; ++shards) {
        const std::string what = label("sharded edges", isa, rows, cols, set) + " shards=" + std::to_string(shards);
        const sharded_result got = run_sharded(logits, targets, o, shards, 0, exec_for(isa), what);
        for (std::size_t r = 0; r < rows; ++r) {
          const auto same_kind = [](float a, float b) {
            if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
            if (std::isinf(a) || std::isinf(b) || a == 0 || b == 0) return a == b;
            return std::fabs(a - b) <= 1e-4f * std::max(1.0f, std::fabs(b));
          };
          CHECK_MESSAGE(same_kind(got.loss[r], expected_loss[r]),
                        what << " row " << r << ": loss " << got.loss[r] << " vs unsharded " << expected_loss[r]);
          for (std::size_t c = 0; c < cols; ++c)
            CHECK_MESSAGE(same_kind(got.grad.at(r, c), expected_grad.at(r, c)),
                          what << " row " << r << " col " << c << ": gradient " << got.grad.at(r, c)
                               << " vs unsharded " << expected_grad.at(r, c));
        }
      }
    }
  }
}

TEST_CASE("sharded cross-entropy is bitwise identical across thread counts and host pools") {
  const std::size_t rows = 9, cols = 20000;
  random_source random(8105);
  buffer logits(rows, cols);
  fill_logits(logits, random);
  const std::vector<float> weights = random_class_weights(cols, random);
  softxent::cross_entropy_options o = cross_entropy_option_set(3, weights);
  const std::vector<std::int64_t> targets = random_targets(rows, cols, random);
  for (const std::string& isa : available_isas()) {
    const sharded_result one = run_sharded(logits, targets, o, 3, 0, exec_for(isa, 1), isa);
    const sharded_result two = run_sharded(logits, targets, o, 3, 0, exec_for(isa, 2), isa);
    CHECK_MESSAGE(bitwise_equal(one.loss, two.loss), isa);
    CHECK_MESSAGE(bitwise_equal(one.grad.storage, two.grad.storage), isa);
  }
}

TEST_CASE("sharded cross-entropy: every invalid argument has its status and writes nothing") {
  const std::size_t rows = 3, cols = 8, total = 20, offset = 4;
  random_source random(8106);
  buffer logits(rows, cols);
  fill_logits(logits, random);
  const std::vector<std::int64_t> targets{0, 19, 5};
  std::vector<softxent::shard_stats> stats(rows);
  for (softxent::shard_stats& s : stats) s = {1.0, 2.0, 3.0, 4.0};
  const std::vector<softxent::shard_stats> stats_before = stats;
  std::vector<float> loss(rows, sentinel());
  buffer grad(rows, cols);
  const auto untouched = [&] {
    return std::memcmp(stats.data(), stats_before.data(), rows * sizeof(softxent::shard_stats)) == 0 &&
           std::all_of(loss.begin(), loss.end(), [](float v) { return same_bits(v, sentinel()); }) && grad.all_sentinel();
  };
  const auto both = [&](softxent::const_matrix x, softxent::class_shard shard, const std::int64_t* t,
                        const softxent::cross_entropy_options& o, softxent::status expected, const char* what) {
    CHECK_MESSAGE(softxent::cross_entropy_shard_stats(x, shard, t, stats.data(), o) == expected, what);
    CHECK_MESSAGE(softxent::cross_entropy_shard_finish(x, shard, t, stats_before.data(), loss.data(), grad.view(), o) ==
                      expected,
                  what);
    CHECK_MESSAGE(untouched(), what);
  };
  const softxent::cross_entropy_options defaults;
  both(logits.cview(), {offset, 0}, targets.data(), defaults, softxent::status::invalid_shape, "total_cols 0");
  both(logits.cview(), {13, total}, targets.data(), defaults, softxent::status::invalid_shape, "shard past the row");
  both(softxent::const_matrix(logits.data(), rows, 0, cols), {offset, total}, targets.data(), defaults,
       softxent::status::invalid_shape, "no columns");
  both(softxent::const_matrix(logits.data(), rows, cols, cols - 1), {offset, total}, targets.data(), defaults,
       softxent::status::invalid_shape, "stride < cols");
  both(logits.cview(), {offset, total}, nullptr, defaults, softxent::status::null_pointer, "no targets");
  const std::vector<std::int64_t> bad_targets{0, 20, 5};
  both(logits.cview(), {offset, total}, bad_targets.data(), defaults, softxent::status::invalid_target,
       "target == total_cols");
  for (float scale : {0.0f, -1.0f, nan_f, inf}) {
    softxent::cross_entropy_options o;
    o.logit_scale = scale;
    both(logits.cview(), {offset, total}, targets.data(), o, softxent::status::invalid_option, "bad logit_scale");
  }
  for (float cap : {-1.0f, nan_f, inf}) {
    softxent::cross_entropy_options o;
    o.softcap = cap;
    both(logits.cview(), {offset, total}, targets.data(), o, softxent::status::invalid_option, "bad softcap");
  }
  std::vector<float> weights(total, 1.0f);
  weights[17] = -1.0f;  // outside this shard, still checked: class weights are given whole
  softxent::cross_entropy_options weighted;
  weighted.class_weights = weights.data();
  both(logits.cview(), {offset, total}, targets.data(), weighted, softxent::status::invalid_option,
       "a negative weight in another shard");
  // Statistics written over the logits they are computed from.
  std::vector<float> storage(rows * sizeof(softxent::shard_stats) / sizeof(float) + rows * cols, 1.0f);
  const std::vector<float> storage_before = storage;
  CHECK(softxent::cross_entropy_shard_stats(softxent::const_matrix(storage.data(), rows, cols), {offset, total},
                                            targets.data(), reinterpret_cast<softxent::shard_stats*>(storage.data() + 2),
                                            defaults) == softxent::status::overlap);
  CHECK(bitwise_equal(storage, storage_before));
  // rows == 0 writes nothing and checks only the options.
  CHECK(softxent::cross_entropy_shard_stats(softxent::const_matrix(nullptr, 0, cols), {offset, total}, nullptr,
                                            nullptr) == softxent::status::ok);
  softxent::cross_entropy_options bad;
  bad.softcap = -2.0f;
  CHECK(softxent::cross_entropy_shard_finish(softxent::const_matrix(nullptr, 0, cols), {offset, total}, nullptr,
                                             nullptr, nullptr, {}, bad) == softxent::status::invalid_option);
}

TEST_CASE("shard_stats_merge: the identity, NaN propagation and a max that moves") {
  const double minus_inf = -std::numeric_limits<double>::infinity();
  softxent::shard_stats a{2.0, 3.0, 1.5, 10.0}, none{minus_inf, 0.0, 0.0, 0.0};
  softxent::shard_stats merged = a;
  softxent::shard_stats_merge(1, &none, &merged);
  CHECK(std::memcmp(&merged, &a, sizeof a) == 0);
  merged = none;
  softxent::shard_stats_merge(1, &a, &merged);
  CHECK(std::memcmp(&merged, &a, sizeof a) == 0);
  // sum_exp relative to the larger max: 3 e^(2-5) + 1 (exactly the union of the two sets of columns).
  softxent::shard_stats b{5.0, 1.0, 0.0, -2.0};
  merged = a;
  softxent::shard_stats_merge(1, &b, &merged);
  CHECK(merged.max == 5.0);
  CHECK(merged.sum_exp == doctest::Approx(3.0 * std::exp(-3.0) + 1.0).epsilon(1e-15));
  CHECK(merged.target_logit == 1.5);
  CHECK(merged.smoothing_sum == 8.0);
  softxent::shard_stats poisoned{std::nan(""), std::nan(""), 0.0, 0.0};
  merged = a;
  softxent::shard_stats_merge(1, &poisoned, &merged);
  CHECK(std::isnan(merged.sum_exp));
}
