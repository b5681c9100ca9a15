// What top-k and sampling share: their argument checks, candidate sets, the segments a row is cut
// into, and the driver that runs a row's passes either row by row or, for a few long rows, segment by
// segment across threads. A row's results are the same either way: the segments and their order of
// merging depend on cols alone, and candidate sets keep the exact best keys whatever order they are
// offered in.
#ifndef SOFTXENT_SRC_OPS_SELECTION_HPP
#define SOFTXENT_SRC_OPS_SELECTION_HPP

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "driver/plan.hpp"
#include "driver/validate.hpp"
#include "kernel_table.hpp"
#include "kernels/row_math.hpp"
#include "ops/cross_entropy_common.hpp"
#include "ops/logit_transform.hpp"
#include "parallel.hpp"
#include "select_table.hpp"
#include "softxent/softxent.hpp"

namespace softxent::detail {

// The checks every selection call starts with, in the order of the other calls: exec, dtype, shape
// (class indices are 32-bit inside), then the transform.
inline status check_selection_call(const call_setup& call, const const_any_matrix& logits,
                                   const softmax_options& transform) noexcept {
  if (call.result != status::ok) return call.result;
  if (!valid_dtype(logits.dtype)) return status::unsupported_dtype;
  if (logits.rows > 0 && (logits.cols == 0 || logits.cols > 0xffffffffu)) return status::invalid_shape;
  return check_softmax_options(logits.rows, logits.cols, transform);
}

// A row's segments: chunks of the library's chunk length, grouped so that a row has at most
// max_segments of them (the per-segment records of a row live on the stack).
constexpr std::size_t max_segments = 64;
struct row_segments {
  std::size_t length;
  std::size_t count;
  double per_class;  // 1 / length
  std::size_t first(std::size_t segment) const noexcept { return segment * length; }
  std::size_t size(std::size_t segment, std::size_t cols) const noexcept {
    return segment + 1 < count ? length : cols - segment * length;
  }
  // The segment of a class: index / length, without a division's latency in the loops over
  // candidates (the product is off by at most one, for indices below 2^32).
  std::size_t of(std::size_t index) const noexcept {
    std::size_t segment = static_cast<std::size_t>(static_cast<double>(index) * per_class);
    if (segment * length > index) --segment;
    if ((segment + 1) * length <= index) ++segment;
    return segment;
  }
};
inline row_segments segments_of(std::size_t cols) noexcept {
  std::size_t length = chunk_length(cols);
  const std::size_t fewest = (cols + max_segments - 1) / max_segments;
  if (length < fewest) length = (fewest + 63) / 64 * 64;
  return {length, (cols + length - 1) / length, 1.0 / static_cast<double>(length)};
}

// Sorts 64-bit keys ascending: std::sort for a few, else a least-significant-digit radix sort whose
// cost does not depend on the order of the keys or on branch prediction: digits of 8 bits (11 for
// more than 2048 keys, where counting outweighs the buckets' clearing and prefix sums), over the
// bits where the keys differ only (found before any counting). scratch: room for n keys.
inline void sort_keys(std::uint64_t* keys, std::size_t n, std::uint64_t* scratch) noexcept {
  if (n <= 64) {
    std::sort(keys, keys + n);
    return;
  }
  std::uint64_t all_ones = ~std::uint64_t{0}, any_ones = 0;
  for (std::size_t i = 0; i < n; ++i) all_ones &= keys[i], any_ones |= keys[i];
  const std::uint64_t varying = all_ones ^ any_ones;
  if (varying == 0) return;
  const unsigned digit_bits = n <= 2048 ? 8 : 11;
  const std::uint64_t digit = (std::uint64_t{1} << digit_bits) - 1;
  std::uint64_t *from = keys, *to = scratch;
  for (unsigned shift = static_cast<unsigned>(__builtin_ctzll(varying)); shift < 64; shift += digit_bits) {
    if (((varying >> shift) & digit) == 0) continue;  // one digit for all: nothing to do
    // 8-bit digits are counted in four interleaved tallies: keys that share a digit, the common case
    // in the value's high bits, would otherwise wait on each other's increment. (Not the 11-bit ones:
    // their tallies would not fit a worker's stack.)
    std::uint32_t count[std::size_t{1} << 11], tally[3][std::size_t{1} << 8];
    std::fill(count, count + digit + 1, 0u);
    std::size_t i = 0;
    if (digit_bits == 8) {
      for (auto& t : tally) std::fill(t, t + digit + 1, 0u);
      for (; i + 4 <= n; i += 4) {
        ++count[(from[i] >> shift) & digit];
        ++tally[0][(from[i + 1] >> shift) & digit];
        ++tally[1][(from[i + 2] >> shift) & digit];
        ++tally[2][(from[i + 3] >> shift) & digit];
      }
      for (std::size_t b = 0; b <= digit; ++b) count[b] += tally[0][b] + tally[1][b] + tally[2][b];
    }
    for (; i < n; ++i) ++count[(from[i] >> shift) & digit];
    std::uint32_t start = 0;
    for (std::size_t b = 0; b <= digit; ++b) {
      const std::uint32_t here = count[b];
      count[b] = start;
      start += here;
    }
    for (std::size_t j = 0; j < n; ++j) to[count[(from[j] >> shift) & digit]++] = from[j];
    std::swap(from, to);
  }
  if (from != keys) std::copy(from, from + n, keys);
}

// Moves the keep largest of keys[0, n) to keys[0, keep), the smallest of them last, and returns it
// (0 < keep <= n). A quickselect whose partitions do not branch on the keys: a prune sees keys in
// random order, where std::nth_element's compares mispredict about one time in two (top_k with
// k = 64 over 64 distinct rows of 128256 classes in L2, AMD Zen 5: 35 -> 27 us a row). Levels
// beyond twice the depth of a balanced split, which only keys ordered against the median of three
// reach, go to std::nth_element.
template <class Key>
Key select_largest(Key* keys, std::size_t n, std::size_t keep) noexcept {
  const std::size_t target = keep - 1;
  std::size_t lo = 0, hi = n;  // keys[target] is in [lo, hi) once ordered; keys[0, lo) are larger
  for (std::size_t levels = 2 * (64 - static_cast<std::size_t>(__builtin_clzll(n))); hi - lo > 1; --levels) {
    if (levels == 0) {
      std::nth_element(keys + lo, keys + target, keys + hi, std::greater<Key>());
      break;
    }
    const std::size_t mid = lo + (hi - lo) / 2;
    const Key a = keys[lo], b = keys[mid], c = keys[hi - 1];
    const Key median = std::max(std::min(a, b), std::min(std::max(a, b), c));
    std::swap(keys[median == a ? lo : median == b ? mid : hi - 1], keys[hi - 1]);
    const Key pivot = median;
    std::size_t i = lo;  // keys[lo, i) > pivot >= keys[i, j)
    for (std::size_t j = lo; j + 1 < hi; ++j) {
      const Key key = keys[j];
      keys[j] = keys[i];
      keys[i] = key;
      i += key > pivot ? 1 : 0;
    }
    std::swap(keys[i], keys[hi - 1]);
    if (i == target) break;
    if (i > target) {
      hi = i;
    } else {
      lo = i + 1;
    }
  }
  return keys[target];
}

// Keeps the best keep keys of all it is offered, exactly (keys are unique and totally ordered), in
// room for 2 * keep: when the room fills, the best keep stay and the floor rises to the last of them,
// an O(keep) selection every keep offers at most.
constexpr std::size_t max_candidates = 2 * max_top_k;
class candidate_set {
 public:
  // floor: the set keeps classes above it only (a value known to leave at least keep classes above).
  void reset(std::size_t keep, float floor = -float_infinity) noexcept {
    sink_ = {keys_, 0, 2 * keep, keep, floor, &make_room};
    floor_key_ = 0;
  }
  // The kernels' view, for classes offered in ascending index (one scan of one segment).
  candidate_sink* sink() noexcept { return &sink_; }
  std::size_t size() const noexcept { return sink_.count; }
  std::size_t keep() const noexcept { return sink_.keep; }
  const candidate_key* keys() const noexcept { return keys_; }
  // Adds the keys of another set, in any order (another segment's scan).
  void merge(const candidate_set& other) noexcept {
    for (std::size_t i = 0; i < other.size(); ++i) {
      if (sink_.count >= sink_.capacity) prune();
      if (other.keys_[i] > floor_key_) keys_[sink_.count++] = other.keys_[i];
    }
  }
  // The best keys, at most keep of them, sorted descending; returns how many.
  std::size_t best() noexcept {
    if (sink_.count > sink_.keep) prune();
    candidate_key scratch[max_top_k];
    sort_keys(keys_, sink_.count, scratch);
    std::reverse(keys_, keys_ + sink_.count);
    return sink_.count;
  }

