// sample: argument checks, then each row in a few passes over its logits, never a sort of the row.
//
//   scan   every piece loaded into an L1 scratch (z' = z / temperature): the max, NaN/+inf, the best
//          classes in a candidate set (top_k of them, or a few when only top_p / min_p filter), and
//          the exponential sums when a total is needed (top_p's target, plain sampling, log-probs).
//          Greedy decoding, top_k, and top_p / min_p whose kept classes all lie among the candidates
//          (a peaked distribution) end here: the draw runs over the candidates.
//   search (top_p / min_p reaching past the candidates) passes over a value bracket [lo, hi) that
//          holds top_p's threshold: each pass sums the masses above a few thresholds inside the bracket
//          and collects the bracket's best classes; the threshold is found among those, or the bracket
//          narrows to the stretch between two thresholds. Classes outside the bracket cost a compare.
//   draw   the kept mass of each segment is known by then (sums above a threshold, plus collected
//          classes); the segment where u times the kept total falls is swept in index order.
//
// Segments (select driver) and pieces are fixed by cols, sums are merged in segment order and
// candidate sets keep the exact best keys whatever their order of arrival: a row's token does not
// depend on the thread count or on its neighbours.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "driver/long_rows.hpp"
#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/logit_transform.hpp"
#include "ops/selection.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "select_table.hpp"
#include "softxent/softxent.hpp"

namespace softxent {
namespace detail {
namespace {

constexpr float nan_value = std::numeric_limits<float>::quiet_NaN();
constexpr float infinity = std::numeric_limits<float>::infinity();
// The scan's candidates when no top_k bounds the kept classes: enough for a peaked distribution's
// top_p, few enough that keeping them costs little. A search pass collects more of its bracket.
constexpr std::size_t scan_candidates = 64;
constexpr std::size_t bracket_candidates = 256;
// exp(z' - max) is 0 in float below max - 104 on every ISA: such classes carry no mass.
constexpr float massless_below = 104.0f;

// The options, checked and folded into what the passes need.
struct sampling_plan {
  bool greedy;
  float factor;           // 1 / temperature (1 when greedy)
  std::size_t top_k;      // 0: off (also when >= cols)
  bool top_p;
  double p;
  bool min_p;
  double log_min_p;
  std::size_t candidates; // the scan's candidate set (0: none)
  bool sums;              // the scan sums exponentials
};

float float_at_least(double v) noexcept {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, infinity);
  return f;
}
float next_above(float v) noexcept { return std::nextafter(v, infinity); }

// The classes the draw keeps: z' >= above (unmasked), the extra classes (ascending index), and the
// first tie_limit classes (in row order) whose z' is tie_value.
struct kept_classes {
  float above = infinity;
  const std::uint32_t* extra = nullptr;
  std::size_t extra_count = 0;
  float tie_value = nan_value;
  double tie_limit = 0.0;
};

struct sample_job {
  const kernel_table& table;
  const const_any_matrix& logits;
  const softmax_options& transform;
  const sampling_options& options;
  sampling_plan plan;
  const std::uint64_t* seeds;
  std::int64_t* tokens;
  float* log_probs;
  row_segments segments;

  enum class stage { scan, search, done };
  struct state {
    std::size_t row;
    row_load load;
    double u;
    stage next;
    bool collecting;
    float max;
    double sum;
    double target;  // top_p: p times the total
    float min_p_floor;
    bracket_pass pass;
    candidate_set candidates;
    spin_lock lock;
    row_scan scan;
    bracket_sums segment_sums[max_segments];
    double base[max_segments];  // search: the mass of each segment's classes with z' >= pass.hi
  };

  std::size_t segment_of(std::size_t index) const noexcept { return index / segments.length; }

  void start(state& s, std::size_t r) const noexcept {
    s.row = r;
    s.load = row_load_of(logits, r, transform);
    s.u = sampling_uniform(seeds[r], options.offset);
    s.next = stage::scan;
    if (table.select == nullptr) {  // the reference: the whole row in double
      reference_sample_row(s.load, logits.cols, options, s.u, tokens + r, log_probs ? log_probs + r : nullptr);
      s.next = stage::done;
      return;
    }
    s.collecting = plan.candidates > 0;
    if (s.collecting) s.candidates.reset(plan.candidates);
  }
  bool more(const state& s) const noexcept { return s.next != stage::done; }

