// Batch invariance (SPEC.md): a row's outputs do not depend on the rows beside it. Every row-wise
// output of every operation, on every instruction set, is computed for each row alone and again inside
// batches of many sizes (partial and full short-row tiles of 4, 8 and 16 rows, the driver's blocks of
// 64 rows, long rows split into chunks and over threads), at every position, beside NaN, +inf, all
// -inf, ignored and ordinary rows; the bits must be the same (memcmp).
#include "test_support.hpp"

#include <functional>

using namespace sxtest;

namespace {

// The kinds of rows a batch is made of: ordinary ones (finite logits, whatever their range), then the
// neighbours SPEC.md names.
enum class row_kind {
  normal,         // N(0, 3)
  wide,           // uniform in [-60, 60]
  high,           // uniform in [88, 100], where a naive expf overflows
  masked,         // some -inf classes
  huge,           // +-3e38: float sums overflow and the kernels fall back to double
  ignored,        // ordinary logits whose integer target is the ignore index
  nan,            // a NaN among the logits (and in dy)
  plus_inf,       // a +inf among the logits (and in dy)
  all_minus_inf,  // every class masked
  ignored_nan,    // NaN logits whose integer target is the ignore index
};
constexpr row_kind ordinary_kinds[] = {row_kind::normal, row_kind::wide, row_kind::high,
                                       row_kind::masked, row_kind::huge, row_kind::ignored};
constexpr row_kind special_kinds[] = {row_kind::nan, row_kind::plus_inf, row_kind::all_minus_inf,
                                      row_kind::ignored_nan};
constexpr std::int64_t ignore_index = -100;

// One row's inputs for every operation.
struct row_input {
  std::vector<float> x;      // logits
  std::vector<float> y;      // softmax(x), the softmax_backward input
  std::vector<float> log_y;  // log_softmax(x), the log_softmax_backward input
  std::vector<float> dy;
  std::vector<float> probs;  // a target distribution
  std::int64_t target = 0;
};

row_input make_row(row_kind kind, std::size_t cols, random_source& random) {
  buffer x(1, cols), dy(1, cols), probs(1, cols);
  fill_logits(x, random,
              kind == row_kind::wide   ? logit_kind::wide
              : kind == row_kind::high ? logit_kind::high
                                       : logit_kind::normal);
  fill_logits(dy, random);
  fill_distribution(probs, random);
  const std::size_t at = random.index(cols);
  switch (kind) {
    case row_kind::masked:
      for (std::size_t c = 0; c < cols; ++c)
        if (c != at && random.chance(0.3)) x.at(0, c) = -inf;
      break;
    case row_kind::huge:
      for (std::size_t c = 0; c < cols; ++c) x.at(0, c) = random.chance(0.5) ? 3e38f : -3e38f;
      break;
    case row_kind::nan:
    case row_kind::ignored_nan:
      x.at(0, at) = nan_f;
      dy.at(0, random.index(cols)) = nan_f;
      break;
    case row_kind::plus_inf:
      x.at(0, at) = inf;
      dy.at(0, random.index(cols)) = inf;
      break;
    case row_kind::all_minus_inf: x.fill_matrix(-inf); break;
    default: break;
  }
  buffer y(1, cols), log_y(1, cols);
  fill_softmax_of(y, x, false);
  fill_softmax_of(log_y, x, true);
  const auto row = [cols](const buffer& b) { return std::vector<float>(b.row(0), b.row(0) + cols); };
  const bool ignored = kind == row_kind::ignored || kind == row_kind::ignored_nan;
  return {row(x), row(y), row(log_y), row(dy), row(probs),
          ignored ? ignore_index : static_cast<std::int64_t>(random.index(cols))};
}

using row_list = std::vector<const row_input*>;

// The matrices of a call, in storage reused from call to call: allocating and clearing fresh buffers
// for every call took half the test's time.
struct workspace {
  std::vector<float> first, second, output;
  std::vector<std::int64_t> targets;
  std::vector<float> loss;
};

// Room for rows x cols in the given layout at the start of storage, which grows as needed.
softxent::matrix place(std::vector<float>& storage, std::size_t rows, std::size_t cols, const layout& l) {
  const std::size_t stride = cols + l.extra_stride;
  const std::size_t span = l.offset + (rows - 1) * stride + cols;
  if (storage.size() < span) storage.resize(span);
  return {storage.data() + l.offset, rows, cols, stride};
}
// The same, holding the rows' member vectors.
softxent::matrix place_rows(std::vector<float>& storage, const row_list& rows, std::size_t cols, const layout& l,
                            std::vector<float> row_input::*member) {
  const softxent::matrix m = place(storage, rows.size(), cols, l);
  for (std::size_t r = 0; r < rows.size(); ++r)
    std::copy((rows[r]->*member).begin(), (rows[r]->*member).end(), m.data + r * m.stride);
  return m;
}
softxent::const_matrix as_const(const softxent::matrix& m) { return {m.data, m.rows, m.cols, m.stride}; }

// Copies each row of m to out, at `width` floats a row, starting `at` floats into each.
void copy_rows(const softxent::matrix& m, float* out, std::size_t width, std::size_t at) {
  for (std::size_t r = 0; r < m.rows; ++r) std::copy(m.data + r * m.stride, m.data + r * m.stride + m.cols, out + r * width + at);
}

// An operation on a batch of rows: writes its row-wise outputs, `width` floats a row, into out.
struct operation {
  std::string name;
  std::size_t width;
  std::function<void(const row_list&, std::size_t cols, const layout&, const softxent::exec_options&, workspace&,
                     float* out)>
      run;
};

operation logsumexp() {
  return {"logsumexp", 1,
          [](const row_list& rows, std::size_t cols, const layout& l, const softxent::exec_options& exec, workspace& w,
             float* out) {
            const softxent::matrix x = place_rows(w.first, rows, cols, l, &row_input::x);
            REQUIRE(softxent::logsumexp(as_const(x), out, exec) == softxent::status::ok);
          }};
}

operation softmax(bool log_space, std::size_t cols) {
  return {log_space ? "log_softmax" : "softmax", cols,
          [log_space](const row_list& rows, std::size_t n, const layout& l, const softxent::exec_options& exec,
                      workspace& w, float* out) {
            const softxent::matrix x = place_rows(w.first, rows, n, l, &row_input::x);
            const softxent::matrix y = place(w.output, rows.size(), n, l);
            const softxent::status status = log_space ? softxent::log_softmax(as_const(x), y, exec)
                                                      : softxent::softmax(as_const(x), y, exec);
            REQUIRE(status == softxent::status::ok);
            copy_rows(y, out, n, 0);
          }};
}

operation backward(bool log_space, std::size_t cols) {
  return {log_space ? "log_softmax_backward" : "softmax_backward", cols,
          [log_space](const row_list& rows, std::size_t n, const layout& l, const softxent::exec_options& exec,
                      workspace& w, float* out) {
            const softxent::matrix y = place_rows(w.first, rows, n, l, log_space ? &row_input::log_y : &row_input::y);
            const softxent::matrix dy = place_rows(w.second, rows, n, l, &row_input::dy);
            const softxent::matrix dx = place(w.output, rows.size(), n, l);
            const softxent::status status = log_space ? softxent::log_softmax_backward(as_const(y), as_const(dy), dx, exec)
                                                      : softxent::softmax_backward(as_const(y), as_const(dy), dx, exec);
            REQUIRE(status == softxent::status::ok);
            copy_rows(dx, out, n, 0);
          }};
}

// Where a cross-entropy call's gradient goes: nowhere (loss only), its own matrix, or over the logits.
enum class gradient { none, separate, over_logits };

// NONE gives losses and gradient rows; SUM only gradient rows (its loss is the batch's).
operation cross_entropy(const std::string& variant, const softxent::cross_entropy_options& o, bool soft, gradient g,
                        std::size_t cols) {
  const bool losses = o.reduction == softxent::reduction::none;
  const std::size_t width = (losses ? 1 : 0) + (g == gradient::none ? 0 : cols);
  const std::string name = std::string(soft ? "cross_entropy_soft " : "cross_entropy ") + reduction_name(o.reduction) +
                           " " + variant +
                           (g == gradient::none ? "" : g == gradient::separate ? " +grad" : " +grad over logits");
  return {name, width,
          [=](const row_list& rows, std::size_t n, const layout& l, const softxent::exec_options& exec, workspace& w,
              float* out) {
            const softxent::matrix x = place_rows(w.first, rows, n, l, &row_input::x);
            const softxent::matrix probs = soft ? place_rows(w.second, rows, n, l, &row_input::probs) : softxent::matrix();
            // Ignored rows carry the call's ignore index.
            w.targets.resize(rows.size());
            for (std::size_t r = 0; r < rows.size(); ++r)
              w.targets[r] = rows[r]->target == ignore_index ? o.ignore_index : rows[r]->target;
            w.loss.resize(loss_count(o.reduction, rows.size()));
            const softxent::matrix grad = g == gradient::none       ? softxent::matrix()
                                          : g == gradient::separate ? place(w.output, rows.size(), n, l)
                                                                    : x;
            const softxent::status s =
                soft ? softxent::cross_entropy_soft(as_const(x), as_const(probs), w.loss.data(), grad, o, exec)
                     : softxent::cross_entropy(as_const(x), w.targets.data(), w.loss.data(), grad, o, exec);
            REQUIRE(s == softxent::status::ok);
            for (std::size_t r = 0; r < rows.size() && losses; ++r) out[r * width] = w.loss[r];
            if (g != gradient::none) copy_rows(grad, out, width, losses ? 1 : 0);
          }};
}

std::vector<operation> operations(std::size_t cols, const std::vector<float>& weights) {
  std::vector<operation> ops = {logsumexp(), softmax(false, cols), softmax(true, cols), backward(false, cols),
                                backward(true, cols)};
  softxent::cross_entropy_options plain;
  plain.reduction = softxent::reduction::none;
  plain.ignore_index = ignore_index;
  softxent::cross_entropy_options smoothing = plain, weighted = plain, class_ignored = plain, everything = plain;
  smoothing.label_smoothing = 0.1f;
  weighted.class_weights = weights.data();
  class_ignored.ignore_index = 0;  // a valid class: rows with target 0 are ignored too
  everything.label_smoothing = 0.2f;
  everything.class_weights = weights.data();
  everything.z_loss = 1e-3f;
  const std::pair<const char*, softxent::cross_entropy_options> hard[] = {
      {"plain", plain}, {"smoothing", smoothing}, {"weights", weighted}, {"ignore_index=0", class_ignored},
      {"smoothing+weights+z_loss", everything}};
  const std::pair<const char*, softxent::cross_entropy_options> soft[] = {
      {"plain", plain}, {"smoothing", smoothing}, {"weights", weighted}, {"smoothing+weights+z_loss", everything}};
  for (gradient g : {gradient::none, gradient::separate}) {
    for (const auto& [variant, o] : hard) ops.push_back(cross_entropy(variant, o, false, g, cols));
    for (const auto& [variant, o] : soft) ops.push_back(cross_entropy(variant, o, true, g, cols));
  }
  softxent::cross_entropy_options sum = everything;  // SUM's gradient rows are the rows' own too (scale 1)
  sum.reduction = softxent::reduction::sum;
  for (bool probabilities : {false, true}) {
    ops.push_back(cross_entropy("smoothing+weights+z_loss", everything, probabilities, gradient::over_logits, cols));
    ops.push_back(cross_entropy("smoothing+weights+z_loss", sum, probabilities, gradient::separate, cols));
  }
  return ops;
}

// The batches of one row length: their sizes, and how many of each (see batches()). Where rows are
// short, sizes around the tiles (4, 8, 16 rows) and the driver's blocks of 64 rows, five batches of
// each, and one mixed batch over two of the driver's units of work (16384 elements of whole rows);
// where they are long (and costly), around the split of fewer than 4 long rows over threads, three
// batches of each.
struct batch_plan {
  std::vector<std::size_t> sizes;
  std::size_t arrangements;
  int copies;                  // pool rows of each ordinary kind
  std::size_t two_units = 0;   // rows of the mixed batch over two units, or 0
};
batch_plan plan_for(std::size_t cols) {
  const std::size_t two_units = 16384 / cols + 37;
  if (cols <= 33) return {{2, 3, 5, 9, 16, 17, 31, 64, 67, 130}, 5, 2, two_units};
  if (cols <= 128) return {{2, 3, 5, 9, 17, 33, 67}, 5, 2, two_units};
  if (cols <= 4096) return {{3, 9}, 3, 1};
  return {{2, 5}, 3, 1};
}

// The first `arrangements` of these batches of one size: a special row first, then last, among
// ordinary rows; a random mix with a special row in about every third place; a special row in the
// middle; ordinary rows only. Rows are indices into the pool: ordinary ones first, then one of each
// special kind (a different kind in each batch that has one place for it).
std::vector<std::vector<std::size_t>> batches(std::size_t size, std::size_t arrangements, std::size_t ordinary,
                                              std::size_t special, random_source& random) {
  const auto ordinary_rows = [&] {
    std::vector<std::size_t> rows(size);
    for (std::size_t& r : rows) r = random.index(ordinary);
    return rows;
  };
  const auto one_special_at = [&](std::size_t position, std::size_t kind) {
    std::vector<std::size_t> rows = ordinary_rows();
    rows[position] = ordinary + (kind + size) % special;
    return rows;
  };
  std::vector<std::size_t> mix = ordinary_rows();
  for (std::size_t& r : mix)
    if (random.chance(1.0 / 3)) r = ordinary + random.index(special);
  std::vector<std::vector<std::size_t>> result = {one_special_at(0, 0), one_special_at(size - 1, 1), mix,
                                                  one_special_at(size / 2, 2), ordinary_rows()};
  result.resize(arrangements);
  return result;
}

// Every operation on rows of `cols` classes, on every instruction set: each pool row alone (dense, one
// thread), then every batch (strided and misaligned, two threads). Adds the rows compared to
// compared[isa].
void check_length(std::size_t cols, std::uint64_t seed, const std::vector<std::string>& isas,
                  std::vector<std::size_t>& compared) {
  random_source random(seed);
  const batch_plan plan = plan_for(cols);
  std::vector<row_input> pool;
  for (row_kind kind : ordinary_kinds)
    for (int copy = 0; copy < plan.copies; ++copy) pool.push_back(make_row(kind, cols, random));
  const std::size_t ordinary = pool.size();
  for (row_kind kind : special_kinds) pool.push_back(make_row(kind, cols, random));
  const std::size_t special = pool.size() - ordinary;
  std::vector<float> weights(cols);
  for (float& w : weights) w = random.uniform(0.5f, 1.5f);
  if (cols > 2) weights[1] = 0.0f;
  std::vector<std::vector<std::size_t>> batch_rows;
  for (std::size_t size : plan.sizes)
    for (auto& rows : batches(size, plan.arrangements, ordinary, special, random)) batch_rows.push_back(std::move(rows));
  if (plan.two_units != 0) batch_rows.push_back(batches(plan.two_units, 3, ordinary, special, random)[2]);

  workspace w;
  for (std::size_t k = 0; k < isas.size(); ++k) {
    const softxent::exec_options alone_exec = exec_for(isas[k], 1), batch_exec = exec_for(isas[k], 2);
    for (const operation& op : operations(cols, weights)) {
      std::vector<float> alone(pool.size() * op.width);
      for (std::size_t r = 0; r < pool.size(); ++r)
        op.run({&pool[r]}, cols, sweep_layouts[0], alone_exec, w, &alone[r * op.width]);
      std::size_t mismatches = 0;
      std::string first_mismatch;
      for (std::size_t b = 0; b < batch_rows.size(); ++b) {
        const std::vector<std::size_t>& indices = batch_rows[b];
        row_list rows;
        for (std::size_t r : indices) rows.push_back(&pool[r]);
        std::vector<float> out(rows.size() * op.width);
        op.run(rows, cols, sweep_layouts[1 + b % 2], batch_exec, w, out.data());
        for (std::size_t i = 0; i < rows.size(); ++i) {
          ++compared[k];
          if (std::memcmp(&out[i * op.width], &alone[indices[i] * op.width], op.width * sizeof(float)) == 0) continue;
          if (mismatches++ == 0)
            first_mismatch = "row " + std::to_string(i) + " (pool row " + std::to_string(indices[i]) +
                             ") of a batch of " + std::to_string(rows.size());
        }
      }
      CHECK_MESSAGE(mismatches == 0, isas[k] << " " << op.name << " cols=" << cols << ": " << mismatches
                                             << " rows differ from the row alone; first: " << first_mismatch);
    }
  }
}

}  // namespace

TEST_CASE("every row-wise output is bitwise the same alone and in any batch beside any rows - on every instruction set") {
  const std::vector<std::string> isas = available_isas();
  std::vector<std::size_t> compared(isas.size());
  for (std::size_t cols : sizes{1, 2, 7, 16, 31, 32, 33, 100, 4096, 4097, 2 * 4096 + 1000})
    check_length(cols, 900 + cols, isas, compared);
  std::ostringstream counts;
  for (std::size_t k = 0; k < isas.size(); ++k) counts << " " << isas[k] << ": " << compared[k];
  MESSAGE("rows compared with the row alone, per instruction set:" << counts.str());
}