 private:
  static void make_room(candidate_sink& sink) noexcept {
    // The sink is the first member of a standard-layout class: its address is the set's.
    reinterpret_cast<candidate_set*>(&sink)->prune();
  }
  void prune() noexcept {
    const std::size_t keep = sink_.keep;
    floor_key_ = select_largest(keys_, sink_.count, keep);
    sink_.count = keep;
    sink_.floor = key_value(floor_key_);
  }

  candidate_sink sink_;
  candidate_key floor_key_;
  candidate_key keys_[max_candidates + candidate_slack];
};

// A lock for the merges of a row's segments into its one candidate set, when threads share the row.
class spin_lock {
 public:
  void lock() noexcept {
    while (flag_.test_and_set(std::memory_order_acquire)) {
    }
  }
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

// Runs work(sink) over one segment with the row's candidate set: offered straight into it when the
// segment has the row to itself, else into a local set merged under the row's lock (null sink when
// the row collects nothing).
// floor: the floor the row's set was reset with.
template <class Work>
void with_candidates(candidate_set& row_set, spin_lock& lock, bool collecting, bool shared, const Work& work,
                     float floor = -float_infinity) noexcept {
  if (!collecting || !shared) {
    work(collecting ? row_set.sink() : nullptr);
    return;
  }
  candidate_set local;
  local.reset(row_set.keep(), floor);
  work(local.sink());
  lock.lock();
  row_set.merge(local);
  lock.unlock();
}

// Whether a row's columns up to end are its own floats: f32 with no transform over them.
inline bool reads_in_place(const row_load& row, std::size_t end) noexcept {
  return row.x_type == dtype::f32 && row.scale == 1.0f && row.softcap == 0.0f && row.mask == nullptr &&
         row.valid_cols >= end;
}

// per_piece(first_col, n, x, end) over columns [first, first + n) of a row, a piece of at most
// transform_piece columns at a time: the row's own floats when it is f32 without a transform over
// those columns (end: logits_end, the end of the caller's logits, which the kernels may prefetch up
// to), else load_chunk's transformed copy in an L1 scratch (end: the copy's). The same values either
// way.
template <class PerPiece>
void for_pieces(const kernel_table& k, const row_load& row, std::size_t first, std::size_t n,
                const float* logits_end, const PerPiece& per_piece) noexcept {
  const bool direct = reads_in_place(row, first + n);
  alignas(64) float z[transform_piece];
  for (std::size_t p0 = first; p0 < first + n; p0 += transform_piece) {
    const std::size_t m = first + n - p0 < transform_piece ? first + n - p0 : transform_piece;
    if (direct) {
      per_piece(p0, m, static_cast<const float*>(row.x) + p0, logits_end);
      continue;
    }
    k.load_chunk(row, p0, m, z);
    per_piece(p0, m, static_cast<const float*>(z), static_cast<const float*>(z + m));
  }
}

// Statistics whose sums are of exp((x - shift) * factor) (the temperature's factor): merge_stats
// with the shifts' difference scaled, and the weight that carries a chunk's sum to the row's shift.
inline double scaled_weight(const chunk_stats& chunk, float row_shift, float factor) noexcept {
  if (chunk.sum_exp == 0.0) return 0.0;  // nothing but -inf: exp(0 - row shift) may overflow
  return std::exp((static_cast<double>(chunk.shift) - static_cast<double>(row_shift)) * static_cast<double>(factor));
}
inline chunk_stats merge_scaled(const chunk_stats& a, const chunk_stats& b, float factor) noexcept {
  if (factor == 1.0f) return merge_stats(a, b);
  chunk_stats merged{};
  merged.max = a.max >= b.max ? a.max : (b.max > a.max ? b.max : a.max + b.max);  // NaN if either is
  merged.shift = shift_of(merged.max);
  merged.sum_exp = a.sum_exp * scaled_weight(a, merged.shift, factor) + b.sum_exp * scaled_weight(b, merged.shift, factor);
  return merged;
}

// The scan of a row, segment by segment: each segment's max (and, when summing, its shift and
// sum_exp of exp((x - shift) * factor)) and whether it holds NaN or +inf, with the classes above the
// sink's floor offered to it; and, when asked, a sample of the row: sample[i] = x of class
// i * sample_step.
//
// A row's summary (when asked), per segment: the lane-wise maxima of the sub-blocks of each half of
// the segment (values that are the maxima of disjoint sets of classes, so that the k-th largest of
// them is at most the row's k-th largest value), and the max of each quarter. row_scan::offer() then
// sweeps a segment again, skipping the quarters with nothing above the floor.
struct row_summary {
  static constexpr std::size_t slots = 2, parts = 4, lanes_per_segment = slots * summary_lanes;
  float lanes[max_segments * lanes_per_segment];  // segment c's from lanes + c * lanes_per_segment
  float part_max[max_segments * parts];
  void reset(std::size_t segments) noexcept {
    std::fill(lanes, lanes + segments * lanes_per_segment, -float_infinity);
    std::fill(part_max, part_max + segments * parts, -float_infinity);
  }
  // The slot and the part of the sub-block at offset b of segment c of n classes (b < n).
  static std::size_t slot_of(std::size_t c, std::size_t b, std::size_t n) noexcept {
    return c * lanes_per_segment + b * slots / n * summary_lanes;
  }
  static std::size_t part_of(std::size_t c, std::size_t b, std::size_t n) noexcept { return c * parts + b * parts / n; }
};
struct row_scan {
  static constexpr std::size_t scan_block = 1024;
  chunk_stats segment[max_segments];
  bool poisoned[max_segments];