  void segment(state& s, std::size_t segment, bool shared) const noexcept {
    const std::size_t first = segments.first(segment), n = segments.size(segment, logits.cols);
    with_candidates(s.candidates, s.lock, s.collecting, shared, [&](candidate_sink* sink) {
      if (s.next == stage::scan) {
        s.scan.run(table, s.load, segment, first, n, plan.factor, sink, plan.sums);
        return;
      }
      bracket_sums sums{};
      for_pieces(table, s.load, first, n, plan.factor, [&](std::size_t p0, std::size_t m, const float* z) {
        table.select->bracket_chunk(z, m, p0, s.pass, sums, sink);
      });
      s.segment_sums[segment] = sums;
    });
  }

  void finish(state& s) const noexcept {
    if (s.next == stage::scan) {
      finish_scan(s);
    } else {
      finish_search(s);
    }
  }

  // The token and its log-probability z' - lse(z') (the scan's sums are there whenever log_probs is).
  void emit(state& s, std::int64_t token, float value) const noexcept {
    s.next = stage::done;
    tokens[s.row] = token;
    if (log_probs == nullptr) return;
    log_probs[s.row] = token < 0 ? nan_value
                                 : static_cast<float>((static_cast<double>(value) - s.max) - std::log(s.sum));
  }

  // The best candidates' values and masses exp(z' - max), descending; returns how many.
  std::size_t candidate_masses(state& s, float* values, float* masses) const noexcept {
    const std::size_t found = s.candidates.best();
    for (std::size_t i = 0; i < found; ++i) values[i] = key_value(s.candidates.keys()[i]);
    table.select->exp_chunk(values, found, s.max, masses);
    return found;
  }

  void finish_scan(state& s) const noexcept {
    const chunk_stats row = s.scan.merged(segments.count);
    s.max = row.max;
    s.sum = row.sum_exp;  // relative to row.shift, which is the max when it is finite
    if (s.scan.any_poisoned(segments.count) || s.max == -infinity) {  // NaN or +inf, or every class masked
      emit(s, -1, nan_value);
      return;
    }
    if (plan.greedy) {
      s.candidates.best();
      emit(s, static_cast<std::int64_t>(key_index(s.candidates.keys()[0])), key_value(s.candidates.keys()[0]));
      return;
    }
    if (!s.collecting) {  // plain sampling: every class is kept
      double kept_mass[max_segments];
      for (std::size_t c = 0; c < segments.count; ++c) {
        kept_mass[c] = s.scan.segment[c].sum_exp * chunk_weight(s.scan.segment[c], row);
      }
      kept_classes all;
      all.above = -infinity;
      draw(s, kept_mass, all, nullptr);
      return;
    }

    alignas(64) float values[max_candidates], masses[max_candidates];
    const std::size_t found = candidate_masses(s, values, masses);
    // The filters over the candidates, best first: each keeps a prefix of them. The kept classes are
    // all among the candidates when the set holds every unmasked class, when top_k made it, or when a
    // filter cut it short.
    std::size_t kept = found;
    bool within = plan.top_k != 0 || found < s.candidates.keep();
    if (plan.top_p) {
      double total = s.sum;
      if (plan.top_k != 0) {
        total = 0.0;
        for (std::size_t i = 0; i < found; ++i) total += masses[i];
      }
      const double target = plan.p * total;
      double before = 0.0;
      std::size_t i = 0;
      while (i < found && before < target) before += masses[i++];
      if (before >= target) {
        kept = i;
        within = true;
      }
    }
    if (plan.min_p) {
      const double floor = static_cast<double>(s.max) + plan.log_min_p;
      std::size_t i = 0;
      while (i < found && static_cast<double>(values[i]) >= floor) ++i;
      if (i < found) within = true;
      kept = std::min(kept, i);
    }
    if (within) {
      draw_candidates(s, values, masses, kept);
      return;
    }

    // Beyond the candidates: a search over value brackets.
    s.min_p_floor = plan.min_p ? float_at_least(static_cast<double>(s.max) + plan.log_min_p) : -infinity;
    if (!plan.top_p) {  // min_p alone: one pass for each segment's mass above its floor
      s.collecting = false;
      s.pass = bracket_pass{s.max, s.min_p_floor, infinity, 1, {s.min_p_floor}};
      s.next = stage::search;
      return;
    }
    s.target = plan.p * s.sum;
    // The candidates above the last one's value are all the classes there: they make the base.
    const float last = values[found - 1];
    std::fill(s.base, s.base + segments.count, 0.0);
    for (std::size_t i = 0; i < found && values[i] > last; ++i) s.base[segment_of(key_index(s.candidates.keys()[i]))] += masses[i];
    const float lowest = std::min(std::max(s.min_p_floor, s.max - massless_below), last);
    start_pass(s, lowest, next_above(last), true);
  }

