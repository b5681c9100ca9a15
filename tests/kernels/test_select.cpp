// Kernel-level tests of the selection kernels' candidate collection, called directly: scan_chunk of
// every table the CPU can run feeding a candidate set, piece by piece as a row's scan does, against
// the k best (value descending, then index ascending) of a sort; and the candidate set's selection
// (select_largest) on key orders that defeat a naive quickselect.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "kernel_table.hpp"
#include "ops/selection.hpp"
#include "select_table.hpp"
#include "test_support.hpp"

namespace {

using softxent::detail::candidate_key;

std::vector<const softxent::detail::kernel_table*> tables_with_select() {
  std::vector<const softxent::detail::kernel_table*> tables;
  for (const std::string& isa : sxtest::available_isas()) {
    const softxent::detail::table_choice choice = softxent::detail::choose_table(isa.c_str());
    if (choice.result == softxent::status::ok && choice.table->select != nullptr) tables.push_back(choice.table);
  }
  return tables;
}

// The k best classes of x by a full sort: value descending, then index ascending.
std::vector<std::size_t> best_by_sort(const std::vector<float>& x, std::size_t k) {
  std::vector<std::size_t> order(x.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // std::sort with the index as the tie-break: std::stable_sort's temporary buffer trips
  // AddressSanitizer's new/free pairing under test_allocation.cpp's replaced operator new.
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
  order.resize(std::min(k, order.size()));
  return order;
}

// Rows whose candidates arrive in every pattern: random, ascending (every vector raises the
// floor), descending (the set fills at once), many exact ties, and a few spikes over a flat bulk.
std::vector<float> row_of(int kind, std::size_t n, std::mt19937_64& engine) {
  std::vector<float> x(n);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (std::size_t j = 0; j < n; ++j) {
    switch (kind) {
      case 0: x[j] = normal(engine); break;
      case 1: x[j] = static_cast<float>(j) * 0.25f; break;
      case 2: x[j] = -static_cast<float>(j) * 0.25f; break;
      case 3: x[j] = static_cast<float>(engine() % 7); break;
      default: x[j] = engine() % 997 == 0 ? 10.0f + normal(engine) : normal(engine) * 0.01f; break;
    }
  }
  return x;
}

}  // namespace

TEST_CASE("kernels: scan_chunk offers exactly the k best classes to a candidate set and summarizes the row on every instruction set's table") {
  std::mt19937_64 engine(77);
  std::size_t checked = 0;
  for (const auto* table : tables_with_select()) {
    for (int kind = 0; kind < 5; ++kind) {
      for (std::size_t n : {std::size_t{1}, std::size_t{63}, std::size_t{1000}, std::size_t{5000}, std::size_t{40000}}) {
        const std::vector<float> x = row_of(kind, n, engine);
        for (std::size_t k : {std::size_t{1}, std::size_t{8}, std::size_t{64}, std::size_t{1024}}) {
          if (k > n) continue;
          softxent::detail::candidate_set set;
          set.reset(k);
          bool poisoned = false;
          float max = -INFINITY;
          std::vector<float> lanes(softxent::detail::summary_lanes, -INFINITY);
          // Pieces of uneven lengths, in ascending order, as a row's scan offers them.
          for (std::size_t first = 0, piece = 1024 - 5; first < n; first += piece, piece = piece == 1024 - 5 ? 1024 : 1024 - 5) {
            const std::size_t count = std::min(piece, n - first);
            max = std::max(max, table->select->scan_chunk(x.data() + first, count, first, set.sink(), &poisoned,
                                                          x.data() + n, lanes.data()));
          }
          // The summary: maxima of disjoint sets of classes, so its i-th largest value is at most the
          // row's i-th largest, and its largest is the row's max.
          std::vector<float> sorted_x = x;
          std::sort(sorted_x.begin(), sorted_x.end(), std::greater<float>());
          std::sort(lanes.begin(), lanes.end(), std::greater<float>());
          CHECK(lanes[0] == sorted_x[0]);
          for (std::size_t i = 0; i < lanes.size() && i < n; ++i) CHECK(lanes[i] <= sorted_x[i]);
          const std::size_t found = set.best();
          const std::vector<std::size_t> expected = best_by_sort(x, k);
          REQUIRE_MESSAGE(found == k, table->name << " kind " << kind << " n " << n << " k " << k);
          std::size_t wrong = 0;
          for (std::size_t i = 0; i < k; ++i) {
            const std::size_t index = softxent::detail::key_index(set.keys()[i]);
            if (index != expected[i] && ++wrong <= 3)
              MESSAGE(table->name << " kind " << kind << " n " << n << " k " << k << ": rank " << i << " is class " << index
                                  << ", the sort has " << expected[i]);
          }
          CHECK(wrong == 0);
          CHECK(max == *std::max_element(x.begin(), x.end()));
          CHECK_FALSE(poisoned);
          ++checked;
        }
      }
    }
  }
  CHECK(checked > 0);
}

TEST_CASE("kernels: select_largest keeps the largest keys for any order of them") {
  std::mt19937_64 engine(5);
  for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{17}, std::size_t{128}, std::size_t{129},
                        std::size_t{2048}}) {
    for (int order = 0; order < 5; ++order) {
      std::vector<candidate_key> keys(n);
      for (std::size_t i = 0; i < n; ++i) keys[i] = engine() | 1u;
      switch (order) {
        case 0: break;                                                                  // random
        case 1: std::sort(keys.begin(), keys.end()); break;                             // ascending
        case 2: std::sort(keys.begin(), keys.end(), std::greater<candidate_key>()); break;  // descending
        case 3:  // organ pipe: ascending then descending
          std::sort(keys.begin(), keys.end());
          std::reverse(keys.begin() + static_cast<std::ptrdiff_t>(n / 2), keys.end());
          break;
        default:  // every pivot the extreme of its range: the smallest keys at the three probes
          std::sort(keys.begin(), keys.end());
          for (std::size_t i = 0; i + 1 < n; i += 2) std::swap(keys[i], keys[n - 1 - i]);
          break;
      }
      for (std::size_t keep : {std::size_t{1}, (n + 1) / 2, n}) {
        std::vector<candidate_key> got = keys, sorted = keys;
        std::sort(sorted.begin(), sorted.end(), std::greater<candidate_key>());
        const candidate_key floor = softxent::detail::select_largest(got.data(), n, keep);
        CHECK_MESSAGE(floor == sorted[keep - 1], "n " << n << " order " << order << " keep " << keep);
        std::vector<candidate_key> kept(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(keep));
        std::sort(kept.begin(), kept.end(), std::greater<candidate_key>());
        CHECK_MESSAGE(std::equal(kept.begin(), kept.end(), sorted.begin()), "n " << n << " order " << order << " keep " << keep);
        CHECK_MESSAGE(got[keep - 1] == floor, "n " << n << " order " << order << " keep " << keep);
        std::sort(got.begin(), got.end());
        std::vector<candidate_key> all = keys;
        std::sort(all.begin(), all.end());
        CHECK(got == all);  // a permutation: nothing lost or duplicated
      }
    }
  }
}

