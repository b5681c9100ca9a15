// The softmax family in every element type and with the logit transform, on every instruction set,
// against the test oracle's exact transformed logits (tests/oracle; SPEC.md's order: scale, softcap,
// mask with slope, valid_cols; sinks in the normalizer), with SPEC's widened bounds plus half an ulp
// of the output type.
#include <map>
#include <sstream>

#include "dtype_support.hpp"

using namespace sxtest;
using softxent::dtype;

namespace {

constexpr std::size_t rows = 6;  // three heads of two rows
constexpr std::size_t transform_sets = 8;

struct transform_case {
  softxent::softmax_options options;
  typed_buffer mask;
  std::vector<float> slopes, sinks;
  std::vector<std::int64_t> valid;
};

// 0 none; 1 scale; 2 scale and softcap; 3 a mask (broadcast over rows, per-head slopes); 4 sinks and
// valid lengths (0, cols and between); 5 everything; 6 softcap alone; 7 valid lengths without sinks.
void make_transform(std::size_t which, std::size_t cols, dtype mask_type, random_source& random, transform_case& t) {
  softxent::softmax_options& o = t.options;
  o = softxent::softmax_options{};
  if (which == 1 || which == 2 || which == 5) o.scale = which == 1 ? 0.125f : 0.5f;
  if (which == 2 || which == 5) o.softcap = 20.0f;
  if (which == 3 || which == 5) {
    t.mask = typed_buffer(mask_type, 2, cols, 1);
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t c = 0; c < cols; ++c) t.mask.set(r, c, c % 7 == 3 ? -INFINITY : random.uniform(-4.0f, 1.0f));
    o.mask = t.mask.cview();
    t.slopes = {0.5f, 0.25f, -1.0f};
    o.slopes = t.slopes.data();
  }
  if (which == 6) o.softcap = 5.0f;
  if (which == 3 || which == 4 || which == 5) o.rows_per_head = 2;
  if (which == 4 || which == 5 || which == 7) {
    if (which != 7) {
      t.sinks = {1.5f, -3.0f, 40.0f};
      o.sinks = t.sinks.data();
    }
    t.valid = {static_cast<std::int64_t>(cols), 0, static_cast<std::int64_t>(cols / 2), static_cast<std::int64_t>(cols),
               static_cast<std::int64_t>(cols > 1 ? cols - 1 : 1), 0};
    o.valid_cols = t.valid.data();
  }
}

// A float buffer holding the decoded values of a typed one (16-bit values are floats exactly), for the oracle.
buffer decoded(const typed_buffer& t) {
  buffer b(t.rows, t.cols);
  for (std::size_t r = 0; r < t.rows; ++r)
    for (std::size_t c = 0; c < t.cols; ++c) b.at(r, c) = static_cast<float>(t.get(r, c));
  return b;
}

// The oracle's expected lse, softmax and log_softmax of x under the transform t.
struct transform_expectation {
  std::vector<softxent_oracle::expected> lse, softmax, log_softmax;
};
transform_expectation expect_transformed(const typed_buffer& x, const transform_case& t) {
  const buffer x_float = decoded(x);
  std::vector<float> mask;
  const softxent_oracle::softmax_transform transform = oracle_transform(t.options, x.cols, mask);
  const softxent_oracle::matrix_in view = oracle_view(x_float);
  return {softxent_oracle::expect_logsumexp(view, transform), softxent_oracle::expect_softmax(view, transform),
          softxent_oracle::expect_log_softmax(view, transform)};
}

std::string describe_case(const char* op, const std::string& isa, dtype in, dtype out, std::size_t cols,
                          std::size_t which) {
  return std::string(op) + " isa=" + isa + " " + dtype_name(in) + "->" + dtype_name(out) + " cols=" +
         std::to_string(cols) + " transform=" + std::to_string(which);
}

// The largest error / tolerance seen, per instruction set and operand types, over every length and
// transform of a sweep: the sweep prints it as a table (what README.md and release notes quote).
struct worst_table {
  std::map<std::string, std::map<std::string, real>> by_isa;  // isa -> "op in->out" -> worst ratio
  void add(const std::string& isa, const std::string& what, const tally& t) {
    real& w = by_isa[isa][what];
    w = std::max(w, t.worst);
  }
  std::string text() const {
    std::ostringstream out;
    out.precision(3);
    out << "largest error / tolerance (SPEC's bound, widened by the transform, plus half an ulp of the output):";
    for (const auto& [isa, cases] : by_isa) {
      out << "\n  " << isa << ":";
      for (const auto& [what, worst] : cases) out << " " << what << " " << static_cast<double>(worst) << ";";
    }
    return out.str();
  }
};

