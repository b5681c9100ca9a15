// One fuzz case of softxent's C API: what an input's bytes choose (fuzz_case.cpp reads them): an
// operation, a shape, element types, strides, aliasing, NULL pointers, an exec (ISA, threads, host
// pool), options and the values.
#ifndef SOFTXENT_FUZZ_FUZZ_CASE_HPP
#define SOFTXENT_FUZZ_FUZZ_CASE_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "softxent/softxent.h"

namespace softxent_fuzz {

inline constexpr float infinity = std::numeric_limits<float>::infinity();
inline constexpr float float_max = std::numeric_limits<float>::max();
inline constexpr float not_a_number = std::numeric_limits<float>::quiet_NaN();
inline constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();

// splitmix64: fills large inputs from a seed the fuzzer controls.
struct random_bits {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  double normal() {  // Box-Muller
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

// ---------------------------------------------------------------------------------------------
// Operations: one entry per C entry point family. The generic call and its _f32 wrapper are one
// operation (the case's `generic` flag picks the generic call where both exist).
enum operation : int {
  op_logsumexp,
  op_softmax,
  op_log_softmax,
  op_softmax_backward,
  op_log_softmax_backward,
  op_cross_entropy,
  op_cross_entropy_soft,
  op_cross_entropy_sharded,  // shard_stats_f32, shard_stats_merge, shard_finish_f32
  op_top_k,
  op_sample,
  op_linear_cross_entropy,  // linear_cross_entropy_workspace_size and linear_cross_entropy_f32
  // A new call goes here, with a row in operations[] (c_api_checker.cpp: a call and a check function)
  // and a slot in op_slots[] (fuzz_case.cpp); its own options read from bytes after case_extension,
  // for it alone (as top-k's, sampling's and the linear cross-entropy's are).
  op_count
};

// What an operation's arguments are.
enum operation_trait : unsigned {
  trait_second_input = 1u << 0,     // dy (backward) or target probabilities: the second matrix input
  trait_matrix_output = 1u << 1,    // y or dx, always
  trait_grad_output = 1u << 2,      // a gradient, in the with-grad variant only
  trait_lse_output = 1u << 3,       // rows floats
  trait_loss_output = 1u << 4,      // rows floats (NONE) or one
  trait_softmax_options = 1u << 5,  // softxent_softmax_options
  trait_cross_entropy_options = 1u << 6,
  trait_integer_targets = 1u << 7,
  trait_float_only = 1u << 8,       // no dtype: float operands only
  trait_dx_may_be_dy = 1u << 9,     // the output may be exactly the second input
  trait_class_output = 1u << 10,    // class indices (int64, rows x k; sampling: k = 1) and their
                                    // log-probabilities (optional): top-k and sampling
  trait_seeds = 1u << 11,           // one uint64 seed per row: the second input
  trait_sampling_options = 1u << 12,
  trait_linear = 1u << 13,          // the fused linear cross-entropy: inputs (first input), weight
                                    // (second), bias, grad_inputs (matrix output), grad_weight,
                                    // grad_bias and the workspace (linear_case)
};

// An operation: its name, traits, the function that makes its calls (through invoke(), see
// call_check.hpp) and the one that checks its outputs against the oracle after a successful run.
struct fuzz_case;
struct call_buffers;
struct call_context;
struct operation_entry {
  const char* name;
  unsigned traits;
  softxent_status (*call)(const fuzz_case& c, call_buffers& b, call_context& context);
  std::string (*check)(const fuzz_case& c, const call_buffers& b, const char* who);
};
const operation_entry& operation_of(int op);

// Where an output is put relative to the inputs. For top-k and sampling the output placed is the class
// indices; "loss" is their log-probabilities, in the input or (the lse of top-k, or the sampled log-
// probabilities) in the indices' output; the "second input" is the seeds.
enum aliasing : int {
  alias_none,
  alias_in_place,         // the matrix output at the first input, same stride (allowed with equal dtypes)
  alias_in_place_second,  // at the second input, same stride (backward: allowed with equal dtypes)
  alias_other_stride,     // at the first input with a larger stride: OVERLAP
  alias_shifted,          // the output (matrix, else lse) one element into the first input: OVERLAP
  alias_loss_in_input,    // lse or loss inside the first input (sharded: the merged statistics): OVERLAP
  alias_adjacent,         // the output right after the first input's last element, in its buffer: allowed
  alias_last_element,     // the output from within the first input's last element on: OVERLAP
  alias_in_mask,          // the output inside the softmax mask: OVERLAP
  alias_loss_in_output,   // the loss inside the gradient: OVERLAP
  alias_count
};

// One matrix operand of a case: its dtype (the raw int), stride and allocation.
struct matrix_spec {
  int dtype = SOFTXENT_F32;
  std::size_t stride = 0;
  std::size_t elements = 0;  // allocated: the span, or 1 when the span overflows
  bool overflow = false;
};

// The span of rows x cols with a stride overflows size_t in elements or in bytes of element_size.
bool span_overflows(std::size_t rows, std::size_t cols, std::size_t stride, std::size_t element_size);

// The softmax family's logit transform (softxent_softmax_options).
struct transform_case {
  int mode = 0;  // 0: options NULL; 1: softxent_softmax_options_init only; 2: fields set
  float scale = 1.0f, softcap = 0.0f;
  int mask_kind = 0;  // 0: no mask (data NULL, the other mask fields garbage); else its pattern
  int mask_dtype = SOFTXENT_F32;
  std::size_t mask_rows = 0, mask_stride = 0;
  std::vector<unsigned char> mask_bytes;  // mask_rows x cols, stride mask_stride, in mask_dtype
  std::vector<float> mask_values;         // the same, decoded
  std::size_t rows_per_head = 0;
  int slopes_kind = 0, sinks_kind = 0, valid_kind = 0;
  std::vector<float> slopes, sinks;       // per head; empty: NULL
  std::vector<std::int64_t> valid_cols;   // per row; empty: NULL
  bool given() const { return mode != 0; }
  bool set() const { return mode == 2; }
};

// Sharded cross-entropy: the row's columns split into shards, their statistics merged in a grouping.
struct shard_case {
  std::vector<std::size_t> offsets, widths;  // shard s: columns [offsets[s], offsets[s] + widths[s])
  std::size_t total_cols = 0;                // what the calls are told
  int fault = 0;                             // 0: the shards partition the row; else shard 0 is invalid
  std::uint64_t grouping = 0;                // seed of the order of the merges
  bool finish_without_logits = false;        // loss only: finish gets logits NULL
};

// Top-k and sampling: k, the optional outputs, the sampling options and the seeds.
struct selection_case {
  std::size_t k = 1;  // top-k's (any value, invalid ones included); sampling: 1
  bool log_probs_null = false, lse_null = false;
  int options_mode = 0;  // sampling: 0 options NULL; 1 softxent_sampling_options_init only; 2 fields set
  softxent_sampling_options options{};
  int seeds_kind = 0;
  std::vector<std::uint64_t> seeds;  // per row (at least one)
};

// The fused linear cross-entropy: rows x hidden inputs (the first input's spec), classes (= cols) x
// hidden weight (the second's), grad_inputs (the output's spec), grad_weight (its own spec; its start
// values and grad_bias's are added to), which pointers are NULL, and the workspace.
enum workspace_kind : int {
  workspace_exact,       // the queried size
  workspace_misaligned,  // the queried size, one byte into its buffer
  workspace_larger,      // 64 bytes more
  workspace_short,       // one byte short: WORKSPACE
  workspace_null,        // NULL: WORKSPACE
};
struct linear_case {
  std::size_t hidden = 0;
  matrix_spec grad_weight;
  bool bias_null = false, grad_inputs_null = false, grad_weight_null = false, grad_bias_null = false;
  int workspace = workspace_exact;
  int start_kind = 0;  // grad_weight's and grad_bias's start values: 0 zeros, 1 and 3 normal, 2 large
  std::vector<float> bias, grad_weight_start, grad_bias_start;  // classes, grad_weight's span, classes
};

struct fuzz_case {
  int op = 0;
  bool with_grad = false;
  bool generic = false;  // the generic call even where the _f32 one exists
  std::size_t rows = 0, cols = 0;
  matrix_spec in0, in1, out;  // first input, second input (dy / probs), matrix output
  int alias = alias_none;
  int null_pointer = -1;  // index of a needed pointer passed as NULL, or -1
  bool stats_null = false;  // sharded, null_pointer 2: the statistics of shard_stats rather than finish's
  // exec
  bool exec_null = false;
  int threads = 0;
  const char* isa = nullptr;
  int pool_mode = 0;
  std::uint64_t pool_seed = 0;
  // cross-entropy options
  bool options_null = true;
  softxent_cross_entropy_options options{};
  int reduction_raw = 0;  // options.reduction as an int (never read back through the enum type)
  std::vector<float> weights;
  int weight_kind = 0;
  std::vector<std::int64_t> targets;
  transform_case transform;
  shard_case shards;
  selection_case selection;
  linear_case linear;
  // values: the inputs as passed (in their dtypes; gaps hold garbage) and decoded to float
  std::vector<unsigned char> bytes0, bytes1;
  std::vector<float> values0, values1;
  int style0 = 0, style1 = 0;

  const operation_entry& entry() const { return operation_of(op); }
  bool has(unsigned trait) const { return (entry().traits & trait) != 0; }
  bool has_matrix_output() const { return has(trait_matrix_output) || (has(trait_grad_output) && with_grad); }
  bool has_vector_output() const { return has(trait_lse_output) || has(trait_loss_output); }
  // Class indices per row as allocated: k up to one past SOFTXENT_MAX_TOP_K (beyond, the call fails
  // whatever the buffer).
  std::size_t classes_per_row() const {
    return op == op_top_k ? std::min<std::size_t>(selection.k, SOFTXENT_MAX_TOP_K + 1) : 1;
  }
  std::size_t heads() const {
    const std::size_t per_head = transform.rows_per_head;
    return std::max<std::size_t>(per_head == 0 ? 1 : (rows + per_head - 1) / per_head, 1);
  }
};

// The case the bytes encode; missing bytes read as 0.
fuzz_case parse(const std::uint8_t* data, std::size_t size);

// One line saying what the case is.
std::string describe(const fuzz_case& c);

}  // namespace softxent_fuzz

#endif  // SOFTXENT_FUZZ_FUZZ_CASE_HPP
