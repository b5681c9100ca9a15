// softxent_top_k against the long double oracle: exact indices (ties by lower index, many of them),
// log-probabilities and lse within the log_softmax bounds, every dtype and instruction set, the
// logit transform, edge rows, errors with every output untouched, batch invariance and threads.
#include <cstdlib>

#include "select_oracle.hpp"

using namespace sxtest;

namespace {

// One call's outputs, every element a sentinel before the call.
struct top_k_outputs {
  std::vector<std::int64_t> indices;
  std::vector<float> log_probs, lse;
  top_k_outputs(std::size_t rows, std::size_t k) : indices(rows * k, 777), log_probs(rows * k, sentinel()), lse(rows, sentinel()) {}
};

top_k_outputs run_top_k(const softxent::const_any_matrix& x, std::size_t k, const softxent::softmax_options& o,
                        const softxent::exec_options& exec) {
  top_k_outputs out(x.rows, k);
  const softxent::status s = softxent::top_k(x, k, out.indices.data(), out.log_probs.data(), out.lse.data(), o, exec);
  REQUIRE(s == softxent::status::ok);
  return out;
}

// Row r of the outputs against the oracle. exact_order: z is computed without rounding (no transform,
// or one that is exact), so the order is the oracle's to the index; else a class may trade places
// with one whose z is within the rounding width.
void check_row(tally& t, const std::vector<real>& z, const float* sink, std::size_t k, bool exact_order,
               const std::int64_t* indices, const float* log_probs, float lse, std::size_t r) {
  const row_facts f = facts_of(z, sink);
  t.expect(r, 0, lse, f.lse, 8 * eps * (1 + (std::isfinite(f.lse) ? std::fabs(f.lse) : 0)) + rounding_width(f.max, f));
  if (f.poisoned) {
    for (std::size_t i = 0; i < k; ++i) {
      if (indices[i] != -1) t.fail(r, i, static_cast<float>(indices[i]), -1, 0, "a poisoned row's index is -1");
      t.expect(r, i, log_probs[i], std::numeric_limits<real>::quiet_NaN(), 0);
    }
    return;
  }
  const std::vector<std::size_t> expected = expected_top_k(z, k);
  std::vector<bool> seen(z.size(), false);
  for (std::size_t i = 0; i < k; ++i) {
    const std::int64_t got = indices[i];
    if (got < 0 || static_cast<std::size_t>(got) >= z.size() || seen[static_cast<std::size_t>(got)]) {
      t.fail(r, i, static_cast<float>(got), static_cast<real>(expected[i]), 0, "not a new class index");
      return;
    }
    seen[static_cast<std::size_t>(got)] = true;
    const real zg = z[static_cast<std::size_t>(got)];
    if (!top_k_place_allowed(z, f, static_cast<std::size_t>(got), expected[i], exact_order))
      t.fail(r, i, static_cast<float>(got), static_cast<real>(expected[i]), 0, "wrong class");
    if (zg == -real_inf) {
      t.expect_bits(r, i, log_probs[i], -inf);
    } else {
      t.expect(r, i, log_probs[i], zg - f.lse, log_prob_bound(zg, f));
    }
  }
}

void check_all(const std::string& label, const logit_matrix& x, const softxent::softmax_options& o, std::size_t k,
               bool exact_order, const top_k_outputs& out) {
  tally t(label);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const std::size_t head = o.rows_per_head == 0 ? 0 : r / o.rows_per_head;
    check_row(t, exact_row(x, r, o), o.sinks ? o.sinks + head : nullptr, k, exact_order, out.indices.data() + r * k,
              out.log_probs.data() + r * k, out.lse[r], r);
  }
  SXTEST_CHECK_TALLY(t);
}

// Logits with many exact ties: a few distinct values (exact in every dtype), some masked.
void fill_ties(logit_matrix& x, random_source& random) {
  for (std::size_t r = 0; r < x.rows; ++r)
    for (std::size_t j = 0; j < x.cols; ++j)
      x.set(r, j, random.chance(0.05) ? -inf : static_cast<float>(static_cast<int>(random.index(6))) - 2.5f);
}

}  // namespace

TEST_CASE("top_k: exact indices and bounded log-probabilities on every ISA and dtype - many ties included") {
  random_source random(7001);
  for (softxent::dtype type : all_dtypes)
    for (std::size_t cols : sizes{1, 7, 33, 100, 1000, 4097, 20000})
      for (bool ties : {false, true}) {
        logit_matrix x(type, 5, cols, cols % 3);
        if (ties) fill_ties(x, random);
        else fill_normal(x, random, 3.0f);
        for (std::size_t k : sizes{1, 3, 8, 64, 1024}) {
          const std::size_t kk = std::min(k, cols);
          for (const std::string& isa : available_isas()) {
            const top_k_outputs out = run_top_k(x.view(), kk, {}, exec_for(isa));
            check_all(describe(isa, "top_k", x.rows, cols, x.stride, 0) + " " + dtype_name(type) + (ties ? " ties" : "") +
                          " k=" + std::to_string(kk),
                      x, {}, kk, true, out);
          }
        }
      }
}

