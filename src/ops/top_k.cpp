// top_k: argument checks, then each row's k best classes and statistics. Each piece of the row is
// loaded into an L1 scratch (or read in place) and swept twice: the scan (max, NaN/+inf, and the
// classes above the candidate set's floor, which rises as the set fills: most vectors cost a compare)
// and, when log-probabilities or lse are wanted, the exponential sum.
//
// Long rows read in place take two passes instead. A set whose floor only rises as it fills is
// offered about k ln(cols / k) classes, with a prune every k of them: on 8 rows of 32000 classes and
// k = 64 that doubled the time of the statistics alone. So the first pass takes the statistics and a
// summary of the row (row_scan: lane-wise maxima of disjoint sets of classes); the k-th largest of
// the summary is at most the row's k-th largest value, and about k classes lie above it; the second
// pass, over data still in L2, offers those to a set that starts with that floor, skipping the parts
// of the row the summary shows to hold none.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/logit_transform.hpp"
#include "ops/selection.hpp"
#include "parallel.hpp"
#include "select_table.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

constexpr float nan_value = std::numeric_limits<float>::quiet_NaN();

struct top_k_job {
  const kernel_table& table;
  const const_any_matrix& logits;
  const softmax_options& transform;
  std::size_t k;
  std::int64_t* indices;
  float* log_probs;
  float* lse;
  row_segments segments;
  const float* logits_end;

  bool wants_statistics() const noexcept { return log_probs != nullptr || lse != nullptr; }

  // A row is taken in two passes when it is read in place and long enough for its summary to hold a
  // few times k values.
  bool two_passes(const row_load& row) const noexcept {
    return reads_in_place(row, logits.cols) && logits.cols >= two_pass_cols && logits.cols >= 256 * k;
  }
  static constexpr std::size_t two_pass_cols = 8192;

  enum class stage { scan, offers, done };
  struct state {
    std::size_t row;
    row_load load;
    stage next;
    bool summarized;
    float floor;  // the floor the candidates started from
    candidate_set candidates;
    spin_lock lock;
    row_scan scan;
    row_summary summary;
  };

  void start(state& s, std::size_t r) const noexcept {
    s.row = r;
    s.load = row_load_of(logits, r, transform);
    s.next = stage::scan;
    if (table.select == nullptr) {  // the reference: the whole row in double
      reference_top_k_row(s.load, logits.cols, sink_of(r, transform), k, indices + r * k,
                          log_probs ? log_probs + r * k : nullptr, lse ? lse + r : nullptr);
      s.next = stage::done;
      return;
    }
    s.summarized = two_passes(s.load);
    s.floor = -float_infinity;
    s.candidates.reset(k);
    if (s.summarized) s.summary.reset(segments.count);
  }
  bool more(const state& s) const noexcept { return s.next != stage::done; }

  __attribute__((noinline)) void segment(state& s, std::size_t segment, bool shared) const noexcept {
    const std::size_t first = segments.first(segment), n = segments.size(segment, logits.cols);
    if (s.next == stage::offers) {
      with_candidates(s.candidates, s.lock, true, shared, [&](candidate_sink* sink) {
        row_scan::offer(table, s.load, logits_end, segment, first, n, s.summary, sink);
      }, s.floor);
      return;
    }
    // The scan: with the candidates in one pass, or the summary for a second.
    with_candidates(s.candidates, s.lock, !s.summarized, shared, [&](candidate_sink* sink) {
      s.scan.run(table, s.load, logits_end, segment, first, n, 1.0f, sink, wants_statistics(), nullptr, 1,
                 s.summarized ? &s.summary : nullptr);
    });
  }

