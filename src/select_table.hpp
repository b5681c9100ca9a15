// The contract between the top-k and sampling drivers (ops/top_k.cpp, ops/sample.cpp) and their
// per-instruction-set kernels (kernels/select.hpp): candidate keys, the sink a scan offers candidates
// to, and the kernels' table, one per ISA, reached through kernel_table::select.
//
// The kernels work on a piece of z (transformed logits) held in an L1 scratch by load_chunk. They
// only ever compare, exponentiate and sum; every decision (which candidates to keep, where a threshold
// lies, which class is drawn) is the driver's, made from what the kernels return.
#ifndef SOFTXENT_SRC_SELECT_TABLE_HPP
#define SOFTXENT_SRC_SELECT_TABLE_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernel_table.hpp"

namespace softxent::detail {

// A class as one integer whose order is the selection order: the high 32 bits are the value's bits
// made monotone (a larger value, a larger key; -0 counts as +0), the low 32 bits the complement of
// the class index (a lower index, a larger key). Keys sorted descending are classes by descending
// value, ties by ascending index; two classes never have the same key. NaN never becomes a key.
using candidate_key = std::uint64_t;

// The functions below have internal linkage (static): this header is compiled into objects built
// with different -m flags (see kernels/row_math.hpp).
static inline std::uint32_t ordered_bits(float value) noexcept {
  std::uint32_t bits;
  const float normalized = value + 0.0f;  // -0 + 0 = +0: equal values get equal keys
  std::memcpy(&bits, &normalized, sizeof bits);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}
static inline float value_of_ordered_bits(std::uint32_t ordered) noexcept {
  const std::uint32_t bits = (ordered & 0x80000000u) != 0 ? ordered & 0x7fffffffu : ~ordered;
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
static inline candidate_key make_key(float value, std::size_t index) noexcept {
  return (static_cast<candidate_key>(ordered_bits(value)) << 32) | (0xffffffffu - static_cast<std::uint32_t>(index));
}
static inline float key_value(candidate_key key) noexcept {
  return value_of_ordered_bits(static_cast<std::uint32_t>(key >> 32));
}
static inline std::size_t key_index(candidate_key key) noexcept {
  return 0xffffffffu - static_cast<std::uint32_t>(key);
}

// Where a scan puts the classes it finds: keys[0, count) of room capacity plus candidate_slack. Only
// values above floor are offered; when count reaches capacity the kernel calls make_room (the
// driver's, compiled for the baseline ISA: it keeps the best keep candidates and raises floor to
// the value of the last kept). A kernel that packs a group of vectors without a branch per vector
// may take count up to capacity + candidate_slack first. A scan offers classes in ascending index,
// so that a later class equal to floor (a higher index, a lower key) rightly stays out.
constexpr std::size_t candidate_slack = 64;  // four vectors of 16 floats
struct candidate_sink {
  candidate_key* keys;
  std::size_t count;
  std::size_t capacity;
  std::size_t keep;  // make_room keeps the best keep (< capacity); call it only with more than keep
  float floor;
  void (*make_room)(candidate_sink& sink);
};

// One pass of a threshold search over a value bracket [lo, hi) (bracket_chunk): for each threshold
// t[i] (descending, t[i] >= lo), the mass and the count of the classes with t[i] <= x < hi, with
// exp((x - shift) * factor) as a class's mass (shift: the row's max); and the classes of a window
// [window_lo, window_hi) inside the bracket offered to the sink.
constexpr std::size_t max_thresholds = 6;
struct bracket_pass {
  float shift;
  float lo;
  float hi;
  std::size_t threshold_count;  // at most max_thresholds
  float thresholds[max_thresholds];
  float window_lo;
  float window_hi;
};
struct bracket_sums {
  double mass[max_thresholds];
  double count[max_thresholds];
};

// The kernels read a piece of a row x[0, n) (the logits themselves, or load_chunk's transformed
// copy). Order, maxima and brackets are those of x; the temperature only enters the masses, as
// exp((x - shift) * factor) with factor = 1 / temperature and shift >= every x (so that nothing
// overflows). Memory from x up to end (the end of the caller's logits, or of the copy) may be
// prefetched, never read.
// The lanes of a scan's summary (see scan_chunk): as many as the widest vector's.
constexpr std::size_t summary_lanes = 16;
struct select_kernel_table {
  // max_j x_j over x[0, n) (-inf for n == 0); sets *poisoned when an x_j is NaN or +inf; offers every
  // x_j > sink->floor as class first + j (sink may be null). summary (may be null): summary[i]
  // becomes max(summary[i], the max of a set of x's elements) for i < summary_lanes, the sets
  // disjoint (the lane-wise max of x's vectors; lanes past the vector's width are left alone).
  // poisoned null: NaN is not looked for (a caller that sums exp(x_j - max) finds it there).
  float (*scan_chunk)(const float* x, std::size_t n, std::size_t first, candidate_sink* sink, bool* poisoned,
                      const float* end, float* summary);
  // scan_chunk's offers alone.
  void (*offer_chunk)(const float* x, std::size_t n, std::size_t first, candidate_sink* sink, const float* end);
  // How many x_j >= t.
  std::size_t (*count_at_least)(const float* x, std::size_t n, float t);
  // sum_j exp((x_j - shift) * factor) (in double, accurate for any n).
  double (*exp_sum_chunk)(const float* x, std::size_t n, float factor, float shift, const float* end);
  // e_j = exp((x_j - shift) * factor) where x_j >= floor, else 0; e may be x.
  void (*exp_chunk)(const float* x, std::size_t n, float factor, float shift, float floor, float* e);
  // sums[b] = sum of e[b * block, (b + 1) * block) (the last block may be shorter), in double.
  void (*block_sums_chunk)(const float* e, std::size_t n, std::size_t block, double* sums);
  // Adds the masses and counts of the classes of x[0, n) in the bracket to sums (see bracket_pass),
  // and offers those of the window above sink->floor to the sink as class first + j (sink may be null).
  void (*bracket_chunk)(const float* x, std::size_t n, std::size_t first, float factor, const bracket_pass& pass,
                        bracket_sums& sums, candidate_sink* sink, const float* end);
};

// The reference's top-k and sampling rows, in double from the decoded inputs (reference/select.cpp):
// reference_logit(row, j) is z_j exactly as the reference's softmax family computes it, reference_lse
// the row's lse (sink: the head's, or null), in double: z_j - lse stays finite when lse is beyond
// FLT_MAX (a transformed logit may be).
double reference_logit(const row_load& row, std::size_t j) noexcept;
double reference_lse(const row_load& row, std::size_t cols, const float* sink) noexcept;
// One row of top_k: indices[0, k), log_probs[0, k) (or null), *lse (or null). sink: the head's, or null.
void reference_top_k_row(const row_load& row, std::size_t cols, const float* sink, std::size_t k,
                         std::int64_t* indices, float* log_probs, float* lse) noexcept;
// One row of sample with the options checked, u the row's draw: *token and *log_prob (or null).
void reference_sample_row(const row_load& row, std::size_t cols, const sampling_options& options, double u,
                          std::int64_t* token, float* log_prob) noexcept;

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_SELECT_TABLE_HPP