  void run(const kernel_table& k, const row_load& row, const float* logits_end, std::size_t segment_index,
           std::size_t first, std::size_t n, float factor, candidate_sink* sink, bool sums, float* sample = nullptr,
           std::size_t sample_step = 1, row_summary* summary = nullptr) noexcept {
    chunk_stats stats{-float_infinity, 0.0f, 0.0, 0.0, 0.0};
    bool nan_or_infinity = false;
    for_pieces(k, row, first, n, logits_end, [&](std::size_t p0, std::size_t m, const float* x, const float* end) {
      if (sample != nullptr) {  // (no division per class: a division by a variable is slow)
        std::size_t i = (p0 + sample_step - 1) / sample_step;
        for (std::size_t j = i * sample_step; j < p0 + m; j += sample_step) sample[i++] = x[j - p0];
      }
      // Sub-blocks short enough that the sum's sweep, on L1 data, prefetches the next one while
      // memory would otherwise idle (as reduce::prefetch_ahead explains); the sum is kept relative to
      // the running max, rescaled on the rare sub-block that raises it.
      for (std::size_t b = 0; b < m; b += scan_block) {
        const std::size_t count = m - b < scan_block ? m - b : scan_block;
        float* lanes = summary != nullptr ? summary->lanes + row_summary::slot_of(segment_index, p0 + b - first, n) : nullptr;
        // With the sum, NaN is found there: exp(x - max) is NaN for NaN alone (and +inf is the max).
        const float max = k.select->scan_chunk(x + b, count, p0 + b, sink, sums ? nullptr : &nan_or_infinity, end, lanes);
        if (summary != nullptr) {
          float& part = summary->part_max[row_summary::part_of(segment_index, p0 + b - first, n)];
          part = max > part ? max : part;
        }
        if (max > stats.max) {  // false for NaN, which the sum then catches
          const float shift = shift_of(max);
          if (stats.sum_exp != 0.0) stats.sum_exp *= scaled_weight(stats, shift, factor);
          stats.max = max;
          stats.shift = shift;
        }
        if (sums) stats.sum_exp += k.select->exp_sum_chunk(x + b, count, factor, stats.shift, end);
      }
    });
    segment[segment_index] = stats;
    poisoned[segment_index] = nan_or_infinity || (sums && (stats.sum_exp != stats.sum_exp || stats.max == float_infinity));
  }
  // The candidates of a segment already scanned with a summary: the classes above the sink's floor
  // (in sub-blocks as run() reads them), the parts with nothing above it skipped. (In place or through
  // load_chunk, like run(): the same values.)
  static void offer(const kernel_table& k, const row_load& row, const float* logits_end, std::size_t segment_index,
                    std::size_t first, std::size_t n, const row_summary& summary, candidate_sink* sink) noexcept {
    for_pieces(k, row, first, n, logits_end, [&](std::size_t p0, std::size_t m, const float* x, const float* end) {
      for (std::size_t b = 0; b < m; b += scan_block) {
        if (!(summary.part_max[row_summary::part_of(segment_index, p0 + b - first, n)] > sink->floor)) continue;
        const std::size_t count = m - b < scan_block ? m - b : scan_block;
        k.select->offer_chunk(x + b, count, p0 + b, sink, end);
      }
    });
  }
  bool any_poisoned(std::size_t count) const noexcept {
    return std::any_of(poisoned, poisoned + count, [](bool p) { return p; });
  }
  // The row's statistics, merged in segment order (max alone when the scan did not sum).
  chunk_stats merged(std::size_t count, float factor) const noexcept {
    chunk_stats row = segment[0];
    for (std::size_t c = 1; c < count; ++c) row = merge_scaled(row, segment[c], factor);
    return row;
  }
};

// The end of a matrix of logits, what the kernels may prefetch up to when they read f32 rows in place
// (null for other element types, which they never read in place).
inline const float* logits_end_of(const const_any_matrix& logits) noexcept {
  if (logits.dtype != dtype::f32 || logits.rows == 0) return nullptr;
  return static_cast<const float*>(logits.data) + (logits.rows - 1) * logits.stride + logits.cols;
}

// Runs a job over every row. A job has a state type (one row's), start(state, row), more(state)
// (another pass over the row's segments is needed), segment(state, segment, shared) (one pass over one
// segment; shared: other threads may run other segments of the same row meanwhile) and finish(state)
// (after a pass over every segment: merge in segment order, decide, write the row's outputs once
// done). Many rows: one row at a time per unit of rows. A few long rows: one row at a time, its
// segments across threads. Each way keeps one state on the stack, and the job's steps have frames of
// their own (not inlined into one another), so that the stack holds one chain of them at a time.
template <class Job>
void run_row(typename Job::state& s, std::size_t r, std::size_t segments, const Job& job) noexcept {
  job.start(s, r);
  while (job.more(s)) {
    for (std::size_t segment = 0; segment < segments; ++segment) job.segment(s, segment, false);
    job.finish(s);
  }
}
template <class Job>
__attribute__((noinline)) void run_rows_each_on_one_thread(executor& ex, const row_plan& plan, std::size_t rows,
                                                           std::size_t segments, const Job& job) noexcept {
  for_units(ex, plan, rows, [&](std::size_t, std::size_t first, std::size_t end) {
    typename Job::state s;
    for (std::size_t r = first; r < end; ++r) run_row(s, r, segments, job);
  });
}
template <class Job>
__attribute__((noinline)) void run_rows_across_threads(executor& ex, std::size_t rows, std::size_t segments,
                                                       const Job& job) noexcept {
  typename Job::state s;
  for (std::size_t r = 0; r < rows; ++r) {
    job.start(s, r);
    while (job.more(s)) {
      auto pass = [&](std::size_t first, std::size_t end) {
        for (std::size_t segment = first; segment < end; ++segment) job.segment(s, segment, true);
      };
      ex.run(segments, pass);  // a host pool serves the first pass of the call; later ones stay here
      job.finish(s);
    }
  }
}
template <class Job>
void for_selection_rows(executor& ex, const row_plan& plan, std::size_t rows, std::size_t segments, Job& job) noexcept {
  if (rows >= few_rows || segments == 1 || !ex.can_run_in_parallel()) {
    run_rows_each_on_one_thread(ex, plan, rows, segments, job);
  } else {
    run_rows_across_threads(ex, rows, segments, job);
  }
}

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_OPS_SELECTION_HPP
