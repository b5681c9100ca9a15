// Reductions over one chunk, shared by the kernels: the max, and sums that stay accurate however long
// the row (float lanes for speed, folded into a double every block so that no float accumulator ever
// adds more than a few terms).
#ifndef SOFTXENT_SRC_KERNELS_REDUCE_HPP
#define SOFTXENT_SRC_KERNELS_REDUCE_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/row_math.hpp"

namespace softxent::detail {

template <class Ops>
struct reduce {
  using vec = typename Ops::vec;
  static constexpr std::size_t W = Ops::width;
  // Elements summed in float lanes before folding into the double total: each of the four
  // accumulators' lanes then adds at most 4 terms.
  static constexpr std::size_t block = 16 * W;

  // Software prefetch. This machine's hardware prefetchers keep a stream going only while it is
  // being read: a sweep that computes on L1-resident data leaves memory idle, and the time of a
  // read-once kernel becomes the sum of its memory time and its exp time instead of the larger.
  // So the sweep that computes exponentials on L1 data prefetches both what the next max sweep will
  // read (near_ahead elements ahead, into L1) and the stretch after it (far_ahead, into L2). Measured
  // on logsumexp over 64 Mi floats in chunks of 4096 (13.6 GB/s streaming read): 8.2 GB/s without,
  // 9.0 with the far prefetch in the max sweep instead, 12.7 GB/s like this; far_ahead 2048 to 16384
  // all within 1%, and each of the two prefetches alone loses 15 to 20%. Addresses at or past `end`
  // (the end of the caller's matrix) are never prefetched.
  // The addresses are computed as integers: p + j may lie past the end of an array (the short-row
  // tiles prefetch whole tile spans), and forming such a pointer would be undefined.
  static constexpr std::size_t far_ahead = 8192;
  static constexpr std::size_t near_ahead = 1024;

  // Prefetches the lines near_ahead and far_ahead elements past p + j if they lie before end, once
  // per 16 floats of j.
  static void prefetch_ahead(const float* p, std::size_t j, const float* end) noexcept {
    if constexpr (W < 16) {
      if ((j & 15) >= W) return;
    }
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(p) + j * sizeof(float);
    const std::uintptr_t near = at + near_ahead * sizeof(float), far = at + far_ahead * sizeof(float);
    const std::uintptr_t limit = reinterpret_cast<std::uintptr_t>(end);
    if (far < limit) {  // the common case: one compare
      __builtin_prefetch(reinterpret_cast<const void*>(near), 0, 3);
      __builtin_prefetch(reinterpret_cast<const void*>(far), 0, 2);
    } else if (near < limit) {
      __builtin_prefetch(reinterpret_cast<const void*>(near), 0, 3);
    }
  }

  // An output's lines are first read from memory before a store can complete (write-allocate), and
  // with nothing asking for them early the stores wait. Sweeps that write an output for the first
  // time prefetch its line write_ahead elements ahead into L1, below end. Measured on softmax
  // 64x128256: 6.34 -> 5.52 ms; 256 beat 1024. A prefetchw (exclusive state, -mprfchw) was no faster,
  // and 10% slower for log_softmax, so this is a plain read prefetch.
  static constexpr std::size_t write_ahead = 256;
  static void prefetch_write(const float* p, std::size_t j, const float* end) noexcept {
    prefetch_one(p, j, write_ahead, end);
  }

  // Only the near prefetch, for a second input read alongside the first (cross-entropy's target
  // probabilities): on probability-target cross-entropy 64x128256, 9.1 -> 8.5 ms; a prefetch 4096
  // ahead into L2 instead was no better.
  static void prefetch_near(const float* p, std::size_t j, const float* end) noexcept {
    prefetch_one(p, j, near_ahead, end);
  }

  // The line `ahead` elements past p + j into L1, if it lies before end, once per 16 floats of j.
  static void prefetch_one(const float* p, std::size_t j, std::size_t ahead, const float* end) noexcept {
    if constexpr (W < 16) {
      if ((j & 15) >= W) return;
    }
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(p) + (j + ahead) * sizeof(float);
    if (at < reinterpret_cast<std::uintptr_t>(end)) __builtin_prefetch(reinterpret_cast<const void*>(at), 0, 3);
  }