void sweep(const std::vector<std::size_t>& lengths, std::uint64_t seed) {
  random_source random(seed);
  const std::vector<std::string> isas = available_isas();
  std::size_t compared = 0;
  worst_table worst;
  for (std::size_t cols : lengths)
    for (std::size_t which = 0; which < transform_sets; ++which)
      for (dtype in : all_dtypes) {
        typed_buffer x(in, rows, cols, 2, 1);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) x.set(r, c, random.normal(0.0f, r % 2 ? 6.0f : 1.5f));
        transform_case t;
        make_transform(which, cols, all_dtypes[(which + cols) % 3], random, t);
        if (!t.valid.empty()) {  // padding past a row's valid length may hold anything
          for (std::size_t c = static_cast<std::size_t>(t.valid[2]); c < cols; ++c) x.set(2, c, NAN);
          // A NaN among row 4's valid classes makes all of it NaN, its masked last class too.
          if (cols > 1) x.set(4, 0, NAN);
        }
        const transform_expectation exact = expect_transformed(x, t);
        for (const std::string& isa : isas) {
          std::vector<float> lse(rows + 1, sentinel());
          REQUIRE(softxent::logsumexp(x.cview(), lse.data(), t.options, exec_for(isa)) == softxent::status::ok);
          tally tl(describe_case("logsumexp", isa, in, dtype::f32, cols, which));
          for (std::size_t r = 0; r < rows; ++r) tl.expect(r, 0, lse[r], exact.lse[r].value, exact.lse[r].tolerance);
          SXTEST_CHECK_TALLY(tl);
          worst.add(isa, std::string("lse ") + dtype_name(in), tl);
          CHECK(same_bits(lse[rows], sentinel()));
          for (dtype out : all_dtypes)
            for (bool log_space : {false, true}) {
              typed_buffer y(out, rows, cols, 3, 2);
              const auto run = log_space ? softxent::log_softmax(x.cview(), y.view(), t.options, exec_for(isa))
                                         : softxent::softmax(x.cview(), y.view(), t.options, exec_for(isa));
              REQUIRE(run == softxent::status::ok);
              tally ty(describe_case(log_space ? "log_softmax" : "softmax", isa, in, out, cols, which));
              for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) {
                  const softxent_oracle::expected& e = (log_space ? exact.log_softmax : exact.softmax)[r * cols + c];
                  if (!log_space && e.value == 0)
                    ty.expect(r, c, static_cast<float>(y.get(r, c)), 0, 0);  // masked: exactly 0
                  else
                    expect_output(ty, r, c, out, y.get(r, c), e.value, e.tolerance);
                }
              compared += ty.checked;
              SXTEST_CHECK_TALLY(ty);
              worst.add(isa, std::string(log_space ? "log_softmax " : "softmax ") + dtype_name(in) + "->" + dtype_name(out), ty);
              CHECK_MESSAGE(y.outside_untouched(), ty.label);
            }
        }
      }
  MESSAGE("values compared: " << compared);
  MESSAGE(worst.text());
}

}  // namespace

TEST_CASE("softmax, log_softmax and logsumexp in f32, f16 and bf16 (every pair) with every transform, every ISA: lengths 1 to 4097") {
  sweep({1, 5, 16, 33, 100, 4097}, 9101);
}

TEST_SUITE("slow") {
  TEST_CASE("softmax, log_softmax and logsumexp in every dtype pair with every transform, every ISA: 9000 and 128256 classes") {
    // Under an emulator or AddressSanitizer 9000 classes only: three chunks, the long-row split and
    // the staged pieces all the same; 128256 adds only length (and took six minutes under
    // qemu-aarch64 and under ASan).
    if (emulated() || sanitized()) sweep({9000}, 9102);
    else sweep({9000, 128256}, 9102);
  }
}

