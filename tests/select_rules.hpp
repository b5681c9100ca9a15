// SPEC.md's rules for top-k and sampling over one row's exact transformed logits z, in the reference
// type `real`: written from SPEC.md's words (sort the row, walk it) rather than from the library's
// code. Philox4x32-10, top-k's order, Hugging Face's filters and the inverse-CDF draw, with the
// tolerances that decide when rounding may change an answer. Nothing here needs doctest or a logits
// matrix: the unit tests (select_oracle.hpp) and the fuzz checker (fuzz/c_api_checker.cpp) share it.
#ifndef SOFTXENT_TESTS_SELECT_RULES_HPP
#define SOFTXENT_TESTS_SELECT_RULES_HPP

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "real.hpp"
#include "softxent/softxent.hpp"

namespace sxtest {

constexpr real real_inf = std::numeric_limits<real>::infinity();

// What rounding may change: 8 eps (|z_j| + max |z|) (the transform's widening, doubled for float z),
// and never less than float's resolution among subnormals, 2^-149.
struct row_facts {
  bool poisoned = false;
  real max = -real_inf;      // over the row
  real magnitude = real(0.0);     // max |z_j| over finite z_j
  real lse = -real_inf;      // log(sum exp(z) + exp(sink))
  std::size_t unmasked = 0;
};
inline row_facts facts_of(const std::vector<real>& z, const float* sink = nullptr) {
  row_facts f;
  for (real v : z) {
    if (std::isnan(v) || v == real_inf) f.poisoned = true;
    if (v > f.max) f.max = v;
    if (std::isfinite(v)) f.magnitude = std::max(f.magnitude, std::fabs(v));
    if (v > -real_inf) ++f.unmasked;
  }
  if (f.poisoned) {
    f.lse = std::numeric_limits<real>::quiet_NaN();
    return f;
  }
  real shift = f.max;
  if (sink) shift = std::max(shift, static_cast<real>(*sink));
  if (shift == -real_inf) return f;
  real sum = sink ? std::exp(*sink - shift) : real(0.0);
  for (real v : z) sum += std::exp(v - shift);
  f.lse = shift + std::log(sum);
  return f;
}
inline real rounding_width(real v, const row_facts& f) {
  return 8 * eps * (std::fabs(v) + f.magnitude) + std::ldexp(real(1.0), -149);
}
// log_softmax's bound (SPEC.md), widened by the transform: z_j - lse.
inline real log_prob_bound(real zj, const row_facts& f) {
  return (8 + std::fabs(zj - f.max)) * eps + 8 * eps * std::fabs(f.lse) + rounding_width(zj, f);
}

// The unmasked classes of a row, by descending z, ties by ascending index.
inline std::vector<std::size_t> ranked(const std::vector<real>& z) {
  std::vector<std::size_t> order;
  for (std::size_t j = 0; j < z.size(); ++j)
    if (z[j] > -real_inf) order.push_back(j);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  return order;
}

// ---------------------------------------------------------------------------------------------
// Top-k of a row that no NaN or +inf poisons.

// The k classes top-k returns: the unmasked ones by descending z (ties by lower index), then the
// masked ones by ascending index (k <= z.size()).
inline std::vector<std::size_t> expected_top_k(const std::vector<real>& z, std::size_t k) {
  std::vector<std::size_t> expected = ranked(z);
  for (std::size_t j = 0; j < z.size() && expected.size() < k; ++j)
    if (!(z[j] > -real_inf)) expected.push_back(j);
  expected.resize(k);
  return expected;
}

// Whether class got may stand where the exact order puts class want: the same class, or, where the
// transform rounds z (exact_order false), an unmasked class whose z is within want's rounding width.
inline bool top_k_place_allowed(const std::vector<real>& z, const row_facts& f, std::size_t got, std::size_t want,
                                bool exact_order) {
  if (got == want) return true;
  const real zg = z[got], ze = z[want];
  return !exact_order && zg > -real_inf && ze > -real_inf && std::fabs(zg - ze) <= rounding_width(ze, f);
}

// ---------------------------------------------------------------------------------------------
// Philox4x32-10, from the paper's round function and Random123's constants.

inline std::array<std::uint32_t, 4> philox(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t a = 0xD2511F53ull * c[0], b = 0xCD9E8D57ull * c[2];
    c = {static_cast<std::uint32_t>(b >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(b),
         static_cast<std::uint32_t>(a >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(a)};
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  return c;
}
inline real draw_of(std::uint64_t seed, std::uint64_t offset) {
  const auto out = philox({static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(offset >> 32), 0, 0},
                          {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
  return std::ldexp(static_cast<real>(out[0] >> 8), -24);
}

// ---------------------------------------------------------------------------------------------
// Sampling, as Hugging Face's warpers and SPEC.md's draw define it.

struct sample_expectation {
  std::int64_t token = -1;       // -1: NaN/+inf or all masked
  bool ambiguous = false;        // rounding within the tolerances could change the token
  std::vector<std::size_t> kept; // the kept classes, ascending index
  std::vector<real> probability; // over kept (renormalized), same order
  std::vector<std::size_t> allowed;  // ascending: every class the token may be; {token} unless ambiguous
  bool allows(std::int64_t got) const {
    return got >= 0 && std::binary_search(allowed.begin(), allowed.end(), static_cast<std::size_t>(got));
  }
};

// z: the row's exact transformed logits; options as given to the library; u: the row's draw.
// rounded: z is the float result of a transform that rounds (scale, softcap, mask), so that classes
// whose exact z tie may order either way and each class's mass is known to within its rounding width
// (exp of twice the width of z', relative); without it z is exact (the logits, decoded) and masses
// err only by the float sums'.
// Rounding may flip whether a class near a threshold is kept (an uncertain class): the token is
// ambiguous when it is uncertain itself, or when u * total lies closer to an end of the token's
// stretch of the cumulative sum than the uncertain classes' mass plus the sums' error. An ambiguous
// token may be any class that some kept set between the certain classes and the certain plus the
// uncertain ones puts at u times its total (allowed).
inline sample_expectation expected_sample(const std::vector<real>& z, const softxent::sampling_options& o, real u,
                                          bool rounded = false) {
  sample_expectation e;
  const row_facts f = facts_of(z);
  if (f.poisoned || f.unmasked == 0) return e;
  // Relative to a total: float sums of long rows (exponentials within a few ulps, folded into double
  // every few dozen terms) stay well inside it.
  const real closeness = real(1e-6);
  if (o.temperature == 0.0f) {
    const std::vector<std::size_t> order = ranked(z);
    const std::size_t best = order[0];
    e.token = static_cast<std::int64_t>(best);
    for (std::size_t j : order)  // the classes rounding may put level with or above the argmax
      if (j == best || ((rounded || z[j] < z[best]) && z[best] - z[j] <= rounding_width(z[best], f))) e.allowed.push_back(j);
    std::sort(e.allowed.begin(), e.allowed.end());
    e.ambiguous = e.allowed.size() > 1;
    e.kept = {best};
    e.probability = {real(1.0)};
    return e;
  }
  std::vector<real> zt(z.size());
  for (std::size_t j = 0; j < z.size(); ++j) zt[j] = z[j] / o.temperature;
  const row_facts ft = facts_of(zt);
  std::vector<std::size_t> order = ranked(zt);
  std::vector<real> mass(zt.size(), real(0.0));
  for (std::size_t j = 0; j < zt.size(); ++j) mass[j] = std::exp(zt[j] - ft.max);
  std::vector<bool> uncertain(zt.size(), false);
  real uncertain_mass = real(0.0);
  const auto mark = [&](std::size_t j) {
    if (!uncertain[j]) uncertain[j] = true, uncertain_mass += mass[j];
  };
  const auto width = [&](std::size_t j) { return rounding_width(zt[j], ft) + 4 * eps * std::fabs(zt[j]); };
  // Classes within rounding of a boundary value (exact ties at it are ordered by index, exactly,
  // unless the transform rounds).
  const auto mark_near = [&](real boundary, const std::vector<std::size_t>& among) {
    for (std::size_t j : among)
      if ((rounded || zt[j] != boundary) && std::fabs(zt[j] - boundary) <= width(j)) mark(j);
  };
  real all_mass = real(0.0), mass_doubt = real(0.0);
  for (std::size_t j : order) {
    all_mass += mass[j];
    if (rounded && mass[j] > 0) mass_doubt += mass[j] * std::expm1(std::min(2 * width(j), real(64.0)));
  }
  const real sums_doubt = closeness * all_mass + mass_doubt;
  // top_k
  if (o.top_k != 0 && o.top_k < order.size()) {
    mark_near(zt[order[o.top_k - 1]], order);
    mark_near(zt[order[o.top_k]], order);
    order.resize(o.top_k);
  }
  // top_p over what is left, renormalized: keep while the mass before a class is short of top_p.
  if (o.top_p < 1.0f) {
    real total = real(0.0);
    for (std::size_t j : order) total += mass[j];
    const real target = o.top_p * total, doubt = sums_doubt + uncertain_mass;
    real before = real(0.0);
    std::size_t keep = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (std::fabs(before - target) <= doubt) mark(order[i]);
      if (before < target) keep = i + 1;
      before += mass[order[i]];
    }
    if (keep < order.size()) mark_near(zt[order[keep - 1]], order);
    order.resize(keep);
  }
  // min_p: p >= min_p * max p, that is z' >= max + log(min_p).
  if (o.min_p > 0.0f) {
    const real floor = ft.max + std::log(static_cast<real>(o.min_p));
    std::vector<std::size_t> kept;
    for (std::size_t j : order) {
      if (std::fabs(zt[j] - floor) <= width(j)) mark(j);
      if (zt[j] >= floor) kept.push_back(j);
    }
    order = kept;
  }
  std::sort(order.begin(), order.end());
  real total = real(0.0);
  for (std::size_t j : order) total += mass[j];
  const real target = u * total, doubt = sums_doubt + uncertain_mass;
  real cumulative = real(0.0);
  for (std::size_t j : order) {
    const real before = cumulative;
    cumulative += mass[j];
    e.kept.push_back(j);
    e.probability.push_back(mass[j] / total);
    if (e.token < 0 && cumulative > target) {
      e.token = static_cast<std::int64_t>(j);
      if (uncertain[j] || target - before <= doubt || cumulative - target <= doubt) e.ambiguous = true;
    }
  }
  if (e.token < 0) e.token = static_cast<std::int64_t>(order.back()), e.ambiguous = true;
  e.allowed = {static_cast<std::size_t>(e.token)};
  if (!e.ambiguous) return e;
  // The kept set lies between the certain kept classes and those plus every uncertain class: class j
  // can be drawn only if the least mass before it can be reached by u times the largest total, and
  // u times the least total falls short of the most mass up to its end.
  std::vector<bool> kept(zt.size(), false);
  for (std::size_t j : order) kept[j] = true;
  real least_total = real(0.0), most_total = real(0.0);
  for (std::size_t j = 0; j < zt.size(); ++j) {
    if (kept[j] && !uncertain[j]) least_total += mass[j];
    if (kept[j] || uncertain[j]) most_total += mass[j];
  }
  real least_before = real(0.0), most_before = real(0.0);
  for (std::size_t j = 0; j < zt.size(); ++j) {
    if (!(kept[j] || uncertain[j]) || !(zt[j] > -real_inf)) continue;
    if (least_before <= u * most_total + sums_doubt && u * least_total < most_before + mass[j] + sums_doubt &&
        j != static_cast<std::size_t>(e.token))
      e.allowed.push_back(j);
    if (!uncertain[j]) least_before += mass[j];
    most_before += mass[j];
  }
  std::sort(e.allowed.begin(), e.allowed.end());
  return e;
}

}  // namespace sxtest

#endif  // SOFTXENT_TESTS_SELECT_RULES_HPP