  // A search pass over [lo, hi) with thresholds inside it: a ladder below hi for the first pass (the
  // threshold is likely near the top), else equal steps; lo itself is always the last threshold.
  void start_pass(state& s, float lo, float hi, bool ladder) const noexcept {
    bracket_pass& p = s.pass;
    p.shift = s.max;
    p.lo = lo;
    p.hi = hi;
    p.threshold_count = 0;
    constexpr std::size_t inside = max_thresholds - 1;
    const auto add = [&](float t) {
      if (t > lo && t < hi && (p.threshold_count == 0 || t < p.thresholds[p.threshold_count - 1])) {
        p.thresholds[p.threshold_count++] = t;
      }
    };
    if (ladder) {
      for (float step : {0.5f, 1.0f, 2.0f, 4.0f, 8.0f}) add(hi - step);
    } else {
      const double span = static_cast<double>(hi) - static_cast<double>(lo);
      for (std::size_t i = 1; i <= inside; ++i) {
        add(static_cast<float>(static_cast<double>(hi) - span * static_cast<double>(i) / static_cast<double>(inside + 1)));
      }
      if (p.threshold_count == 0) {  // a few floats apart: split their keys instead
        const std::uint32_t low = ordered_bits(lo), span_keys = ordered_bits(hi) - low;
        for (std::uint32_t i = 1; i <= inside && i < span_keys; ++i) {
          add(value_of_ordered_bits(low + static_cast<std::uint32_t>(static_cast<std::uint64_t>(span_keys) * (inside + 1 - i) / (inside + 1))));
        }
      }
    }
    p.thresholds[p.threshold_count++] = lo;
    s.collecting = true;
    s.candidates.reset(bracket_candidates);
    s.next = stage::search;
  }

  void finish_search(state& s) const noexcept {
    const bracket_pass& p = s.pass;
    double kept_mass[max_segments];
    if (!plan.top_p) {  // min_p alone
      for (std::size_t c = 0; c < segments.count; ++c) kept_mass[c] = s.segment_sums[c].mass[0];
      kept_classes floor;
      floor.above = p.lo;
      draw(s, kept_mass, floor, nullptr);
      return;
    }
    double above_hi = 0.0;
    for (std::size_t c = 0; c < segments.count; ++c) above_hi += s.base[c];
    alignas(64) float values[2 * bracket_candidates], masses[2 * bracket_candidates];
    const std::size_t found = candidate_masses(s, values, masses);
    double before = above_hi;
    std::size_t taken = 0;
    while (taken < found && before < s.target) before += masses[taken++];

    const std::size_t lo_level = p.threshold_count - 1;
    const auto keep_all_from_lo = [&] {
      for (std::size_t c = 0; c < segments.count; ++c) kept_mass[c] = s.base[c] + s.segment_sums[c].mass[lo_level];
      kept_classes from_lo;
      from_lo.above = p.lo;
      draw(s, kept_mass, from_lo, nullptr);
    };
    if (before >= s.target) {  // the threshold is among the collected classes: they are kept up to it
      std::copy(s.base, s.base + segments.count, kept_mass);
      std::uint32_t extra[2 * bracket_candidates];
      for (std::size_t i = 0; i < taken; ++i) {
        extra[i] = static_cast<std::uint32_t>(key_index(s.candidates.keys()[i]));
        kept_mass[segment_of(extra[i])] += masses[i];
      }
      std::sort(extra, extra + taken);
      kept_classes kept;
      kept.above = p.hi;
      kept.extra = extra;
      kept.extra_count = taken;
      draw(s, kept_mass, kept, nullptr);
      return;
    }
    // The bracket's classes all fit the collection and all are kept (the threshold lies at or below
    // lo: min_p's floor, where the search started, or a rounding's width away).
    if (found < s.candidates.keep()) {
      keep_all_from_lo();
      return;
    }
    // A single value with more ties than the collection holds: the first r of them in row order.
    if (next_above(p.lo) == p.hi) {
      float tie_mass;
      table.select->exp_chunk(&p.lo, 1, s.max, &tie_mass);
      double ties = 0.0, tie_count[max_segments];
      for (std::size_t c = 0; c < segments.count; ++c) ties += tie_count[c] = s.segment_sums[c].count[lo_level];
      const double needed = std::ceil((s.target - above_hi) / static_cast<double>(tie_mass));
      const double limit = std::min(std::max(needed, 1.0), ties);
      double seen = 0.0;
      for (std::size_t c = 0; c < segments.count; ++c) {
        const double kept_ties = std::min(std::max(limit - seen, 0.0), tie_count[c]);
        kept_mass[c] = s.base[c] + kept_ties * static_cast<double>(tie_mass);
        seen += tie_count[c];
      }
      kept_classes kept;
      kept.above = p.hi;
      kept.tie_value = p.lo;
      kept.tie_limit = limit;
      draw(s, kept_mass, kept, tie_count);
      return;
    }
    // Narrow to the step between two thresholds where the mass above first reaches the target.
    double above[max_thresholds];
    std::size_t level = 0;
    for (std::size_t i = 0; i < p.threshold_count; ++i) {
      above[i] = above_hi;
      for (std::size_t c = 0; c < segments.count; ++c) above[i] += s.segment_sums[c].mass[i];
    }
    while (level < p.threshold_count && above[level] < s.target) ++level;
    if (level == p.threshold_count) {  // even lo falls short: min_p's floor, or rounding
      keep_all_from_lo();
      return;
    }
    float hi = level == 0 ? p.hi : p.thresholds[level - 1];
    const float lo = p.thresholds[level];
    if (level > 0) {
      for (std::size_t c = 0; c < segments.count; ++c) s.base[c] += s.segment_sums[c].mass[level - 1];
    }
    // Every class of the bracket above the last collected one was collected: those below hi join the
    // base, and the bracket ends at the last collected value.
    const float above_last = next_above(values[found - 1]);
    if (above_last < hi && above_last > lo) {
      for (std::size_t i = 0; i < found && values[i] >= above_last; ++i) {
        if (values[i] < hi) s.base[segment_of(key_index(s.candidates.keys()[i]))] += masses[i];
      }
      hi = above_last;
    }
    start_pass(s, lo, hi, false);
  }