TEST_CASE("half outputs: in place with equal dtypes, OVERLAP across dtypes over the same bytes, overflow to infinity") {
  random_source random(9103);
  const std::size_t cols = 40;
  for (const std::string& isa : available_isas()) {
    for (dtype type : {dtype::f16, dtype::bf16}) {
      typed_buffer x(type, 3, cols);
      for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t c = 0; c < cols; ++c) x.set(r, c, random.normal(0.0f, 1.0f));
      typed_buffer y(type, 3, cols);
      REQUIRE(softxent::softmax(x.cview(), y.view(), {}, exec_for(isa)) == softxent::status::ok);
      typed_buffer in_place = x;
      REQUIRE(softxent::softmax(in_place.cview(), in_place.view(), {}, exec_for(isa)) == softxent::status::ok);
      CHECK_MESSAGE(in_place.bytes == y.bytes, isa << " " << dtype_name(type) << ": in place differs");
      // The same bytes read as the other 16-bit type: not in place, an overlap.
      typed_buffer other = x;
      softxent::any_matrix reinterpreted = other.view();
      reinterpreted.dtype = type == dtype::f16 ? dtype::bf16 : dtype::f16;
      const std::vector<unsigned char> before = other.bytes;
      CHECK(softxent::softmax(other.cview(), reinterpreted, {}, exec_for(isa)) == softxent::status::overlap);
      CHECK(other.bytes == before);
    }
    // log_softmax of -1e5 beside 0 is -1e5: beyond f16's range, so -inf in f16 (and finite in bf16).
    typed_buffer x(dtype::f32, 1, 2);
    x.set(0, 0, 0.0);
    x.set(0, 1, -1e5);
    typed_buffer h(dtype::f16, 1, 2), b(dtype::bf16, 1, 2);
    REQUIRE(softxent::log_softmax(x.cview(), h.view(), {}, exec_for(isa)) == softxent::status::ok);
    REQUIRE(softxent::log_softmax(x.cview(), b.view(), {}, exec_for(isa)) == softxent::status::ok);
    CHECK(h.get(0, 1) == -INFINITY);
    CHECK(b.get(0, 1) == doctest::Approx(-1e5).epsilon(1.0 / 256));
  }
}

TEST_CASE("softmax options: every invalid option or shape has its status and writes nothing") {
  const std::size_t cols = 8;
  typed_buffer x(dtype::f32, 4, cols), y(dtype::f16, 4, cols);
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t c = 0; c < cols; ++c) x.set(r, c, static_cast<double>(c));
  const std::vector<unsigned char> before = y.bytes;
  const auto expect = [&](const softxent::softmax_options& o, softxent::status s, const char* what) {
    CHECK_MESSAGE(softxent::softmax(x.cview(), y.view(), o) == s, what);
    CHECK_MESSAGE(y.bytes == before, what);
  };
  for (float scale : {0.0f, -1.0f, NAN, INFINITY}) {
    softxent::softmax_options o;
    o.scale = scale;
    expect(o, softxent::status::invalid_option, "scale");
  }
  for (float cap : {-1.0f, NAN, INFINITY}) {
    softxent::softmax_options o;
    o.softcap = cap;
    expect(o, softxent::status::invalid_option, "softcap");
  }
  const std::vector<float> bad_slopes{1.0f, NAN}, bad_sinks{INFINITY, 0.0f};
  softxent::softmax_options slopes;
  slopes.rows_per_head = 2;
  slopes.slopes = bad_slopes.data();
  expect(slopes, softxent::status::invalid_option, "a NaN slope");
  softxent::softmax_options sinks;
  sinks.rows_per_head = 2;
  sinks.sinks = bad_sinks.data();
  expect(sinks, softxent::status::invalid_option, "an infinite sink");
  const std::vector<std::int64_t> bad_valid{1, 2, 9, 0};
  softxent::softmax_options valid;
  valid.valid_cols = bad_valid.data();
  expect(valid, softxent::status::invalid_option, "valid_cols > cols");
  typed_buffer mask(dtype::bf16, 2, cols);
  softxent::softmax_options no_rows;
  no_rows.mask = {mask.data(), dtype::bf16, 0, cols, cols};
  expect(no_rows, softxent::status::invalid_shape, "a mask of no rows");
  softxent::softmax_options short_stride;
  short_stride.mask = {mask.data(), dtype::bf16, 2, cols, cols - 1};
  expect(short_stride, softxent::status::invalid_shape, "a mask stride < cols");
  softxent::softmax_options bad_type;
  bad_type.mask = {mask.data(), static_cast<dtype>(7), 2, cols, cols};
  expect(bad_type, softxent::status::unsupported_dtype, "a mask dtype outside the enum");
  softxent::any_matrix bad_out = y.view();
  bad_out.dtype = static_cast<dtype>(3);
  CHECK(softxent::softmax(x.cview(), bad_out) == softxent::status::unsupported_dtype);
  CHECK(y.bytes == before);
  // The mask may not overlap the output.
  softxent::softmax_options overlapping;
  overlapping.mask = {y.data(), dtype::f16, 1, cols, cols};
  expect(overlapping, softxent::status::overlap, "mask over the output");
}

namespace {


}  // namespace