  // A value with at least k of v[0, n) at or above it, close below the k-th largest (-inf when fewer
  // than k are above -inf; none is NaN or +inf): a bisection over the values' ordered bits up to
  // top (the largest v_i), each step a vectorized count, where an exact selection would mispredict
  // or wait on its swaps.
  float floor_below_kth(const float* v, std::size_t n, float top) const noexcept {
    if (k == 1) return top;
    const float lowest = -std::numeric_limits<float>::max();
    if (table.select->count_at_least(v, n, lowest) < k) return -float_infinity;
    std::uint32_t lo = ordered_bits(lowest), hi = ordered_bits(top) + 1;  // count(>= lo) >= k > count(>= hi)
    // To within 256 floats below the k-th largest: the classes in between are few, and offered.
    while (hi - lo > 256) {
      const std::uint32_t mid = lo + (hi - lo) / 2;
      if (table.select->count_at_least(v, n, value_of_ordered_bits(mid)) >= k) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return value_of_ordered_bits(lo);
  }

  // After a scan with a summary: the floor from the summary's k-th largest value or just below it
  // (every value at or above it is offered), then the offers.
  __attribute__((noinline)) void plan_offers(state& s) const noexcept {
    s.next = stage::offers;
    float top = -float_infinity;
    for (std::size_t i = 0; i < segments.count * row_summary::parts; ++i) {
      top = s.summary.part_max[i] > top ? s.summary.part_max[i] : top;
    }
    s.floor = std::nextafter(floor_below_kth(s.summary.lanes, segments.count * row_summary::lanes_per_segment, top),
                             -float_infinity);
    s.candidates.reset(k, s.floor);
  }

  __attribute__((noinline)) void finish(state& s) const noexcept {
    if (s.next == stage::scan && s.summarized && !s.scan.any_poisoned(segments.count)) {
      plan_offers(s);
      return;
    }
    s.next = stage::done;
    std::int64_t* row_indices = indices + s.row * k;
    float* row_log_probs = log_probs ? log_probs + s.row * k : nullptr;
    if (s.scan.any_poisoned(segments.count)) {
      std::fill(row_indices, row_indices + k, std::int64_t{-1});
      if (row_log_probs) std::fill(row_log_probs, row_log_probs + k, nan_value);
      if (lse) lse[s.row] = nan_value;
      return;
    }
    double row_lse = 0.0;
    if (wants_statistics()) {
      chunk_stats merged = s.scan.merged(segments.count, 1.0f);
      if (const float* sink = sink_of(s.row, transform)) merged = merge_stats(merged, chunk_stats{*sink, *sink, 1.0, 0.0, 0.0});
      row_lse = lse_of(merged.shift, merged.sum_exp);
      if (lse) lse[s.row] = static_cast<float>(row_lse);
    }
    const std::size_t found = s.candidates.best();
    const candidate_key* keys = s.candidates.keys();
    for (std::size_t i = 0; i < found; ++i) {
      row_indices[i] = static_cast<std::int64_t>(key_index(keys[i]));
      if (row_log_probs) row_log_probs[i] = static_cast<float>(static_cast<double>(key_value(keys[i])) - row_lse);
    }
    if (found == k) return;
    // Fewer than k classes are unmasked, and every one of them was found: the masked classes follow,
    // lowest index first.
    std::size_t taken[max_top_k];
    for (std::size_t i = 0; i < found; ++i) taken[i] = key_index(keys[i]);
    std::sort(taken, taken + found);
    std::size_t next_taken = 0, i = found;
    for (std::size_t j = 0; i < k; ++j) {
      if (next_taken < found && taken[next_taken] == j) {
        ++next_taken;
        continue;
      }
      row_indices[i] = static_cast<std::int64_t>(j);
      if (row_log_probs) row_log_probs[i] = -float_infinity;
      ++i;
    }
  }
};

}  // namespace
}  // namespace detail

status top_k(const_any_matrix logits, std::size_t k, std::int64_t* indices, float* log_probs, float* lse,
             const softmax_options& transform, const exec_options& exec) noexcept {
  using namespace detail;
  const call_setup call = setup(exec);
  if (const status s = check_selection_call(call, logits, transform); s != status::ok) return s;
  const std::size_t rows = logits.rows, cols = logits.cols;
  if (k == 0 || k > cols || k > max_top_k) return status::invalid_option;
  if (rows == 0) return status::ok;
  if (logits.data == nullptr || indices == nullptr) return status::null_pointer;
  const transform_buffers tb = buffers_of(rows, cols, transform);
  buffer buffers[] = {any_buffer(logits.data, rows, cols, logits.stride, logits.dtype, false),
                      matrix_buffer(indices, rows, k, k, true),
                      matrix_buffer(log_probs, rows, k, k, true),
                      vector_buffer(lse, rows, sizeof(float), true),
                      tb.mask, tb.slopes, tb.sinks, tb.valid_cols};
  buffers[1].element_size = sizeof(std::int64_t);
  if (const status s = check_buffers(buffers, [](std::size_t, std::size_t) { return false; }); s != status::ok) return s;

  executor ex(exec, is_reference(call.table));
  const row_plan plan = plan_for(call.table, rows, cols);
  top_k_job job{*call.table, logits, transform, k, indices, log_probs, lse, segments_of(cols), logits_end_of(logits)};
  for_selection_rows(ex, plan, rows, job.segments.count, job);
  return status::ok;
}

}  // namespace softxent