  // The token among the candidates kept (their first `kept`, best first): the draw in index order.
  void draw_candidates(state& s, const float* values, const float* masses, std::size_t kept) const noexcept {
    std::uint64_t order[max_candidates];  // index, then the candidate's rank
    for (std::size_t i = 0; i < kept; ++i) order[i] = (static_cast<std::uint64_t>(key_index(s.candidates.keys()[i])) << 32) | i;
    std::sort(order, order + kept);
    double total = 0.0;
    for (std::size_t i = 0; i < kept; ++i) total += masses[order[i] & 0xffffffffu];
    const double target = s.u * total;
    double cumulative = 0.0;
    std::size_t chosen = 0;  // the best candidate, whose mass is exp(0) = 1, is always kept
    for (std::size_t i = 0; i < kept; ++i) {
      const float mass = masses[order[i] & 0xffffffffu];
      if (mass <= 0.0f) continue;
      chosen = i;
      cumulative += mass;
      if (cumulative > target) break;
    }
    const std::size_t rank = order[chosen] & 0xffffffffu;
    emit(s, static_cast<std::int64_t>(order[chosen] >> 32), values[rank]);
  }

  // The draw over the whole row: the segment where u times the kept total falls (kept_mass in segment
  // order), then that segment's classes in index order. tie_count: each segment's classes at
  // kept.tie_value (null without ties).
  void draw(state& s, const double* kept_mass, const kept_classes& kept, const double* tie_count) const noexcept {
    double total = 0.0;
    for (std::size_t c = 0; c < segments.count; ++c) total += kept_mass[c];
    const double target = s.u * total;
    std::size_t chosen = 0;
    double before = 0.0, before_chosen = 0.0, ties_before = 0.0, ties_before_chosen = 0.0;
    for (std::size_t c = 0; c < segments.count; ++c) {
      if (kept_mass[c] > 0.0) {
        chosen = c;
        before_chosen = before;
        ties_before_chosen = ties_before;
        if (before + kept_mass[c] > target) break;
      }
      before += kept_mass[c];
      if (tie_count) ties_before += tie_count[c];
    }
    double cumulative = before_chosen, ties_seen = ties_before_chosen;
    const std::uint32_t* extra = std::lower_bound(kept.extra, kept.extra + kept.extra_count,
                                                  static_cast<std::uint32_t>(segments.first(chosen)));
    const std::uint32_t* extra_end = kept.extra + kept.extra_count;
    std::int64_t token = -1;
    float token_value = nan_value;
    bool found = false;
    for_pieces(table, s.load, segments.first(chosen), segments.size(chosen, logits.cols), plan.factor,
               [&](std::size_t first, std::size_t n, const float* z) {
                 if (found) return;
                 alignas(64) float e[transform_piece];
                 table.select->exp_chunk(z, n, s.max, e);
                 for (std::size_t j = 0; j < n; ++j) {
                   bool is_kept = z[j] >= kept.above && z[j] > -infinity;
                   if (extra != extra_end && *extra == first + j) {
                     is_kept = true;
                     ++extra;
                   }
                   if (z[j] == kept.tie_value) is_kept = is_kept || ties_seen++ < kept.tie_limit;
                   if (!is_kept || e[j] <= 0.0f) continue;
                   token = static_cast<std::int64_t>(first + j);
                   token_value = z[j];
                   cumulative += static_cast<double>(e[j]);
                   if (cumulative > target) {
                     found = true;
                     return;
                   }
                 }
               });
    emit(s, token, token_value);
  }
};

// The options' checks (INVALID_OPTION) and what they mean for the passes.
status plan_sampling(const sampling_options& o, std::size_t cols, bool log_probs, sampling_plan& plan) noexcept {
  if (!(o.temperature >= 0.0f && std::isfinite(o.temperature))) return status::invalid_option;
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) return status::invalid_option;
  if (!(o.min_p >= 0.0f && o.min_p <= 1.0f)) return status::invalid_option;
  const std::size_t top_k = o.top_k >= cols ? 0 : o.top_k;
  if (top_k > max_top_k) return status::invalid_option;
  plan.greedy = o.temperature == 0.0f;
  plan.factor = plan.greedy ? 1.0f : 1.0f / o.temperature;
  plan.top_k = top_k;
  plan.top_p = o.top_p < 1.0f;
  plan.p = static_cast<double>(o.top_p);
  plan.min_p = o.min_p > 0.0f;
  plan.log_min_p = plan.min_p ? std::log(static_cast<double>(o.min_p)) : 0.0;
  plan.candidates = plan.greedy ? 1 : top_k != 0 ? top_k : (plan.top_p || plan.min_p) ? scan_candidates : 0;
  plan.sums = log_probs || (!plan.greedy && top_k == 0 && (plan.top_p || !plan.min_p));
  return status::ok;
}

}  // namespace
}  // namespace detail