TEST_CASE("top_k: k = cols and cols = 1 - and the outputs that may be null") {
  random_source random(7002);
  logit_matrix x(softxent::dtype::f32, 3, 50);
  fill_ties(x, random);
  for (const std::string& isa : available_isas()) {
    check_all(isa + " k=cols", x, {}, 50, true, run_top_k(x.view(), 50, {}, exec_for(isa)));
    logit_matrix one(softxent::dtype::f32, 4, 1);
    one.set(0, 0, 2.0f), one.set(1, 0, -inf), one.set(2, 0, nan_f), one.set(3, 0, -flt_max);
    check_all(isa + " cols=1", one, {}, 1, true, run_top_k(one.view(), 1, {}, exec_for(isa)));
    // Only the indices: the same ones.
    std::vector<std::int64_t> alone(3 * 8);
    REQUIRE(softxent::top_k(x.view(), 8, alone.data(), nullptr, nullptr, {}, exec_for(isa)) == softxent::status::ok);
    const top_k_outputs full = run_top_k(x.view(), 8, {}, exec_for(isa));
    CHECK(alone == full.indices);
  }
}

TEST_CASE("top_k: NaN or +inf rows - all masked rows - fewer unmasked classes than k - huge logits") {
  for (softxent::dtype type : all_dtypes) {
    logit_matrix x(type, 7, 300);
    random_source random(7003);
    fill_normal(x, random, 2.0f);
    x.set(0, 150, nan_f);                                             // NaN: the row is NaN
    x.set(1, 299, inf);                                               // +inf: the row is NaN
    for (std::size_t j = 0; j < 300; ++j) x.set(2, j, -inf);          // all masked: 0 .. k-1, -inf
    for (std::size_t j = 0; j < 300; ++j) x.set(3, j, j % 100 == 7 ? 1.0f : -inf);  // 3 unmasked, then masked
    for (std::size_t j = 0; j < 300; ++j) x.set(4, j, j % 2 ? 60000.0f : -60000.0f);  // far apart (f16's range)
    x.set(5, 0, -inf);
    for (std::size_t j = 0; j < 300; ++j) x.set(6, j, 1.0f);          // one value, 300 ties
    for (const std::string& isa : available_isas())
      for (std::size_t k : sizes{1, 5, 300})
        check_all(isa + " edges " + dtype_name(type) + " k=" + std::to_string(k), x, {}, k, true,
                  run_top_k(x.view(), k, {}, exec_for(isa)));
  }
  logit_matrix huge(softxent::dtype::f32, 2, 40);
  for (std::size_t j = 0; j < 40; ++j) huge.set(0, j, j % 3 ? flt_max : -flt_max), huge.set(1, j, static_cast<float>(j) * 1e37f - 2e38f);
  for (const std::string& isa : available_isas()) check_all(isa + " huge", huge, {}, 10, true, run_top_k(huge.view(), 10, {}, exec_for(isa)));
}

TEST_CASE("top_k: the logit transform - scale and softcap and mask with ALiBi slopes and valid_cols and sinks") {
  random_source random(7004);
  const std::size_t rows = 6, cols = 5000;
  std::vector<float> mask(2 * cols), slopes = {0.5f, -0.25f, 2.0f}, sinks = {1.5f, -3.0f, 30.0f};
  for (float& m : mask) m = random.chance(0.1) ? -inf : random.uniform(-2.0f, 2.0f);
  std::vector<std::int64_t> valid = {5000, 0, 17, 4096, 1, 2500};
  for (softxent::dtype type : all_dtypes) {
    logit_matrix x(type, rows, cols);
    fill_normal(x, random, 4.0f);
    x.set(2, 100, nan_f);  // under valid_cols: masked, not poison
    x.set(5, 4999, nan_f);
    for (int variant = 0; variant < 4; ++variant) {
      softxent::softmax_options o;
      bool exact_order = false;
      if (variant == 0) o.scale = 0.5f, exact_order = true;  // a power of two: z exact
      if (variant == 1) o.softcap = 5.0f, o.scale = 1.7f;
      if (variant == 2) {
        o.mask = {mask.data(), softxent::dtype::f32, 2, cols, cols};
        o.rows_per_head = 2;
        o.slopes = slopes.data();
        o.valid_cols = valid.data();
      }
      if (variant == 3) o.sinks = sinks.data(), o.rows_per_head = 2, o.valid_cols = valid.data(), exact_order = true;
      for (const std::string& isa : available_isas())
        for (std::size_t k : sizes{1, 40, 1024})
          check_all(isa + " transform " + std::to_string(variant) + " " + dtype_name(type) + " k=" + std::to_string(k),
                    x, o, k, exact_order, run_top_k(x.view(), k, o, exec_for(isa)));
    }
  }
}

