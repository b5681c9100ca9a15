// softxent_sample against the long double oracle: Philox4x32-10 on Random123's known answers, the
// token of every option alone and combined (exactly, unless rounding within the tolerances could
// change it), log-probabilities within the log_softmax bound, every dtype and instruction set, edge
// rows, a chi-square test of the draws against the renormalized distribution, batch invariance and
// threads, and every invalid argument.
#include <cstdlib>

#include "../src/philox.hpp"
#include "select_oracle.hpp"

using namespace sxtest;

namespace {

struct combination {
  float temperature;
  std::size_t top_k;
  float top_p;
  float min_p;
};
// Each option alone and together, with the temperatures of decoding.
constexpr combination combinations[] = {
    {1.0f, 0, 1.0f, 0.0f},   {0.0f, 0, 1.0f, 0.0f},    {0.8f, 0, 0.9f, 0.0f},   {1.0f, 40, 1.0f, 0.0f},
    {1.0f, 0, 1.0f, 0.05f},  {0.7f, 50, 0.8f, 0.02f},  {1.3f, 0, 0.5f, 0.1f},   {1.0f, 1000, 0.95f, 0.0f},
    {2.0f, 0, 0.99f, 0.0f},  {0.5f, 0, 1.0f, 0.3f},    {0.25f, 3, 0.6f, 0.0f},  {1.0f, 0, 0.999f, 0.001f},
};
softxent::sampling_options options_of(const combination& c, std::uint64_t offset) {
  softxent::sampling_options o;
  o.temperature = c.temperature;
  o.top_k = c.top_k;
  o.top_p = c.top_p;
  o.min_p = c.min_p;
  o.offset = offset;
  return o;
}

struct sample_outputs {
  std::vector<std::int64_t> tokens;
  std::vector<float> log_probs;
};
sample_outputs run_sample(const softxent::const_any_matrix& x, const std::uint64_t* seeds,
                          const softxent::sampling_options& o, const softxent::softmax_options& t,
                          const softxent::exec_options& exec) {
  sample_outputs out{std::vector<std::int64_t>(x.rows, 777), std::vector<float>(x.rows, sentinel())};
  REQUIRE(softxent::sample(x, seeds, out.tokens.data(), out.log_probs.data(), o, t, exec) == softxent::status::ok);
  return out;
}

// The oracle's answer for every row of a call.
std::vector<sample_expectation> expectations(const logit_matrix& x, const std::vector<std::uint64_t>& seeds,
                                             const softxent::sampling_options& o, const softxent::softmax_options& transform) {
  std::vector<sample_expectation> all;
  for (std::size_t r = 0; r < x.rows; ++r) all.push_back(expected_sample(exact_row(x, r, transform), o, draw_of(seeds[r], o.offset)));
  return all;
}

// Checks every row's token and log-probability; returns how many rows were ambiguous.
std::size_t check_rows(tally& t, const logit_matrix& x, const std::vector<sample_expectation>& expected,
                       const softxent::sampling_options& o, const softxent::softmax_options& transform,
                       const sample_outputs& out) {
  std::size_t ambiguous = 0;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const std::vector<real> z = exact_row(x, r, transform);
    const sample_expectation& e = expected[r];
    const std::int64_t got = out.tokens[r];
    if (e.token < 0) {
      if (got != -1) t.fail(r, 0, static_cast<float>(got), -1, 0, "expected token -1");
      t.expect(r, 0, out.log_probs[r], std::numeric_limits<real>::quiet_NaN(), 0);
      continue;
    }
    if (got < 0 || static_cast<std::size_t>(got) >= z.size() || !(z[static_cast<std::size_t>(got)] > -real_inf)) {
      t.fail(r, 0, static_cast<float>(got), static_cast<real>(e.token), 0, "not an unmasked class");
      continue;
    }
    if (e.ambiguous) ++ambiguous;
    if (!e.allows(got)) t.fail(r, 0, static_cast<float>(got), static_cast<real>(e.token), 0, "wrong token");
    // The token's log-probability after the temperature, before filtering (temperature 0: at 1).
    std::vector<real> zt = z;
    if (o.temperature != 0.0f)
      for (real& v : zt) v /= o.temperature;
    const row_facts f = facts_of(zt);
    const real zg = zt[static_cast<std::size_t>(got)];
    t.expect(r, 1, out.log_probs[r], zg - f.lse, log_prob_bound(zg, f) + 4 * eps * (std::fabs(zg) + f.magnitude));
  }
  return ambiguous;
}