TEST_CASE("softmax_backward and log_softmax_backward with y, dy and dx in every dtype, every ISA") {
  random_source random(9104);
  std::size_t compared = 0;
  for (std::size_t cols : sizes{1, 7, 33, 300, 4097, 9000})
    for (bool log_space : {false, true})
      for (dtype y_type : all_dtypes)
        for (dtype dy_type : all_dtypes) {
          const std::size_t batch_rows = 3;
          buffer x(batch_rows, cols);
          fill_logits(x, random);
          buffer y_float(batch_rows, cols);
          fill_softmax_of(y_float, x, log_space);
          typed_buffer y(y_type, batch_rows, cols, 1), dy(dy_type, batch_rows, cols, 2, 1);
          for (std::size_t r = 0; r < batch_rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) {
              y.set(r, c, y_float.at(r, c));
              dy.set(r, c, random.normal(0.0f, 1.0f));
            }
          const expectation exact = log_space ? expected_log_softmax_backward(decoded(y), decoded(dy))
                                              : expected_softmax_backward(decoded(y), decoded(dy));
          for (const std::string& isa : available_isas())
            for (dtype dx_type : all_dtypes) {
              typed_buffer dx(dx_type, batch_rows, cols, 3, 2);
              const softxent::status s = log_space ? softxent::log_softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa))
                                                   : softxent::softmax_backward(y.cview(), dy.cview(), dx.view(), exec_for(isa));
              REQUIRE(s == softxent::status::ok);
              tally t(std::string(log_space ? "log_softmax_backward" : "softmax_backward") + " isa=" + isa + " " +
                      dtype_name(y_type) + "," + dtype_name(dy_type) + "->" + dtype_name(dx_type) + " cols=" +
                      std::to_string(cols));
              for (std::size_t r = 0; r < batch_rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) {
                  const real e = exact.exact[r * cols + c];
                  const real bound = exact.bound[r * cols + c] < 0 ? 0 : exact.bound[r * cols + c];
                  expect_output(t, r, c, dx_type, dx.get(r, c), e, bound);
                }
              compared += t.checked;
              SXTEST_CHECK_TALLY(t);
              CHECK_MESSAGE(dx.outside_untouched(), t.label);
            }
        }
  MESSAGE("values compared: " << compared);
}

TEST_CASE("cross_entropy and cross_entropy_soft with logits, probabilities and gradients in every dtype, every ISA") {
  random_source random(9105);
  std::size_t compared = 0;
  for (std::size_t cols : sizes{3, 16, 33, 300, 4097})
    for (dtype logits_type : all_dtypes)
      for (bool soft : {false, true}) {
        const std::size_t batch_rows = 5;
        typed_buffer logits(logits_type, batch_rows, cols, 1);
        for (std::size_t r = 0; r < batch_rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) logits.set(r, c, random.normal(0.0f, 3.0f));
        const dtype probs_type = all_dtypes[cols % 3];
        typed_buffer probs(probs_type, batch_rows, cols);
        buffer distribution(batch_rows, cols);
        fill_distribution(distribution, random);
        for (std::size_t r = 0; r < batch_rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) probs.set(r, c, distribution.at(r, c));
        std::vector<float> weights(cols);
        for (float& w : weights) w = random.uniform(0.5f, 2.0f);
        softxent::cross_entropy_options o;
        o.label_smoothing = 0.1f;
        o.class_weights = weights.data();
        o.reduction = softxent::reduction::none;
        o.softcap = cols % 2 ? 10.0f : 0.0f;
        const std::vector<std::int64_t> targets = random_targets(batch_rows, cols, random, 0.2, o.ignore_index);
        const buffer logits_f = decoded(logits), probs_f = decoded(probs);
        const cross_entropy_result exact = reference_cross_entropy(
            make_problem(logits_f, soft ? nullptr : targets.data(), soft ? &probs_f : nullptr, o));
        for (const std::string& isa : available_isas())
          for (dtype grad_type : all_dtypes) {
            typed_buffer grad(grad_type, batch_rows, cols, 2, 1);
            std::vector<float> loss(batch_rows, sentinel());
            const softxent::status s =
                soft ? softxent::cross_entropy_soft(logits.cview(), probs.cview(), loss.data(), grad.view(), o, exec_for(isa))
                     : softxent::cross_entropy(logits.cview(), targets.data(), loss.data(), grad.view(), o, exec_for(isa));
            REQUIRE(s == softxent::status::ok);
            tally t(std::string(soft ? "cross_entropy_soft" : "cross_entropy") + " isa=" + isa + " logits " +
                    dtype_name(logits_type) + " probs " + dtype_name(probs_type) + " grad " + dtype_name(grad_type) +
                    " cols=" + std::to_string(cols));
            for (std::size_t r = 0; r < batch_rows; ++r) t.expect(r, 0, loss[r], exact.loss[r], exact.loss_bound[r]);
            for (std::size_t r = 0; r < batch_rows; ++r)
              for (std::size_t c = 0; c < cols; ++c) {
                const real g = exact.grad[r * cols + c];
                if (g == 0) t.expect(r, c, static_cast<float>(grad.get(r, c)), 0, 0);
                else expect_output(t, r, c, grad_type, grad.get(r, c), g, exact.grad_bound[r * cols + c]);
              }
            compared += t.checked;
            SXTEST_CHECK_TALLY(t);
            CHECK_MESSAGE(grad.outside_untouched(), t.label);
            if (grad_type == logits_type) {  // in place: the gradient over the logits, same bits
              typed_buffer work = logits;
              std::vector<float> loss_again(batch_rows);
              const softxent::status again =
                  soft ? softxent::cross_entropy_soft(work.cview(), probs.cview(), loss_again.data(), work.view(), o, exec_for(isa))
                       : softxent::cross_entropy(work.cview(), targets.data(), loss_again.data(), work.view(), o, exec_for(isa));
              REQUIRE(again == softxent::status::ok);
              tally tp(t.label + " in place");
              for (std::size_t r = 0; r < batch_rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) {
                  const real g = exact.grad[r * cols + c];
                  if (g == 0) tp.expect(r, c, static_cast<float>(work.get(r, c)), 0, 0);
                  else expect_output(tp, r, c, grad_type, work.get(r, c), g, exact.grad_bound[r * cols + c]);
                }
              SXTEST_CHECK_TALLY(tp);
            }
          }
      }
  MESSAGE("values compared: " << compared);
}