TEST_SUITE("slow") {
TEST_CASE("top_k: long rows read twice (statistics and summary, then offers) - ordered, tied, spiked, masked and poisoned rows") {
  // Rows of f32 read in place, long enough that the candidates start from a floor taken from a
  // summary of the row: orders and ties that put the floor on many classes or on none.
  random_source random(7006);
  const std::size_t cols = 40000;
  logit_matrix x(softxent::dtype::f32, 10, cols, 3);
  for (std::size_t j = 0; j < cols; ++j) {
    x.set(0, j, static_cast<float>(j) * 1e-3f);                  // ascending: the best last
    x.set(1, j, -static_cast<float>(j) * 1e-3f);                 // descending: the best first
    x.set(2, j, 1.5f);                                           // one value: the first k classes
    x.set(3, j, j % 7 == 0 ? 2.0f : -1.0f);                      // a tie above a tie
    x.set(4, j, j == cols / 2 ? 50.0f : random.normal(0.0f, 1.0f));  // one spike
    x.set(5, j, j % 1000 == 999 ? static_cast<float>(j % 3) : -inf);  // masked but for 40, 3 values
    x.set(6, j, random.normal(0.0f, 3.0f));
    x.set(7, j, static_cast<float>(static_cast<int>(random.index(4))));  // four values, tied widely
    x.set(8, j, j == 31111 ? NAN : random.normal(0.0f, 1.0f));           // poisoned, late in the row
    x.set(9, j, j == 5 ? INFINITY : random.normal(0.0f, 1.0f));
  }
  for (std::size_t k : sizes{1, 2, 8, 39, 40, 64, 156})
    for (const std::string& isa : available_isas())
      for (int threads : {1, 2})
        check_all(isa + " twice k=" + std::to_string(k) + " threads=" + std::to_string(threads), x, {}, k, true,
                  run_top_k(x.view(), k, {}, exec_for(isa, threads)));
}

TEST_CASE("top_k: long rows (128256 and 2^20 classes) with several threads") {
  random_source random(7005);
  for (std::size_t cols : sizes{128256, std::size_t{1} << 20}) {
    logit_matrix x(softxent::dtype::f32, 2, cols);
    fill_normal(x, random, 2.0f);
    for (std::size_t j = 0; j < cols; j += 977) x.set(1, j, 9.0f);  // ties across every segment
    for (const std::string& isa : available_isas()) {
      if (isa == "reference" && cols > 200000) continue;
      for (int threads : {1, 2})
        check_all(isa + " long " + std::to_string(cols), x, {}, 64, true, run_top_k(x.view(), 64, {}, exec_for(isa, threads)));
    }
  }
}

}  // TEST_SUITE("slow")

TEST_CASE("top_k: a row's outputs are bitwise the same alone or in any batch and position on any thread count") {
  random_source random(7006);
  for (std::size_t cols : sizes{50, 9000, 300000}) {
    // Rows: the row under test at position p among NaN, +inf, all -inf and ordinary neighbours.
    logit_matrix probe(softxent::dtype::f32, 1, cols);
    fill_normal(probe, random, 3.0f);
    for (std::size_t rows : sizes{1, 3, 9}) {
      for (std::size_t position = 0; position < rows; position += 2) {
        const logit_matrix batch = batch_around(probe, rows, position);
        for (const std::string& isa : available_isas()) {
          if (isa == "reference" && cols > 10000) continue;
          const top_k_outputs alone = run_top_k(probe.view(), 16, {}, exec_for(isa, 1));
          for (int threads : {1, 2, 3}) {
            const top_k_outputs all = run_top_k(batch.view(), 16, {}, exec_for(isa, threads));
            CAPTURE(isa);
            CAPTURE(cols);
            CAPTURE(rows);
            CAPTURE(threads);
            CHECK(std::equal(alone.indices.begin(), alone.indices.end(), all.indices.begin() + static_cast<std::ptrdiff_t>(position * 16)));
            CHECK(std::memcmp(alone.log_probs.data(), all.log_probs.data() + position * 16, 16 * sizeof(float)) == 0);
            CHECK(same_bits(alone.lse[0], all.lse[position]));
          }
        }
      }
    }
  }
}