TEST_CASE("kernels: sort_keys sorts keys that share some of their bits or none") {
  std::mt19937_64 engine(9);
  for (std::size_t n : {std::size_t{2}, std::size_t{65}, std::size_t{1000}, std::size_t{2048}, std::size_t{2049},
                        std::size_t{5000}}) {
    // Random keys; keys that differ only in a few bits of the middle (a narrow window of values);
    // keys that differ only in the low 17 bits (one value, many classes); all equal.
    for (std::uint64_t differing : {~std::uint64_t{0}, std::uint64_t{0xfff} << 30, std::uint64_t{0x1ffff}, std::uint64_t{0}}) {
      const std::uint64_t shared = engine();
      std::vector<std::uint64_t> keys(n), scratch(n);
      for (std::uint64_t& key : keys) key = (shared & ~differing) | (engine() & differing);
      std::vector<std::uint64_t> expected = keys;
      std::sort(expected.begin(), expected.end());
      softxent::detail::sort_keys(keys.data(), n, scratch.data());
      CHECK_MESSAGE(keys == expected, "n " << n << " differing bits " << std::hex << differing);
    }
  }
}

TEST_CASE("kernels: a row's segment of a class is its index divided by the segment length") {
  std::mt19937_64 engine(11);
  for (std::size_t cols : {std::size_t{1}, std::size_t{4097}, std::size_t{128256}, std::size_t{1} << 20,
                           std::size_t{3000000007}, std::size_t{0xffffffff}}) {
    const softxent::detail::row_segments segments = softxent::detail::segments_of(cols);
    std::vector<std::size_t> indices = {0, cols - 1};
    for (std::size_t s = 1; s < segments.count; ++s) {  // both sides of every boundary
      indices.push_back(segments.first(s) - 1);
      indices.push_back(segments.first(s));
    }
    for (int i = 0; i < 1000; ++i) indices.push_back(static_cast<std::size_t>(engine() % cols));
    for (std::size_t index : indices) {
      REQUIRE_MESSAGE(segments.of(index) == index / segments.length,
                      "cols " << cols << " index " << index << " length " << segments.length);
    }
  }
}