TEST_CASE("batch invariance on every instruction set: a transformed row in any dtype alone and in a batch, beside NaN, +inf and all -inf rows") {
  random_source random(9106);
  std::size_t compared = 0;
  for (std::size_t cols : sizes{5, 33, 4097, 9000})
    for (dtype in : all_dtypes) {
      typed_buffer x(in, rows, cols, 1);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) x.set(r, c, random.normal(0.0f, 4.0f));
      x.set(1, cols / 2, NAN);
      x.set(3, 0, INFINITY);
      for (std::size_t c = 0; c < cols; ++c) x.set(4, c, -INFINITY);
      transform_case t;
      make_transform(5, cols, all_dtypes[cols % 3], random, t);
      for (const std::string& isa : available_isas())
        for (dtype out : all_dtypes) {
          typed_buffer batch(out, rows, cols);
          std::vector<float> lse(rows);
          REQUIRE(softxent::softmax(x.cview(), batch.view(), t.options, exec_for(isa, 2)) == softxent::status::ok);
          REQUIRE(softxent::logsumexp(x.cview(), lse.data(), t.options, exec_for(isa, 2)) == softxent::status::ok);
          for (std::size_t r = 0; r < rows; ++r) {
            // Row r alone, with its own head's slope and sink, its mask row and its valid length.
            const std::size_t head = r / t.options.rows_per_head;
            softxent::softmax_options alone = t.options;
            alone.rows_per_head = 0;
            alone.slopes = t.options.slopes + head;
            alone.sinks = t.options.sinks + head;
            alone.valid_cols = t.options.valid_cols + r;
            const std::size_t mask_row = r % t.options.mask.rows;
            alone.mask = {static_cast<const unsigned char*>(t.options.mask.data) +
                              mask_row * t.options.mask.stride * dtype_size(t.options.mask.dtype),
                          t.options.mask.dtype, 1, cols, t.options.mask.stride};
            const softxent::const_any_matrix row{static_cast<const unsigned char*>(x.data()) + r * x.stride * dtype_size(in),
                                                 in, 1, cols, x.stride};
            typed_buffer single(out, 1, cols);
            float single_lse = 0;
            REQUIRE(softxent::softmax(row, single.view(), alone, exec_for(isa, 1)) == softxent::status::ok);
            REQUIRE(softxent::logsumexp(row, &single_lse, alone, exec_for(isa, 1)) == softxent::status::ok);
            const std::size_t size = dtype_size(out);
            CHECK_MESSAGE(std::memcmp(single.data(), static_cast<const unsigned char*>(batch.data()) + r * cols * size,
                                      cols * size) == 0,
                          isa << " " << dtype_name(in) << "->" << dtype_name(out) << " cols " << cols << " row " << r);
            CHECK_MESSAGE(same_bits(single_lse, lse[r]), isa << " lse row " << r);
            ++compared;
          }
        }
    }
  MESSAGE("rows compared: " << compared);
}