TEST_CASE("top_k: every invalid argument returns its status and writes nothing") {
  logit_matrix x(softxent::dtype::f32, 2, 10);
  for (std::size_t j = 0; j < 10; ++j) x.set(0, j, static_cast<float>(j)), x.set(1, j, 1.0f);
  std::vector<std::int64_t> indices(64, 777);
  std::vector<float> out(64, sentinel());
  const auto untouched = [&] {
    return std::all_of(indices.begin(), indices.end(), [](std::int64_t v) { return v == 777; }) &&
           std::all_of(out.begin(), out.end(), [](float v) { return same_bits(v, sentinel()); });
  };
  const auto call = [&](softxent::const_any_matrix m, std::size_t k, std::int64_t* i, float* lp, float* lse,
                        const softxent::softmax_options& o = {}, const softxent::exec_options& e = {}) {
    const softxent::status s = softxent::top_k(m, k, i, lp, lse, o, e);
    CHECK_MESSAGE(untouched(), "written with status " << static_cast<int>(s));
    return s;
  };
  using softxent::status;
  const auto v = x.view();
  CHECK(call(v, 0, indices.data(), out.data(), out.data() + 40) == status::invalid_option);
  CHECK(call(v, 11, indices.data(), out.data(), out.data() + 40) == status::invalid_option);
  logit_matrix wide(softxent::dtype::f32, 1, 2000);
  CHECK(call(wide.view(), softxent::max_top_k + 1, indices.data(), nullptr, nullptr) == status::invalid_option);
  CHECK(call(v, 2, nullptr, out.data(), out.data() + 40) == status::null_pointer);
  CHECK(call({nullptr, softxent::dtype::f32, 2, 10, 10}, 2, indices.data(), nullptr, nullptr) == status::null_pointer);
  CHECK(call({x.data(), softxent::dtype::f32, 2, 10, 9}, 2, indices.data(), nullptr, nullptr) == status::invalid_shape);
  CHECK(call({x.data(), softxent::dtype::f32, 2, 0, 10}, 1, indices.data(), nullptr, nullptr) == status::invalid_shape);
  CHECK(call({x.data(), softxent::dtype::f32, 1, std::size_t{1} << 32, std::size_t{1} << 32}, 2, indices.data(), nullptr,
             nullptr) == status::invalid_shape);
  CHECK(call({x.data(), static_cast<softxent::dtype>(9), 2, 10, 10}, 2, indices.data(), nullptr, nullptr) ==
        status::unsupported_dtype);
  softxent::softmax_options bad;
  bad.scale = 0.0f;
  CHECK(call(v, 2, indices.data(), nullptr, nullptr, bad) == status::invalid_option);
  softxent::exec_options threads;
  threads.threads = -1;
  CHECK(call(v, 2, indices.data(), nullptr, nullptr, {}, threads) == status::invalid_option);
  softxent::exec_options unknown;
  unknown.isa = "vax";
  CHECK(call(v, 2, indices.data(), nullptr, nullptr, {}, unknown) == status::invalid_option);
  // Overlaps: outputs with the logits, with each other.
  CHECK(call(v, 2, reinterpret_cast<std::int64_t*>(x.f32.data()), nullptr, nullptr) == status::overlap);
  CHECK(call(v, 2, indices.data(), out.data(), out.data() + 2) == status::overlap);
  CHECK(call(v, 2, indices.data(), reinterpret_cast<float*>(indices.data()) + 6, nullptr) == status::overlap);
  // rows == 0 checks options, not pointers.
  CHECK(call({nullptr, softxent::dtype::f32, 0, 10, 10}, 2, nullptr, nullptr, nullptr) == status::ok);
  CHECK(call({nullptr, softxent::dtype::f32, 0, 10, 10}, 11, nullptr, nullptr, nullptr) == status::invalid_option);
  // The C API: the same checks.
  softxent_const_matrix cx{x.data(), SOFTXENT_F32, 10};
  CHECK(softxent_top_k(2, 10, cx, nullptr, 0, indices.data(), nullptr, nullptr, nullptr) == SOFTXENT_ERROR_INVALID_OPTION);
  CHECK(untouched());
  CHECK(softxent_top_k(2, 10, cx, nullptr, 3, indices.data(), out.data(), out.data() + 40, nullptr) == SOFTXENT_OK);
  CHECK(indices[0] == 9);
  CHECK(indices[3] == 0);  // row 1: ten ties, lowest indices first
  CHECK(indices[5] == 2);
}