status sample(const_any_matrix logits, const std::uint64_t* seeds, std::int64_t* tokens, float* log_probs,
              const sampling_options& options, const softmax_options& transform, const exec_options& exec) noexcept {
  using namespace detail;
  const call_setup call = setup(exec);
  if (const status s = check_selection_call(call, logits, transform); s != status::ok) return s;
  if (transform.sinks != nullptr) return status::invalid_option;  // a sink is never drawn
  const std::size_t rows = logits.rows, cols = logits.cols;
  sampling_plan plan{};
  if (const status s = plan_sampling(options, cols, log_probs != nullptr, plan); s != status::ok) return s;
  if (rows == 0) return status::ok;
  if (logits.data == nullptr || seeds == nullptr || tokens == nullptr) return status::null_pointer;
  const transform_buffers tb = buffers_of(rows, cols, transform);
  buffer buffers[] = {any_buffer(logits.data, rows, cols, logits.stride, logits.dtype, false),
                      vector_buffer(tokens, rows, sizeof(std::int64_t), true),
                      vector_buffer(log_probs, rows, sizeof(float), true),
                      vector_buffer(seeds, rows, sizeof(std::uint64_t), false),
                      tb.mask, tb.slopes, tb.sinks, tb.valid_cols};
  if (const status s = check_buffers(buffers, [](std::size_t, std::size_t) { return false; }); s != status::ok) return s;

  executor ex(exec, is_reference(call.table));
  const row_plan rows_plan = plan_for(call.table, rows, cols);
  sample_job job{*call.table, logits, transform, options, plan, seeds, tokens, log_probs, segments_of(cols)};
  for_selection_rows(ex, rows_plan, rows, job.segments.count, job);
  return status::ok;
}

}  // namespace softxent