// Four levels, so that top_p's and min_p's thresholds fall inside large groups of ties.
void fill_levels(logit_matrix& x, random_source& random) {
  for (std::size_t r = 0; r < x.rows; ++r)
    for (std::size_t j = 0; j < x.cols; ++j)
      x.set(r, j, random.chance(0.02) ? -inf : 0.5f * static_cast<float>(static_cast<int>(random.index(4))));
}
std::vector<std::uint64_t> random_seeds(std::size_t rows, random_source& random) {
  std::vector<std::uint64_t> seeds(rows);
  for (auto& s : seeds) s = random.engine();
  return seeds;
}

// Every combination of options on every ISA given. Ambiguous rows (see expected_sample) are at most
// `ambiguous_share` of a call's, and at most half of all the calls' rows.
void sweep(const std::string& name, const logit_matrix& x, const std::vector<std::uint64_t>& seeds,
           const softxent::softmax_options& transform, const std::vector<std::string>& isas,
           double ambiguous_share = 0.25) {
  std::size_t ambiguous_rows = 0, rows = 0;
  for (std::size_t c = 0; c < sizeof(combinations) / sizeof(combinations[0]); ++c) {
    const softxent::sampling_options o = options_of(combinations[c], 1000 + c);
    const std::vector<sample_expectation> expected = expectations(x, seeds, o, transform);
    for (const std::string& isa : isas) {
      const sample_outputs out = run_sample(x.view(), seeds.data(), o, transform, exec_for(isa));
      tally t(name + " " + isa + " combination " + std::to_string(c));
      const std::size_t ambiguous = check_rows(t, x, expected, o, transform, out);
      SXTEST_CHECK_TALLY(t);
      CHECK_MESSAGE(static_cast<double>(ambiguous) <= ambiguous_share * static_cast<double>(x.rows) + 1,
                    name << " " << isa << " combination " << c << ": " << ambiguous << " of " << x.rows << " rows ambiguous");
      ambiguous_rows += ambiguous;
      rows += x.rows;
    }
  }
  CHECK_MESSAGE(ambiguous_rows * 2 <= rows, name << ": " << ambiguous_rows << " of " << rows << " rows ambiguous");
}

}  // namespace

