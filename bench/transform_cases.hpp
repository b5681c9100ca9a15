// The logit-transform cases, shared by softxent's side (bench_transform.cpp, in softxent_bench) and
// PyTorch's composites (bench_pytorch_transform.cpp, in softxent_bench_pytorch): softmax with
// softxent_softmax_options against softxent's plain softmax of the same shape in the same run.
//   plain                 no transform: the baseline, on every shape below
//   decode                attention while decoding: 32 heads x 1 query x 4096 keys (32x4096, a head per
//                         row): scale 1/sqrt(128), ALiBi (slope_h * (j - 4095), from one broadcast mask
//                         row of distances and a slope per head), a sink logit per head, and the query's
//                         causal bound as valid_cols (all 4096 keys: it is the last position)
//   prefill               attention over a prompt: 32 heads x 512 queries x 512 keys (16384x512): scale
//                         1/sqrt(128) and the causal bound valid_cols = query + 1 (no mask in memory)
//   temperature_mask      128256-class logits (1 and 64 rows): temperature 0.7 (scale 1/0.7) and an f32
//                         mask of the logits' shape (a logit bias per class and row, values in [0, 1))
//   temperature_mask_row  the same with one broadcast mask row (0, and -inf for every 97th class: banned
//                         tokens)
//   temperature_softcap   the same logits, temperature 0.7 and Gemma 2's final softcap 30
// Benchmark names: "transform.<case>/<implementation>/<rows>x<cols>/<regime>/threads:<n>"; every case
// also reports "mask_bytes", the bytes of its mask read once (the full mask's, or the broadcast row's),
// so that the report can set the target (at most 10% over plain softmax beyond the mask's own bytes).
#ifndef SOFTXENT_BENCH_TRANSFORM_CASES_HPP
#define SOFTXENT_BENCH_TRANSFORM_CASES_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "bench_support.hpp"

namespace softxent_bench {

enum class transform_kind { plain, decode, prefill, temperature_mask, temperature_mask_row, temperature_softcap };

struct transform_case {
  transform_kind kind;
  operation_traits traits;   // "transform.<case>"; a full mask is the second input matrix of each set
  std::vector<shape> shapes;
};
const std::vector<transform_case>& transform_cases();

// The per-shape data of a case (slopes, sinks, valid_cols, the broadcast mask row) and its options.
class transform_data {
 public:
  transform_data(const transform_case& c, const shape& s);
  // The options for buffer set `set` (its full mask, when the case has one).
  softxent::softmax_options options(const buffer_sets& sets, std::size_t set) const noexcept;
  // The bytes of the mask read once per call: the full mask's, the broadcast row's, or 0.
  std::size_t mask_bytes() const noexcept;

  float scale = 1.0f;
  float softcap = 0.0f;
  std::vector<float> mask_row;           // one broadcast row (ALiBi distances, or 0 / -inf), or empty
  std::vector<float> slopes, sinks;      // one per head (a row is a head), or empty
  std::vector<std::int64_t> valid_cols;  // one per row, or empty
  std::size_t prefill_queries = 0;       // prefill: the queries (and keys) of a head

 private:
  transform_kind kind_;
  shape shape_;
};

}  // namespace softxent_bench

#endif  // SOFTXENT_BENCH_TRANSFORM_CASES_HPP
