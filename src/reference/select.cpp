// The reference's top-k and sampling: one row at a time in double from the decoded, transformed
// logits (reference_logit), plain loops, no SIMD, no threads, no heap. Top-k keeps a sorted list of
// the best k; top_p without top_k finds its threshold by bisection over the values, a pass over the
// row per step. Slow on long rows, and obviously following SPEC.md's words.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernel_table.hpp"
#include "select_table.hpp"
#include "softxent/softxent.hpp"

namespace softxent::detail {
namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();
constexpr float nan_value = std::numeric_limits<float>::quiet_NaN();

// The best (largest value, then lowest index) classes seen so far, at most capacity of them.
struct best_list {
  double value[max_top_k];
  std::size_t index[max_top_k];
  std::size_t count = 0;
  std::size_t capacity;

  explicit best_list(std::size_t capacity_) : capacity(capacity_) {}
  // Classes come in ascending index: a later class ranks below an earlier one of the same value.
  void offer(double v, std::size_t j) {
    if (count == capacity && !(v > value[count - 1])) return;
    std::size_t at = count < capacity ? count : count - 1;
    while (at > 0 && value[at - 1] < v) {
      value[at] = value[at - 1];
      index[at] = index[at - 1];
      --at;
    }
    value[at] = v;
    index[at] = j;
    if (count < capacity) ++count;
  }
};

// max over a row of n values z(j), and whether one is NaN or +inf.
template <class Logit>
double max_of(std::size_t n, const Logit& z, bool& poisoned) {
  double max = -infinity;
  poisoned = false;
  for (std::size_t j = 0; j < n; ++j) {
    const double v = z(j);
    if (std::isnan(v) || v == infinity) poisoned = true;
    if (v > max) max = v;
  }
  return max;
}

// The 64-bit keys of doubles in their order, and back.
std::uint64_t ordered(double v) {
  std::uint64_t bits;
  v += 0.0;
  std::memcpy(&bits, &v, sizeof bits);
  return (bits >> 63) != 0 ? ~bits : bits | (std::uint64_t{1} << 63);
}
double from_ordered(std::uint64_t key) {
  const std::uint64_t bits = (key >> 63) != 0 ? key & ~(std::uint64_t{1} << 63) : ~key;
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

}  // namespace

void reference_top_k_row(const row_load& row, std::size_t cols, const float* sink, std::size_t k,
                         std::int64_t* indices, float* log_probs, float* lse) noexcept {
  const auto z = [&](std::size_t j) { return reference_logit(row, j); };
  const double row_lse = reference_lse(row, cols, sink);
  if (lse != nullptr) *lse = static_cast<float>(row_lse);
  if (std::isnan(row_lse)) {
    for (std::size_t i = 0; i < k; ++i) {
      indices[i] = -1;
      if (log_probs) log_probs[i] = nan_value;
    }
    return;
  }
  best_list best(k);
  for (std::size_t j = 0; j < cols; ++j) {
    const double v = z(j);
    if (v > -infinity) best.offer(v, j);
  }
  for (std::size_t i = 0; i < best.count; ++i) {
    indices[i] = static_cast<std::int64_t>(best.index[i]);
    if (log_probs) log_probs[i] = static_cast<float>(best.value[i] - row_lse);
  }
  // The masked classes, lowest index first, after the unmasked ones (all of them are in the list).
  std::size_t i = best.count;
  for (std::size_t j = 0; j < cols && i < k; ++j) {
    if (z(j) > -infinity) continue;
    indices[i] = static_cast<std::int64_t>(j);
    if (log_probs) log_probs[i] = -static_cast<float>(infinity);
    ++i;
  }
}

void reference_sample_row(const row_load& row, std::size_t cols, const sampling_options& o, double u,
                          std::int64_t* token, float* log_prob) noexcept {
  const bool greedy = o.temperature == 0.0f;
  const double temperature = greedy ? 1.0 : static_cast<double>(o.temperature);
  const auto z = [&](std::size_t j) { return reference_logit(row, j) / temperature; };
  bool poisoned = false;
  const double max = max_of(cols, z, poisoned);
  if (poisoned || max == -infinity) {
    *token = -1;
    if (log_prob) *log_prob = nan_value;
    return;
  }
  const auto mass = [&](double v) { return std::exp(v - max); };
  double sum = 0.0;
  for (std::size_t j = 0; j < cols; ++j) sum += mass(z(j));
  const double lse = max + std::log(sum);
  const auto finish = [&](std::size_t j) {
    *token = static_cast<std::int64_t>(j);
    if (log_prob) *log_prob = static_cast<float>(z(j) - lse);
  };
  if (greedy) {
    std::size_t j = 0;
    while (z(j) != max) ++j;
    finish(j);
    return;
  }

  // top_k: the classes above the k-th value, and the first ties at it (tie_k of them, row order).
  const std::size_t k = o.top_k >= cols ? 0 : o.top_k;
  double value_k = -infinity, ties_k = 0.0, kept_total = sum;
  best_list best(k == 0 ? 1 : k);
  if (k != 0) {
    for (std::size_t j = 0; j < cols; ++j) {
      const double v = z(j);
      if (v > -infinity) best.offer(v, j);
    }
    kept_total = 0.0;
    for (std::size_t i = 0; i < best.count; ++i) kept_total += mass(best.value[i]);
    if (best.count == k) {
      value_k = best.value[k - 1];
      for (std::size_t i = 0; i < k; ++i) ties_k += best.value[i] == value_k ? 1.0 : 0.0;
    }
  }
  // top_p over what top_k kept: the threshold value and the ties kept there.
  double value_p = -infinity, ties_p = 0.0;
  if (o.top_p < 1.0f) {
    const double target = static_cast<double>(o.top_p) * kept_total;
    if (k != 0) {
      double before = 0.0;
      std::size_t i = 0;
      while (i < best.count && before < target) before += mass(best.value[i++]);
      value_p = best.value[i - 1];
      for (std::size_t m = 0; m < i; ++m) ties_p += best.value[m] == value_p ? 1.0 : 0.0;
    } else {
      // The largest value whose classes and those above reach the target, by bisection over the
      // doubles' keys: the mass at and above a value only changes at the row's values.
      const auto mass_from = [&](double threshold) {
        double total = 0.0;
        for (std::size_t j = 0; j < cols; ++j) {
          const double v = z(j);
          if (v >= threshold) total += mass(v);
        }
        return total;
      };
      std::uint64_t reaches = ordered(-std::numeric_limits<double>::max()), short_of = ordered(infinity);
      while (short_of - reaches > 1) {
        const std::uint64_t middle = reaches + (short_of - reaches) / 2;
        (mass_from(from_ordered(middle)) >= target ? reaches : short_of) = middle;
      }
      value_p = from_ordered(reaches);
      const double above = mass_from(from_ordered(reaches + 1));
      double ties = 0.0;
      for (std::size_t j = 0; j < cols; ++j) ties += z(j) == value_p ? 1.0 : 0.0;
      ties_p = std::fmin(std::fmax(std::ceil((target - above) / mass(value_p)), 1.0), ties);
    }
  }
  const double floor = o.min_p > 0.0f ? max + std::log(static_cast<double>(o.min_p)) : -infinity;

  // The draw: the kept classes in index order, counting ties at each threshold as they come.
  const auto for_kept = [&](const auto& visit) {
    double seen_k = 0.0, seen_p = 0.0;
    for (std::size_t j = 0; j < cols; ++j) {
      const double v = z(j);
      if (!(v > -infinity)) continue;
      if (k != 0 && !(v > value_k || (v == value_k && seen_k++ < ties_k))) continue;
      if (o.top_p < 1.0f && !(v > value_p || (v == value_p && seen_p++ < ties_p))) continue;
      if (!(v >= floor)) continue;
      if (visit(j, mass(v))) return;
    }
  };
  double total = 0.0;
  for_kept([&](std::size_t, double m) {
    total += m;
    return false;
  });
  const double target = u * total;
  double cumulative = 0.0;
  std::size_t chosen = 0;
  for_kept([&](std::size_t j, double m) {
    if (m > 0.0) chosen = j;
    cumulative += m;
    return cumulative > target;
  });
  finish(chosen);
}

}  // namespace softxent::detail
