// sample: argument checks, then each row in a few passes over its logits, never a sort of the row.
// Order, thresholds and ties are those of z (dividing by a positive temperature keeps them); the
// temperature enters the masses only, exp((z - max) / temperature).
//
//   scan   each piece of the row (read in place, or through load_chunk's L1 scratch): the max,
//          NaN/+inf, the best classes in a candidate set (top_k of them, or a few when only top_p /
//          min_p filter), the exponential sums when a total is needed (top_p's target, plain
//          sampling, log-probs), and for top_p a sample of every step-th class. Greedy decoding,
//          top_k, and top_p / min_p whose kept classes all lie among the candidates (a peaked
//          distribution) end here: the draw runs over the candidates.
//   search (top_p / min_p reaching past the candidates) passes over a value bracket [lo, hi) that
//          holds top_p's threshold, placed where the sample says it lies: each pass sums the masses
//          above a few thresholds inside the bracket and collects the best classes of a window
//          around the likely threshold; the threshold is found among those, or the bracket narrows
//          to the stretch between two thresholds. Classes outside the bracket cost a compare.
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
constexpr std::size_t window_candidates = max_top_k;
// The scan keeps a sample of at most this many classes (every step-th) when top_p may need a search:
// the first search pass puts its thresholds where the sample says the threshold likely lies.
constexpr std::size_t sample_capacity = 2048;
constexpr std::size_t estimate_bins = 1024;
// The draw sums the kept masses of the segment it sweeps in blocks of this many classes, a part of
// draw_part classes at a time.
constexpr std::size_t draw_block = 64;
constexpr std::size_t draw_part = 1024;
// exp((z - max) / temperature) is 0 in float when (z - max) / temperature < -104, on every ISA: such
// classes carry no mass.
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
// A search bracket [lo, hi) ends at hi = next_above(its top value): +inf when that value is FLT_MAX.
// Thresholds and the sample's bins are placed below the bracket's top, then: hi, or FLT_MAX.
double bracket_top(float hi) noexcept {
  return hi == infinity ? static_cast<double>(std::numeric_limits<float>::max()) : static_cast<double>(hi);
}