TEST_CASE("Philox4x32-10: Random123's known-answer vectors and the draw of SPEC.md") {
  using softxent::detail::philox4x32_10;
  const std::uint32_t vectors[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  for (const auto& v : vectors) {
    const std::array<std::uint32_t, 4> expected = {v[6], v[7], v[8], v[9]};
    CHECK(philox4x32_10({v[0], v[1], v[2], v[3]}, {v[4], v[5]}) == expected);
    CHECK(philox({v[0], v[1], v[2], v[3]}, {v[4], v[5]}) == expected);
  }
  // u = (word 0 >> 8) * 2^-24 of counter (offset lo, offset hi, 0, 0), key (seed lo, seed hi).
  CHECK(softxent::detail::sampling_uniform(0, 0) == static_cast<double>(0x6627e8d5u >> 8) * 0x1p-24);
  random_source random(8000);
  for (int i = 0; i < 100; ++i) {
    const std::uint64_t seed = random.engine(), offset = random.engine();
    CHECK(softxent::detail::sampling_uniform(seed, offset) == static_cast<double>(draw_of(seed, offset)));
  }
}

TEST_CASE("sample: tokens and log-probabilities against the oracle - every option and ISA and dtype") {
  random_source random(8001);
  for (softxent::dtype type : all_dtypes)
    for (std::size_t cols : sizes{1, 2, 10, 100, 1000, 5000}) {
      const std::size_t rows = 24;
      logit_matrix x(type, rows, cols, cols % 5);
      for (std::size_t r = 0; r < rows; ++r)  // peaked, moderate and flat rows
        for (std::size_t j = 0; j < cols; ++j) x.set(r, j, random.normal(0.0f, r % 3 == 0 ? 6.0f : r % 3 == 1 ? 2.0f : 0.3f));
      sweep(std::string(dtype_name(type)) + " cols " + std::to_string(cols), x, random_seeds(rows, random), {},
            available_isas());
    }
}

TEST_CASE("sample: thresholds inside large groups of exact ties keep the lower indices") {
  random_source random(8002);
  for (softxent::dtype type : all_dtypes)
    for (std::size_t cols : sizes{300, 20000}) {
      logit_matrix x(type, 8, cols);
      fill_levels(x, random);
      // Equal masses put top_p's target on a class boundary often: such rows are ambiguous.
      sweep(std::string("levels ") + dtype_name(type) + " " + std::to_string(cols), x, random_seeds(8, random), {},
            available_isas(), 1.0);
    }
}

TEST_SUITE("slow") {
TEST_CASE("sample: long rows of 128256 classes peaked and flat - on one and two threads") {
  random_source random(8003);
  logit_matrix x(softxent::dtype::bf16, 3, 128256);
  for (std::size_t j = 0; j < x.cols; ++j) {
    x.set(0, j, random.normal(0.0f, 2.5f));
    x.set(1, j, random.uniform(0.0f, 1.0f));
    x.set(2, j, j % 1000 == 3 ? 12.0f : random.normal(0.0f, 1.0f));
  }
  std::vector<std::string> isas;
  for (const std::string& isa : available_isas())
    if (isa != "reference") isas.push_back(isa);
  const std::vector<std::uint64_t> seeds = random_seeds(3, random);
  sweep("128256", x, seeds, {}, isas, 0.67);  // the flat row's classes each hold 1e-5 of the mass
  for (const combination& c : combinations) {
    const softxent::sampling_options o = options_of(c, 5);
    const sample_outputs one = run_sample(x.view(), seeds.data(), o, {}, exec_for(isas.back(), 1));
    const sample_outputs two = run_sample(x.view(), seeds.data(), o, {}, exec_for(isas.back(), 2));
    CHECK(one.tokens == two.tokens);
    CHECK(std::memcmp(one.log_probs.data(), two.log_probs.data(), 3 * sizeof(float)) == 0);
  }
}

}  // TEST_SUITE("slow")

TEST_CASE("sample: the logit transform before the temperature") {
  random_source random(8004);
  const std::size_t rows = 6, cols = 3000;
  std::vector<float> mask(3 * cols), slopes = {1.0f, 0.5f};
  for (float& m : mask) m = random.chance(0.2) ? -inf : random.uniform(-1.0f, 1.0f);
  std::vector<std::int64_t> valid = {3000, 1, 2999, 100, 0, 1500};
  logit_matrix x(softxent::dtype::f16, rows, cols);
  fill_normal(x, random, 3.0f);
  x.set(1, 5, nan_f);  // beyond valid_cols: masked
  for (int variant = 0; variant < 3; ++variant) {
    softxent::softmax_options o;
    if (variant == 0) o.scale = 0.75f;
    if (variant == 1) o.softcap = 4.0f;
    if (variant == 2) {
      o.mask = {mask.data(), softxent::dtype::f32, 3, cols, cols};
      o.rows_per_head = 3;
      o.slopes = slopes.data();
      o.valid_cols = valid.data();
    }
    sweep("transform " + std::to_string(variant), x, random_seeds(rows, random), o, available_isas());
  }
}

TEST_CASE("sample: NaN or +inf and all-masked rows give -1 and NaN - cols = 1 - huge logits") {
  logit_matrix x(softxent::dtype::f32, 6, 70);
  random_source random(8005);
  fill_normal(x, random, 1.0f);
  x.set(0, 3, nan_f);
  x.set(1, 69, inf);
  for (std::size_t j = 0; j < 70; ++j) x.set(2, j, -inf);
  for (std::size_t j = 0; j < 70; ++j) x.set(3, j, j == 42 ? 0.0f : -inf);  // one class: always drawn
  for (std::size_t j = 0; j < 70; ++j) x.set(4, j, j % 2 ? flt_max : -flt_max);
  for (std::size_t j = 0; j < 70; ++j) x.set(5, j, j % 7 ? 3e38f : 2.9e38f);
  const std::vector<std::uint64_t> seeds = random_seeds(6, random);
  for (const std::string& isa : available_isas())
    for (const combination& c : combinations) {
      const softxent::sampling_options o = options_of(c, 9);
      const sample_outputs out = run_sample(x.view(), seeds.data(), o, {}, exec_for(isa));
      tally t("edges " + isa);
      check_rows(t, x, expectations(x, seeds, o, {}), o, {}, out);
      SXTEST_CHECK_TALLY(t);
      CHECK(out.tokens[0] == -1);
      CHECK(out.tokens[2] == -1);
      CHECK(out.tokens[3] == 42);
    }
  logit_matrix one(softxent::dtype::f32, 1, 1);
  one.set(0, 0, -5.0f);
  const std::uint64_t seed = 3;
  for (const std::string& isa : available_isas()) {
    const sample_outputs out = run_sample(one.view(), &seed, {}, {}, exec_for(isa));
    CHECK(out.tokens[0] == 0);
    CHECK(out.log_probs[0] == 0.0f);
  }
}

TEST_SUITE("slow") {
TEST_CASE("sample: draws over many seeds follow the renormalized distribution (chi-square)") {
  // A short row (the candidates' path) and a longer one (segments, the bracket search and the sweep).
  random_source random(8006);
  for (std::size_t cols : sizes{12, 3000}) {
    logit_matrix row(softxent::dtype::f32, 1, cols);
    for (std::size_t j = 0; j < cols; ++j) row.set(0, j, cols == 12 ? 0.3f * static_cast<float>(j % 5) : random.normal(0.0f, 1.0f));
    // Under an emulator or AddressSanitizer 5000 draws (still 250 expected per bin): 20000 took
    // eleven minutes under qemu-aarch64.
    const std::size_t batch = 1000, draws = emulated() || sanitized() ? 5000 : 20000;
    logit_matrix x(softxent::dtype::f32, batch, cols);
    for (std::size_t r = 0; r < batch; ++r)
      for (std::size_t j = 0; j < cols; ++j) x.set(r, j, static_cast<float>(row.at(0, j)));
    for (const combination& c : combinations) {
      if (c.temperature == 0.0f) continue;
      const softxent::sampling_options o = options_of(c, 77);
      const sample_expectation e = expected_sample(exact_row(row, 0, {}), o, real(0.5));
      // Bins of the kept classes in index order, each about 1/20 of the probability (or one class).
      std::vector<std::size_t> bin_of(cols, 0);
      std::vector<real> expected;
      real in_bin = 0;
      for (std::size_t i = 0; i < e.kept.size(); ++i) {
        if (expected.empty() || in_bin >= real(0.05)) expected.push_back(0), in_bin = 0;
        expected.back() += e.probability[i];
        in_bin += e.probability[i];
        bin_of[e.kept[i]] = expected.size() - 1;
      }
      std::vector<bool> kept(cols, false);
      for (std::size_t j : e.kept) kept[j] = true;
      for (const std::string& isa : available_isas()) {
        // The tokens themselves are checked on every ISA elsewhere: the long row's draws on two.
        if (cols > 100 && isa != "scalar" && isa != available_isas().back()) continue;
        std::vector<real> observed(expected.size(), 0);
        std::size_t outside = 0;
        for (std::size_t first = 0; first < draws; first += batch) {
          std::vector<std::uint64_t> seeds(batch);
          std::iota(seeds.begin(), seeds.end(), first);
          const sample_outputs out = run_sample(x.view(), seeds.data(), o, {}, exec_for(isa));
          for (std::int64_t token : out.tokens) {
            if (token < 0 || !kept[static_cast<std::size_t>(token)]) ++outside;
            else observed[bin_of[static_cast<std::size_t>(token)]] += 1;
          }
        }
        real chi2 = 0;
        for (std::size_t b = 0; b < expected.size(); ++b) {
          const real mean = expected[b] * static_cast<real>(draws);
          chi2 += (observed[b] - mean) * (observed[b] - mean) / mean;
        }
        // The 1e-4 tail of chi-square (Wilson-Hilferty).
        const real df = std::max<real>(1, static_cast<real>(expected.size()) - 1);
        const real h = 2 / (9 * df), critical = df * std::pow(1 - h + real(3.72) * std::sqrt(h), 3);
        CAPTURE(isa);
        CAPTURE(cols);
        CAPTURE(c.temperature);
        CAPTURE(c.top_k);
        CAPTURE(c.top_p);
        CAPTURE(c.min_p);
        CHECK(outside == 0);
        CHECK_MESSAGE(chi2 <= critical, "chi-square " << static_cast<double>(chi2) << " over " << static_cast<double>(df)
                                                      << " degrees of freedom");
      }
    }
  }
}

}  // TEST_SUITE("slow")

TEST_CASE("sample: a row's token is bitwise the same alone or in any batch and position on any thread count or pool") {
  random_source random(8007);
  const auto pool = [](void*, std::size_t units, softxent::task body, void* context) {
    for (std::size_t u = units; u-- > 0;) body(context, u, u + 1);  // units in reverse, one at a time
  };
  for (std::size_t cols : sizes{50, 9000, 300000}) {
    logit_matrix probe(softxent::dtype::f32, 1, cols);
    fill_normal(probe, random, 2.0f);
    const std::uint64_t seed = random.engine();
    // Long rows: a few rows share their segments' threads; short ones: blocks of rows.
    const std::vector<std::size_t> row_counts = cols > 100000 ? std::vector<std::size_t>{1, 3} : std::vector<std::size_t>{1, 3, 9};
    for (std::size_t rows : row_counts) {
      for (std::size_t position = 0; position < rows; position += rows - 1 > 1 ? rows - 1 : 1) {
        const logit_matrix batch = batch_around(probe, rows, position);
        std::vector<std::uint64_t> seeds = random_seeds(rows, random);
        seeds[position] = seed;
        for (const combination& c : combinations) {
          if (cols > 100000 && c.top_k > 3) continue;
          const softxent::sampling_options o = options_of(c, 4);
          for (const std::string& isa : available_isas()) {
            if (isa == "reference" && cols > 10000) continue;
            const sample_outputs alone = run_sample(probe.view(), &seed, o, {}, exec_for(isa, 1));
            for (int threads : {1, 2, 3, -1}) {
              softxent::exec_options exec = exec_for(isa, threads < 0 ? 2 : threads);
              if (threads < 0) exec.parallel_for = pool;
              const sample_outputs all = run_sample(batch.view(), seeds.data(), o, {}, exec);
              CAPTURE(isa);
              CAPTURE(cols);
              CAPTURE(rows);
              CAPTURE(threads);
              CHECK(alone.tokens[0] == all.tokens[position]);
              CHECK(same_bits(alone.log_probs[0], all.log_probs[position]));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("sample: every invalid argument returns its status and writes nothing") {
  logit_matrix x(softxent::dtype::f32, 2, 10);
  for (std::size_t j = 0; j < 10; ++j) x.set(0, j, static_cast<float>(j)), x.set(1, j, 1.0f);
  std::vector<std::uint64_t> seeds = {1, 2};
  std::vector<std::int64_t> tokens(8, 777);
  std::vector<float> out(8, sentinel());
  const auto untouched = [&] {
    return std::all_of(tokens.begin(), tokens.end(), [](std::int64_t v) { return v == 777; }) &&
           std::all_of(out.begin(), out.end(), [](float v) { return same_bits(v, sentinel()); });
  };
  const auto call = [&](softxent::const_any_matrix m, const std::uint64_t* s, std::int64_t* t, float* lp,
                        const softxent::sampling_options& o = {}, const softxent::softmax_options& tr = {},
                        const softxent::exec_options& e = {}) {
    const softxent::status result = softxent::sample(m, s, t, lp, o, tr, e);
    CHECK_MESSAGE(untouched(), "written with status " << static_cast<int>(result));
    return result;
  };
  using softxent::status;
  const auto v = x.view();
  const auto with = [](auto change) {
    softxent::sampling_options o;
    change(o);
    return o;
  };
  for (float bad : {-1.0f, nan_f, inf}) CHECK(call(v, seeds.data(), tokens.data(), out.data(), with([&](auto& o) { o.temperature = bad; })) == status::invalid_option);
  for (float bad : {0.0f, -0.5f, 1.5f, nan_f}) CHECK(call(v, seeds.data(), tokens.data(), out.data(), with([&](auto& o) { o.top_p = bad; })) == status::invalid_option);
  for (float bad : {-0.1f, 1.01f, nan_f}) CHECK(call(v, seeds.data(), tokens.data(), out.data(), with([&](auto& o) { o.min_p = bad; })) == status::invalid_option);
  logit_matrix wide(softxent::dtype::f32, 1, 5000);
  CHECK(call(wide.view(), seeds.data(), tokens.data(), nullptr, with([](auto& o) { o.top_k = softxent::max_top_k + 1; })) ==
        status::invalid_option);
  const float sinks[1] = {0.0f};
  softxent::softmax_options with_sinks;
  with_sinks.sinks = sinks;
  CHECK(call(v, seeds.data(), tokens.data(), out.data(), {}, with_sinks) == status::invalid_option);
  softxent::softmax_options bad_cap;
  bad_cap.softcap = -1.0f;
  CHECK(call(v, seeds.data(), tokens.data(), out.data(), {}, bad_cap) == status::invalid_option);
  CHECK(call(v, nullptr, tokens.data(), out.data()) == status::null_pointer);
  CHECK(call(v, seeds.data(), nullptr, out.data()) == status::null_pointer);
  CHECK(call({nullptr, softxent::dtype::f32, 2, 10, 10}, seeds.data(), tokens.data(), nullptr) == status::null_pointer);
  CHECK(call({x.data(), softxent::dtype::f32, 2, 10, 5}, seeds.data(), tokens.data(), nullptr) == status::invalid_shape);
  CHECK(call({x.data(), static_cast<softxent::dtype>(-1), 2, 10, 10}, seeds.data(), tokens.data(), nullptr) ==
        status::unsupported_dtype);
  softxent::exec_options unsupported;
  unsupported.isa = "neon";
  if (softxent::isa(unsupported) == nullptr) CHECK(call(v, seeds.data(), tokens.data(), nullptr, {}, {}, unsupported) == status::unsupported_isa);
  CHECK(call(v, seeds.data(), reinterpret_cast<std::int64_t*>(x.f32.data()), nullptr) == status::overlap);
  CHECK(call(v, seeds.data(), tokens.data(), reinterpret_cast<float*>(tokens.data()) + 1) == status::overlap);
  CHECK(call(v, reinterpret_cast<const std::uint64_t*>(tokens.data()), tokens.data(), nullptr) == status::overlap);
  CHECK(call({nullptr, softxent::dtype::f32, 0, 10, 10}, nullptr, nullptr, nullptr) == status::ok);
  CHECK(call({nullptr, softxent::dtype::f32, 0, 10, 10}, nullptr, nullptr, nullptr, with([](auto& o) { o.top_p = 2.0f; })) ==
        status::invalid_option);
  // The C API, its defaults and greedy decoding.
  softxent_sampling_options c;
  softxent_sampling_options_init(&c);
  CHECK(c.temperature == 1.0f);
  CHECK(c.top_k == 0);
  CHECK(c.top_p == 1.0f);
  CHECK(c.min_p == 0.0f);
  CHECK(c.offset == 0);
  softxent_const_matrix cx{x.data(), SOFTXENT_F32, 10};
  c.top_p = 0.0f;
  CHECK(softxent_sample(2, 10, cx, nullptr, &c, seeds.data(), tokens.data(), nullptr, nullptr) == SOFTXENT_ERROR_INVALID_OPTION);
  CHECK(untouched());
  c.top_p = 1.0f;
  c.temperature = 0.0f;
  CHECK(softxent_sample(2, 10, cx, nullptr, &c, seeds.data(), tokens.data(), out.data(), nullptr) == SOFTXENT_OK);
  CHECK(tokens[0] == 9);
  CHECK(tokens[1] == 0);  // ten ties: the lowest index
}