  // max_j x_j over x[0, n), n > 0. NaN may or may not win: callers detect NaN through sums.
  static float max_of(const float* x, std::size_t n) noexcept {
    const vec minus_inf = Ops::splat(-float_infinity);
    vec m0 = minus_inf, m1 = minus_inf, m2 = minus_inf, m3 = minus_inf;
    std::size_t j = 0;
    for (; j + 4 * W <= n; j += 4 * W) {
      m0 = Ops::max(m0, Ops::load(x + j));
      m1 = Ops::max(m1, Ops::load(x + j + W));
      m2 = Ops::max(m2, Ops::load(x + j + 2 * W));
      m3 = Ops::max(m3, Ops::load(x + j + 3 * W));
    }
    for (; j + W <= n; j += W) m0 = Ops::max(m0, Ops::load(x + j));
    if (j < n) m1 = Ops::max(m1, Ops::load_tail(x + j, n - j, -float_infinity));
    return Ops::horizontal_max(Ops::max(Ops::max(m0, m1), Ops::max(m2, m3)));
  }

  // sum_j term(j, count) over [0, n), in blocks folded into a double. term(j, count) returns the
  // vector of terms of elements [j, j + count) for count == W, or count < W at the tail (its other
  // lanes must be 0). Terms are visited in increasing j, so term may store outputs as it goes.
  template <class Term>
  static double sum_of(std::size_t n, const Term& term) noexcept {
    return blocked_sum(n, term, [](std::size_t, std::size_t, double block_sum) { return block_sum; });
  }

  // The same, for terms that may overflow a float although their sum fits a double: a block whose
  // float sum is not finite is summed again with exact_term(j), element j's term in double. Cold:
  // only huge terms (unnormalised targets, logits near FLT_MAX) or genuine infinities and NaNs get
  // there, and those come out the same.
  template <class Term, class ExactTerm>
  static double sum_of_checked(std::size_t n, const Term& term, const ExactTerm& exact_term) noexcept {
    return blocked_sum(n, term, [&](std::size_t begin, std::size_t end, double block_sum) {
      if (__builtin_isfinite(block_sum)) return block_sum;  // not std::isfinite: see row_math.hpp
      double exact = 0.0;
      for (std::size_t j = begin; j < end; ++j) exact += exact_term(j);
      return exact;
    });
  }

 private:
  template <class Term, class Fold>
  static double blocked_sum(std::size_t n, const Term& term, const Fold& fold) noexcept {
    double total = 0.0;
    std::size_t j = 0;
    while (j < n) {
      const std::size_t begin = j;
      const std::size_t end = n - j > block ? j + block : n;
      vec a0 = Ops::splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
      for (; j + 4 * W <= end; j += 4 * W) {
        a0 = a0 + term(j, W);
        a1 = a1 + term(j + W, W);
        a2 = a2 + term(j + 2 * W, W);
        a3 = a3 + term(j + 3 * W, W);
      }
      for (; j + W <= end; j += W) a0 = a0 + term(j, W);
      if (j < end) {
        a1 = a1 + term(j, end - j);
        j = end;
      }
      total += fold(begin, end, static_cast<double>(Ops::horizontal_sum((a0 + a1) + (a2 + a3))));
    }
    return total;
  }

 public:
  // Applies body(j, count) to every vector of [0, n): count == W, then count < W at the tail.
  template <class Body>
  static void for_each(std::size_t n, const Body& body) noexcept {
    std::size_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
      body(j, W);
      body(j + W, W);
    }
    for (; j + W <= n; j += W) body(j, W);
    if (j < n) body(j, n - j);
  }

  // Loads count elements of p (count < W pads with pad) / stores count lanes of v.
  static vec load_n(const float* p, std::size_t count, float pad) noexcept {
    return count == W ? Ops::load(p) : Ops::load_tail(p, count, pad);
  }
  static void store_n(float* p, std::size_t count, const vec& v) noexcept {
    if (count == W) {
      Ops::store(p, v);
    } else {
      Ops::store_tail(p, count, v);
    }
  }
};

}  // namespace softxent::detail

#endif  // SOFTXENT_SRC_KERNELS_REDUCE_HPP