// The classes the draw keeps: z' >= above (unmasked), the extra classes (ascending index), and the
// first tie_limit classes (in row order) whose z' is tie_value.
struct kept_classes {
  float above = infinity;
  const std::uint64_t* extra = nullptr;
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
  const float* logits_end;

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
    float floor;  // search: the lowest z that can matter (min_p's floor, or where masses round to 0)
    float known;  // search: the highest z known to have the target's mass at and above it (or floor)
    bracket_pass pass;
    candidate_set candidates;
    spin_lock lock;
    row_scan scan;
    bracket_sums segment_sums[max_segments];
    double base[max_segments];  // search: the mass of each segment's classes with z' >= pass.hi
    std::size_t sample_step;    // 0: no sample
    float sample[sample_capacity];
  };

  std::size_t segment_of(std::size_t index) const noexcept { return segments.of(index); }

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
    s.sample_step = plan.top_p && plan.top_k == 0 ? (logits.cols + sample_capacity - 1) / sample_capacity : 0;
  }
  bool more(const state& s) const noexcept { return s.next != stage::done; }

  __attribute__((noinline)) void segment(state& s, std::size_t segment, bool shared) const noexcept {
    const std::size_t first = segments.first(segment), n = segments.size(segment, logits.cols);
    with_candidates(s.candidates, s.lock, s.collecting, shared, [&](candidate_sink* sink) {
      if (s.next == stage::scan) {
        s.scan.run(table, s.load, logits_end, segment, first, n, plan.factor, sink, plan.sums,
                   s.sample_step != 0 ? s.sample : nullptr, s.sample_step);
        return;
      }
      bracket_sums sums{};
      for_pieces(table, s.load, first, n, logits_end, [&](std::size_t p0, std::size_t m, const float* x, const float* end) {
        table.select->bracket_chunk(x, m, p0, plan.factor, s.pass, sums, sink, end);
      });
      s.segment_sums[segment] = sums;
    });
  }

  __attribute__((noinline)) void finish(state& s) const noexcept {
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
    const double scaled = (static_cast<double>(value) - static_cast<double>(s.max)) * static_cast<double>(plan.factor);
    log_probs[s.row] = token < 0 ? nan_value : static_cast<float>(scaled - std::log(s.sum));
  }

  // min_p keeps p >= min_p * max p: (z - max) / temperature >= log(min_p).
  double min_p_floor_of(const state& s) const noexcept {
    return static_cast<double>(s.max) + plan.log_min_p / static_cast<double>(plan.factor);
  }

  // The best candidates' values and masses exp(z' - max), descending; returns how many.
  std::size_t candidate_masses(state& s, float* values, float* masses) const noexcept {
    const std::size_t found = s.candidates.best();
    for (std::size_t i = 0; i < found; ++i) values[i] = key_value(s.candidates.keys()[i]);
    table.select->exp_chunk(values, found, plan.factor, s.max, -infinity, masses);
    return found;
  }

  __attribute__((noinline)) void finish_scan(state& s) const noexcept {
    const chunk_stats row = s.scan.merged(segments.count, plan.factor);
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
        kept_mass[c] = s.scan.segment[c].sum_exp * scaled_weight(s.scan.segment[c], row.shift, plan.factor);
      }
      kept_classes all;
      all.above = -infinity;
      draw(s, kept_mass, all, nullptr);
      return;
    }

    alignas(64) float values[max_top_k], masses[max_top_k];
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
      const double floor = min_p_floor_of(s);
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
    s.min_p_floor = plan.min_p ? float_at_least(min_p_floor_of(s)) : -infinity;
    if (!plan.top_p) {  // min_p alone: one pass for each segment's mass above its floor
      s.collecting = false;  // and an empty window
      s.pass = bracket_pass{s.max, s.min_p_floor, infinity, 1, {s.min_p_floor}, s.min_p_floor, s.min_p_floor};
      s.next = stage::search;
      return;
    }
    s.target = plan.p * s.sum;
    // The candidates above the last one's value are all the classes there: they make the base.
    const float last = values[found - 1];
    std::fill(s.base, s.base + segments.count, 0.0);
    double above_hi = 0.0;
    for (std::size_t i = 0; i < found && values[i] > last; ++i) {
      s.base[segment_of(key_index(s.candidates.keys()[i]))] += masses[i];
      above_hi += masses[i];
    }
    s.floor = std::min(std::max(s.min_p_floor, s.max - massless_below / plan.factor), last);
    s.known = s.floor;
    const float hi = next_above(last);
    float lo = s.floor, inside[max_thresholds];
    std::size_t count = 0;
    float window_lo = lo, window_hi = hi;
    if (!estimate_thresholds(s, hi, above_hi, inside, count, lo, window_lo, window_hi)) {
      const float top = static_cast<float>(bracket_top(hi));
      for (float step : {0.5f, 1.0f, 2.0f, 4.0f, 8.0f}) add_threshold(inside, count, top - step / plan.factor, lo, hi);
    }
    start_pass(s, lo, hi, inside, count, window_lo, window_hi);
  }

  // Adds t to the descending thresholds inside (lo, hi), unless it is out of order or outside.
  static void add_threshold(float* inside, std::size_t& count, float t, float lo, float hi) noexcept {
    if (t > lo && t < hi && (count == 0 || t < inside[count - 1]) && count + 1 < max_thresholds) inside[count++] = t;
  }

  // The first search pass from the scan's sample (every sample_step-th class): in bins of z' below
  // hi, the estimated mass above each bin's lower edge is above_hi plus sample_step times the sampled
  // masses above it. With L = sum - target, the mass top_p leaves out, thresholds go where the
  // estimate leaves out L times 4, 2, 1.25, 0.8 and 0.5 (a few heavy classes make the sample's
  // estimate coarse), the bracket's bottom lo where it leaves out L / 4 (at the floor when the sample
  // does not reach so far), and the window, which the pass collects, from 1.25 L to 0.8 L. lo: in,
  // the bracket's lowest possible bottom; out, its bottom. False when no sampled class lies in
  // [lo, hi) (the sample is only taken when top_p may need a search).
  bool estimate_thresholds(state& s, float hi, double above_hi, float* inside, std::size_t& count, float& lo,
                           float& window_lo, float& window_hi) const noexcept {
    if (s.sample_step == 0) return false;
    const std::size_t sampled = (logits.cols + s.sample_step - 1) / s.sample_step;
    const float bottom = lo;
    const auto in_range = [&](float v) { return v >= bottom && v < hi; };
    alignas(64) float masses[sample_capacity];
    table.select->exp_chunk(s.sample, sampled, plan.factor, s.max, -infinity, masses);
    // The loops below do not branch on the sampled values, which lie in random order.
    float lowest = hi;
    for (std::size_t i = 0; i < sampled; ++i) {
      const float v = s.sample[i];
      lowest = in_range(v) && v < lowest ? v : lowest;
    }
    if (lowest == hi) return false;
    const double top = bracket_top(hi), width = (top - static_cast<double>(lowest)) * (1.0 + 0x1p-20);
    if (!(width > 0.0)) return false;  // every sampled class in the bracket is at its top, FLT_MAX
    // Bins of the bracket, then one for the sampled classes below it and one for those above.
    constexpr std::size_t below_bin = estimate_bins, above_bin = estimate_bins + 1;
    float mass[estimate_bins + 2] = {};
    // (top - lowest) * per_bin is below estimate_bins by far more than its rounding: width is widened.
    const double per_bin = static_cast<double>(estimate_bins) / width;
    for (std::size_t i = 0; i < sampled; ++i) {
      const float v = s.sample[i];
      // Out of the bracket (a -inf or NaN among them), the bin is not used: 0 is converted instead.
      const double offset = in_range(v) ? (top - static_cast<double>(v)) * per_bin : 0.0;
      const auto at = static_cast<std::size_t>(std::max(offset, 0.0));
      mass[in_range(v) ? at : v < bottom ? below_bin : above_bin] += masses[i];
    }
    double sampled_in[4] = {};
    for (std::size_t b = 0; b < estimate_bins; b += 4)
      for (std::size_t i = 0; i < 4; ++i) sampled_in[i] += static_cast<double>(mass[b + i]);
    const double sampled_below_hi = (sampled_in[0] + sampled_in[1]) + (sampled_in[2] + sampled_in[3]) +
                                    static_cast<double>(mass[below_bin]);
    // Each level's threshold: the lower edge of the first bin where the estimate reaches it. Levels
    // beyond the sampled range get none.
    // The sample's masses are scaled to the mass below hi, which is known exactly (the sum less the
    // mass above hi), rather than by sample_step: the mass lies in a few of the highest classes, which
    // a sample of every step-th class mostly misses, and the estimate would then fall short of the
    // total and leave the bracket's bottom at its floor.
    const double below_hi = std::max(s.sum - above_hi, 0.0);
    const double step = sampled_below_hi > 0.0 ? below_hi / sampled_below_hi : static_cast<double>(s.sample_step);
    const double left_out = s.sum - s.target;
    constexpr std::size_t levels = 6;
    const double level[levels] = {4.0, 2.0, 1.25, 0.8, 0.5, 0.25};
    float edge[levels];
    std::size_t reached = 0;
    double estimate = above_hi;
    for (std::size_t b = 0; b < estimate_bins && reached < levels; ++b) {
      estimate += step * mass[b];
      while (reached < levels && estimate >= s.sum - level[reached] * left_out) {
        edge[reached++] = static_cast<float>(top - static_cast<double>(b + 1) * width / estimate_bins);
      }
    }
    if (reached == levels && edge[levels - 1] > bottom) lo = edge[levels - 1];
    for (std::size_t i = 0; i < reached && i + 1 < levels; ++i) add_threshold(inside, count, edge[i], lo, hi);
    // The window's ends are thresholds (or the bracket's ends): the pass gives the mass above them.
    window_hi = reached > 2 && edge[2] > lo && edge[2] < hi ? edge[2] : hi;  // 1.25 L and 0.8 L
    window_lo = reached > 3 && edge[3] > lo && edge[3] < window_hi ? edge[3] : lo;
    return true;
  }

  // A search pass over [lo, hi) with the thresholds inside it (descending), lo itself after them,
  // collecting the best classes of the window [window_lo, window_hi) (each end a threshold or the
  // bracket's).
  void start_pass(state& s, float lo, float hi, const float* inside, std::size_t count, float window_lo,
                  float window_hi) const noexcept {
    bracket_pass& p = s.pass;
    p.shift = s.max;
    p.lo = lo;
    p.hi = hi;
    std::copy(inside, inside + count, p.thresholds);
    p.thresholds[count] = lo;
    p.threshold_count = count + 1;
    p.window_lo = window_lo;
    p.window_hi = window_hi;
    s.collecting = true;
    s.candidates.reset(window_candidates);
    s.next = stage::search;
  }

  // A later pass over [lo, hi). A wide bracket (the masses shrink by e for every temperature below
  // the max: they lie mostly near hi) is searched from hi down, steps of 0.5 to 8 temperatures, in
  // [hi - 16 temperatures, hi); should the threshold lie lower still, the next pass looks there. A
  // narrow one gets equal steps (of its floats' keys when the values are a few floats apart). The
  // window: the whole bracket when its classes fit the collection, else its top steps.
  void split_pass(state& s, float lo, float hi, double classes) const noexcept {
    float inside[max_thresholds];
    std::size_t count = 0;
    constexpr std::size_t parts = max_thresholds;
    const double top = bracket_top(hi), span = top - static_cast<double>(lo), unit = 1.0 / plan.factor;
    if (span > 16.0 * unit) {
      // The sample again, now that the mass above hi is known exactly.
      double above_hi = 0.0;
      for (std::size_t c = 0; c < segments.count; ++c) above_hi += s.base[c];
      float window_lo = lo, window_hi = hi;
      if (estimate_thresholds(s, hi, above_hi, inside, count, lo, window_lo, window_hi)) {
        start_pass(s, lo, hi, inside, count, window_lo, window_hi);
        return;
      }
      for (double step : {0.5, 1.0, 2.0, 4.0, 8.0}) add_threshold(inside, count, static_cast<float>(top - step * unit), lo, hi);
      lo = std::max(lo, static_cast<float>(top - 16.0 * unit));
      classes = static_cast<double>(logits.cols);
    } else {
      for (std::size_t i = 1; i < parts; ++i) {
        add_threshold(inside, count, static_cast<float>(top - span * static_cast<double>(i) / parts), lo, hi);
      }
    }
    if (count == 0) {  // a few floats apart
      const std::uint32_t low = ordered_bits(lo), keys = ordered_bits(hi) - low;
      for (std::uint32_t i = 1; i < parts && i < keys; ++i) {
        add_threshold(inside, count, value_of_ordered_bits(low + static_cast<std::uint32_t>(static_cast<std::uint64_t>(keys) * (parts - i) / parts)), lo, hi);
      }
    }
    const float window_lo = classes <= static_cast<double>(window_candidates) || count < 2 ? lo : inside[1];
    start_pass(s, lo, hi, inside, count, window_lo, hi);
  }

  __attribute__((noinline)) void finish_search(state& s) const noexcept {
    const bracket_pass& p = s.pass;
    double kept_mass[max_segments];
    if (!plan.top_p) {  // min_p alone
      for (std::size_t c = 0; c < segments.count; ++c) kept_mass[c] = s.segment_sums[c].mass[0];
      kept_classes floor;
      floor.above = p.lo;
      draw(s, kept_mass, floor, nullptr);
      return;
    }
    // The mass above hi and above each threshold, merged in segment order.
    double above_hi = 0.0, above[max_thresholds];
    for (std::size_t c = 0; c < segments.count; ++c) above_hi += s.base[c];
    for (std::size_t i = 0; i < p.threshold_count; ++i) {
      above[i] = above_hi;
      for (std::size_t c = 0; c < segments.count; ++c) above[i] += s.segment_sums[c].mass[i];
    }
    const auto level_of = [&](float t) {  // the threshold t is, or threshold_count for hi
      std::size_t i = 0;
      while (i < p.threshold_count && p.thresholds[i] != t) ++i;
      return i;
    };
    const std::size_t window_level = p.window_hi == p.hi ? p.threshold_count : level_of(p.window_hi);
    const double window_top = window_level == p.threshold_count ? above_hi : above[window_level];
    const auto mass_above_window = [&](std::size_t c) {
      return s.base[c] + (window_level == p.threshold_count ? 0.0 : s.segment_sums[c].mass[window_level]);
    };

    // The window's best classes, walked down from its top: the threshold may be among them.
    alignas(64) float values[max_top_k], masses[max_top_k];
    const std::size_t found = candidate_masses(s, values, masses);
    double before = window_top;
    std::size_t taken = 0;
    while (taken < found && before < s.target) before += masses[taken++];
    if (window_top < s.target && before >= s.target) {  // kept: all above the window, and these
      std::uint64_t extra[max_top_k];
      for (std::size_t c = 0; c < segments.count; ++c) kept_mass[c] = mass_above_window(c);
      for (std::size_t i = 0; i < taken; ++i) {
        extra[i] = key_index(s.candidates.keys()[i]);
        kept_mass[segment_of(extra[i])] += masses[i];
      }
      {
        std::uint64_t scratch[max_top_k];
        sort_keys(extra, taken, scratch);
      }
      kept_classes kept;
      kept.above = p.window_hi;
      kept.extra = extra;
      kept.extra_count = taken;
      draw(s, kept_mass, kept, nullptr);
      return;
    }
    const std::size_t lo_level = p.threshold_count - 1;
    // A single value with more ties than the window holds: the first r of them in row order.
    if (next_above(p.lo) == p.hi) {
      float tie_mass;
      table.select->exp_chunk(&p.lo, 1, plan.factor, s.max, -infinity, &tie_mass);
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
    std::size_t level = 0;
    while (level < p.threshold_count && above[level] < s.target) ++level;
    if (level == p.threshold_count && p.lo > s.known) {  // below this bracket: search under it
      for (std::size_t c = 0; c < segments.count; ++c) s.base[c] += s.segment_sums[c].mass[lo_level];
      split_pass(s, s.known, p.lo, static_cast<double>(logits.cols));
      return;
    }
    if (level == p.threshold_count) {
      // Even the floor falls short (min_p's floor, or rounding): all from there are kept.
      for (std::size_t c = 0; c < segments.count; ++c) kept_mass[c] = s.base[c] + s.segment_sums[c].mass[lo_level];
      kept_classes from_lo;
      from_lo.above = p.lo;
      draw(s, kept_mass, from_lo, nullptr);
      return;
    }
    float hi = level == 0 ? p.hi : p.thresholds[level - 1];
    const float lo = s.known = p.thresholds[level];
    double classes = 0.0;  // in [lo, hi)
    for (std::size_t c = 0; c < segments.count; ++c) {
      classes += s.segment_sums[c].count[level] - (level > 0 ? s.segment_sums[c].count[level - 1] : 0.0);
      if (level > 0) s.base[c] += s.segment_sums[c].mass[level - 1];
    }
    // Every class from just above the last collected one (the window's bottom, when it all fit) up to
    // the window's top was collected. When that reaches hi, those below hi join the base and the
    // bracket ends where they do.
    const float collected_down_to = found == s.candidates.keep() ? next_above(values[found - 1]) : p.window_lo;
    if (p.window_hi >= hi && collected_down_to < hi && collected_down_to > lo) {
      for (std::size_t i = 0; i < found && values[i] >= collected_down_to; ++i) {
        if (values[i] < hi) s.base[segment_of(key_index(s.candidates.keys()[i]))] += masses[i], classes -= 1.0;
      }
      hi = collected_down_to;
    }
    split_pass(s, lo, hi, classes);
  }

  // The token among the candidates kept (their first `kept`, best first): the draw in index order.
  __attribute__((noinline)) void draw_candidates(state& s, const float* values, const float* masses, std::size_t kept) const noexcept {
    if (kept == 0) {  // not reached: the best candidate is always kept
      emit(s, -1, nan_value);
      return;
    }
    std::uint64_t order[max_top_k], scratch[max_top_k];  // index, then the candidate's rank
    for (std::size_t i = 0; i < kept; ++i) order[i] = (static_cast<std::uint64_t>(key_index(s.candidates.keys()[i])) << 32) | i;
    sort_keys(order, kept, scratch);
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
  __attribute__((noinline)) void draw(state& s, const double* kept_mass, const kept_classes& kept, const double* tie_count) const noexcept {
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
    const std::uint64_t* extra = std::lower_bound(kept.extra, kept.extra + kept.extra_count,
                                                  static_cast<std::uint64_t>(segments.first(chosen)));
    const std::uint64_t* extra_end = kept.extra + kept.extra_count;
    std::int64_t token = -1;
    float token_value = nan_value;
    bool found = false;
    for_pieces(table, s.load, segments.first(chosen), segments.size(chosen, logits.cols), nullptr,
               [&](std::size_t piece_first, std::size_t piece_n, const float* piece, const float*) {
                 for (std::size_t b0 = 0; b0 < piece_n && !found; b0 += draw_part) {
                   const std::size_t first = piece_first + b0, n = std::min(draw_part, piece_n - b0);
                   const float* x = piece + b0;
                   // The kept classes' masses, 0 for the others: those at or above kept.above, the
                   // extra ones, and the ties up to their limit.
                   alignas(64) float e[draw_part];
                   table.select->exp_chunk(x, n, plan.factor, s.max, kept.above, e);
                   for (; extra != extra_end && *extra < first + n; ++extra) {
                     const std::size_t j = *extra - first;
                     table.select->exp_chunk(x + j, 1, plan.factor, s.max, -infinity, e + j);
                   }
                   for (std::size_t j = 0; tie_count != nullptr && j < n; ++j) {
                     if (x[j] == kept.tie_value && ties_seen++ < kept.tie_limit) {
                       table.select->exp_chunk(x + j, 1, plan.factor, s.max, -infinity, e + j);
                     }
                   }
                   // Blocks of draw_block classes: their sums find the block where the target falls,
                   // then its classes one at a time (should rounding leave them short of their sum,
                   // the walk goes on from the block's sum).
                   double sums[draw_part / draw_block];
                   table.select->block_sums_chunk(e, n, draw_block, sums);
                   for (std::size_t b = 0; b * draw_block < n; ++b) {
                     const std::size_t begin = b * draw_block, stop = std::min(n, begin + draw_block);
                     if (sums[b] > 0.0) {  // the last class with mass so far: the token if rounding runs out
                       std::size_t j = stop;
                       while (e[--j] <= 0.0f) {
                       }
                       token = static_cast<std::int64_t>(first + j);
                       token_value = x[j];
                     }
                     if (cumulative + sums[b] > target) {
                       double walk = cumulative;
                       for (std::size_t j = begin; j < stop; ++j) {
                         walk += static_cast<double>(e[j]);
                         if (e[j] > 0.0f && walk > target) {
                           token = static_cast<std::int64_t>(first + j);
                           token_value = x[j];
                           found = true;
                           return;
                         }
                       }
                     }
                     cumulative += sums[b];
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
  plan.factor = plan.greedy ? 1.0f : std::min(1.0f / o.temperature, std::numeric_limits<float>::max());
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
  sample_job job{*call.table, logits, transform, options, plan, seeds, tokens, log_probs, segments_of(cols),
                 logits_end_of(logits)};
  for_selection_rows(ex, rows_plan, rows, job.segments.count, job);
  return status::ok;
}

}  // namespace softxent
